"""Tiny synthetic frames and training configs shared by the detector tests (tiny detectors: yolact_helpers)."""
from __future__ import annotations

import pytest
from gvis.cli import main
from gvis.train_detector.config import load_detector_train_config


@pytest.fixture(scope="session")
def tiny_frames(tmp_path_factory):
    """6 tiny synthetic videos (64x96, 3-8 frames each)."""
    root = tmp_path_factory.mktemp("detector_data") / "tiny"
    assert main(["synth", "--preset", "tiny", "--videos", "6", "--seed", "0", "--out", str(root)]) == 0
    return root


@pytest.fixture
def tiny_train_config(tiny_frames, tmp_path):
    """``tiny_train_config(*overrides)``: configs/detector/tiny.yaml on the tiny frames, writing under tmp_path."""

    def make(*overrides: str, output: str = "run"):
        return load_detector_train_config("tiny", [f"data.train={tiny_frames}", f"output_dir={tmp_path / output}",
                                                   *overrides])

    return make
