r"""Mask assembly (YOLACT): a detection's mask is a linear combination of shared prototypes.

With prototypes :math:`P \in \mathbb{R}^{k \times h \times w}` (protonet output, ReLU'd) and a detection's
coefficients :math:`c \in [-1, 1]^k` (tanh'd head output), its mask logits are

.. math::  r = \textstyle\sum_j c_j P_j \in \mathbb{R}^{h \times w},

its soft mask :math:`\sigma(r)` and its binary mask :math:`\sigma(r) > 0.5` inside its box (``crop``). The
tracker receives the *uncropped* logits ``r`` (``Detections.mask_logits``, docs/model.md §6).
"""
from __future__ import annotations

import torch
from torch import Tensor


def assemble_mask_logits(prototypes: Tensor, coefficients: Tensor) -> Tensor:
    """``[N, h, w]`` mask logits from ``prototypes [k, h, w]`` and ``coefficients [N, k]``."""
    return torch.einsum("khw,nk->nhw", prototypes, coefficients)


def box_masks(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``[N, h, w]`` bool: pixel centres of an ``h × w`` grid inside each box.

    ``boxes [N, 4]`` are (x1, y1, x2, y2) as fractions of the image; a pixel ``(i, j)`` is inside when
    ``x1 ≤ (j + ½)/w < x2`` and ``y1 ≤ (i + ½)/h < y2`` (the convention of ``gvis.tracker.features.box_masks``).
    """
    height, width = size
    ys = (torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5) / height
    xs = (torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5) / width
    inside_y = (ys >= boxes[:, 1:2]) & (ys < boxes[:, 3:4])  # [N, h]
    inside_x = (xs >= boxes[:, 0:1]) & (xs < boxes[:, 2:3])  # [N, w]
    return inside_y.unsqueeze(2) & inside_x.unsqueeze(1)


def crop(masks: Tensor, boxes: Tensor) -> Tensor:
    """``masks [N, h, w]`` set to zero outside ``boxes [N, 4]`` (fractions of the image)."""
    return masks * box_masks(boxes, tuple(masks.shape[-2:])).to(masks.dtype)
