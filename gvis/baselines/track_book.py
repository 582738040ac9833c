"""Track bookkeeping shared by the heuristic trackers.

Both heuristic trackers decide, per frame, which detection continues which track, which detections start
new tracks and which are dropped. Everything after that decision is the same and lives here: track ids,
the per-track memory a tracker matches against (last box, last appearance, last mask), the scoring rule of
MaskTrack R-CNN (score = mean of the assigned detections' scores, class = majority vote of their labels),
retiring tracks unmatched for too long, and the :class:`Tracks` row per live track.
"""
from __future__ import annotations

from typing import Any, Iterable, TypeVar

import numpy as np
import torch
from torch import Tensor

from gvis.config import build_dataclass, to_dict
from gvis.detections.structures import Detections, Tracks, decode_masks
from gvis.errors import InputError

S = TypeVar("S")

#: ``assignment`` values other than a track row.
NEW_TRACK = -1
DROPPED = -2


def category_ids(categories: Iterable[Any]) -> list[int]:
    """Category ids from ``Category`` objects, ``{"id", "name"}`` dicts or plain ints, in list order."""
    ids = []
    for category in categories:
        if isinstance(category, int):
            ids.append(category)
        elif isinstance(category, dict):
            ids.append(int(category["id"]))
        else:
            ids.append(int(category.id))
    if not ids:
        raise InputError("a tracker needs at least one category", field="categories")
    if len(set(ids)) != len(ids):
        raise InputError(f"duplicate category ids {ids}", field="categories")
    return ids


def mask_rows(detections: Detections, rows: list[int]) -> np.ndarray:
    """``[len(rows), H, W]`` bool masks of the detections ``rows``, decoding only those."""
    if isinstance(detections.masks, torch.Tensor):
        return detections.masks[rows].numpy().astype(bool, copy=False)
    return decode_masks([detections.masks[i] for i in rows], *detections.image_size).numpy()


def resolve_config(schema: type[S], config: S | dict | None, fields: dict[str, Any]) -> S:
    """A validated ``schema`` instance from a config object, a dict of its fields or ``None`` (defaults),
    with single ``fields`` overriding it (ConfigError naming the key on a bad one)."""
    if config is None:
        config = schema()
    elif isinstance(config, dict):
        config = build_dataclass(schema, config)
    if fields:
        config = build_dataclass(schema, {**to_dict(config), **fields})
    return config


class TrackBook:
    """The tracks of one video.

    Per track (``M`` live tracks): ``ids [M]``, label ``votes [M, C]`` (one column per category),
    ``score_sums [M]`` and ``hits [M]`` of the assigned detections, ``inactive [M]`` frames since the
    last assignment, and ``memory``: named per-track values copied from the track's latest detection
    (tensors with M rows, or lists of length M).

    A track is retired after more than ``max_inactive_frames`` frames without a detection; a track with
    fewer than ``confirm_hits`` detections (a tentative one, DeepSORT's rule) already at its first miss.
    Its score is ``score_sums / (hits + score_prior_frames)``: MaskTrack R-CNN's mean score by default, and
    with ``score_prior_frames = k > 0`` the mean of its scores and ``k`` scores of 0, so that a short track
    ranks below a long one of the same mean score.
    """

    def __init__(self, categories: Iterable[Any], max_inactive_frames: int | None, confirm_hits: int = 1,
                 score_prior_frames: float = 0.0) -> None:
        self.category_ids = torch.tensor(category_ids(categories), dtype=torch.long)
        self._columns = {int(cid): k for k, cid in enumerate(self.category_ids.tolist())}
        self.max_inactive_frames = max_inactive_frames
        self.confirm_hits = confirm_hits
        self.score_prior_frames = score_prior_frames
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video starts); track ids restart at 1."""
        self.next_id = 1
        self.ids = torch.zeros(0, dtype=torch.long)
        self.votes = torch.zeros((0, len(self.category_ids)), dtype=torch.long)
        self.score_sums = torch.zeros(0, dtype=torch.float64)
        self.hits = torch.zeros(0, dtype=torch.long)
        self.inactive = torch.zeros(0, dtype=torch.long)
        self.memory: dict[str, Tensor | list] = {}

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def label_columns(self, labels: Tensor) -> Tensor:
        """``[N]`` vote columns of category ids ``labels [N]``; InputError for an unknown id."""
        columns = []
        for label in labels.tolist():
            if label not in self._columns:
                raise InputError(
                    f"label {label} is not one of the category ids {list(self._columns)}", field="labels"
                )
            columns.append(self._columns[label])
        return torch.tensor(columns, dtype=torch.long)

    def step(
        self,
        detections: Detections,
        det_indices: Tensor,
        assignment: Tensor,
        memory: dict[str, Tensor | list],
    ) -> Tracks:
        """Apply one frame's decision and report the live tracks.

        Args:
            detections: the N detections the tracker matched (after filtering).
            det_indices: ``[N]`` int64, their indices in the caller's detections (reported as ``det_index``).
            assignment: ``[N]`` int64, per detection the row of the track it continues, ``NEW_TRACK`` or
                ``DROPPED``. Each track row appears at most once.
            memory: per-detection values ``[N, ...]`` (tensor or list) that the matched or new track keeps.
        """
        continued = assignment >= 0
        if int(continued.sum()) != assignment[continued].unique().numel():
            raise AssertionError("a track was assigned two detections")
        if len(self) and len(detections) and set(memory) != set(self.memory):
            raise InputError(
                f"frames of one video carry different fields ({sorted(memory)} after {sorted(self.memory)})",
                field="appearance",
            )
        if not len(self):
            self.memory = {name: ([] if isinstance(v, list) else v[:0].clone()) for name, v in memory.items()}
        columns = self.label_columns(detections.labels)
        scores = detections.scores.double()

        rows = assignment[continued]
        det_rows = continued.nonzero().flatten()
        self.inactive += 1
        self.inactive[rows] = 0
        self.votes[rows, columns[det_rows]] += 1
        self.score_sums[rows] += scores[det_rows]
        self.hits[rows] += 1
        for name, values in memory.items():
            stored = self.memory[name]
            if isinstance(stored, list):
                for row, det in zip(rows.tolist(), det_rows.tolist()):
                    stored[row] = values[det]
            else:
                stored[rows] = values[det_rows].to(stored.dtype)

        new = (assignment == NEW_TRACK).nonzero().flatten()
        num_new = int(new.numel())
        self.ids = torch.cat([self.ids, torch.arange(self.next_id, self.next_id + num_new)])
        self.next_id += num_new
        new_votes = torch.zeros((num_new, len(self.category_ids)), dtype=torch.long)
        new_votes[torch.arange(num_new), columns[new]] = 1
        self.votes = torch.cat([self.votes, new_votes])
        self.score_sums = torch.cat([self.score_sums, scores[new]])
        self.hits = torch.cat([self.hits, torch.ones(num_new, dtype=torch.long)])
        self.inactive = torch.cat([self.inactive, torch.zeros(num_new, dtype=torch.long)])
        for name, values in memory.items():
            if isinstance(values, list):
                self.memory[name].extend(values[i] for i in new.tolist())
            else:
                self.memory[name] = torch.cat([self.memory[name], values[new].to(self.memory[name].dtype)])

        # Row of the detection each track holds this frame (-1: none).
        track_det = torch.full((len(self),), -1, dtype=torch.long)
        track_det[rows] = det_rows
        track_det[len(self) - num_new:] = new
        track_det = track_det[self._retire()]

        # Masks are assembled in NumPy: torch would spread these large fills over threads, which on a
        # busy CPU costs more than the work.
        height, width = detections.image_size
        masks = np.zeros((len(self), height, width), dtype=bool)
        reported = torch.full((len(self),), -1, dtype=torch.long)
        matched = track_det >= 0
        if matched.any():
            masks[matched.numpy()] = mask_rows(detections, track_det[matched].tolist())
            reported[matched] = det_indices[track_det[matched]]
        return Tracks(
            track_ids=self.ids.clone(),
            det_indices=reported,
            labels=self.category_ids[self.votes.argmax(dim=1)],
            scores=(self.score_sums / (self.hits + self.score_prior_frames).clamp(min=1)).float().clamp(0.0, 1.0),
            masks=torch.from_numpy(masks),
        )

    def confirmed(self) -> Tensor:
        """``[M]`` bool: tracks with at least ``confirm_hits`` detections."""
        return self.hits >= self.confirm_hits

    def _retire(self) -> Tensor:
        """Drop tracks unmatched for more than ``max_inactive_frames`` frames, and unconfirmed tracks at
        their first miss; ``[M]`` bool of the kept."""
        keep = (self.inactive == 0) | self.confirmed()
        if self.max_inactive_frames is not None:
            keep &= self.inactive <= self.max_inactive_frames
        if keep.all():
            return keep
        rows = keep.nonzero().flatten()
        self.ids, self.votes = self.ids[keep], self.votes[keep]
        self.score_sums, self.hits, self.inactive = self.score_sums[keep], self.hits[keep], self.inactive[keep]
        for name, stored in self.memory.items():
            self.memory[name] = [stored[i] for i in rows.tolist()] if isinstance(stored, list) else stored[keep]
        return keep
