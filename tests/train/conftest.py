"""A tiny synthetic training set shared by the training tests, and a config factory on top of it."""
from __future__ import annotations

import pytest

from gvis.cli import main
from gvis.train.loop import load_train_config


@pytest.fixture(scope="session")
def tiny_train_set(tmp_path_factory):
    """20 tiny synthetic videos (64x96, 3-8 frames) with hard simulated detections and their cache."""
    root = tmp_path_factory.mktemp("train_data")
    assert main(["synth", "--preset", "tiny", "--videos", "20", "--seed", "0", "--out", str(root / "data")]) == 0
    assert main(["detect", "--data", str(root / "data"), "--out", str(root / "dets.jsonl"), "--preset", "hard",
                 "--cache"]) == 0
    return root


@pytest.fixture
def tiny_config(tiny_train_set, tmp_path):
    """``tiny_config(*overrides)``: the tiny training config on the tiny set, writing under ``tmp_path``."""

    def make(*overrides: str, output: str = "run"):
        return load_train_config("tiny", [
            f"data.train.annotations={tiny_train_set / 'data'}",
            f"data.train.detections={tiny_train_set / 'dets.pt'}",
            f"output_dir={tmp_path / output}",
            *overrides,
        ])

    return make
