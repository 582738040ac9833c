"""Initial node and edge features of the frame graph (docs/model.md §1) and the detections of a frame as flat tensors.

For B videos advanced one frame together, :func:`prepare_frame` turns the B ``Detections`` into one table of
``N`` detections sorted by video (:class:`FrameDetections`). From it and the :class:`TrackState`:

- detection node ``[y_n ; β̂_n]``: the ``C+1`` class logits (background first) and the box mapped to
  ``[-1, 1]`` by the frame size (``x·2/W − 1``, ``y·2/H − 1``), then whatever the appearance model appends;
- track–detection edge ``[appearance columns ; −1 + 2·IoU(b_m, β_n)]`` where the appearance model gives
  ``−4 + 0.01·log N(x_n; μ_m, σ²_m)`` (scale configurable) and ``b_m`` is the track's last matched box
  (zeros if it was unmatched, so IoU ≈ 0);
- empty–detection edge: the appearance model's ``[−4 + 0.01·log N(x_n; μ_0, σ²_0)]`` (or nothing).

Detections from other sources are completed as docs/model.md §0 says: logits = log(clamp(p, 1e−6)) of
``class_probs``; without ``class_probs``, p = score on the label and 1 − score on background; without
detector mask logits, ±4 inside/outside the binary mask; without ``frame_appearance``, the mean of the
frame's detection appearances (zeros when there are none).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gvis.detections.filtering import box_intersection_union
from gvis.detections.structures import Detections
from gvis.errors import InputError

#: IoU smoothing of the authors' code: (I + eps) / (U + eps).
IOU_EPS = 1e-7


def class_logits(
    detections: Detections, label_columns: Tensor, num_classes: int, min_prob: float = 1e-6
) -> Tensor:
    """``[N, C+1]`` class logits of a frame's detections, background first.

    ``label_columns`` maps a category id to its column (``1..C``; ``-1`` for unknown ids).
    """
    probs = detections.class_probs
    if probs is None:
        labels = detections.labels.long()
        known = (labels >= 0) & (labels < label_columns.shape[0])
        columns = torch.where(known, label_columns[labels.clamp(0, label_columns.shape[0] - 1)], -1)
        if (columns < 0).any():
            bad = labels[columns < 0][0].item()
            raise InputError(f"category id {bad} is not one of the tracker's categories", field="labels")
        scores = detections.scores.float()
        probs = torch.zeros((labels.shape[0], num_classes + 1), dtype=scores.dtype)
        probs[:, 0] = 1 - scores
        probs[torch.arange(labels.shape[0]), columns] = scores
    elif probs.shape[1] != num_classes + 1:
        raise InputError(
            f"class_probs has {probs.shape[1]} columns, the tracker expects C+1 = {num_classes + 1}",
            field="class_probs",
        )
    return probs.float().clamp_min(min_prob).log()


def normalize_boxes(boxes: Tensor, image_size: Tensor) -> Tensor:
    """Boxes ``[N, 4]`` (x1, y1, x2, y2 pixels) mapped to ``[-1, 1]``; ``image_size [N, 2]`` is (H, W) per box."""
    scale = image_size.flip(-1).repeat(1, 2).to(boxes.dtype)  # [N, 4]: W, H, W, H
    return boxes * 2 / scale - 1


def pair_box_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """IoU of row-aligned boxes ``[E, 4]`` and ``[E, 4]`` → ``[E]``, as (I + 1e−7)/(U + 1e−7).

    Leading dimensions broadcast, e.g. ``[B, M, 1, 4]`` with ``[B, 1, N, 4]`` → ``[B, M, N]``.
    """
    intersection, union = box_intersection_union(boxes_a, boxes_b)
    return (intersection + IOU_EPS) / (union + IOU_EPS)


def iou_feature(iou: Tensor) -> Tensor:
    """``[E]`` box IoU → ``[E, 1]`` edge feature ``−1 + 2·IoU``."""
    return (2 * iou - 1).unsqueeze(-1)


def mask_size(image_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """Working mask resolution of a frame: ``ceil(H / stride), ceil(W / stride)``."""
    return math.ceil(image_size[0] / stride), math.ceil(image_size[1] / stride)


def detection_mask_logits(detections: Detections, size: tuple[int, int], binary_logit: float = 4.0) -> Tensor:
    """``[N, h, w]`` mask logits at the working resolution.

    The detector's ``mask_logits`` are resized bilinearly; without them, the binary masks are area-averaged
    to the working resolution and mapped to ``binary_logit · (2·fraction − 1)`` (±4 inside/outside).
    """
    if len(detections) == 0:
        return torch.zeros((0, *size))
    if detections.mask_logits is not None:
        logits = detections.mask_logits.float().unsqueeze(1)
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False).squeeze(1)
    return binary_logit * (2 * area_fractions(detections.mask_tensor(), size) - 1)


def area_fractions(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """``[N, h, w]`` float: the fraction of each cell of an ``h×w`` grid over the frame that each of the ``masks
    [N, H, W]`` (bool) covers — ``F.interpolate(mode="area")`` of the masks as floats, and equal to it.

    When ``h`` divides ``H`` and ``w`` divides ``W`` (a frame size divisible by the mask stride) the pixels of each
    cell are counted in integers, without the float copy of the full-size masks that pooling needs (at 480×864
    that copy was most of what preparing a training frame cost, docs/training.md).
    """
    count, height, width = masks.shape
    rows, cols = size
    if height % rows or width % cols:
        return F.interpolate(masks.float().unsqueeze(1), size=size, mode="area").squeeze(1)
    cell_height, cell_width = height // rows, width // cols
    # Column counts per cell row in bytes while they fit (twice as fast as int32), then whole cells.
    column_counts = masks.view(torch.uint8).reshape(count, rows, cell_height, width).sum(
        2, dtype=torch.uint8 if cell_height < 256 else torch.int32)
    counts = column_counts.view(count, rows, cols, cell_width).sum(3, dtype=torch.int32)
    return counts.float() / cell_height / cell_width  # the pooling's own division order: same floats


def grid_masks(detections: Detections, grid: int) -> Tensor:
    """``[N, G²]``: the fraction of each cell of a ``G×G`` grid over the whole frame that each mask covers
    (rows first; area-averaged, so cells on a mask's boundary get fractions)."""
    if len(detections) == 0:
        return torch.zeros((0, grid * grid))
    return area_fractions(detections.mask_tensor(), (grid, grid)).flatten(1)


def box_masks(boxes: Tensor, image_size: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """``[N, h, w]`` float: 1 where a working-resolution pixel centre lies inside the box (pixels of the frame)."""
    height, width = image_size
    ys = (torch.arange(size[0], dtype=boxes.dtype) + 0.5) * (height / size[0])
    xs = (torch.arange(size[1], dtype=boxes.dtype) + 0.5) * (width / size[1])
    inside_y = (ys >= boxes[:, 1:2]) & (ys < boxes[:, 3:4])  # [N, h]
    inside_x = (xs >= boxes[:, 0:1]) & (xs < boxes[:, 2:3])  # [N, w]
    return (inside_y.unsqueeze(2) & inside_x.unsqueeze(1)).to(boxes.dtype)


def frame_descriptor(detections: Detections, appearance_dim: int) -> Tensor:
    """``[Da]`` observation of the empty track: the detector's, else the mean detection appearance, else 0."""
    if detections.frame_appearance is not None:
        return detections.frame_appearance.float().reshape(-1)
    if detections.appearance is not None and len(detections) > 0:
        return detections.appearance.float().mean(0)
    return torch.zeros(appearance_dim)


@dataclass
class FrameDetections:
    """One frame of B videos as a flat table of ``N`` detections, sorted by video.

    - ``present``: ``[B]`` bool, the video has a frame at this step (absent videos are skipped entirely).
    - ``image_size``: ``[B, 2]`` int64 (H, W).
    - ``video``: ``[N]`` int64; ``index``: ``[N]`` int64 row in the video's ``Detections``.
    - ``logits``: ``[N, C+1]``; ``boxes``: ``[N, 4]`` pixels; ``boxes_norm``: ``[N, 4]`` in [−1, 1];
      ``scores``: ``[N]``.
    - ``appearance``: ``[N, Da]`` (``Da`` = 0 when the model uses none); ``frame_appearance``: ``[B, Da]``.
    - ``mask_inputs``: per video, ``[N_b, 2, h, w]`` (mask logits ; box mask) at the working mask
      resolution, or ``None`` when masks were not requested.
    - ``mask_grid``: ``[N, G²]`` each mask on a ``G×G`` grid of its frame (:func:`grid_masks`), or ``None``
      when the model's inputs need none.
    - ``support``: ``[N]`` what each detection stands for after NMS (``Detections.support``; its score
      where the frame was not filtered by NMS), or ``None`` (read as the scores).
    """

    present: Tensor
    image_size: Tensor
    video: Tensor
    index: Tensor
    logits: Tensor
    boxes: Tensor
    boxes_norm: Tensor
    scores: Tensor
    appearance: Tensor
    frame_appearance: Tensor
    mask_inputs: list[Tensor | None] | None = None
    mask_grid: Tensor | None = None
    support: Tensor | None = None

    @property
    def num_videos(self) -> int:
        return int(self.present.shape[0])

    @property
    def num_detections(self) -> int:
        return int(self.video.shape[0])

    def node_features(self) -> Tensor:
        """``[N, C+1+4]`` detection node features before the appearance model's columns."""
        return torch.cat([self.logits, self.boxes_norm], dim=-1)


def prepare_frame(
    frames: list[Detections | None],
    label_columns: Tensor,
    num_classes: int,
    appearance_dim: int,
    use_appearance: bool,
    mask_stride: int | None = None,
    binary_mask_logit: float = 4.0,
    min_prob: float = 1e-6,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    mask_grid: int | None = None,
) -> FrameDetections:
    """Flatten one frame of B videos (``None`` = the video has no frame now) into a :class:`FrameDetections`.

    ``use_appearance``: the model reads appearance vectors; then every non-empty frame must carry them,
    ``[N, appearance_dim]``. ``mask_stride``: build the mask head's inputs at ``1/mask_stride`` resolution.
    ``mask_grid``: also put each mask on a ``mask_grid × mask_grid`` grid of its frame.
    """
    present, sizes, videos, logits, boxes, scores, supports, appearance, frame_app, mask_inputs = ([] for _ in range(10))
    grids = []
    for b, det in enumerate(frames):
        present.append(det is not None)
        if det is None:
            sizes.append((1, 1))
            frame_app.append(torch.zeros(appearance_dim if use_appearance else 0))
            mask_inputs.append(None)
            continue
        count = len(det)
        sizes.append(det.image_size)
        videos.append(torch.full((count,), b, dtype=torch.long))
        logits.append(class_logits(det, label_columns, num_classes, min_prob))
        boxes.append(det.boxes.float())
        scores.append(det.scores.float())
        supports.append((det.scores if det.support is None else det.support).float())
        if mask_grid is not None:
            grids.append(grid_masks(det, mask_grid))
        if use_appearance:
            if count and det.appearance is None:
                raise InputError("the tracker's appearance model needs detections with appearance vectors", field="appearance")
            app = det.appearance.float() if det.appearance is not None else torch.zeros((0, appearance_dim))
            frame = frame_descriptor(det, appearance_dim)
            for name, width in (("appearance", app.shape[-1]), ("frame_appearance", frame.shape[-1])):
                if width != appearance_dim:
                    raise InputError(f"width {width}, the tracker expects Da = {appearance_dim}", field=name)
            appearance.append(app)
            frame_app.append(frame)
        else:
            appearance.append(torch.zeros((count, 0)))
            frame_app.append(torch.zeros(0))
        if mask_stride is None:
            mask_inputs.append(None)
        else:
            size = mask_size(det.image_size, mask_stride)
            mask_inputs.append(
                torch.stack([
                    detection_mask_logits(det, size, binary_mask_logit),
                    box_masks(det.boxes.float(), det.image_size, size),
                ], dim=1).to(device=device, dtype=dtype)
            )
    image_size = torch.tensor(sizes, dtype=torch.long)
    video = torch.cat(videos) if videos else torch.zeros(0, dtype=torch.long)
    boxes_cat = torch.cat(boxes) if boxes else torch.zeros((0, 4))
    width = appearance_dim if use_appearance else 0
    to = dict(device=device, dtype=dtype)
    return FrameDetections(
        present=torch.tensor(present, dtype=torch.bool, device=device),
        image_size=image_size.to(device),
        video=video.to(device),
        index=(torch.cat([torch.arange(v.shape[0]) for v in videos]) if videos else torch.zeros(0, dtype=torch.long)).to(device),
        logits=(torch.cat(logits) if logits else torch.zeros((0, num_classes + 1))).to(**to),
        boxes=boxes_cat.to(**to),
        boxes_norm=normalize_boxes(boxes_cat, image_size[video]).to(**to),
        scores=(torch.cat(scores) if scores else torch.zeros(0)).to(**to),
        support=(torch.cat(supports) if supports else torch.zeros(0)).to(**to),
        appearance=(torch.cat(appearance) if appearance else torch.zeros((0, width))).to(**to),
        frame_appearance=torch.stack(frame_app).to(**to),
        mask_inputs=None if mask_stride is None else mask_inputs,
        mask_grid=None if mask_grid is None else (
            torch.cat(grids) if grids else torch.zeros((0, mask_grid * mask_grid))).to(**to),
    )
