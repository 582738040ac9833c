r"""The YOLACT losses for stage-1 training on single images (docs/model.md §5, §6; weights are YOLACT's published
defaults since the paper gives none).

Anchors are matched to ground truth by box IoU: an anchor whose best IoU is ≥ ``positive_iou`` (0.5) is a
positive of that object, < ``negative_iou`` (0.4) a negative, in between ignored; every object also keeps its
best anchor as a positive. With :math:`P` the positives of the whole batch:

- **box**: :math:`\frac{\alpha_b}{|P|}\sum_{p\in P}\mathrm{smoothL1}(t_p - \hat t_p)` on the SSD deltas;
- **class**: :math:`\frac{\alpha_c}{|P|}\sum_{a\in P\cup N}\mathrm{CE}(z_a, y_a)` where :math:`N` holds, per image,
  the ``3×`` as many negatives with the highest background loss :math:`-\log p_a(0)` (hard negative mining);
- **mask**: :math:`\frac{\alpha_m}{|P|}\sum_{p}\frac{1}{|B_p|}\sum_{x\in B_p}\mathrm{BCE}(\sigma(r_p(x)), m_p(x))`:
  the assembled mask :math:`r_p = \sum_j c_{pj}P_j` against the object's mask at prototype resolution, summed
  inside the object's box :math:`B_p` (the crop) and divided by the box's area in prototype pixels (YOLACT's
  normalisation), for at most ``masks_per_image`` positives per image;
- **semantic** (auxiliary): :math:`\frac{\alpha_s}{B}\sum_b\frac{1}{hw}\sum_{c,x}\mathrm{BCE}(s_{bc}(x), [x \in \text{an object of class } c])`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import box_iou

from gvis.detectors.yolact.box_coding import cxcywh_to_xyxy, encode_boxes
from gvis.detectors.yolact.masks import assemble_mask_logits, box_masks
from gvis.detectors.yolact.model import YolactOutput

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1


@dataclass
class LossConfig:
    """Loss weights (YOLACT: box 1.5, class 1, mask 6.125, semantic 1) and anchor matching."""

    box_weight: float = 1.5
    class_weight: float = 1.0
    mask_weight: float = 6.125
    semantic_weight: float = 1.0
    positive_iou: float = 0.5
    negative_iou: float = 0.4
    negatives_per_positive: int = 3
    masks_per_image: int = 100

    def validate(self) -> None:
        if not 0.0 < self.negative_iou <= self.positive_iou <= 1.0:
            raise ValueError("loss: need 0 < negative_iou <= positive_iou <= 1")
        if self.negatives_per_positive < 0 or self.masks_per_image < 1:
            raise ValueError("loss.negatives_per_positive must be >= 0 and masks_per_image >= 1")


@dataclass
class ImageTargets:
    """Ground truth of one training image (``K`` objects; ``H × W`` = the network input).

    - ``boxes [K, 4]``: (x1, y1, x2, y2) as fractions of the input; ``classes [K]``: class columns 1..C;
    - ``masks [K, H, W]``: bool or float.
    """

    boxes: Tensor
    classes: Tensor
    masks: Tensor

    def to(self, device: torch.device | str) -> "ImageTargets":
        return ImageTargets(self.boxes.to(device), self.classes.to(device), self.masks.to(device))


def match_anchors(anchors: Tensor, gt_boxes: Tensor, positive_iou: float = 0.5, negative_iou: float = 0.4) -> tuple[Tensor, Tensor]:
    """Assign anchors to objects.

    Args:
        anchors: ``[A, 4]`` (cx, cy, w, h). gt_boxes: ``[K, 4]`` (x1, y1, x2, y2), same units.

    Returns:
        ``(matched [A], state [A])``: the object each anchor overlaps most (0 when ``K = 0``) and
        ``POSITIVE`` (IoU ≥ ``positive_iou``, or the object's best anchor), ``NEGATIVE`` (IoU <
        ``negative_iou``) or ``IGNORED``.
    """
    count = anchors.shape[0]
    if gt_boxes.shape[0] == 0:
        return (torch.zeros(count, dtype=torch.long, device=anchors.device),
                torch.full((count,), NEGATIVE, dtype=torch.long, device=anchors.device))
    overlaps = box_iou(gt_boxes, cxcywh_to_xyxy(anchors))  # [K, A]
    best_iou, matched = overlaps.max(dim=0)
    best_anchor = overlaps.argmax(dim=1)  # [K]
    matched[best_anchor] = torch.arange(gt_boxes.shape[0], device=anchors.device)
    best_iou[best_anchor] = 2.0
    state = torch.full((count,), IGNORED, dtype=torch.long, device=anchors.device)
    state[best_iou >= positive_iou] = POSITIVE
    state[best_iou < negative_iou] = NEGATIVE
    return matched, state


def box_loss(deltas: Tensor, target_deltas: Tensor) -> Tensor:
    """Summed smooth-L1 (β = 1) between predicted and target deltas ``[P, 4]``."""
    return F.smooth_l1_loss(deltas, target_deltas, reduction="sum")


def class_loss(logits: Tensor, targets: Tensor, negatives_per_positive: int = 3) -> Tensor:
    """Summed cross-entropy over one image's positives and its hardest negatives.

    Args:
        logits: ``[A, C+1]``. targets: ``[A]`` class column (``0`` background) or ``−1`` (ignored).
        negatives_per_positive: how many negatives per positive are kept, highest background loss first.
    """
    positive = targets > 0
    background_loss = (torch.logsumexp(logits, dim=1) - logits[:, 0]).detach()
    background_loss = background_loss.masked_fill(targets != 0, -1.0)  # only negatives can be mined
    num_negatives = min(negatives_per_positive * int(positive.sum()), int((targets == 0).sum()))
    negative = torch.zeros_like(positive)
    negative[background_loss.topk(num_negatives).indices] = True
    used = positive | negative
    return F.cross_entropy(logits[used], targets[used], reduction="sum")


def mask_loss(prototypes: Tensor, coefficients: Tensor, gt_masks: Tensor, gt_boxes: Tensor) -> Tensor:
    """Σ over ``P`` positives of the mean BCE inside the object's box.

    Args:
        prototypes: ``[k, h, w]``; coefficients: ``[P, k]``; gt_masks: ``[P, h, w]`` in {0, 1} at the
        prototype resolution; gt_boxes: ``[P, 4]`` fractions of the image.
    """
    logits = assemble_mask_logits(prototypes, coefficients)
    inside = box_masks(gt_boxes, tuple(prototypes.shape[-2:])).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, gt_masks, reduction="none") * inside
    height, width = prototypes.shape[-2:]
    box_area = ((gt_boxes[:, 2] - gt_boxes[:, 0]) * width * (gt_boxes[:, 3] - gt_boxes[:, 1]) * height).clamp(min=1.0)
    return (bce.sum(dim=(1, 2)) / box_area).sum()


def semantic_loss(logits: Tensor, gt_masks: Tensor, gt_classes: Tensor) -> Tensor:
    """Per-pixel BCE of ``logits [C, h, w]`` against the union of each class's object masks
    (``gt_masks [K, h, w]`` in {0, 1}, ``gt_classes [K]`` columns 1..C), summed and divided by ``h·w``."""
    targets = torch.zeros_like(logits)
    for mask, column in zip(gt_masks, gt_classes.tolist()):
        targets[column - 1] = torch.maximum(targets[column - 1], mask)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / (logits.shape[-2] * logits.shape[-1])


def resize_masks(masks: Tensor, size: Sequence[int]) -> Tensor:
    """``[K, H, W]`` masks → ``[K, h, w]`` float in {0, 1} (bilinear, > 0.5, as YOLACT)."""
    if masks.shape[0] == 0:
        return masks.new_zeros((0, *size), dtype=torch.float32)
    resized = F.interpolate(masks.float().unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False)
    return (resized[:, 0] > 0.5).float()


class YolactLoss(nn.Module):
    """All stage-1 losses of a batch: :class:`YolactOutput` + one :class:`ImageTargets` per image →
    ``{"loss", "box", "class", "mask", "semantic", "positives"}`` (``loss`` is the weighted sum; the
    others are the weighted terms, ``positives`` the number of positive anchors)."""

    def __init__(self, config: LossConfig, variances: tuple[float, float] = (0.1, 0.2)) -> None:
        super().__init__()
        self.config = config
        self.variances = variances

    def forward(self, output: YolactOutput, targets: Sequence[ImageTargets]) -> dict[str, Tensor]:
        cfg = self.config
        zero = output.deltas.new_zeros(())
        totals = {"box": zero, "class": zero, "mask": zero, "semantic": zero}
        positives = 0
        proto_size = tuple(output.prototypes.shape[-2:])
        for b, target in enumerate(targets):
            matched, state = match_anchors(output.anchors, target.boxes, cfg.positive_iou, cfg.negative_iou)
            positive = (state == POSITIVE).nonzero().flatten()
            positives += positive.numel()
            labels = torch.where(state == POSITIVE, target.classes[matched] if target.classes.numel() else state, state)
            totals["class"] = totals["class"] + class_loss(output.class_logits[b], labels, cfg.negatives_per_positive)
            if positive.numel():
                objects = matched[positive]
                encoded = encode_boxes(target.boxes[objects], output.anchors[positive], self.variances)
                totals["box"] = totals["box"] + box_loss(output.deltas[b, positive], encoded)
                if positive.numel() > cfg.masks_per_image:
                    keep = torch.randperm(positive.numel(), device=positive.device)[: cfg.masks_per_image]
                    positive, objects = positive[keep], objects[keep]
                gt_masks = resize_masks(target.masks, proto_size)
                totals["mask"] = totals["mask"] + mask_loss(output.prototypes[b], output.coefficients[b, positive],
                                                            gt_masks[objects], target.boxes[objects])
            if output.semantic_logits is not None:
                seg_masks = resize_masks(target.masks, output.semantic_logits.shape[-2:])
                totals["semantic"] = totals["semantic"] + semantic_loss(output.semantic_logits[b], seg_masks, target.classes)
        count = max(positives, 1)
        terms = {
            "box": cfg.box_weight * totals["box"] / count,
            "class": cfg.class_weight * totals["class"] / count,
            "mask": cfg.mask_weight * totals["mask"] / count,
            "semantic": cfg.semantic_weight * totals["semantic"] / max(len(targets), 1),
        }
        terms["loss"] = terms["box"] + terms["class"] + terms["mask"] + terms["semantic"]
        terms["positives"] = torch.tensor(float(positives))
        return terms
