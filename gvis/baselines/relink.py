"""Results turned back into per-frame detections: re-linking a tracker's output with another tracker.

A YouTube-VIS results file holds tracks, not detections. Dropping the track identity leaves, per frame,
one detection per result whose mask is non-empty there. Feeding those to a tracker tests how well it
re-links them (the BDD100K fixture's acceptance check in docs/baselines.md).
"""
from __future__ import annotations

from typing import Iterator

import torch
from pycocotools import mask as mask_utils

from gvis.data.ytvis import Video
from gvis.detections.structures import Detections, pycoco_rle
from gvis.errors import InputError


def detections_from_results(entries: list[dict], video: Video, score: float | None = 1.0,
                            source: str = "results") -> Iterator[Detections]:
    """The detections of each frame of ``video``: one per entry (file order) with a non-empty mask there.

    ``boxes`` are the masks' extents, ``labels`` the entries' ``category_id``, ``scores`` the fixed
    ``score`` (``None``: the entries' own scores); no appearance. Equal scores keep the file order, which
    the detection filtering preserves.
    """
    own = [(i, e) for i, e in enumerate(entries) if e.get("video_id") == video.id]
    for index, entry in own:
        segmentations = entry.get("segmentations")
        if not isinstance(segmentations, list) or len(segmentations) != video.length:
            raise InputError(f"expected {video.length} segmentations", file=source, video_id=video.id,
                             field=f"[{index}].segmentations")
    for t in range(video.length):
        rles, labels, scores = [], [], []
        for _, entry in own:
            rle = entry["segmentations"][t]
            if rle is None:
                continue
            compressed = pycoco_rle(rle)
            if mask_utils.area(compressed) == 0:
                continue
            rles.append(compressed)
            labels.append(int(entry["category_id"]))
            scores.append(float(entry["score"]) if score is None else score)
        boxes = torch.as_tensor(mask_utils.toBbox(rles), dtype=torch.float32).reshape(-1, 4) if rles else torch.zeros((0, 4))
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        yield Detections(
            boxes=boxes,
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.long),
            masks=rles,
            image_size=(video.height, video.width),
        )
