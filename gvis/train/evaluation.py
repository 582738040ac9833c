"""Scoring a tracker model on videos with ground truth: results entries, the 12 YTVIS stats and tracker FPS.

Used by ``gvis eval-tracker`` and by validation during training. Videos are tracked in groups of
``slots`` by :class:`~gvis.tracker.online.BatchedLearnedTracker` (one frame of every video of the group per
step; a video that has ended gets ``None``). FPS counts only the tracker's ``update`` calls (filtering,
graph, network, masks and pixel assignment), not reading detections, RLE encoding or scoring, as the
paper's timing; with ``slots > 1`` it is a throughput, not a per-video rate.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch

from gvis.data.ytvis import YTVISDataset
from gvis.detections.structures import Detections
from gvis.errors import GvisError
from gvis.eval.results import VideoResults
from gvis.eval.ytvis_ap import evaluate
from gvis.tracker.model import RecurrentGraphTracker
from gvis.tracker.online import BatchedLearnedTracker


class NonFiniteScores(GvisError):
    """The tracker gave tracks scores that are not finite numbers: its state overflowed on these videos
    (finite weights can still overflow on videos longer than the training clips, e.g. without a gate)."""


@dataclass
class TrackerScore:
    """``entries`` (official results list), ``stats`` (the 12 stats), ``frames`` tracked, ``seconds`` in the tracker."""

    entries: list[dict]
    stats: dict[str, float]
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def subset(dataset: YTVISDataset, video_ids: Iterable[int]) -> YTVISDataset:
    """The ground truth of only these videos (scoring a subset must not count the others' objects as missed)."""
    chosen = set(video_ids)
    raw = dataset.raw
    return YTVISDataset.from_dict(
        {**raw, "videos": [v for v in raw["videos"] if v["id"] in chosen],
         "annotations": [a for a in raw.get("annotations", []) if a["video_id"] in chosen]},
        source=str(dataset.path) if dataset.path is not None else None,
    )


@torch.no_grad()
def track_videos(model: RecurrentGraphTracker, categories: Sequence, videos: Sequence[tuple[int, Sequence[Detections]]],
                 slots: int = 1, with_masks: bool = True,
                 on_frame: Callable[[int], None] | None = None,
                 category_hypotheses: int = 1) -> tuple[list[dict], int, float]:
    """Track ``(video_id, frames)`` pairs, ``slots`` videos at a time; returns ``(entries, frames, seconds)``.

    ``on_frame(n)`` is called after each step with the number of frames it tracked; ``category_hypotheses``:
    results entries per track (:class:`~gvis.eval.results.VideoResults`).
    """
    was_training = model.training
    tracker = BatchedLearnedTracker(model, categories, num_videos=slots, with_masks=with_masks)
    entries: list[dict] = []
    frames_done, seconds = 0, 0.0
    for first in range(0, len(videos), slots):
        group = list(videos[first:first + slots])
        results = [VideoResults(video_id, category_hypotheses) for video_id, _ in group]
        tracker.reset()
        for t in range(max(len(frames) for _, frames in group)):
            # Slots without a frame (video ended, or no video) get None.
            frames = [group[s][1][t] if s < len(group) and t < len(group[s][1]) else None for s in range(slots)]
            start = time.perf_counter()
            tracks = tracker.update(frames)
            seconds += time.perf_counter() - start
            count = 0
            for s, video_tracks in enumerate(tracks[:len(group)]):
                if video_tracks is not None:
                    results[s].add_frame(video_tracks, frames[s])
                    count += 1
            frames_done += count
            if on_frame is not None:
                on_frame(count)
        for video_results in results:
            entries.extend(video_results.entries())
    model.train(was_training)
    return entries, frames_done, seconds


def score_tracker(model: RecurrentGraphTracker, categories: Sequence, dataset: YTVISDataset,
                  videos: Sequence[tuple[int, Sequence[Detections]]], slots: int = 1,
                  on_frame: Callable[[int], None] | None = None, class_agnostic: bool = False,
                  category_hypotheses: int = 1) -> TrackerScore:
    """Track ``videos`` and score them against ``dataset`` restricted to those videos (``class_agnostic``:
    with every category as one, ``gvis eval --class-agnostic``; ``category_hypotheses``: entries per track).
    Raises :class:`NonFiniteScores` when a track's score is not finite."""
    entries, frames, seconds = track_videos(model, categories, videos, slots=slots, on_frame=on_frame,
                                            category_hypotheses=category_hypotheses)
    broken = [entry for entry in entries if not math.isfinite(entry["score"])]
    if broken:
        raise NonFiniteScores(f"the tracker's scores are not finite for {len(broken)} of {len(entries)} tracks "
                              f"(first: video {broken[0]['video_id']}, score {broken[0]['score']})")
    stats = evaluate(subset(dataset, [video_id for video_id, _ in videos]), entries, class_agnostic=class_agnostic)
    return TrackerScore(entries, {k: float(v) for k, v in stats.items()}, frames, seconds)
