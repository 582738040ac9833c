"""The backbone: a torchvision classification network cut to its stride-8, -16 and -32 stages.

Built with ``weights=None`` — gvis never downloads anything. A user who has ImageNet (or other) weights
for the same torchvision architecture loads them from a local file with :func:`load_backbone_weights`
(``gvis train-detector --backbone-weights FILE``).

Outputs ``C3, C4, C5`` (docs/model.md §6: ResNet ``layer2/3/4``, 512/1024/2048 channels for ResNet-50/101; 128/256/512
for ResNet-18; for MobileNetV3-Large the last block of each stride, 40/112/960 channels at width 1).
"""
from __future__ import annotations

import os
from typing import Literal

import torch
from torch import Tensor, nn
from torchvision import models

from gvis.errors import InputError

BackboneName = Literal["resnet18", "resnet50", "resnet101", "mobilenet_v3_large"]
#: Names of the three outputs, strides 8, 16 and 32.
STAGES = ("C3", "C4", "C5")


class Backbone(nn.Module):
    """``images [B, 3, H, W]`` → ``{"C3": [B, c3, H/8, W/8], "C4": [B, c4, H/16, W/16], "C5": [B, c5, H/32, W/32]}``
    (sizes rounded up). ``channels`` holds ``(c3, c4, c5)``; ``body`` is the torchvision network (its
    parameter names are torchvision's, so its state dict loads into the cut network). ``bn_momentum``
    replaces the momentum of every BatchNorm running-statistics update (torchvision: 0.1 for ResNets, 0.01
    for MobileNetV3, which lags far behind the weights in a short training from scratch)."""

    def __init__(self, name: BackboneName, width: float = 1.0, bn_momentum: float | None = None) -> None:
        super().__init__()
        self.name = name
        if name.startswith("resnet"):
            if width != 1.0:
                raise ValueError(f"backbone_width applies to mobilenet_v3_large only, got {width} for {name}")
            body = getattr(models, name)(weights=None)
            del body.fc, body.avgpool
            self.body = body
            self._stage_ends = None
        elif name == "mobilenet_v3_large":
            body = models.mobilenet_v3_large(weights=None, width_mult=width)
            del body.classifier, body.avgpool
            self.body = body
            self._stage_ends = _stride_stage_ends(body.features)
        else:
            raise ValueError(f"unknown backbone '{name}'; options: resnet18, resnet50, resnet101, mobilenet_v3_large")
        if bn_momentum is not None:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.momentum = bn_momentum
        with torch.no_grad():
            was_training = self.training
            self.eval()
            probe = self(torch.zeros(1, 3, 64, 64))
            self.train(was_training)
        self.channels = tuple(int(probe[stage].shape[1]) for stage in STAGES)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if self._stage_ends is None:  # ResNet
            body = self.body
            x = body.maxpool(body.relu(body.bn1(body.conv1(images))))
            c2 = body.layer1(x)
            c3 = body.layer2(c2)
            c4 = body.layer3(c3)
            return {"C3": c3, "C4": c4, "C5": body.layer4(c4)}
        outputs, x = {}, images
        stages = dict(zip(self._stage_ends, STAGES))
        for index, layer in enumerate(self.body.features[: self._stage_ends[-1] + 1]):
            x = layer(x)
            if index in stages:
                outputs[stages[index]] = x
        return outputs


def _stride_stage_ends(features: nn.Sequential) -> tuple[int, int, int]:
    """Indices of the last layer at stride 8, 16 and 32 (found by running a probe image)."""
    size = 64
    x = torch.zeros(1, 3, size, size)
    last: dict[int, int] = {}
    with torch.no_grad():
        features.eval()
        for index, layer in enumerate(features):
            x = layer(x)
            last[size // x.shape[-1]] = index
        features.train()
    return last[8], last[16], last[32]


def load_backbone_weights(backbone: Backbone, path: str | os.PathLike) -> None:
    """Load a state dict of the torchvision network (e.g. ImageNet weights saved by the user) from ``path``.

    Keys of the classifier (``fc.*``, ``classifier.*``) are ignored; any other missing or unexpected key
    is an :class:`InputError` naming the file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("no such backbone weights file", file=path) from None
    except Exception as exc:  # not a torch file, unexpected pickle content
        raise InputError(f"cannot read backbone weights: {exc}", file=path) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError("backbone weights must be a state dict", file=path)
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    missing, unexpected = backbone.body.load_state_dict(state, strict=False)
    if missing or unexpected:
        shown = ", ".join([f"missing {k}" for k in missing[:3]] + [f"unexpected {k}" for k in unexpected[:3]])
        raise InputError(f"backbone weights do not fit {backbone.name}: {shown}", file=path)
