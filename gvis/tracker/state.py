"""The tracker's memory for a batch of B videos, in flat tensors, without Python loops over tracks.

All tracks of all videos live in one table of ``T`` rows, sorted by video (rows of a video are contiguous
and in creation order, which is the node order of the batched frame graph). Every row is a live track:
status 1 = matched in the last frame, 2 = inactive (the paper's ``a_m``); a track freed by
``max_inactive_frames`` is removed from the table. A frame step therefore feeds *all* rows to the graph,
computes the next value of every field for every row (masked with ``torch.where`` where only matched
rows change), appends the new tracks and restores the video order with one stable sort. Nothing is
written in place, so gradients flow through the state across the frames of a training clip.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor

MATCHED = 1
INACTIVE = 2

State = dict[str, Tensor]


@dataclass
class TrackState:
    """Tracks of ``num_videos`` videos (``T`` tracks in total, ``D`` embedding width, ``C+1`` classes).

    Per track (``[T, ...]``, sorted by ``video``):

    - ``video``: ``[T]`` int64 video index in ``0 .. B-1``.
    - ``track_id``: ``[T]`` int64, unique within its video, never reused.
    - ``h``, ``c``: ``[T, D]`` embedding and gate cell.
    - ``box``: ``[T, 4]`` pixels, box of the detection matched in the last frame (zeros if none).
    - ``status``: ``[T]`` int8, 1 matched / 2 inactive.
    - ``frames_since_matched``: ``[T]`` int64, 0 when matched in the last frame.
    - ``class_logits``: ``[T, C+1]`` the scorer's class logits (background first).
    - ``appearance``: the appearance model's per-track tensors (e.g. ``mean``, ``var`` ``[T, Da]``).
    - ``scorer``: the scorer's per-track tensors (e.g. vote counts).
    - ``inputs``: the detection-inputs model's per-track tensors (e.g. the last matched box and mask grid).

    Per video (``[B, ...]``): the empty track's ``empty_h``, ``empty_c`` and ``empty_appearance``;
    ``started`` (the empty track was initialised from a first frame), ``next_id`` (next track id) and
    ``frames`` (frames processed).
    """

    video: Tensor
    track_id: Tensor
    h: Tensor
    c: Tensor
    box: Tensor
    status: Tensor
    frames_since_matched: Tensor
    class_logits: Tensor
    empty_h: Tensor
    empty_c: Tensor
    started: Tensor
    next_id: Tensor
    frames: Tensor
    appearance: State = field(default_factory=dict)
    scorer: State = field(default_factory=dict)
    empty_appearance: State = field(default_factory=dict)
    inputs: State = field(default_factory=dict)

    #: Fields with one row per track.
    TRACK_FIELDS = ("video", "track_id", "h", "c", "box", "status", "frames_since_matched", "class_logits")
    TRACK_DICTS = ("appearance", "scorer", "inputs")

    @classmethod
    def initial(
        cls,
        num_videos: int,
        dim: int,
        num_classes: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> "TrackState":
        """The state before the first frame: no tracks, empty tracks at zero."""
        zeros = torch.zeros((num_videos, dim), device=device, dtype=dtype)
        long = dict(device=device, dtype=torch.long)
        return cls(
            video=torch.zeros(0, **long),
            track_id=torch.zeros(0, **long),
            h=torch.zeros((0, dim), device=device, dtype=dtype),
            c=torch.zeros((0, dim), device=device, dtype=dtype),
            box=torch.zeros((0, 4), device=device, dtype=dtype),
            status=torch.zeros(0, device=device, dtype=torch.int8),
            frames_since_matched=torch.zeros(0, **long),
            class_logits=torch.zeros((0, num_classes + 1), device=device, dtype=dtype),
            empty_h=zeros,
            empty_c=zeros.clone(),
            started=torch.zeros(num_videos, device=device, dtype=torch.bool),
            next_id=torch.zeros(num_videos, **long),
            frames=torch.zeros(num_videos, **long),
        )

    @property
    def num_videos(self) -> int:
        return int(self.empty_h.shape[0])

    @property
    def num_tracks(self) -> int:
        return int(self.video.shape[0])

    def tracks_per_video(self) -> Tensor:
        """``[B]`` int64 number of tracks of each video."""
        return torch.bincount(self.video, minlength=self.num_videos)

    def select(self, index: Tensor) -> "TrackState":
        """The state restricted to the track rows ``index`` (``[T]`` bool or ``[K]`` int64)."""
        changes = {name: getattr(self, name)[index] for name in self.TRACK_FIELDS}
        for name in self.TRACK_DICTS:
            changes[name] = {key: value[index] for key, value in getattr(self, name).items()}
        return dataclasses.replace(self, **changes)

    def detach(self) -> "TrackState":
        """The same state cut from the autograd graph (truncated back-propagation)."""
        changes = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                changes[f.name] = value.detach()
            elif isinstance(value, dict):
                changes[f.name] = {key: item.detach() for key, item in value.items()}
        return dataclasses.replace(self, **changes)


def rows_or_zeros(table: Tensor, rows: Tensor) -> Tensor:
    """``table[rows]`` with zero rows where ``rows`` is −1 (index −1 hits an appended zero row)."""
    return torch.cat([table, table.new_zeros((1, *table.shape[1:]))])[rows]


def where_rows(mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """Row-wise ``torch.where`` for ``mask [R]`` and ``[R, ...]`` tensors."""
    return torch.where(mask.view(-1, *([1] * (new.dim() - 1))), new, old)
