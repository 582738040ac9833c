"""Detection inputs: what the frame graph reads of the detections besides appearance (``DETECTION_INPUTS``,
model key ``inputs``).

An inputs model gives the detection node features, the columns it adds to the track–detection edge
features (after the appearance model's) and, when it needs one, a per-track state (``TrackState.inputs``,
advanced every frame with the detections the tracks were assigned):

- ``detector_classes`` (default, the paper, docs/model.md §1): detection node ``[y_n ; β̂_n]``, the detector's
  ``C+1`` class logits and the box mapped to [−1, 1]; edge ``−1 + 2·IoU(b_m, β_n)`` with the box the track
  was matched to in the last frame (zeros if unmatched). Its width depends on the detector's class list.
- ``geometry`` (detector-agnostic, docs/tracker.md "Detector-agnostic configuration"): only what every
  instance segmenter gives, score, box and mask, so that no width depends on the detector's categories.
- ``geometry_support``: ``geometry`` and how many overlapping proposals each detection stood for before
  NMS removed them (for dense proposals).

Masks enter ``geometry`` as a ``G×G`` grid over the whole frame (``FrameDetections.mask_grid``: the
fraction of each cell the mask covers, whatever the frame's size or aspect). Overlaps of such grids are
*soft IoUs* ``I / U`` with ``U = Σ a + Σ b − I`` and the intersection ``I`` estimated per cell
(``grid_overlap``): ``product``, ``I = Σ_c a_c b_c`` (the default), or ``min``, ``I = Σ_c min(a_c, b_c)``.
Both are exact for masks made of whole cells. Where masks cover cells only in part (objects a few cells
wide: far objects in a large frame) ``product`` shrinks every overlap, a mask's IoU with itself included
(``1/7`` for a mask that covers a quarter of each of its cells), while ``min`` keeps a mask's IoU with
itself at 1 and is exact for nested masks (a part inside its object, an object inside a loose copy).
"""
from __future__ import annotations

import torch
from torch import Tensor

from gvis.registry import DETECTION_INPUTS
from gvis.tracker.features import FrameDetections, iou_feature, pair_box_iou
from gvis.tracker.state import rows_or_zeros, where_rows

State = dict[str, Tensor]
#: How soft mask IoUs estimate a grid cell's intersection (``geometry`` inputs' ``grid_overlap``).
GRID_OVERLAPS = ("product", "min")


class DetectionInputs:
    """Base class: the widths it adds and the features and state it computes (no learned parameters)."""

    #: No width depends on the detector's class list: with a scorer of the same kind, the model tracks
    #: detections of any categories (``RecurrentGraphTracker.class_free``).
    class_free: bool = False
    #: Columns added to the track–detection edge features.
    pair_dim: int = 0
    #: ``G`` of the ``G×G`` frame grid of each detection's mask that :func:`prepare_frame` computes for it
    #: (``None``: none needed).
    mask_grid: int | None = None

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes

    @property
    def det_node_dim(self) -> int:
        """Width of the detection node features (before the appearance model's columns)."""
        raise NotImplementedError

    def det_features(self, frame: FrameDetections) -> Tensor:
        """``[N, det_node_dim]``."""
        raise NotImplementedError

    def pair_features(self, state: State, frame: FrameDetections, src: Tensor, dst: Tensor, pair_iou: Tensor) -> Tensor:
        """``[E, pair_dim]`` for the pairs (track ``src[e]``, detection ``dst[e]``); ``pair_iou [E]`` is the box
        IoU with the track's box of the last frame."""
        raise NotImplementedError

    def empty_state(self, like: Tensor) -> State:
        """The per-track state of zero tracks (``like`` gives dtype and device)."""
        return {}

    def advance(self, state: State, frame: FrameDetections, assigned: Tensor, new_dets: Tensor) -> State:
        """The state after this frame: the ``T`` existing rows (``assigned [T]``: detection row or −1), then
        one row per new track (``new_dets [K]``: its detection row)."""
        return {}


@DETECTION_INPUTS.register("detector_classes")
class ClassLogitInputs(DetectionInputs):
    """The paper's inputs: detection node ``[C+1 class logits ; box]``, edge ``−1 + 2·IoU`` (docs/model.md §1)."""

    pair_dim = 1

    @property
    def det_node_dim(self) -> int:
        return self.num_classes + 1 + 4

    def det_features(self, frame: FrameDetections) -> Tensor:
        return frame.node_features()

    def pair_features(self, state: State, frame: FrameDetections, src: Tensor, dst: Tensor, pair_iou: Tensor) -> Tensor:
        return iou_feature(pair_iou)


@DETECTION_INPUTS.register("geometry")
class GeometryInputs(DetectionInputs):
    r"""Detector-agnostic inputs from score, box and mask (every feature mapped from [0, 1] to [−1, 1]).

    - detection node (9): ``[2s_n − 1 ; β̂_n ; 2o_n − 1 ; 2k_n − 1 ; 2o'_n − 1 ; 2c_n − 1]``: score, box in
      [−1, 1]; against the detections of its frame that rank before it (higher score, or equal score and
      earlier row) the largest mask IoU ``o_n`` and the largest fraction ``k_n`` of its mask inside one of
      them; against all the other detections of its frame (whatever their order, which says nothing when
      every score is the same) the largest mask IoU ``o'_n`` and the largest fraction ``c_n`` of another's
      mask inside its own. Duplicates, parts and loose copies of an object stand out without any class or
      appearance.
    - track–detection edge (4): ``[IoU(b_m, β_n) ; IoU(\hat b_m, β_n) ; IoU_mask(M_m, M_n) ;
      \exp(−‖c(\hat b_m) − c(β_n)‖ / \sqrt{|\hat b_m|})]``, each as ``2x − 1``, where ``b_m`` and ``M_m`` are
      the box and mask grid of the detection the track was *last* matched to (kept while it is unmatched),
      ``\hat b_m`` is ``b_m`` moved on by ``(g_m + 1) v_m``, ``v_m`` the velocity of its centre between its
      last two matches and ``g_m`` the frames since the last match, ``c(·)`` a box centre and ``|·|`` its
      area in pixels.

    State per track: ``box [T, 4]``, ``velocity [T, 2]`` (centre, pixels per frame; 0 for a new track),
    ``gap [T]`` (frames since the last match) and ``mask [T, G²]``.

    Keys: ``grid`` (``G``, default 40) and ``grid_overlap`` (``product``, the default, or ``min``: how the
    soft mask IoUs estimate a cell's intersection, module docstring).
    """

    class_free = True
    #: Names of the detection node columns and of the track–detection edge columns, in order (for tools
    #: that read or neutralise one feature, e.g. an input ablation).
    det_columns = ("score", "x1", "y1", "x2", "y2", "overlap_before", "inside_before", "overlap_any",
                   "contains_any")
    pair_columns = ("box_iou", "predicted_box_iou", "mask_iou", "centre_proximity")
    pair_dim = len(pair_columns)

    def __init__(self, num_classes: int, grid: int = 40, grid_overlap: str = "product") -> None:
        super().__init__(num_classes)
        if grid < 1:
            raise ValueError(f"inputs grid must be at least 1, got {grid}")
        if grid_overlap not in GRID_OVERLAPS:
            raise ValueError(f"inputs grid_overlap must be one of {', '.join(GRID_OVERLAPS)}, got {grid_overlap!r}")
        self.mask_grid = grid
        self.grid_overlap = grid_overlap

    @property
    def det_node_dim(self) -> int:
        return len(self.det_columns)

    def det_features(self, frame: FrameDetections) -> Tensor:
        overlaps = frame_overlaps(frame.mask_grid, frame.scores, frame.video, self.grid_overlap)
        return torch.cat([(2 * frame.scores - 1).unsqueeze(-1), frame.boxes_norm, 2 * overlaps - 1], dim=-1)

    def pair_features(self, state: State, frame: FrameDetections, src: Tensor, dst: Tensor, pair_iou: Tensor) -> Tensor:
        last = state["box"][src]
        predicted = last + (state["velocity"][src] * (state["gap"][src] + 1).unsqueeze(-1)).repeat(1, 2)
        boxes = frame.boxes[dst]
        mask_iou = grid_iou(state["mask"], frame.mask_grid, self.grid_overlap)[src, dst]
        features = torch.stack([pair_box_iou(last, boxes), pair_box_iou(predicted, boxes), mask_iou,
                                centre_proximity(predicted, boxes)], dim=-1)
        return 2 * features - 1

    def empty_state(self, like: Tensor) -> State:
        return {"box": like.new_zeros((0, 4)), "velocity": like.new_zeros((0, 2)), "gap": like.new_zeros(0),
                "mask": like.new_zeros((0, self.mask_grid**2))}

    def advance(self, state: State, frame: FrameDetections, assigned: Tensor, new_dets: Tensor) -> State:
        matched = assigned >= 0
        box, gap = state["box"], state["gap"]
        matched_box = rows_or_zeros(frame.boxes, assigned)
        shift = (matched_box[:, :2] + matched_box[:, 2:] - box[:, :2] - box[:, 2:]) / 2  # of the centre
        velocity = where_rows(matched, shift / (gap + 1).unsqueeze(-1), state["velocity"])
        return {
            "box": torch.cat([where_rows(matched, matched_box, box), frame.boxes[new_dets]]),
            "velocity": torch.cat([velocity, velocity.new_zeros((new_dets.shape[0], 2))]),
            "gap": torch.cat([torch.where(matched, 0, gap + 1), gap.new_zeros(new_dets.shape[0])]),
            "mask": torch.cat([where_rows(matched, rows_or_zeros(frame.mask_grid, assigned), state["mask"]),
                               frame.mask_grid[new_dets]]),
        }


@DETECTION_INPUTS.register("geometry_support")
class SupportedGeometryInputs(GeometryInputs):
    r"""``geometry`` and one more detection node column: how many of its frame's proposals the detection
    stands for after NMS, ``2σ_n / (1 + σ_n) − 1`` with ``σ_n = Σ_j s_j IoU(n, j)`` over the detections NMS
    compared it with, itself included (``Detections.support``; ``σ_n = s_n`` where the frame was not
    filtered by NMS).

    NMS leaves one proposal per cluster, so after it the overlap columns no longer show that a whole object
    was proposed many times while a loose copy or a part of it was proposed once; ``σ`` keeps that count
    (≈ 1 for a lone proposal of score 1, ≈ 4 for one that four jittered copies agree with). Edge
    features and per-track state are those of ``geometry``.
    """

    det_columns = GeometryInputs.det_columns + ("support",)

    def det_features(self, frame: FrameDetections) -> Tensor:
        support = frame.scores if frame.support is None else frame.support
        return torch.cat([super().det_features(frame), (2 * support / (1 + support) - 1).unsqueeze(-1)], dim=-1)


def grid_intersection(first: Tensor, second: Tensor, overlap: str = "product") -> Tensor:
    """Estimated intersection (in cells) of every pair of mask grids: ``[A, G²]`` × ``[B, G²]`` → ``[A, B]``;
    ``overlap`` (``GRID_OVERLAPS``): ``Σ_c a_c b_c`` or ``Σ_c min(a_c, b_c)`` (module docstring)."""
    if overlap == "product":
        return first @ second.T
    if first.shape[0] == 0 or second.shape[0] == 0:
        return first.new_zeros((first.shape[0], second.shape[0]))
    # Σ min(a, b) = (Σ a + Σ b − Σ |a − b|) / 2, without an [A, B, G²] tensor.
    total = first.sum(-1).unsqueeze(-1) + second.sum(-1)
    return ((total - torch.cdist(first, second, p=1)) / 2).clamp_min(0)


def grid_iou(first: Tensor, second: Tensor, overlap: str = "product") -> Tensor:
    """Soft IoU of every pair of mask grids: ``[A, G²]`` × ``[B, G²]`` → ``[A, B]`` (0 where both are empty)."""
    intersection = grid_intersection(first, second, overlap)
    union = first.sum(-1).unsqueeze(-1) + second.sum(-1) - intersection
    return intersection / union.clamp_min(1e-6)


def frame_overlaps(masks: Tensor, scores: Tensor, video: Tensor, overlap: str = "product") -> Tensor:
    """How each detection overlaps the others of its video, ``[N, 4]`` in [0, 1]:

    0. the largest soft mask IoU with a detection that ranks before it (higher score, or equal score and a
       lower row);
    1. the largest fraction of its own mask inside one of those;
    2. the largest soft mask IoU with any other detection;
    3. the largest fraction of another detection's mask inside its own.

    0 where there is no such detection; intersections estimated as ``overlap`` says (:func:`grid_intersection`).
    Shapes: ``masks [N, G²]``, ``scores [N]``, ``video [N]`` → ``[N, 4]``.
    """
    count = masks.shape[0]
    if count == 0:
        return masks.new_zeros((0, 4))
    intersection = grid_intersection(masks, masks, overlap)  # [N, N]
    area = masks.sum(-1)
    iou = intersection / (area.unsqueeze(-1) + area - intersection).clamp_min(1e-6)
    inside = intersection / area.unsqueeze(-1).clamp_min(1e-6)  # [n, m]: the part of n's mask inside m's
    row = torch.arange(count, device=masks.device)
    same_video = video.unsqueeze(0) == video.unsqueeze(-1)
    others = same_video & (row.unsqueeze(0) != row.unsqueeze(-1))
    ranked_before = same_video & ((scores.unsqueeze(0) > scores.unsqueeze(-1)) | (
        (scores.unsqueeze(0) == scores.unsqueeze(-1)) & (row.unsqueeze(0) < row.unsqueeze(-1))))
    return torch.stack([torch.where(ranked_before, iou, 0).amax(-1), torch.where(ranked_before, inside, 0).amax(-1),
                        torch.where(others, iou, 0).amax(-1), torch.where(others, inside.T, 0).amax(-1)], dim=-1)


def centre_proximity(boxes: Tensor, others: Tensor) -> Tensor:
    """``exp(−d / sqrt(area))`` of row-aligned boxes ``[E, 4]``: ``d`` the distance between their centres,
    ``area`` that of ``boxes`` (at least one pixel). Shapes: ``[E, 4]``, ``[E, 4]`` → ``[E]``."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    other_centre = (others[:, :2] + others[:, 2:]) / 2
    size = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp_min(1.0).sqrt()
    return torch.exp(-(centre - other_centre).norm(dim=-1) / size)
