"""Stage 2 (docs/model.md §5) on the detector's side: the frozen detector run online on a clip's frames, the
appearance network trained through the tracker.

:class:`FrozenDetectorAppearance` is the module a tracker training step calls on the (augmented) frames of
its clips instead of reading cached detections: the detector runs without gradients in eval mode
(BatchNorm statistics and weights fixed, dropout off), the appearance network runs with gradients, so the
``appearance`` and ``frame_appearance`` of the returned :class:`~gvis.detections.structures.Detections` carry
the graph back to its weights. The tracker's losses reach them through the appearance likelihood edges.
Only :meth:`FrozenDetectorAppearance.trainable_parameters` go to the optimizer.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch import nn

from gvis.detections.structures import Detections
from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.detector import YolactDetector, attach_appearance
from gvis.errors import ConfigError
from gvis.train.config import Stage2Config


class FrozenDetectorAppearance(nn.Module):
    """Frames → :class:`Detections` whose appearance vectors are differentiable in the appearance weights.

    Args:
        detector: a :class:`YolactDetector` with an appearance network. Its network is frozen here
            (``requires_grad`` off, always in eval mode); its appearance network is trained.
    """

    def __init__(self, detector: YolactDetector) -> None:
        super().__init__()
        if detector.appearance is None:
            raise ConfigError("stage 2 needs a detector with an appearance network (model.appearance.enabled)")
        self.detector = detector
        self.frozen = detector.model
        self.appearance: AppearanceNetwork = detector.appearance
        for parameter in self.frozen.parameters():
            parameter.requires_grad_(False)
        self.train()

    @classmethod
    def from_config(cls, config: Stage2Config, device: str = "cpu") -> "FrozenDetectorAppearance":
        """The detector of ``config.checkpoint`` (``None``: the shipped one), appearance reset if asked."""
        module = cls(YolactDetector(config.checkpoint, device=device))
        if config.reset_appearance:
            module.appearance.reset_parameters()
        return module

    def train(self, mode: bool = True) -> "FrozenDetectorAppearance":
        super().train(mode)
        self.frozen.eval()  # the frozen detector always runs as at test time
        return self

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The appearance network's parameters (what the optimizer updates)."""
        return self.appearance.parameters()

    def forward(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per RGB uint8 frame, with ``appearance`` / ``frame_appearance`` attached to
        the autograd graph of the appearance network."""
        detections, features = self.detector.detect_with_features(frames)
        return attach_appearance(self.appearance, features, detections)
