r"""The protonet (docs/model.md §6): ``k`` prototype masks from P3 at twice its resolution (stride 4).

.. math::
    P = \mathrm{ReLU}\Big(\mathrm{conv}_{1\times1}\big(\mathrm{ReLU}(\mathrm{conv}_{3\times3}(
        \mathrm{up}_{\times2}(h(P_3))))\big)\Big),\qquad h = [\mathrm{conv}_{3\times3} + \mathrm{ReLU}]^{\times 3}
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ProtoNet(nn.Module):
    """``P3 [B, in_channels, h, w]`` → prototypes ``[B, num_prototypes, 2h, 2w]`` (non-negative).

    Args:
        in_channels: channels of P3. width: hidden channels (256 in the paper).
        num_prototypes: ``k`` (32 in the paper).
    """

    def __init__(self, in_channels: int, width: int = 256, num_prototypes: int = 32) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        )
        self.refine = nn.Conv2d(width, width, 3, padding=1)
        self.project = nn.Conv2d(width, num_prototypes, 1)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    def forward(self, p3: Tensor) -> Tensor:
        x = F.interpolate(self.head(p3), scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.relu(self.project(F.relu(self.refine(x))))
