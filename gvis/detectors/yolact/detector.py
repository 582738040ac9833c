"""The YOLACT-style detector behind the :class:`~gvis.detectors.protocol.Detector` protocol.

:class:`YolactDetector` wraps a :class:`~gvis.detectors.yolact.model.YolactModel` and (optionally) an
:class:`~gvis.detectors.appearance.AppearanceNetwork`: frames in, one
:class:`~gvis.detections.structures.Detections` per frame out (boxes, scores, labels, binary masks,
``class_probs [N, C+1]``, uncropped ``mask_logits [N, h, w]``, and ``appearance [N, Da]`` +
``frame_appearance [Da]`` when it has an appearance network). Registered in ``DETECTORS`` as ``yolact``
(``gvis detect --detector yolact --checkpoint C``, ``gvis track``).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gvis.config import apply_overrides, build_dataclass, to_dict
from gvis.detections.structures import Detections
import gvis.detectors.yolact.checkpoint as checkpoint_file
from gvis.detectors.appearance import AppearanceNetwork, mask_scores
from gvis.detectors.yolact.checkpoint import detector_fingerprints, load_detector_checkpoint, shipped_detector
from gvis.detectors.yolact.model import IMAGENET_MEAN, IMAGENET_STD, DetectorConfig, YolactModel
from gvis.detectors.yolact.postprocess import postprocess
from gvis.errors import InputError
from gvis.registry import DETECTORS
from gvis.resources import recorded_path


def preprocess(frames: Sequence[np.ndarray], input_size: tuple[int, int], device: torch.device | str = "cpu") -> Tensor:
    """``[B, 3, H, W]`` network input: each RGB uint8 frame ``[h, w, 3]`` resized bilinearly to
    ``input_size`` (aspect not kept, as the authors) and ImageNet-normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    images = []
    for frame in frames:
        image = torch.from_numpy(np.array(frame, dtype=np.float32)).to(device).permute(2, 0, 1).unsqueeze(0) / 255.0
        if tuple(image.shape[-2:]) != tuple(input_size):
            image = F.interpolate(image, size=tuple(input_size), mode="bilinear", align_corners=False)
        images.append(image)
    return (torch.cat(images) - mean) / std


def appearance_scores(detections: list[Detections], box_logit: float, device: torch.device | str) -> list[Tensor]:
    """Per image ``[N, h, w]`` scores the appearance network pools with: each detection's uncropped mask
    logits plus ``box_logit`` inside its box (they depend on the detector's output only)."""
    scores = []
    for det in detections:
        height, width = det.image_size
        scale = det.boxes.new_tensor([width, height, width, height])
        scores.append(mask_scores(det.mask_logits.to(device), (det.boxes / scale).to(device), box_logit))
    return scores


def attach_appearance(appearance: AppearanceNetwork, features: dict[str, Tensor], detections: list[Detections]) -> list[Detections]:
    """``detections`` (one per image of ``features``) with ``appearance [N, Da]`` and ``frame_appearance [Da]``
    computed by ``appearance`` from the backbone maps ``features["C4"], features["C5"]`` (gradients flow
    into ``appearance``'s weights when enabled)."""
    scores = appearance_scores(detections, appearance.config.box_logit, features["C4"].device)
    vectors, frames = appearance(features["C4"], features["C5"], scores)
    return [dataclasses.replace(det, appearance=vector.to(det.boxes.device), frame_appearance=frame.to(det.boxes.device))
            for det, vector, frame in zip(detections, vectors, frames)]


@DETECTORS.register("yolact")
class YolactDetector:
    """Detect instances with a trained :class:`YolactModel` (the ``yolact`` entry of ``DETECTORS``).

    Args:
        checkpoint: a ``gvis-detector-checkpoint`` (``gvis train-detector`` output); default: the shipped
            ``checkpoints/detector-synth-mixed.pt``.
        device: where the networks run. overrides: ``key=value`` changes of non-architectural config keys,
            e.g. ``postprocess.top_n=100``. batch_size: frames per forward pass.

    :meth:`from_modules` wraps networks already in memory (training, tests).
    """

    def __init__(self, checkpoint: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 overrides: Sequence[str] = (), batch_size: int = 8) -> None:
        path = Path(checkpoint) if checkpoint is not None else shipped_detector()
        if path is None:
            raise InputError("no detector checkpoint given and the shipped one is missing (make it with "
                             "experiments/detector_proof.py)", file=checkpoint_file.SHIPPED_DETECTOR)
        content = load_detector_checkpoint(path)
        tree = content["config"]
        apply_overrides(tree, {}, overrides)
        config = build_dataclass(DetectorConfig, tree)
        model = YolactModel(config)
        appearance = None
        if content.get("appearance") is not None and config.appearance.enabled:
            appearance = AppearanceNetwork(model.backbone.channels[1:], config.appearance)
        try:
            model.load_state_dict(content["model"])
            if appearance is not None:
                appearance.load_state_dict(content["appearance"])
        except RuntimeError as exc:  # an override changed the architecture, or a foreign state dict
            raise InputError(f"the weights do not fit the config: {str(exc).splitlines()[0]}", file=path) from None
        fingerprints = detector_fingerprints(content["model"], None if appearance is None else content["appearance"])
        meta = {"checkpoint": recorded_path(path), "step": content.get("step"), "git_hash": content.get("git_hash"),
                "fingerprints": fingerprints, "config": to_dict(config)}
        self._setup(model, content["categories"], appearance, device, batch_size, meta)

    @classmethod
    def from_modules(cls, model: YolactModel, categories: list[dict], appearance: AppearanceNetwork | None = None,
                     device: str | torch.device = "cpu", batch_size: int = 8) -> "YolactDetector":
        """A detector around ``model`` (put in eval mode) and ``appearance`` (``None``: no appearance vectors,
        ``appearance_dim = 0``); ``categories``: ``[{"id", "name"}]`` of the class columns 1..C."""
        detector = cls.__new__(cls)
        detector._setup(model, categories, appearance, device, batch_size, {})
        return detector

    def _setup(self, model: YolactModel, categories: list[dict], appearance: AppearanceNetwork | None,
               device: str | torch.device, batch_size: int, meta: dict) -> None:
        if len(categories) != model.num_classes:
            raise ValueError(f"{len(categories)} categories for a model with {model.num_classes} classes")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.appearance = appearance.to(self.device).eval() if appearance is not None else None
        self.categories = [{"id": int(c["id"]), "name": str(c["name"])} for c in categories]
        self.category_ids = [c["id"] for c in self.categories]
        self.batch_size = batch_size
        self.meta = {"detector": "yolact", **meta}

    @property
    def config(self) -> DetectorConfig:
        return self.model.config

    @property
    def appearance_dim(self) -> int:
        return self.appearance.dim if self.appearance is not None else 0

    def preprocess(self, frames: Sequence[np.ndarray]) -> Tensor:
        """``[B, 3, H, W]`` normalised input of ``frames`` (see :func:`preprocess`)."""
        return preprocess(frames, self.config.input_size, self.device)

    def _detect(self, images: Tensor, image_sizes: Sequence[tuple[int, int]]) -> tuple[list[Detections], dict[str, Tensor]]:
        output = self.model(images)
        detections = [
            postprocess(output, b, self.config.postprocess, size, self.category_ids, self.config.box_variances)
            for b, size in enumerate(image_sizes)
        ]
        return detections, {"C4": output.features["C4"], "C5": output.features["C5"]}

    @torch.no_grad()
    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per RGB uint8 frame ``[H, W, 3]``, in the frame's pixels (on the CPU)."""
        results: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start:start + self.batch_size]
            detections, features = self._detect(self.preprocess(chunk), [tuple(f.shape[:2]) for f in chunk])
            if self.appearance is not None:
                detections = attach_appearance(self.appearance, features, detections)
            results += [det.to("cpu") for det in detections]
        return results

    @torch.no_grad()
    def detect_with_features(self, images: Tensor | Sequence[np.ndarray]) -> tuple[list[Detections], dict[str, Tensor]]:
        """Detections without appearance, and the backbone maps ``{"C4": [B, c4, ·, ·], "C5": [B, c5, ·, ·]}``
        the appearance network pools (:func:`attach_appearance`).

        ``images``: RGB uint8 frames (detections in each frame's pixels, as :meth:`__call__`), or a
        ``[B, 3, H, W]`` tensor already resized to ``input_size`` and normalised (:meth:`preprocess`;
        detections in the input's pixels). Runs without gradients: the detector is frozen in stage 2.
        """
        if isinstance(images, Tensor):
            return self._detect(images.to(self.device), [tuple(images.shape[-2:])] * images.shape[0])
        return self._detect(self.preprocess(images), [tuple(f.shape[:2]) for f in images])
