"""Containers exchanged between detectors, trackers and the results writer.

Both are row-aligned tables: every field has the same first dimension (one row per detection / per
track), and indexing with a boolean mask, an index tensor or a slice selects rows of every field at once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor

from gvis.errors import InputError

if TYPE_CHECKING:
    from gvis.data.ytvis import Video

RLE = dict[str, Any]


def encode_masks(masks: Tensor) -> list[RLE]:
    """COCO compressed RLE (``counts`` as str) of each mask in ``masks [N, H, W]`` (bool)."""
    if masks.shape[0] == 0:
        return []
    # [H, W, N] uint8 in column-major order; no copy when each mask is already stored column-major.
    array = np.asfortranarray(masks.detach().bool().cpu().permute(1, 2, 0).numpy().view(np.uint8))
    rles = mask_utils.encode(array)
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def pycoco_rle(rle: RLE) -> RLE:
    """A compressed RLE (``counts`` str or bytes) as pycocotools' functions take it: ``counts`` bytes."""
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def decode_masks(rles: list[RLE], height: int, width: int) -> Tensor:
    """``[N, H, W]`` bool masks from compressed RLEs (``counts`` str or bytes)."""
    if not rles:
        return torch.zeros((0, height, width), dtype=torch.bool)
    decoded = mask_utils.decode([pycoco_rle(r) for r in rles])  # [H, W, N]
    return torch.from_numpy(np.ascontiguousarray(decoded.transpose(2, 0, 1))).bool()


def tight_boxes(masks: Tensor) -> Tensor:
    """``[K, 4]`` (x1, y1, x2, y2) pixel boxes enclosing each non-empty mask of ``masks [K, H, W]``
    (pixel edges, as COCO boxes: x2 = last column + 1)."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4))
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # [K, H], [K, W]
    height, width = masks.shape[1:]
    y1 = rows.float().argmax(dim=1)
    y2 = height - rows.flip(1).float().argmax(dim=1)
    x1 = cols.float().argmax(dim=1)
    x2 = width - cols.flip(1).float().argmax(dim=1)
    return torch.stack([x1, y1, x2, y2], dim=1).float()


def class_probs_from_scores(labels: Tensor, scores: Tensor, category_ids: Sequence[int]) -> Tensor:
    """``[N, C+1]`` class probabilities of detections that have only a label and a score.

    ``score`` on the label's column (``category_ids.index(label) + 1``), ``1 − score`` on background.
    """
    column = {int(c): k + 1 for k, c in enumerate(category_ids)}
    unknown = [int(label) for label in labels.tolist() if int(label) not in column]
    if unknown:
        raise ValueError(f"Detections: field 'labels' has category id {unknown[0]}, not in {list(column)}")
    probs = torch.zeros((labels.shape[0], len(category_ids) + 1), dtype=torch.float32)
    rows = torch.arange(labels.shape[0])
    columns = torch.as_tensor([column[int(label)] for label in labels.tolist()], dtype=torch.long)
    probs[rows, columns] = scores.float()
    probs[:, 0] = 1.0 - scores.float()
    return probs


class _Rows:
    """Row selection over every tensor / list field of a dataclass; per-frame fields are kept."""

    #: Fields that describe the whole frame rather than one row.
    _frame_fields: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self._row_fields_items()[0][1].shape[0])

    def _row_fields_items(self) -> list[tuple[str, Any]]:
        return [
            (f.name, getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in self._frame_fields and getattr(self, f.name) is not None
        ]

    def __getitem__(self, index: Tensor | slice | int | list) -> "_Rows":
        if isinstance(index, int):
            index = [index]
        if isinstance(index, list):
            index = torch.as_tensor(index, dtype=torch.long)
        if isinstance(index, Tensor) and index.dtype == torch.bool and index.shape != (len(self),):
            raise IndexError(f"boolean index of shape {tuple(index.shape)} for {len(self)} rows")
        selected = {}
        for name, value in self._row_fields_items():
            if isinstance(value, list):
                if isinstance(index, slice):
                    selected[name] = value[index]
                else:
                    rows = index.nonzero().flatten() if index.dtype == torch.bool else index
                    selected[name] = [value[i] for i in rows.tolist()]
            else:
                selected[name] = value[index]
        return dataclasses.replace(self, **selected)

    def to(self, device: torch.device | str) -> "_Rows":
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return dataclasses.replace(self, **moved)

    def _check_rows(self, kind: str) -> None:
        count = len(self)
        for name, value in self._row_fields_items():
            length = len(value) if isinstance(value, list) else value.shape[0]
            if length != count:
                raise ValueError(f"{kind}: field '{name}' has {length} rows, expected {count}")


@dataclass
class Detections(_Rows):
    """The detections of one frame.

    Fields (N detections, C foreground classes, Da appearance width):

    - ``boxes``: ``[N, 4]`` float, ``x1, y1, x2, y2`` in pixels of the frame.
    - ``scores``: ``[N]`` float in ``[0, 1]``, detection confidence.
    - ``labels``: ``[N]`` int64 category ids (as in the dataset's category list).
    - ``masks``: ``[N, H, W]`` bool, or a list of N COCO compressed RLEs (``{"size", "counts"}``);
      :meth:`mask_tensor` decodes either.
    - ``class_probs``: ``[N, C + 1]`` float, background first; ``class_probs[:, k]`` belongs to the
      ``k``-th category of the dataset's category list (1-based). Optional.
    - ``appearance``: ``[N, Da]`` float appearance vectors. Optional.
    - ``mask_logits``: ``[N, h, w]`` raw mask logits from a detector (YOLACT prototypes · coefficients,
      uncropped). Optional: without them, the tracker derives ±4 logits from the binary masks.
    - ``frame_appearance``: ``[Da]`` frame descriptor (the empty track's observation). Optional.
    - ``support``: ``[N]`` float, how much of the frame's detections each one stands for, set by NMS
      (:func:`gvis.detections.filtering.filter_detections`): ``sum_j s_j IoU(n, j)`` over the detections NMS
      compared it with, itself included. Optional (``None``: not filtered by NMS).
    - ``image_size``: ``(H, W)`` of the frame.
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    masks: Tensor | list[RLE]
    image_size: tuple[int, int]
    class_probs: Tensor | None = None
    appearance: Tensor | None = None
    mask_logits: Tensor | None = None
    frame_appearance: Tensor | None = None
    support: Tensor | None = None

    _frame_fields = ("image_size", "frame_appearance")

    def __post_init__(self) -> None:
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        self.validate()

    def validate(self) -> None:
        """Check shapes and values; ``ValueError`` naming the field otherwise."""
        count = self.boxes.shape[0]
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"Detections: field 'boxes' must be [N, 4], got {tuple(self.boxes.shape)}")
        self._check_rows("Detections")
        if isinstance(self.masks, Tensor):
            if self.masks.ndim != 3 or tuple(self.masks.shape[1:]) != self.image_size:
                raise ValueError(
                    f"Detections: field 'masks' must be [N, {self.image_size[0]}, {self.image_size[1]}], "
                    f"got {tuple(self.masks.shape)}"
                )
        else:
            for i, rle in enumerate(self.masks):
                if list(rle.get("size", ())) != list(self.image_size):
                    raise ValueError(f"Detections: field 'masks[{i}]' size {rle.get('size')} != image size {self.image_size}")
        for name in ("boxes", "scores", "class_probs", "appearance", "support"):
            value = getattr(self, name)
            if value is not None and value.numel() and not torch.isfinite(value).all():
                raise ValueError(f"Detections: field '{name}' contains NaN or inf")
        if self.appearance is not None and self.appearance.ndim != 2:
            raise ValueError(f"Detections: field 'appearance' must be [N, Da], got {tuple(self.appearance.shape)}")
        if self.class_probs is not None and self.class_probs.ndim != 2:
            raise ValueError(f"Detections: field 'class_probs' must be [N, C+1], got {tuple(self.class_probs.shape)}")
        del count

    @classmethod
    def empty(cls, image_size: tuple[int, int], num_classes: int | None = None, appearance_dim: int | None = None) -> "Detections":
        """A frame without detections."""
        height, width = image_size
        return cls(
            boxes=torch.zeros((0, 4)),
            scores=torch.zeros(0),
            labels=torch.zeros(0, dtype=torch.long),
            masks=torch.zeros((0, height, width), dtype=torch.bool),
            image_size=image_size,
            class_probs=None if num_classes is None else torch.zeros((0, num_classes + 1)),
            appearance=None if appearance_dim is None else torch.zeros((0, appearance_dim)),
        )

    def with_class_probs(self, category_ids: Sequence[int]) -> "Detections":
        """These detections with ``class_probs``, built from labels and scores where absent.

        ``category_ids``: the dataset's category ids in order (column ``k`` of ``class_probs`` belongs
        to ``category_ids[k − 1]``). As docs/model.md §0 says: the score on the label's column,
        ``1 − score`` on background (column 0).
        """
        if self.class_probs is not None:
            if self.class_probs.shape[1] != len(category_ids) + 1:
                raise ValueError(
                    f"Detections: field 'class_probs' has {self.class_probs.shape[1]} columns, "
                    f"expected C+1 = {len(category_ids) + 1}"
                )
            return self
        return dataclasses.replace(self, class_probs=class_probs_from_scores(self.labels, self.scores, category_ids))

    def mask_tensor(self) -> Tensor:
        """``[N, H, W]`` bool masks, decoding RLEs if needed."""
        if isinstance(self.masks, Tensor):
            return self.masks.bool()
        return decode_masks(self.masks, *self.image_size)

    def mask_rles(self) -> list[RLE]:
        """COCO compressed RLEs of the masks, encoding if needed."""
        if isinstance(self.masks, Tensor):
            return encode_masks(self.masks)
        return list(self.masks)


@dataclass
class Tracks(_Rows):
    """What a tracker reports for one frame: one row per track alive in the tracker.

    - ``track_ids``: ``[K]`` int64, unique and stable over the video.
    - ``det_indices``: ``[K]`` int64, index of the detection assigned this frame, ``-1`` if none.
    - ``labels``: ``[K]`` int64 category ids (current class of the track).
    - ``scores``: ``[K]`` float in ``[0, 1]`` (current confidence of the track).
    - ``masks``: ``[K, H, W]`` bool, the track's mask in this frame (all False where it has none).
    """

    track_ids: Tensor
    det_indices: Tensor
    labels: Tensor
    scores: Tensor
    masks: Tensor

    def __post_init__(self) -> None:
        self._check_rows("Tracks")
        if self.scores.numel() and ((self.scores < 0) | (self.scores > 1)).any():
            raise ValueError("Tracks: field 'scores' must lie in [0, 1]")

    @classmethod
    def empty(cls, image_size: tuple[int, int]) -> "Tracks":
        return cls(
            track_ids=torch.zeros(0, dtype=torch.long),
            det_indices=torch.zeros(0, dtype=torch.long),
            labels=torch.zeros(0, dtype=torch.long),
            scores=torch.zeros(0),
            masks=torch.zeros((0, *image_size), dtype=torch.bool),
        )

    @property
    def matched(self) -> Tensor:
        """``[K]`` bool: rows with a detection this frame."""
        return self.det_indices >= 0


def check_frame_size(detections: Detections, video: "Video", frame_index: int, source: Any) -> None:
    """``InputError`` naming ``source`` unless the detections of frame ``frame_index`` of ``video`` have
    the video's frame size (masks and boxes of another size would be compared with the wrong pixels)."""
    if tuple(detections.image_size) != (video.height, video.width):
        height, width = detections.image_size
        raise InputError(f"frame {frame_index} of the detections is {height}x{width} (HxW), the video is "
                         f"{video.height}x{video.width}", file=source, video_id=video.id, field="height")


def check_video_detections(frames: Sequence[Detections], video: "Video", source: Any) -> None:
    """``InputError`` naming ``source`` unless ``frames`` are the detections of every frame of ``video``,
    each of the video's size."""
    if len(frames) != video.length:
        raise InputError(f"the detections have {len(frames)} frames, the video has {video.length}", file=source,
                         video_id=video.id, field="frame_index")
    for frame_index, detections in enumerate(frames):
        check_frame_size(detections, video, frame_index, source)
