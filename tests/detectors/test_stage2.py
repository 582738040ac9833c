"""Stage 2: the frozen detector with a trainable appearance network."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvis.detectors.yolact.checkpoint import save_detector_checkpoint, shipped_detector
from gvis.errors import ConfigError
from gvis.train.config import Stage2Config
from gvis.train.loop import load_train_config
from gvis.train.stage2 import FrozenDetectorAppearance

from yolact_helpers import checkpoint_of, tiny_detector


def _frames() -> list[np.ndarray]:
    generator = np.random.default_rng(1)
    return [generator.integers(0, 255, size=(64, 96, 3), dtype=np.uint8) for _ in range(3)]


def test_a_step_through_the_appearance_vectors_trains_only_the_appearance_network():
    module = FrozenDetectorAppearance(tiny_detector())
    module.train()
    assert not module.frozen.training and module.appearance.training
    detector_before = {k: v.clone() for k, v in module.frozen.state_dict().items()}  # weights and BN statistics
    appearance_before = {k: v.clone() for k, v in module.appearance.state_dict().items()}
    optimizer = torch.optim.Adam(module.trainable_parameters(), lr=1e-2)
    detections = module(_frames())
    assert all(det.appearance.requires_grad and det.frame_appearance.requires_grad for det in detections)
    assert not detections[0].boxes.requires_grad and not detections[0].mask_logits.requires_grad
    # A stand-in for the tracker's appearance likelihood: pull every vector towards the frame descriptor.
    loss = sum(((det.appearance - det.frame_appearance) ** 2).sum() for det in detections)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in module.frozen.parameters())
    for key, value in module.frozen.state_dict().items():
        assert torch.equal(value, detector_before[key]), key
    changed = [key for key, value in module.appearance.state_dict().items() if not torch.equal(value, appearance_before[key])]
    assert set(changed) == set(appearance_before)  # both projections and every MLP layer moved


def test_from_config(tmp_path):
    detector = tiny_detector()
    save_detector_checkpoint(tmp_path / "det.pt", checkpoint_of(detector))
    module = FrozenDetectorAppearance.from_config(Stage2Config(checkpoint=str(tmp_path / "det.pt")))
    assert torch.equal(module.appearance.mlp.layers[0].weight, detector.appearance.mlp.layers[0].weight)
    torch.manual_seed(5)
    reset = FrozenDetectorAppearance.from_config(Stage2Config(checkpoint=str(tmp_path / "det.pt"), reset_appearance=True))
    assert not torch.equal(reset.appearance.mlp.layers[0].weight, detector.appearance.mlp.layers[0].weight)
    if shipped_detector() is not None:  # no checkpoint: the shipped detector
        shipped = FrozenDetectorAppearance.from_config(Stage2Config())
        assert shipped.detector.meta["checkpoint"] == "checkpoints/detector-synth-mixed.pt"


def test_stage2_config_file():
    config = load_train_config("stage2", ["detector.appearance_lr=1e-3"]).detector
    assert config.checkpoint is None and config.reset_appearance
    assert config.appearance_lr == 1e-3
    with pytest.raises(ConfigError, match="appearance_lr"):
        load_train_config("stage2", ["detector.appearance_lr=-1"])
