r"""The prediction head shared by all FPN levels (docs/model.md §6).

Per level :math:`P_l`: :math:`u = \mathrm{ReLU}(\mathrm{conv}_{3\times3}(P_l))`, then three 3×3 convolutions
give, for each of the ``A`` anchors of every location, 4 box deltas, ``C + 1`` class logits (background first)
and ``k`` mask coefficients :math:`\tanh(\cdot) \in [-1, 1]`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class PredictionHead(nn.Module):
    """``[P3, ..., P7]`` → ``(deltas [B, A_total, 4], class_logits [B, A_total, C+1], coefficients [B, A_total, k])``
    with anchors ordered by level, row, column, anchor (as :func:`~gvis.detectors.yolact.anchors.make_anchors`).

    Args:
        in_channels: FPN width. num_anchors: anchors per location (3). num_classes: ``C`` (foreground).
        num_coefficients: ``k``.
    """

    def __init__(self, in_channels: int, num_anchors: int, num_classes: int, num_coefficients: int) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.num_logits = num_classes + 1
        self.num_coefficients = num_coefficients
        self.shared = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.box = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)
        self.cls = nn.Conv2d(in_channels, num_anchors * self.num_logits, 3, padding=1)
        self.coefficients = nn.Conv2d(in_channels, num_anchors * num_coefficients, 3, padding=1)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    @staticmethod
    def _flatten(x: Tensor, width: int) -> Tensor:
        """``[B, A·width, h, w]`` → ``[B, h·w·A, width]`` (row, column, anchor order)."""
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, width)

    def forward(self, levels: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        deltas, logits, coefficients = [], [], []
        for level in levels:
            u = torch.relu(self.shared(level))
            deltas.append(self._flatten(self.box(u), 4))
            logits.append(self._flatten(self.cls(u), self.num_logits))
            coefficients.append(self._flatten(self.coefficients(u), self.num_coefficients))
        return torch.cat(deltas, 1), torch.cat(logits, 1), torch.tanh(torch.cat(coefficients, 1))
