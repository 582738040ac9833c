"""Tiny untrained detectors for the detector tests."""
from __future__ import annotations

import torch

from gvis.config import to_dict
from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.detector import YolactDetector
from gvis.detectors.yolact.model import YolactModel
from gvis.train_detector.config import load_detector_train_config

CATEGORIES = [{"id": 1, "name": "disc"}, {"id": 2, "name": "square"}, {"id": 7, "name": "star"}]


def tiny_detector(seed: int = 0, **postprocess) -> YolactDetector:
    """An untrained configs/detector/tiny.yaml detector (3 classes, appearance Da = 16), ``postprocess`` overridden."""
    config = load_detector_train_config("tiny").model
    for key, value in postprocess.items():
        setattr(config.postprocess, key, value)
    torch.manual_seed(seed)
    model = YolactModel(config, num_classes=len(CATEGORIES))
    appearance = AppearanceNetwork(model.backbone.channels[1:], config.appearance)
    return YolactDetector.from_modules(model, CATEGORIES, appearance)


def checkpoint_of(detector: YolactDetector) -> dict:
    """The minimal ``gvis-detector-checkpoint`` content of ``detector``."""
    return {"model": detector.model.state_dict(), "appearance": detector.appearance.state_dict(),
            "config": {**to_dict(detector.config), "num_classes": detector.model.num_classes},
            "categories": detector.categories}
