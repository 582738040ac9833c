r"""Box formats and the SSD box coding the prediction head regresses (docs/model.md §6).

An anchor :math:`(a_x, a_y, a_w, a_h)` and a box with centre :math:`(b_x, b_y)` and size :math:`(b_w, b_h)`
(all fractions of the input) are related by the deltas

.. math::
    t_x = \frac{b_x - a_x}{v_0 a_w},\quad t_y = \frac{b_y - a_y}{v_0 a_h},\quad
    t_w = \frac{\log(b_w / a_w)}{v_1},\quad t_h = \frac{\log(b_h / a_h)}{v_1}

with variances :math:`(v_0, v_1) = (0.1, 0.2)`.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

#: Smallest box side (fraction of the input) when encoding, so that log() stays finite for degenerate boxes.
MIN_SIDE = 1e-6
#: Largest log size ratio when decoding (as torchvision's detectors), so that an untrained head cannot overflow.
MAX_LOG_SCALE = math.log(1000.0 / 16)


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """``[..., 4]`` corners ``(x1, y1, x2, y2)`` → centre and size ``(cx, cy, w, h)``."""
    return torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], dim=-1)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``[..., 4]`` centre and size ``(cx, cy, w, h)`` → corners ``(x1, y1, x2, y2)``."""
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def encode_boxes(boxes: Tensor, anchors: Tensor, variances: tuple[float, float] = (0.1, 0.2)) -> Tensor:
    """Deltas ``[N, 4]`` that turn ``anchors [N, 4]`` (cx, cy, w, h) into ``boxes [N, 4]`` (x1, y1, x2, y2)."""
    centre_size = xyxy_to_cxcywh(boxes)
    offset = (centre_size[..., :2] - anchors[..., :2]) / (variances[0] * anchors[..., 2:])
    scale = torch.log(centre_size[..., 2:].clamp(min=MIN_SIDE) / anchors[..., 2:]) / variances[1]
    return torch.cat([offset, scale], dim=-1)


def decode_boxes(deltas: Tensor, anchors: Tensor, variances: tuple[float, float] = (0.1, 0.2)) -> Tensor:
    """Boxes ``[..., N, 4]`` (x1, y1, x2, y2, fractions of the input) from ``deltas [..., N, 4]`` and
    ``anchors [N, 4]`` (cx, cy, w, h); the inverse of :func:`encode_boxes`."""
    centres = anchors[..., :2] + deltas[..., :2] * variances[0] * anchors[..., 2:]
    sizes = anchors[..., 2:] * torch.exp((deltas[..., 2:] * variances[1]).clamp(max=MAX_LOG_SCALE))
    return cxcywh_to_xyxy(torch.cat([centres, sizes], dim=-1))
