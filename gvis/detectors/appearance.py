r"""The appearance network (docs/model.md §6, the authors' ``AppNet`` + ``DetectionDescriptorExtractor``).

Two 1×1 convolutions (no activation) project the last two backbone stages C4 and C5 to ``map_channels``
each. Every detection ``n`` gets mask scores :math:`s_n = r_n + \beta\,q_n` (its uncropped mask logits plus
``box_logit`` :math:`\beta` inside its box). Per map, the scores of all the frame's detections and a constant
background channel :math:`\gamma` (``background_logit``) are resized bilinearly to the map and compete for
each pixel:

.. math::
    w_{n} = \operatorname{softmax}_{c \in \{0, 1..N\}}([\gamma; s_1..s_N])_n, \qquad
    \bar w_n = w_n / (\textstyle\sum_{\text{pixels}} w_n + \epsilon), \qquad
    p_n = \textstyle\sum_{\text{pixels}} \bar w_n \, F

(channel 0, the background, is dropped). The two pooled vectors are concatenated,
:math:`p_n \in \mathbb{R}^{2·\text{map\_channels}}`, and a residual MLP gives the appearance vector

.. math::  x_n = \mathrm{ReLU}\big(p_n + W_3\,\mathrm{ReLU}(W_2\,\mathrm{ReLU}(W_1 p_n))\big) \in \mathbb{R}^{D_a},
    \quad D_a = 2·\text{map\_channels}.

The frame descriptor (the empty track's observation) is the concatenated global average pools of the two
projected maps, without the MLP: :math:`g = [\bar F_4; \bar F_5] \in \mathbb{R}^{D_a}`. The network is trained in
stage 2 only, through the tracker's appearance likelihoods (docs/model.md §5).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gvis.detectors.yolact.masks import box_masks


@dataclass
class AppearanceConfig:
    """Settings of the appearance network (defaults: docs/model.md §6).

    - ``enabled``: build it (a detector without one reports ``appearance_dim = 0``).
    - ``map_channels``: channels of each projected map; the appearance width is ``Da = 2 · map_channels``
      (512 in the paper), the width of the frame descriptor as well.
    - ``hidden``: width of the residual MLP's hidden layers (128).
    - ``background_logit``: the constant score of the background channel (10).
    - ``box_logit``: added to a detection's mask logits inside its box (10).
    - ``eps``: added to each mask's total weight before normalising (1e−4).
    """

    enabled: bool = True
    map_channels: int = 256
    hidden: int = 128
    background_logit: float = 10.0
    box_logit: float = 10.0
    eps: float = 1e-4

    @property
    def dim(self) -> int:
        return 2 * self.map_channels if self.enabled else 0

    def validate(self) -> None:
        if self.map_channels < 1 or self.hidden < 1:
            raise ValueError("appearance.map_channels and appearance.hidden must be positive")
        if self.eps <= 0:
            raise ValueError(f"appearance.eps must be positive, got {self.eps}")


def mask_pool(feature_map: Tensor, scores: Tensor, background_logit: float, eps: float) -> Tensor:
    """Pool ``feature_map [c, h, w]`` under competing masks.

    Args:
        scores: ``[N, hs, ws]`` mask scores of the frame's detections (any resolution).
    Returns:
        ``[N, c]``: each detection's weighted average feature (see the module docstring).
    """
    count = scores.shape[0]
    if count == 0:
        return feature_map.new_zeros((0, feature_map.shape[0]))
    background = scores.new_full((1, *scores.shape[1:]), background_logit)
    resized = F.interpolate(torch.cat([background, scores]).unsqueeze(0), size=feature_map.shape[-2:],
                            mode="bilinear", align_corners=False)[0]
    weights = torch.softmax(resized, dim=0)[1:]  # [N, h, w]
    weights = weights / (weights.sum(dim=(1, 2), keepdim=True) + eps)
    return torch.einsum("chw,nhw->nc", feature_map, weights)


class ResidualMLP(nn.Module):
    r""":math:`x \mapsto \mathrm{ReLU}(x + W_3\,\mathrm{ReLU}(W_2\,\mathrm{ReLU}(W_1 x)))`, ``[*, dim]`` → ``[*, dim]``
    (P Table 3's "Residual(512, 128)" with the middle layer it leaves out)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                    nn.Linear(hidden, dim))

    def reset_parameters(self) -> None:
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.layers(x))


class AppearanceNetwork(nn.Module):
    """Appearance vectors of detections and the frame descriptor, from backbone maps C4 and C5.

    Args:
        in_channels: channels of C4 and C5. config: :class:`AppearanceConfig`.

    Shapes:
        - ``c4 [B, c4, h4, w4]``, ``c5 [B, c5, h5, w5]``; ``scores``: per image ``[N_b, hs, ws]`` mask scores
          (:func:`mask_scores`).
        - returns ``(appearance, frame_appearance)``: per image ``[N_b, Da]``, and ``[B, Da]``.
    """

    def __init__(self, in_channels: Sequence[int], config: AppearanceConfig) -> None:
        super().__init__()
        self.config = config
        self.project = nn.ModuleList(nn.Conv2d(c, config.map_channels, kernel_size=1) for c in in_channels)
        self.mlp = ResidualMLP(2 * config.map_channels, config.hidden)

    @property
    def dim(self) -> int:
        return 2 * self.config.map_channels

    def reset_parameters(self) -> None:
        for conv in self.project:
            conv.reset_parameters()
        self.mlp.reset_parameters()

    def forward(self, c4: Tensor, c5: Tensor, scores: Sequence[Tensor]) -> tuple[list[Tensor], Tensor]:
        maps = [conv(x) for conv, x in zip(self.project, (c4, c5))]
        frame = torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1)  # [B, Da]
        appearance = []
        for b, image_scores in enumerate(scores):
            pooled = torch.cat([mask_pool(m[b], image_scores, self.config.background_logit, self.config.eps)
                                for m in maps], dim=1)
            appearance.append(self.mlp(pooled))
        return appearance, frame


def mask_scores(mask_logits: Tensor, boxes: Tensor, box_logit: float) -> Tensor:
    """``[N, h, w]`` mask scores ``r_n + box_logit · q_n``: uncropped ``mask_logits [N, h, w]`` plus
    ``box_logit`` where the pixel centre lies in the box (``boxes [N, 4]`` as fractions of the image)."""
    return mask_logits + box_logit * box_masks(boxes, tuple(mask_logits.shape[-2:])).to(mask_logits.dtype)
