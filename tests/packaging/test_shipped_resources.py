"""Where shipped files are found in a checkout, and how metadata names them."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gvis.config import CONFIG_DIR, find_config
from gvis.detectors.yolact.checkpoint import SHIPPED_DETECTOR, is_shipped_detector
from gvis.resources import checkout, recorded_path, repository_relative, resolve_recorded, shipped_file, shipped_folder
from gvis.train.checkpoint import SHIPPED_AGNOSTIC, SHIPPED_CHECKPOINT

REPO = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_its_own_top_level_folders():
    assert checkout() == REPO
    assert shipped_folder("configs") == CONFIG_DIR == REPO / "configs"
    assert shipped_file("checkpoints", "learned-agnostic.pt") == SHIPPED_AGNOSTIC
    assert SHIPPED_AGNOSTIC == REPO / "checkpoints" / "learned-agnostic.pt"
    assert find_config("tiny", "train") == REPO / "configs" / "train" / "tiny.yaml"
    with pytest.raises(ValueError, match="no shipped folder 'runs'"):
        shipped_folder("runs")


def test_metadata_names_shipped_files_by_their_repository_relative_names(tmp_path):
    assert recorded_path(SHIPPED_CHECKPOINT) == "checkpoints/learned-synth-hard.pt"
    assert recorded_path(REPO / "configs" / "train" / ".." / "model" / "tiny.yaml") == "configs/model/tiny.yaml"
    assert recorded_path(tmp_path / "model.pt") == str(tmp_path / "model.pt")
    assert recorded_path("mine/model.pt") == "mine/model.pt"  # any other path as given


def test_a_recorded_name_resolves_to_a_local_file_first_then_to_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_recorded("checkpoints/learned-agnostic.pt") == SHIPPED_AGNOSTIC
    assert resolve_recorded("checkpoints/not-shipped.pt") == Path("checkpoints/not-shipped.pt")
    assert resolve_recorded("mine/model.pt") == Path("mine/model.pt")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "learned-agnostic.pt").write_bytes(b"the user's own")
    assert resolve_recorded("checkpoints/learned-agnostic.pt") == Path("checkpoints/learned-agnostic.pt")


def test_the_shipped_detector_is_recognised_by_its_recorded_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the name does not exist relative to the working folder
    assert is_shipped_detector({"detector": "yolact", "checkpoint": "checkpoints/detector-synth-mixed.pt"})
    assert is_shipped_detector({"detector": "yolact", "checkpoint": str(SHIPPED_DETECTOR)})
    # The previous detector, no longer shipped, is another file.
    assert not is_shipped_detector({"detector": "yolact", "checkpoint": "checkpoints/detector-synth-small.pt"})


def test_repository_relative_rewrites_absolute_paths_inside_the_checkout_only():
    tree = {"output_dir": str(REPO / "runs" / "proof"), "data": [str(REPO / "checkpoints" / "x.pt"), "/elsewhere/y"],
            "steps": 3, "note": "runs/relative"}
    assert repository_relative(tree) == {"output_dir": "runs/proof", "data": ["checkpoints/x.pt", "/elsewhere/y"],
                                         "steps": 3, "note": "runs/relative"}


def _strings(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _strings(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _strings(value)
    elif isinstance(tree, str):
        yield tree


def test_shipped_metadata_records_no_machine_path():
    metadata = sorted(shipped_folder("checkpoints").glob("*.json"))
    if not metadata:
        pytest.skip("this checkout has no shipped checkpoints")
    for path in metadata:
        absolute = [s for s in _strings(json.loads(path.read_text())) if os.path.isabs(s)]
        assert not absolute, (path.name, absolute)
