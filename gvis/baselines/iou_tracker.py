"""A plain mask-IoU tracker.

Each live track remembers the mask of its latest detection. A frame's detections are matched to the
tracks by the Hungarian algorithm on mask IoU (maximum total IoU); a pair is accepted when its IoU is at
least ``iou_threshold`` (and, with ``same_class``, when the labels agree). Unmatched detections start new
tracks; a track unmatched for more than ``max_inactive_frames`` frames is retired. Score and class follow
MaskTrack R-CNN's rule (mean score, majority vote), as for every heuristic tracker in gvis.

IoUs are computed on COCO run-length encodings (``pycocotools.mask.iou``), so large frames stay cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from gvis.baselines.track_book import NEW_TRACK, TrackBook, resolve_config
from gvis.detections.filtering import FilterConfig, filter_detections, mask_ious
from gvis.detections.structures import Detections, Tracks
from gvis.registry import TRACKERS


@dataclass
class IoUTrackerConfig:
    """Settings of the mask-IoU tracker."""

    iou_threshold: float = 0.3
    """Smallest mask IoU between a detection and a track's latest mask that continues the track."""
    same_class: bool = False
    """Only match detections and tracks whose latest labels agree."""
    max_inactive_frames: int | None = 5
    """Retire a track after this many frames without a detection (null: never)."""
    filtering: FilterConfig = field(default_factory=FilterConfig)

    def validate(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.max_inactive_frames is not None and self.max_inactive_frames < 0:
            raise ValueError(f"max_inactive_frames must be >= 0, got {self.max_inactive_frames}")


@TRACKERS.register("iou")
class IoUTracker:
    """Online mask-IoU tracker; see the module docstring.

    ``IoUTracker(categories, config=None, **fields)``: ``config`` is an :class:`IoUTrackerConfig` (or a
    dict of its fields); keyword ``fields`` override single settings.
    """

    config_class = IoUTrackerConfig
    #: torch threads this tracker runs best with: its tensors are tiny, and on a busy CPU waking worker
    #: threads costs more than the work (``gvis track`` applies it).
    num_threads = 1

    def __init__(self, categories: Iterable[Any], config: IoUTrackerConfig | dict | None = None, **fields: Any) -> None:
        self.config: IoUTrackerConfig = resolve_config(IoUTrackerConfig, config, fields)
        self.book = TrackBook(categories, self.config.max_inactive_frames)

    def reset(self) -> None:
        """Forget all tracks; call between videos."""
        self.book.reset()

    def update(self, detections: Detections, frame: Any = None) -> Tracks:
        """Match one frame's detections; one row per live track (``frame`` is not used)."""
        kept, kept_indices = filter_detections(detections, self.config.filtering)
        rles = kept.mask_rles()
        assignment = torch.full((len(kept),), NEW_TRACK, dtype=torch.long)
        if len(self.book) and len(kept):
            ious = mask_ious(rles, self.book.memory["masks"])  # [N, M]
            allowed = ious >= self.config.iou_threshold
            if self.config.same_class:
                allowed &= kept.labels.numpy()[:, None] == self.book.memory["labels"].numpy()[None, :]
            dets, tracks = linear_sum_assignment(np.where(allowed, ious, 0.0), maximize=True)
            accepted = allowed[dets, tracks]
            assignment[torch.from_numpy(dets[accepted])] = torch.from_numpy(tracks[accepted]).long()
        return self.book.step(kept, kept_indices, assignment, {"masks": rles, "labels": kept.labels.long()})
