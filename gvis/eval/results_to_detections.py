"""A YouTube-VIS results file (tracks) turned back into per-frame detections, identities removed.

A results file holds tracks: one entry per predicted object with a mask per frame. Dropping the track
identity leaves, per frame, one detection per entry whose mask is non-empty there. This is how another
method's output becomes input for a gvis tracker (``gvis results-to-detections``, then ``gvis track
--detections``), and how gvis measures re-linking: the original tracks against a tracker that links the
same masks again (docs/baselines.md, docs/results/real_data.md).
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils

from gvis.data.rle import check_compressed_counts
from gvis.data.ytvis import YTVISDataset
from gvis.detections.jsonl import DetectionsWriter
from gvis.detections.structures import Detections
from gvis.errors import InputError
from gvis.eval.results import ResultTrack, load_results, parse_results


def check_results(entries: Sequence[Any], dataset: YTVISDataset, source: str | os.PathLike = "results") -> list[ResultTrack]:
    """Every entry of ``entries`` checked against ``dataset`` as a submission is: known video and
    category, one segmentation per frame of the right size, score in [0, 1], valid RLE strings.

    The first problem raises :class:`InputError` naming ``source``, the video and the field
    (``results[i].segmentations[t]``).
    """
    videos = {video.id: video for video in dataset.videos}
    tracks = parse_results(entries, videos, source, category_ids={c.id for c in dataset.categories}, strict=True)
    strings = [(track, t, counts) for track in tracks for t, counts in enumerate(track.counts) if counts is not None]
    pixels = [videos[track.video_id].height * videos[track.video_id].width for track, _, _ in strings]
    reasons = check_compressed_counts([counts for _, _, counts in strings], pixels)
    for (track, t, _), reason in zip(strings, reasons):
        if reason is not None:
            raise InputError(reason, file=source, video_id=track.video_id, field=f"results[{track.index}].segmentations[{t}]")
    return tracks


def detections_from_results(
    tracks: Sequence[ResultTrack], dataset: YTVISDataset, score: float | None = None,
) -> Iterator[tuple[int, int, Detections]]:
    """``(video_id, frame_index, Detections)`` for every frame of every video of ``dataset`` (its order).

    One detection per checked track (file order) whose mask is non-empty in the frame: ``boxes`` = the
    mask's extent, ``labels`` = the entry's ``category_id``, ``scores`` = the entry's score (or the fixed
    ``score``); no appearance, no class probabilities. Equal scores keep the file order, which the
    trackers' detection filtering preserves. A video without entries gives empty frames.
    """
    by_video: dict[int, list[ResultTrack]] = {}
    for track in tracks:
        by_video.setdefault(track.video_id, []).append(track)
    for video in dataset.videos:
        own = by_video.get(video.id, [])
        for t in range(video.length):
            present = [track for track in own if track.counts[t] is not None]
            rles = [{"size": [video.height, video.width], "counts": track.counts[t]} for track in present]
            nonempty = np.asarray(mask_utils.area(rles), dtype=np.int64) > 0 if rles else np.zeros(0, dtype=bool)
            rles = [rle for rle, keep in zip(rles, nonempty) if keep]
            present = [track for track, keep in zip(present, nonempty) if keep]
            boxes = torch.as_tensor(mask_utils.toBbox(rles), dtype=torch.float32).reshape(-1, 4) if rles else torch.zeros((0, 4))
            boxes[:, 2:] += boxes[:, :2]  # x, y, w, h -> x1, y1, x2, y2
            yield video.id, t, Detections(
                boxes=boxes,
                scores=torch.tensor([track.score if score is None else score for track in present], dtype=torch.float32),
                labels=torch.tensor([track.category_id for track in present], dtype=torch.long),
                masks=[{"size": rle["size"], "counts": rle["counts"].decode("ascii")} for rle in rles],
                image_size=(video.height, video.width),
            )


def convert_results(
    results_path: str | os.PathLike, dataset: YTVISDataset, out_path: str | os.PathLike, score: float | None = None,
) -> dict[str, int]:
    """Write the detections of a results file as a ``.jsonl`` (header: ``dataset``'s categories).

    The whole results file is checked before anything is written, and the output appears only when
    complete (atomically). Returns ``{"videos", "frames", "detections"}`` counts.
    """
    if score is not None and not 0.0 <= score <= 1.0:
        raise InputError(f"the fixed score must lie in [0, 1], got {score}", field="score")
    tracks = check_results(load_results(results_path), dataset, results_path)
    meta = {"converted_from": str(results_path), "ground_truth": None if dataset.path is None else str(dataset.path),
            "identities": "removed", "score": "entries' own" if score is None else score}
    counts = {"videos": len(dataset.videos), "frames": 0, "detections": 0}
    categories = [{"id": c.id, "name": c.name} for c in dataset.categories]
    with DetectionsWriter(out_path, categories, appearance_dim=None, meta=meta) as writer:
        for video_id, frame_index, detections in detections_from_results(tracks, dataset, score):
            writer.write(video_id, frame_index, detections)
            counts["frames"] += 1
            counts["detections"] += len(detections)
    return counts
