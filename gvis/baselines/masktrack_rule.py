"""The association rule of MaskTrack R-CNN (Yang et al., "Video instance segmentation", ICCV 2019).

For detection ``n`` and live track ``m`` (the track's box, label and appearance are those of its latest
detection) the association score is::

    S[n, m]   = log p[n, m]   + alpha * IoU(box_n, box_m) + beta * [label_n == label_m] + gamma * log(score_n)
    S[n, new] = log p[n, new] + alpha * new_track_iou     + beta                       + gamma * log(score_n)

where ``p[n, :] = softmax(s * [d0, x_n . mu_1, ..., x_n . mu_M])`` is the appearance similarity of
MaskTrack R-CNN: a softmax over the dot products of the detection's appearance ``x_n`` with each track's
stored appearance ``mu_m``, plus a "new track" option. In MaskTrack R-CNN the new option's dot product
``d0`` is 0 (an all-zero dummy feature) and the scale ``s`` is 1, because its embedding was trained with
that option; appearance vectors from elsewhere (the simulated detector's, where different instances of a
category still have positive dot products) need their own ``s = appearance_scale`` and
``d0 = new_track_similarity``. As in the original, the "new" option counts as class agreement and
``gamma * log(score_n)`` is added to every option of a detection, so ``gamma`` only matters when several
detections compete for one track. Without appearance the ``log p`` terms are dropped; nothing would then
stop any overlapping detection from continuing a track, so the "new" option is credited with
``new_track_iou_without_appearance`` instead (a same-class detection continues a track iff their box IoU
exceeds it).

Assignment (greedy by score, one detection per track): every pair with ``S[n, m] > S[n, new]`` is a
candidate; candidates are taken in decreasing score when both the detection and the track are still free.
A detection with no candidate starts a new track. A detection whose candidates were all taken by
better-scoring detections is dropped, as in MaskTrack R-CNN, where it is treated as a duplicate
(``on_conflict: drop``); ``on_conflict: new`` starts a track for it instead. Unlike the original, a
detection that loses its best track may still take its second-best candidate.

Track score = mean of the assigned detections' scores; class = majority vote of their labels (ties go to
the category listed first). A track unmatched for more than ``max_inactive_frames`` frames is retired
(20 as in mmtracking's MaskTrack R-CNN tracker; the original code keeps every track).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

import numpy as np
import torch
from torch import Tensor

from gvis.baselines.track_book import DROPPED, NEW_TRACK, TrackBook, resolve_config
from gvis.detections.filtering import FilterConfig, box_iou, filter_detections, mask_ious
from gvis.detections.structures import Detections, Tracks
from gvis.registry import TRACKERS


@dataclass
class MaskTrackRuleConfig:
    """Settings of the MaskTrack R-CNN rule (defaults: MaskTrack R-CNN's ``match_coeff = [1, 2, 10]``)."""

    alpha: float = 2.0
    """Weight of the box IoU between the detection and the track's latest box."""
    beta: float = 10.0
    """Weight of class agreement between the detection and the track's latest label."""
    gamma: float = 1.0
    """Weight of the log detection confidence."""
    appearance_scale: float = 1.0
    """Multiplies the appearance dot products before the softmax (1 in MaskTrack R-CNN)."""
    new_track_similarity: float = 0.0
    """Dot product of the "new track" option in the appearance softmax (0 in MaskTrack R-CNN)."""
    new_track_iou: float = 0.0
    """IoU credited to the "new track" option when detections carry appearance (0 in MaskTrack R-CNN)."""
    new_track_iou_without_appearance: float = 0.3
    """IoU credited to the "new track" option when detections carry no appearance."""
    on_conflict: Literal["drop", "new"] = "drop"
    """What happens to a detection whose candidate tracks were all taken by better detections."""
    overlap: Literal["box", "mask"] = "box"
    """The IoU of the alpha term: of the detection's and the track's latest box (MaskTrack R-CNN) or masks."""
    score_prior_frames: float = 0.0
    """Track score = sum of its detections' scores / (their number + this): 0 = their mean (MaskTrack R-CNN)."""
    max_inactive_frames: int | None = 20
    """Retire a track after this many frames without a detection (null: never)."""
    filtering: FilterConfig = field(default_factory=FilterConfig)

    def validate(self) -> None:
        if self.appearance_scale <= 0:
            raise ValueError(f"appearance_scale must be positive, got {self.appearance_scale}")
        if self.score_prior_frames < 0:
            raise ValueError(f"score_prior_frames must be >= 0, got {self.score_prior_frames}")
        if self.max_inactive_frames is not None and self.max_inactive_frames < 0:
            raise ValueError(f"max_inactive_frames must be >= 0, got {self.max_inactive_frames}")


@TRACKERS.register("masktrack-rule")
class MaskTrackRuleTracker:
    """Online tracker with MaskTrack R-CNN's association rule; see the module docstring.

    ``MaskTrackRuleTracker(categories, config=None, **fields)``: ``config`` is a
    :class:`MaskTrackRuleConfig` (or a dict of its fields); keyword ``fields`` override single settings.
    """

    config_class = MaskTrackRuleConfig
    #: torch threads this tracker runs best with: its tensors are tiny, and on a busy CPU waking worker
    #: threads costs more than the work (``gvis track`` applies it).
    num_threads = 1

    def __init__(self, categories: Iterable[Any], config: MaskTrackRuleConfig | dict | None = None, **fields: Any) -> None:
        self.config: MaskTrackRuleConfig = resolve_config(MaskTrackRuleConfig, config, fields)
        self.book = TrackBook(categories, self.config.max_inactive_frames, score_prior_frames=self.config.score_prior_frames)

    def reset(self) -> None:
        """Forget all tracks; call between videos."""
        self.book.reset()

    def association_scores(self, detections: Detections) -> tuple[Tensor, Tensor]:
        """``S [N, M]`` (detection × live track) and ``S_new [N]`` for filtered ``detections``."""
        cfg = self.config
        memory = self.book.memory
        num_tracks = len(self.book)
        log_conf = cfg.gamma * detections.scores.double().clamp(min=1e-6).log()  # [N]
        use_appearance = detections.appearance is not None and (num_tracks == 0 or "appearance" in memory)
        if use_appearance and num_tracks:
            dots = detections.appearance.double() @ memory["appearance"].double().T  # [N, M]
            new_dots = torch.full((len(detections), 1), cfg.new_track_similarity, dtype=torch.float64)
            log_p = torch.log_softmax(cfg.appearance_scale * torch.cat([new_dots, dots], dim=1), dim=1)
            log_p_new, log_p_track = log_p[:, 0], log_p[:, 1:]
        else:
            log_p_new = torch.zeros(len(detections), dtype=torch.float64)
            log_p_track = torch.zeros((len(detections), num_tracks), dtype=torch.float64)
        new_iou = cfg.new_track_iou if use_appearance else cfg.new_track_iou_without_appearance
        if num_tracks:
            if cfg.overlap == "mask":
                ious = torch.from_numpy(mask_ious(detections.mask_rles(), memory["masks"]))  # [N, M]
            else:
                ious = box_iou(detections.boxes.double(), memory["boxes"].double())  # [N, M]
            same_class = (detections.labels[:, None] == memory["labels"][None, :]).double()
        else:
            ious = same_class = torch.zeros((len(detections), 0), dtype=torch.float64)
        track_scores = log_p_track + cfg.alpha * ious + cfg.beta * same_class + log_conf[:, None]
        new_scores = log_p_new + cfg.alpha * new_iou + cfg.beta + log_conf
        return track_scores, new_scores

    def assign(self, track_scores: Tensor, new_scores: Tensor) -> Tensor:
        """``[N]`` assignment (track row, ``NEW_TRACK`` or ``DROPPED``) by greedy matching on the scores."""
        num_dets = track_scores.shape[0]
        assignment = torch.full((num_dets,), NEW_TRACK, dtype=torch.long)
        candidate = track_scores > new_scores[:, None]  # [N, M]
        dets, tracks = candidate.nonzero(as_tuple=True)
        if dets.numel() == 0:
            return assignment
        # Decreasing score; equal scores keep (detection, track) order.
        order = np.argsort(-track_scores[dets, tracks].numpy(), kind="stable")
        det_free = np.ones(num_dets, dtype=bool)
        track_free = np.ones(track_scores.shape[1], dtype=bool)
        for det, track in zip(dets.numpy()[order], tracks.numpy()[order]):
            if det_free[det] and track_free[track]:
                assignment[det] = int(track)
                det_free[det] = track_free[track] = False
        if self.config.on_conflict == "drop":
            lost = torch.from_numpy(det_free) & candidate.any(dim=1)
            assignment[lost] = DROPPED
        return assignment

    def update(self, detections: Detections, frame: Any = None) -> Tracks:
        """Associate one frame's detections; one row per live track (``frame`` is not used)."""
        kept, kept_indices = filter_detections(detections, self.config.filtering)
        track_scores, new_scores = self.association_scores(kept)
        memory: dict[str, Tensor | list] = {"boxes": kept.boxes.float(), "labels": kept.labels.long()}
        if self.config.overlap == "mask":
            memory["masks"] = kept.mask_rles()
        if kept.appearance is not None:
            memory["appearance"] = kept.appearance.float()
        return self.book.step(kept, kept_indices, self.assign(track_scores, new_scores), memory)
