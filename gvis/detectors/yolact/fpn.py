r"""The feature pyramid of YOLACT (docs/model.md §6): P3–P5 from C3–C5, P6–P7 by strided convolutions.

.. math::
    M_5 = L_5 C_5,\quad M_l = L_l C_l + \mathrm{up}(M_{l+1}) \ (l = 4, 3),\quad
    P_l = \mathrm{ReLU}(\mathrm{conv}_{3\times3}(M_l)),\quad
    P_6 = \mathrm{conv}^{s2}_{3\times3}(P_5),\ P_7 = \mathrm{conv}^{s2}_{3\times3}(P_6)

with :math:`L_l` 1×1 lateral convolutions to ``width`` channels and :math:`\mathrm{up}` bilinear resizing
to the next level's size. No activation on P6, P7 (as YOLACT).
"""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn


class FPN(nn.Module):
    """``[C3, C4, C5]`` → ``[P3, ..., P7]``, each ``[B, width, ·, ·]`` at strides 8, 16, ..., 128.

    Args:
        in_channels: channels of C3, C4, C5. width: channels of every level (256 in the paper).
        extra_levels: strided levels added above P5 (2: P6, P7).
    """

    def __init__(self, in_channels: Sequence[int], width: int = 256, extra_levels: int = 2) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, kernel_size=1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(width, width, kernel_size=3, padding=1) for _ in in_channels)
        self.downsample = nn.ModuleList(
            nn.Conv2d(width, width, kernel_size=3, padding=1, stride=2) for _ in range(extra_levels)
        )

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        merged = [None] * len(features)
        top = None
        for level in reversed(range(len(features))):
            lateral = self.lateral[level](features[level])
            if top is not None:
                lateral = lateral + F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            merged[level] = top = lateral
        levels = [F.relu(conv(m)) for conv, m in zip(self.output, merged)]
        for conv in self.downsample:
            levels.append(conv(levels[-1]))
        return levels
