"""Detection filtering shared by every tracker and every detection source.

gvis (docs/model.md §0) applies the authors' YOLACT post-processing to any source of detections:
keep detections with confidence above a threshold, suppress overlaps with class-agnostic NMS at box IoU
0.7, keep the top N by confidence. Doing it in one function means a tracker behaves the same on simulated
detections, on a ``.jsonl`` from another segmenter and on the built-in detector.

Deviation: the authors use YOLACT's *Fast* NMS (a suppressed box may still suppress others); this is
standard greedy NMS, which never lets a suppressed box remove another one. Sorting is stable, so
detections with equal scores keep their input order (matters for score-less sources such as the BDD100K
fixture, where every score is 1.0).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor

from gvis.detections.structures import RLE, Detections, pycoco_rle, tight_boxes


@dataclass
class FilterConfig:
    """Which detections a tracker sees.

    - ``score_threshold``: keep ``score > score_threshold`` (paper: p > 0.03).
    - ``nms_iou``: class-agnostic NMS; a detection whose IoU with a higher-scored kept one exceeds this
      is dropped. ``null`` disables NMS.
    - ``nms_overlap``: the IoU NMS compares, of the boxes (default) or of the masks.
    - ``nms_rank``: the order in which NMS keeps detections: by score (default), or by ``support``, the sum of
      every detection's score times its IoU with this one (itself included), so that of many overlapping
      proposals of one object the one most others agree with is kept (parts and loose copies agree less).
    - ``nms_containment``: NMS also drops a detection when its intersection with a kept one covers more than
      this share of the smaller of the two (boxes or masks, as ``nms_overlap``): a part inside the object, or
      the object inside a loose copy, whose IoU stays low when the object is thin or the copy much larger.
      ``null`` (the default): IoU alone decides.
    - ``top_n``: keep at most this many, highest scores first (paper: 16). ``null`` keeps all.
    - ``vote_iou``: mask voting after NMS and top-N (``null``, the default: off). Each kept detection's mask
      becomes the pixels covered by at least half the score weight of the detections whose mask IoU with it
      is at least ``vote_iou``, whatever their label (itself and those NMS suppressed included;
      :func:`vote_masks`), and its box that mask's extent: where a segmenter reports many noisy masks of one
      object, their majority is closer to the object than any one of them (MNC's mask voting).
    """

    score_threshold: float = 0.03
    nms_iou: float | None = 0.7
    nms_overlap: Literal["box", "mask"] = "box"
    nms_rank: Literal["score", "support"] = "score"
    nms_containment: float | None = None
    top_n: int | None = 16
    vote_iou: float | None = None

    def validate(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in [0, 1), got {self.score_threshold}")
        if self.nms_iou is not None and not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.nms_containment is not None and not 0.0 < self.nms_containment <= 1.0:
            raise ValueError(f"nms_containment must be in (0, 1], got {self.nms_containment}")
        if self.top_n is not None and self.top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {self.top_n}")
        if self.vote_iou is not None and not 0.0 < self.vote_iou <= 1.0:
            raise ValueError(f"vote_iou must be in (0, 1], got {self.vote_iou}")


def box_intersection_union(boxes_a: Tensor, boxes_b: Tensor) -> tuple[Tensor, Tensor]:
    """Intersection and union areas of ``x1, y1, x2, y2`` boxes ``[..., 4]`` and ``[..., 4]``.

    The leading dimensions broadcast (``[N, 1, 4]`` with ``[1, M, 4]`` gives all pairs ``[N, M]``;
    equal shapes give row-aligned pairs). Returns ``(intersection [...], union [...])``.
    """
    top_left = torch.maximum(boxes_a[..., :2], boxes_b[..., :2])
    bottom_right = torch.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    area_a = (boxes_a[..., 2:] - boxes_a[..., :2]).clamp(min=0).prod(dim=-1)
    area_b = (boxes_b[..., 2:] - boxes_b[..., :2]).clamp(min=0).prod(dim=-1)
    return intersection, area_a + area_b - intersection


def box_iou(boxes: Tensor, others: Tensor) -> Tensor:
    """``[N, M]`` IoU of ``x1, y1, x2, y2`` boxes ``[N, 4]`` and ``[M, 4]`` (0 where both are empty)."""
    inter, union = box_intersection_union(boxes[:, None, :], others[None, :, :])
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def mask_ious(masks: list[RLE], others: list[RLE], over_first: bool = False) -> np.ndarray:
    """``[len(masks), len(others)]`` mask IoU of compressed RLEs (``counts`` str or bytes).

    ``over_first``: intersection over the area of ``masks[i]`` instead (pycocotools' crowd rule).
    """
    if not masks or not others:
        return np.zeros((len(masks), len(others)))
    ious = mask_utils.iou([pycoco_rle(r) for r in masks], [pycoco_rle(r) for r in others], [int(over_first)] * len(others))
    return np.asarray(ious, dtype=np.float64).reshape(len(masks), len(others))


def box_containment(boxes: Tensor) -> Tensor:
    """``[N, N]`` intersection over the smaller area of ``x1, y1, x2, y2`` boxes ``[N, 4]`` (0 where that
    area is 0)."""
    inter, _ = box_intersection_union(boxes[:, None, :], boxes[None, :, :])
    areas = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=-1)
    smaller = torch.minimum(areas[:, None], areas[None, :])
    return torch.where(smaller > 0, inter / smaller.clamp(min=torch.finfo(smaller.dtype).tiny), torch.zeros_like(inter))


def mask_containment(masks: list[RLE]) -> np.ndarray:
    """``[N, N]`` intersection over the smaller area of N compressed RLE masks (0 where that area is 0)."""
    over_own = mask_ious(masks, masks, over_first=True)  # [i, j]: |i ∩ j| / |i|
    return np.maximum(over_own, over_own.T)


def greedy_nms(overlaps: Tensor, iou_threshold: float, containment: Tensor | None = None,
               containment_threshold: float | None = None) -> Tensor:
    """Indices kept by greedy NMS, for the ``[N, N]`` IoU of N detections already sorted by decreasing
    score (box or mask IoU).

    With ``containment`` (``[N, N]``, intersection over the smaller area) a pair above
    ``containment_threshold`` also counts as overlapping. Returns ``[K]`` int64 indices in increasing order
    (that is, in score order).
    """
    count = overlaps.shape[0]
    if count == 0:
        return torch.zeros(0, dtype=torch.long)
    overlaps = overlaps > iou_threshold  # [N, N]
    if containment is not None and containment_threshold is not None:
        overlaps |= containment > containment_threshold
    suppressed = torch.zeros(count, dtype=torch.bool)
    for i in range(count):
        if not suppressed[i]:
            # Only later (lower-scored) boxes are suppressed by box i.
            suppressed[i + 1:] |= overlaps[i, i + 1:]
    return (~suppressed).nonzero().flatten()


def vote_masks(kept: Detections, voters: Detections, iou_threshold: float) -> Detections:
    """``kept`` with each mask replaced by the score-weighted majority of the ``voters`` that overlap it.

    For kept detection k, ``V_k`` = the voters whose mask IoU with k's mask is at least ``iou_threshold``,
    whatever their label; its new mask is ``{p : sum_{v in V_k} s_v [p in m_v] >= 1/2 sum_{v in V_k} s_v}``
    (``s``: scores; a pixel half the weight covers is in) and its new box the extent of that mask. A kept
    detection whose voted mask is empty or equal to its own keeps its mask and box (so one that only votes
    for itself is unchanged). Scores, labels and the other fields stay; ``mask_logits`` are dropped when a
    mask changed (they described the old masks). Masks come back as a ``[K, H, W]`` bool tensor.
    """
    if len(kept) == 0 or len(voters) == 0:
        return kept
    overlaps = torch.from_numpy(mask_ious(kept.mask_rles(), voters.mask_rles())) >= iou_threshold  # [K, V]
    used = overlaps.any(dim=0)  # decode only the voters some kept detection listens to
    overlaps, voters = overlaps[:, used], voters[used.nonzero().flatten()]
    voter_masks = voters.mask_tensor()  # [V', H, W] bool; only each row's voters are made float
    weights = voters.scores.float()  # [V']
    masks, boxes = kept.mask_tensor().clone(), kept.boxes.clone()
    changed = False
    for row in range(len(kept)):
        near = overlaps[row]
        if int(near.sum()) < 2:  # itself alone (or an empty mask): nothing to vote on
            continue
        votes = torch.einsum("v,vhw->hw", weights[near], voter_masks[near].float())  # [H, W]
        voted = votes >= 0.5 * weights[near].sum()
        if voted.any() and not torch.equal(voted, masks[row]):
            masks[row] = voted
            boxes[row] = tight_boxes(voted[None])[0].to(boxes.dtype)
            changed = True
    if not changed:
        return kept
    return dataclasses.replace(kept, masks=masks, boxes=boxes, mask_logits=None)


def filter_detections(detections: Detections, config: FilterConfig) -> tuple[Detections, Tensor]:
    """Apply threshold, NMS, top-N and mask voting to one frame.

    Returns the kept detections, highest score (or support) first, ties in input order, and ``[K]`` int64
    indices of them in ``detections`` (so a tracker can report ``det_index`` in the caller's numbering).
    With ``vote_iou`` the kept detections' masks and boxes are the voted ones, not those at these indices.
    With NMS the kept detections carry their ``support``: ``sum_j s_j IoU(k, j)`` over the detections above
    the score threshold (itself included; the IoU NMS compares), what a kept detection stands for once the
    overlapping ones it suppressed are gone.
    """
    order = torch.sort(detections.scores, descending=True, stable=True).indices
    order = order[detections.scores[order] > config.score_threshold]
    candidates = order
    support = containment = None
    if config.nms_iou is not None:
        if config.nms_overlap == "mask":
            all_rles = detections.mask_rles()  # once: with [N, H, W] masks each call encodes them all
            rles = [all_rles[i] for i in order.tolist()]
            overlaps = torch.from_numpy(mask_ious(rles, rles))
            if config.nms_containment is not None:
                containment = torch.from_numpy(mask_containment(rles))
        else:
            boxes = detections.boxes[order].float()
            overlaps = box_iou(boxes, boxes)
            if config.nms_containment is not None:
                containment = box_containment(boxes)
        support = overlaps.double() @ detections.scores[order].double()
        if config.nms_rank == "support":
            # The detection most of the others agree with (score-weighted overlap) leads its cluster.
            rank = torch.sort(support, descending=True, stable=True).indices
            order, overlaps, support = order[rank], overlaps[rank][:, rank], support[rank]
            containment = None if containment is None else containment[rank][:, rank]
        kept = greedy_nms(overlaps, config.nms_iou, containment, config.nms_containment)
        order, support = order[kept], support[kept]
    if config.top_n is not None:
        order = order[: config.top_n]
        support = None if support is None else support[: config.top_n]
    selected = detections[order]
    if support is not None:
        selected = dataclasses.replace(selected, support=support.to(detections.scores.dtype))
    if config.vote_iou is not None:
        return vote_masks(selected, detections[candidates], config.vote_iou), order
    return selected, order
