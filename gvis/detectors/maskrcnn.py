"""torchvision's Mask R-CNN (ResNet-50 FPN) as a :class:`~gvis.detectors.protocol.Detector`.

The model is built with ``weights=None, weights_backbone=None`` (nothing is downloaded); its weights come
from a local file when one is given (a state dict, or a dict holding one under ``"model"`` or
``"state_dict"``, e.g. torchvision's ``maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth``), otherwise they are
random (with a warning: useful for tests and timing only).

Its labels are mapped to the dataset's categories by name (:class:`MaskRCNNConfig`); detections of
labels that map to no category are dropped. Mask R-CNN reports one class and a score per detection, so
``class_probs`` puts the score on that class and ``1 − score`` on background; it has no appearance
network (``appearance_dim = 0``) and gives binary masks only (no ``mask_logits``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from gvis.config import find_config, load_config, to_dict
from gvis.detections.jsonl import normalize_categories
from gvis.detections.structures import Detections
from gvis.errors import ConfigError, InputError
from gvis.registry import DETECTORS


def coco_label_names() -> list[str]:
    """Names of torchvision's 91 COCO labels (index = label; ``__background__`` and ``N/A`` included)."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


@dataclass
class MaskRCNNConfig:
    """Settings of the Mask R-CNN adapter (defaults: torchvision's).

    - ``min_size`` / ``max_size``: the model resizes each frame so that its short side is ``min_size``
      and its long side at most ``max_size`` (small values make it fast, e.g. 128 for tests).
    - ``num_proposals``: region proposals kept per image (per FPN level before NMS, in all after it);
      the box and mask heads run on each, so fewer proposals are faster.
    - ``score_threshold``, ``nms_threshold``, ``max_detections``: the box head's filtering.
    - ``mask_threshold``: a mask pixel is foreground where the mask probability exceeds it.
    - ``num_classes``: outputs of the box predictor, background included (91: the COCO layout).
    - ``label_names``: names of labels ``0 .. num_classes − 1``; empty = torchvision's COCO names.
    - ``categories``: the dataset's ``[{"id", "name"}]``; empty = the 80 COCO categories (COCO ids).
    - ``class_map``: model label name → category name; empty = labels map to the category of the same
      name. Labels that map to no category are dropped.
    """

    min_size: int = 800
    max_size: int = 1333
    num_proposals: int = 1000
    score_threshold: float = 0.05
    nms_threshold: float = 0.5
    max_detections: int = 100
    mask_threshold: float = 0.5
    num_classes: int = 91
    label_names: list[str] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    class_map: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if self.min_size < 1 or self.max_size < self.min_size:
            raise ValueError(f"need 1 <= min_size <= max_size, got {self.min_size}, {self.max_size}")
        if self.num_proposals < 1:
            raise ValueError(f"num_proposals must be at least 1, got {self.num_proposals}")
        if not 0 <= self.mask_threshold < 1:
            raise ValueError(f"mask_threshold must lie in [0, 1), got {self.mask_threshold}")
        if self.label_names and len(self.label_names) != self.num_classes:
            raise ValueError(f"label_names has {len(self.label_names)} names for num_classes = {self.num_classes}")
        if not self.label_names and self.num_classes != 91:
            raise ValueError("label_names is needed when num_classes is not 91 (the COCO layout)")
        for k, category in enumerate(self.categories):
            if not isinstance(category.get("id"), int) or not isinstance(category.get("name"), str):
                raise ValueError(f"categories[{k}] must be {{id: integer, name: string}}, got {category}")


def label_to_category(label_names: Sequence[str], categories: Sequence[dict], class_map: dict[str, str]) -> torch.Tensor:
    """``[num_labels]`` category id of each model label (−1: dropped), from names and ``class_map``."""
    by_name = {c["name"]: c["id"] for c in categories}
    unknown_labels = sorted(set(class_map) - set(label_names))
    if unknown_labels:
        raise ConfigError(f"class_map: '{unknown_labels[0]}' is not a label of the model")
    unknown_categories = sorted(set(class_map.values()) - set(by_name))
    if unknown_categories:
        raise ConfigError(f"class_map: '{unknown_categories[0]}' is not a category name")
    mapping = class_map or {name: name for name in label_names}
    table = [by_name.get(mapping.get(name, ""), -1) for name in label_names]
    table[0] = -1  # background
    if max(table) < 0:
        raise ConfigError("no label of the model maps to a category (check categories and class_map)")
    return torch.tensor(table, dtype=torch.long)


def load_state_dict(path: str | Path) -> dict:
    """The state dict in ``path`` (plain, or under ``"model"`` / ``"state_dict"``); ``InputError`` naming it."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError("no such weights file", file=path) from None
    except Exception as exc:  # not a torch file, corrupt, unsafe pickle
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read weights: {reason}", file=path) from None
    if isinstance(loaded, dict):
        for key in ("model", "state_dict"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise InputError("not a state dict (a dict of tensors)", file=path)
    return loaded


@DETECTORS.register("maskrcnn")
class MaskRCNNDetector:
    """Mask R-CNN behind the :class:`~gvis.detectors.protocol.Detector` protocol.

    Args:
        checkpoint: a local weights file; ``None`` = random weights (seeded by ``seed``).
        device: where the model runs.
        overrides: ``--set key=value`` items for :class:`MaskRCNNConfig`.
        config: a :class:`MaskRCNNConfig`, or a YAML path / name in ``configs/detector/`` (default: the
            dataclass defaults).
        seed: seed of the random weights.
    """

    appearance_dim = 0

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", overrides: Sequence[str] = (),
                 config: MaskRCNNConfig | str | Path | None = None, seed: int = 0) -> None:
        from torchvision.models.detection import maskrcnn_resnet50_fpn

        self.config = _resolve_config(config, overrides)
        cfg = self.config
        label_names = cfg.label_names or coco_label_names()
        categories = cfg.categories or [{"id": i, "name": n} for i, n in enumerate(label_names)
                                        if i > 0 and n not in ("N/A", "__background__")]
        self.categories = normalize_categories(categories)
        self.category_ids = [c["id"] for c in self.categories]
        self.label_category = label_to_category(label_names, self.categories, cfg.class_map).to(device)
        state = None if checkpoint is None else load_state_dict(checkpoint)  # a bad file fails before the build
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = maskrcnn_resnet50_fpn(
                weights=None, weights_backbone=None, num_classes=cfg.num_classes,
                min_size=cfg.min_size, max_size=cfg.max_size, rpn_pre_nms_top_n_test=cfg.num_proposals,
                rpn_post_nms_top_n_test=cfg.num_proposals, box_score_thresh=cfg.score_threshold,
                box_nms_thresh=cfg.nms_threshold, box_detections_per_img=cfg.max_detections,
            )
        if state is None:
            warnings.warn("maskrcnn detector without weights: random weights (its output is meaningless)", stacklevel=2)
        else:
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise InputError(f"weights do not fit Mask R-CNN (num_classes = {cfg.num_classes}): "
                                 f"{str(exc).splitlines()[0]}", file=checkpoint) from None
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.checkpoint = None if checkpoint is None else str(checkpoint)

    @property
    def meta(self) -> dict:
        return {"detector": "maskrcnn", "checkpoint": self.checkpoint, "config": to_dict(self.config)}

    @torch.inference_mode()
    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per ``[H, W, 3]`` uint8 RGB frame, in the frame's pixels."""
        # torch.tensor copies (frames may be read-only arrays); uint8 crosses to the device, then floats.
        images = [torch.tensor(frame, device=self.device).permute(2, 0, 1).float().div_(255) for frame in frames]
        outputs = self.model(images) if images else []
        return [self._detections(output, tuple(frame.shape[:2])) for output, frame in zip(outputs, frames)]

    def _detections(self, output: dict, image_size: tuple[int, int]) -> Detections:
        labels = self.label_category[output["labels"]]
        keep = labels >= 0
        detections = Detections(
            boxes=output["boxes"][keep].float().cpu(),
            scores=output["scores"][keep].float().clamp(0, 1).cpu(),
            labels=labels[keep].cpu(),
            masks=(output["masks"][keep, 0] > self.config.mask_threshold).cpu(),
            image_size=image_size,
        )
        return detections.with_class_probs(self.category_ids)


def _resolve_config(config: MaskRCNNConfig | str | Path | None, overrides: Sequence[str]) -> MaskRCNNConfig:
    if isinstance(config, MaskRCNNConfig):
        if overrides:
            raise ConfigError("maskrcnn: --set needs a config file or name, not a ready MaskRCNNConfig")
        return config
    return load_config(MaskRCNNConfig, None if config is None else find_config(config, "detector"), overrides)
