"""Fast NMS (YOLACT, Bolya et al. 2019): non-maximum suppression as one matrix operation.

Sort the boxes by score and take the ``top_k`` best. With ``X`` the pairwise IoU matrix of those boxes
(``X[i, j]`` for score rank ``i < j``, zero on and below the diagonal), box ``j`` is kept iff
``max_i X[i, j] ≤ iou_threshold``: a box is dropped when *any* higher-scored box overlaps it, even one that
is itself dropped. Greedy NMS (``torchvision.ops.nms``) only lets *kept* boxes suppress, so

- Fast NMS keeps a subset of what greedy NMS keeps, and
- a box greedy NMS keeps but Fast NMS drops is one whose every overlapping higher-scored box was
  suppressed by greedy NMS.

The two agree whenever no suppressed box overlaps a lower-scored box beyond the threshold. In exchange
there is no sequential loop, which is what makes it fast on a GPU.
"""
from __future__ import annotations

import torch
from torch import Tensor

from gvis.detections.filtering import box_intersection_union


def pairwise_iou(boxes: Tensor) -> Tensor:
    """``[..., K, K]`` IoU between all pairs of ``boxes [..., K, 4]`` (0 where both are empty)."""
    inter, union = box_intersection_union(boxes.unsqueeze(-2), boxes.unsqueeze(-3))
    return inter / union.clamp(min=torch.finfo(union.dtype).tiny)


def fast_nms(boxes: Tensor, scores: Tensor, iou_threshold: float, top_k: int = 200) -> Tensor:
    """Class-agnostic Fast NMS.

    Args:
        boxes: ``[N, 4]`` (x1, y1, x2, y2). scores: ``[N]``.
        iou_threshold: a box overlapping a higher-scored one by more than this is dropped.
        top_k: only the ``top_k`` highest-scored boxes are considered.

    Returns:
        ``[K]`` int64 indices into ``boxes`` of the kept boxes, highest score first.
    """
    order = torch.sort(scores, descending=True, stable=True).indices[:top_k]
    if order.numel() == 0:
        return order
    overlaps = pairwise_iou(boxes[order]).triu(diagonal=1)  # [K, K], X[i, j] for i < j
    return order[overlaps.max(dim=0).values <= iou_threshold]


def fast_nms_per_class(
    boxes: Tensor, class_scores: Tensor, iou_threshold: float, top_k: int = 200, score_threshold: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Fast NMS run separately for each class, all classes at once (a ``[C, K, K]`` IoU tensor).

    Args:
        boxes: ``[N, 4]``. class_scores: ``[N, C]`` score of each box for each (foreground) class.
        iou_threshold, top_k: as :func:`fast_nms`, per class.
        score_threshold: candidates need ``score > score_threshold`` for the class.

    Returns:
        ``(indices [K], classes [K], scores [K])``: the box each detection comes from (a box may survive for
        several classes), its class column ``0..C−1`` and its score, highest score first.
    """
    num_classes = class_scores.shape[1]
    k = min(top_k, class_scores.shape[0])
    if k == 0 or num_classes == 0:
        empty = torch.zeros(0, dtype=torch.long, device=boxes.device)
        return empty, empty.clone(), class_scores.new_zeros(0)
    scores, order = class_scores.t().sort(dim=1, descending=True, stable=True)  # [C, N]
    scores, order = scores[:, :k], order[:, :k]
    overlaps = pairwise_iou(boxes[order]).triu(diagonal=1)  # [C, K, K]
    keep = (overlaps.max(dim=1).values <= iou_threshold) & (scores > score_threshold)  # [C, K]
    classes = torch.arange(num_classes, device=boxes.device).unsqueeze(1).expand_as(order)
    kept_scores, rank = scores[keep].sort(descending=True, stable=True)
    return order[keep][rank], classes[keep][rank], kept_scores
