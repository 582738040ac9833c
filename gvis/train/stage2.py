"""Stage 2 of training (docs/model.md §5): the tracker trained behind the frozen detector, whose appearance network
learns with it through the appearance likelihood edges.

:class:`FrozenDetectorAppearance` holds the two: the detector runs without gradients in eval mode (BatchNorm
statistics and weights fixed, dropout off), the appearance network runs with gradients; only
:meth:`FrozenDetectorAppearance.trainable_parameters` go to the optimizer.

A training step runs in two halves, because the batch is prepared ahead (in the prefetch thread) while the
weights of the previous step are still being updated:

- :func:`detect_frame` (inside :func:`~gvis.train.objective.collate`, no gradients): the frozen detector
  on one frame of the B clips (the augmented RGB frames), the tracker's filtering, and what the
  appearance network needs later: the backbone maps C4 / C5 and each detection's mask scores
  (:class:`AppearanceInputs`; all functions of the frozen detector alone).
- :func:`fill_appearance` (inside :class:`~gvis.train.objective.ClipObjective`, with gradients): the
  appearance network on those inputs, its vectors written into the frame's ``appearance`` /
  ``frame_appearance`` where :func:`detect_frame` left zeros.

:func:`detect_videos` runs the detector with the current appearance network on whole videos
(validation during a stage-2 run).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gvis.data.ytvis import YTVISDataset
from gvis.detections.filtering import FilterConfig, filter_detections
from gvis.detections.structures import Detections
from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.detector import YolactDetector, appearance_scores, attach_appearance
from gvis.errors import ConfigError
from gvis.tracker.features import FrameDetections
from gvis.train.config import Stage2Config
from gvis.train.data import TrainingFrame


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


@dataclass
class AppearanceInputs:
    """What the appearance network reads for one frame of the B clips; ``P`` = videos with a frame now.

    - ``c4``: ``[P, c4, h4, w4]``, ``c5``: ``[P, c5, h5, w5]`` backbone maps of the frozen detector.
    - ``scores``: per present video ``[N_b, hs, ws]`` mask scores of *all* the detector's detections (they
      compete for pixels in the pooling, as at test time).
    - ``kept``: per present video ``[K_b]`` int64 rows of those detections that the tracker's filtering
      kept, in the order of the frame's :class:`~gvis.tracker.features.FrameDetections`.
    """

    c4: Tensor
    c5: Tensor
    scores: list[Tensor]
    kept: list[Tensor]


def detect_frame(detector: YolactDetector, frames: Sequence[TrainingFrame | None], filtering: FilterConfig,
                 appearance_dim: int) -> tuple[list[TrainingFrame | None], AppearanceInputs]:
    """Run the frozen ``detector`` on the images of one frame of the B clips (``None``: the clip has no frame).

    Returns the frames with their filtered ``detections`` set, whose ``appearance [K, Da]`` and
    ``frame_appearance [Da]`` are zeros standing in for the vectors :func:`fill_appearance` computes in the
    step, and the :class:`AppearanceInputs` of the present frames.
    """
    present = [f for f in frames if f is not None]
    if not present:
        empty = torch.zeros(0)
        return list(frames), AppearanceInputs(empty, empty, [], [])
    detections, features = detector.detect_with_features([f.image for f in present])
    scores = appearance_scores(detections, detector.appearance.config.box_logit, features["C4"].device)
    kept, filtered = [], []
    for det in detections:
        selected, rows = filter_detections(det, filtering)
        kept.append(rows)
        filtered.append(dataclasses.replace(selected.to("cpu"), appearance=torch.zeros((len(selected), appearance_dim)),
                                            frame_appearance=torch.zeros(appearance_dim)))
    filled = iter(filtered)
    out = [dataclasses.replace(f, detections=next(filled)) if f is not None else None for f in frames]
    return out, AppearanceInputs(features["C4"], features["C5"], scores, kept)


def fill_appearance(frame: FrameDetections, inputs: AppearanceInputs, appearance: AppearanceNetwork) -> FrameDetections:
    """``frame`` with ``appearance [N, Da]`` and ``frame_appearance [B, Da]`` computed by ``appearance`` from
    ``inputs`` (differentiable in its weights); absent videos keep a zero frame descriptor."""
    if not inputs.kept:
        return frame
    vectors, descriptors = appearance(inputs.c4, inputs.c5, inputs.scores)
    device = frame.appearance.device
    rows = torch.cat([vector[kept.to(vector.device)] for vector, kept in zip(vectors, inputs.kept)]).to(device)
    present = frame.present.nonzero().squeeze(1)
    frame_appearance = torch.zeros_like(frame.frame_appearance).index_copy(0, present, descriptors.to(device))
    return dataclasses.replace(frame, appearance=rows.to(frame.appearance.dtype), frame_appearance=frame_appearance)


@torch.no_grad()
def detect_videos(detector: YolactDetector, dataset: YTVISDataset, video_ids: Sequence[int]) -> list[tuple[int, list[Detections]]]:
    """``(video_id, detections per frame)`` of each video: the detector with its current appearance network
    (in eval mode while it runs), as :class:`~gvis.train.evaluation.score_tracker` takes them."""
    appearance = detector.appearance
    was_training = appearance.training
    appearance.eval()
    try:
        return [(video_id, [det for t in range(dataset.video(video_id).length)
                            for det in detector([dataset.frame(video_id, t)])])
                for video_id in video_ids]
    finally:
        appearance.train(was_training)
