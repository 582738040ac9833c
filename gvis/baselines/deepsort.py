"""DeepSORT (Wojke, Bewley and Paulus, "Simple online and realtime tracking with a deep association
metric", ICIP 2017): the paper's Table 2 baseline, on masks.

Every track carries a constant-velocity Kalman filter on its box (:mod:`gvis.baselines.kalman`) and, when
the detections carry appearance vectors, a gallery of its last ``gallery_size`` unit-length appearance
vectors. Per frame:

1. **Predict** every track's box one frame ahead.
2. **Matching cascade** over the confirmed tracks, most recently updated first (tracks updated in the
   previous frame, then those missed once, ...; ``matching_cascade: false`` matches them all at once).
   Each level is a Hungarian matching (``scipy.optimize.linear_sum_assignment``) of the still unmatched
   detections to the tracks of the level on

   * with appearance: the cosine distance ``1 − max_k <x_n, g_mk>`` of the detection to the track's
     gallery, accepted up to ``max_cosine_distance``;
   * without appearance: the squared Mahalanobis distance of the detection's box to the track's
     predicted box (DeepSORT's motion metric alone, its λ = 1 case);

   and a pair whose squared Mahalanobis distance exceeds the χ² 95 % gate (9.49 for 4 degrees of
   freedom) is never matched.
3. **IoU matching** of the detections left to the unconfirmed tracks and to the confirmed tracks updated
   in the previous frame: Hungarian matching on ``1 − IoU`` of the detection's box and the track's
   predicted box, accepted up to ``max_iou_distance`` (IoU ≥ 0.3 by default).
4. Matched tracks update their filter (and gallery) with the detection; every unmatched detection starts
   a **tentative** track, confirmed after ``n_init`` detections in a row; a tentative track is deleted at
   its first miss, a confirmed one after ``max_age`` frames in a row without a detection (DeepSORT keeps
   it one more frame, in which it can no longer be matched).

Each track reports the mask of its detection in the frame (none when unmatched); score = mean of its
detections' scores, class = majority vote of their labels, as for every heuristic tracker in gvis.
Deviation: DeepSORT's own output lists confirmed tracks only. A VIS track's first frames count in its
video IoU and a results file cannot add them later, so gvis reports tentative tracks too
(``report_tentative: false`` gives the original behaviour). Defaults are DeepSORT's (``deep_sort_app.py``:
``max_cosine_distance`` 0.2, ``max_iou_distance`` 0.7, ``max_age`` 30, ``n_init`` 3, gallery 100).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from gvis.baselines.kalman import CHI2_95_4DOF, BoxKalmanFilter, boxes_to_measurements, states_to_boxes
from gvis.baselines.track_book import NEW_TRACK, TrackBook, resolve_config
from gvis.detections.filtering import FilterConfig, box_iou, filter_detections
from gvis.detections.structures import Detections, Tracks
from gvis.registry import TRACKERS


@dataclass
class DeepSortConfig:
    """Settings of DeepSORT (defaults: the authors' ``deep_sort_app.py`` and Kalman filter)."""

    max_cosine_distance: float = 0.2
    """Largest appearance cosine distance to a track's gallery that continues the track."""
    max_iou_distance: float = 0.7
    """Largest ``1 − IoU`` (detection box, predicted track box) accepted in the IoU matching."""
    gating_threshold: float = CHI2_95_4DOF
    """Squared Mahalanobis distance above which a detection never continues a track (χ² 95 %, 4 dof)."""
    matching_cascade: bool = True
    """Match confirmed tracks level by level, most recently updated first; false: all in one matching."""
    n_init: int = 3
    """Detections in a row that confirm a track (a tentative track dies at its first miss)."""
    max_age: int = 30
    """A confirmed track missed this many frames in a row is deleted (DeepSORT: can no longer be matched)."""
    gallery_size: int = 100
    """Appearance vectors kept per track (DeepSORT's nn_budget)."""
    position_weight: float = 1.0 / 20
    """Kalman position noise per pixel of box height."""
    velocity_weight: float = 1.0 / 160
    """Kalman velocity noise per pixel of box height."""
    report_tentative: bool = True
    """Report unconfirmed tracks too (false: confirmed tracks only, as DeepSORT's own output)."""
    filtering: FilterConfig = field(default_factory=FilterConfig)

    def validate(self) -> None:
        if not 0.0 <= self.max_cosine_distance <= 2.0:
            raise ValueError(f"max_cosine_distance must be in [0, 2], got {self.max_cosine_distance}")
        if not 0.0 <= self.max_iou_distance < 1.0:
            raise ValueError(f"max_iou_distance must be in [0, 1), got {self.max_iou_distance}")
        for key in ("gating_threshold", "position_weight", "velocity_weight"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        for key in ("n_init", "gallery_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.max_age < 1:
            raise ValueError(f"max_age must be at least 1, got {self.max_age}")


def min_cost_matching(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Hungarian matching of ``cost [R, C]`` (``inf`` = forbidden); pairs ``(row, column)`` costing at
    most ``max_cost``. Forbidden and too costly pairs are priced just above ``max_cost`` before the
    assignment, so they never displace an acceptable pair (DeepSORT's ``min_cost_matching``)."""
    if cost.size == 0:
        return []
    capped = np.where(cost > max_cost, max_cost + 1e-5, cost)
    rows, columns = linear_sum_assignment(capped)
    return [(int(r), int(c)) for r, c in zip(rows, columns) if cost[r, c] <= max_cost]


@TRACKERS.register("deepsort")
class DeepSortTracker:
    """Online DeepSORT on boxes, reporting masks; see the module docstring.

    ``DeepSortTracker(categories, config=None, **fields)``: ``config`` is a :class:`DeepSortConfig` (or a
    dict of its fields); keyword ``fields`` override single settings.
    """

    config_class = DeepSortConfig
    #: torch threads this tracker runs best with (tiny tensors; ``gvis track`` applies it).
    num_threads = 1

    def __init__(self, categories: Iterable[Any], config: DeepSortConfig | dict | None = None, **fields: Any) -> None:
        self.config: DeepSortConfig = resolve_config(DeepSortConfig, config, fields)
        self.kalman = BoxKalmanFilter(self.config.position_weight, self.config.velocity_weight)
        # A confirmed track missed max_age frames in a row can no longer be matched: retire it then.
        self.book = TrackBook(categories, self.config.max_age - 1, confirm_hits=self.config.n_init)

    def reset(self) -> None:
        """Forget all tracks; call between videos."""
        self.book.reset()

    def associate(self, boxes: np.ndarray, appearance: np.ndarray | None) -> Tensor:
        """``[N]`` assignment (track row or ``NEW_TRACK``) of ``N`` detections to the live tracks, whose
        memory holds their *predicted* states.

        Args:
            boxes: ``[N, 4]`` ``x1, y1, x2, y2`` of the detections.
            appearance: ``[N, Da]`` unit appearance vectors, or ``None``.
        """
        cfg = self.config
        book = self.book
        num_dets, num_tracks = boxes.shape[0], len(book)
        assignment = torch.full((num_dets,), NEW_TRACK, dtype=torch.long)
        if num_dets == 0 or num_tracks == 0:
            return assignment
        means, covariances = book.memory["mean"].numpy(), book.memory["covariance"].numpy()
        gate = self.kalman.gating_distance(means, covariances, boxes_to_measurements(boxes))  # [M, N]
        if appearance is not None:
            cost = np.stack([1.0 - (gallery.numpy() @ appearance.T).max(axis=0) for gallery in book.memory["gallery"]])
            max_cost = cfg.max_cosine_distance
        else:
            cost, max_cost = gate.copy(), cfg.gating_threshold
        cost[gate > cfg.gating_threshold] = np.inf

        confirmed = book.confirmed().numpy()
        since_update = book.inactive.numpy()  # 0: updated in the previous frame
        free_dets = np.ones(num_dets, dtype=bool)
        levels = [[level] for level in range(cfg.max_age)] if cfg.matching_cascade else [list(range(cfg.max_age))]
        for level in levels:
            tracks = np.flatnonzero(confirmed & np.isin(since_update, level))
            dets = np.flatnonzero(free_dets)
            if dets.size == 0:
                break
            for row, column in min_cost_matching(cost[np.ix_(tracks, dets)], max_cost):
                assignment[dets[column]] = int(tracks[row])
                free_dets[dets[column]] = False

        matched_tracks = set(assignment[assignment >= 0].tolist())
        tracks = np.array([m for m in range(num_tracks) if m not in matched_tracks
                           and (not confirmed[m] or since_update[m] == 0)], dtype=np.int64)
        dets = np.flatnonzero(free_dets)
        if tracks.size and dets.size:
            iou = box_iou(torch.from_numpy(states_to_boxes(means[tracks])), torch.from_numpy(boxes[dets])).numpy()
            for row, column in min_cost_matching(1.0 - iou, cfg.max_iou_distance):
                assignment[dets[column]] = int(tracks[row])
        return assignment

    def update(self, detections: Detections, frame: Any = None) -> Tracks:
        """Track one frame's detections; one row per reported track (``frame`` is not used)."""
        cfg = self.config
        book = self.book
        kept, kept_indices = filter_detections(detections, cfg.filtering)
        if len(book):
            means, covariances = self.kalman.predict(book.memory["mean"].numpy(), book.memory["covariance"].numpy())
            book.memory["mean"], book.memory["covariance"] = torch.from_numpy(means), torch.from_numpy(covariances)
        boxes = kept.boxes.double().numpy()
        appearance = None
        if kept.appearance is not None:
            vectors = kept.appearance.double().numpy()
            appearance = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        assignment = self.associate(boxes, appearance)
        measurements = boxes_to_measurements(boxes)

        # The state (and gallery) each detection's track has after this frame: updated or new.
        means, covariances = self.kalman.initiate(measurements)
        continued = (assignment >= 0).nonzero().flatten()
        rows = assignment[continued]
        if continued.numel():
            means[continued.numpy()], covariances[continued.numpy()] = self.kalman.update(
                book.memory["mean"][rows].numpy(), book.memory["covariance"][rows].numpy(), measurements[continued.numpy()])
        memory: dict[str, Tensor | list] = {"mean": torch.from_numpy(means), "covariance": torch.from_numpy(covariances)}
        if appearance is not None:
            own = torch.from_numpy(appearance)[:, None, :]  # [N, 1, Da]
            galleries = [own[n] for n in range(len(kept))]
            for n, m in zip(continued.tolist(), rows.tolist()):
                galleries[n] = torch.cat([book.memory["gallery"][m], own[n]])[-cfg.gallery_size:]
            memory["gallery"] = galleries
        tracks = book.step(kept, kept_indices, assignment, memory)
        if not cfg.report_tentative:
            tracks = tracks[book.confirmed()]
        return tracks
