"""Anchor boxes of the prediction head (docs/model.md §6).

Every location of every FPN level carries one anchor per aspect ratio. An anchor of pixel size ``s`` and
pixel aspect ratio ``r`` (width / height) on an ``H × W`` input is ``s·√r`` pixels wide and ``s/√r`` high,
centred on the cell. The authors write their anchors as scales 24..384 "normalised by 500" with aspect ratios
{1, ½, 2}/1.8; on their 480×864 input that is exactly square (r = 1), ½ and 2 in pixels with
``s = 1.288 × scale``, i.e. sizes 31, 62, 124, 247, 495 pixels (``DetectorConfig.anchor_sizes``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def make_anchors(
    feature_sizes: Sequence[tuple[int, int]],
    image_size: tuple[int, int],
    sizes: Sequence[float],
    aspect_ratios: Sequence[float],
) -> Tensor:
    """All anchors of an input, in the order the prediction head emits its outputs.

    Args:
        feature_sizes: ``(h, w)`` of each FPN level (P3 first).
        image_size: ``(H, W)`` of the network input in pixels.
        sizes: one anchor size in pixels per level.
        aspect_ratios: pixel width / height of the anchors at each location.

    Returns:
        ``[A, 4]`` anchors ``(cx, cy, w, h)`` as fractions of the input width / height, ordered by level,
        then row, then column, then aspect ratio; ``A = Σ h·w·len(aspect_ratios)``.
    """
    if len(sizes) != len(feature_sizes):
        raise ValueError(f"{len(sizes)} anchor sizes for {len(feature_sizes)} feature levels")
    height, width = image_size
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32).sqrt()
    levels = []
    for (rows, cols), size in zip(feature_sizes, sizes):
        cy = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows
        cx = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols
        grid_y, grid_x = torch.meshgrid(cy, cx, indexing="ij")  # [rows, cols]
        count = rows * cols
        centres = torch.stack([grid_x, grid_y], dim=-1).reshape(count, 1, 2).expand(count, len(ratios), 2)
        extent = torch.stack([size * ratios / width, size / ratios / height], dim=-1)  # [R, 2]
        levels.append(torch.cat([centres, extent.expand(count, -1, -1)], dim=-1).reshape(-1, 4))
    return torch.cat(levels)
