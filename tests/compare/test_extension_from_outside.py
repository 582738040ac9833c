"""A GNN block, a recurrent gate and a detector written in a module outside gvis, used with no gvis file edited:
by ``gvis train`` and ``gvis bench tracker/train --config`` through the config's ``imports`` key, by ``gvis
compare`` whose stages run as fresh ``gvis`` processes (the plugin reaches them through the config and the
checkpoint it records), and by ``gvis detect`` / ``gvis track`` through ``--import``."""
from __future__ import annotations

import json

import pytest
import torch

from gvis.cli import main
from gvis.compare.benchmark import (
    HEURISTICS,
    Benchmark,
    evaluate_heuristic,
    prepare,
    tune_heuristic,
)
from gvis.cli.compare import _in_process_runner as in_process_runner
from gvis.config import CONFIG_DIR

PLUGIN = '''"""Components of a user's own package: registered on import."""
import torch
from torch import nn

from gvis.detections.structures import Detections
from gvis.gnn.features import FrameFeatures
from gvis.registry import DETECTORS, GNN_LAYERS, RECURRENT_GATES
from gvis.tracker.gates import RecurrentGate


@GNN_LAYERS.register("outside_block")
class ProjectionBlock(nn.Module):
    """Every element mapped to the GNN width by its own linear layer and a ReLU (no messages)."""

    def __init__(self, track_dim, det_dim, track_det_dim, empty_det_dim, width=128):
        super().__init__()
        self.track, self.det, self.empty = (nn.Linear(d, width) for d in (track_dim, det_dim, track_dim))
        self.track_det, self.empty_det = (nn.Linear(d, width) for d in (track_det_dim, empty_det_dim))

    def forward(self, features, edges):
        return FrameFeatures(*(torch.relu(layer(x)) for layer, x in zip(
            (self.track, self.det, self.empty, self.track_det, self.empty_det), features[:5])))


@RECURRENT_GATES.register("outside_gate")
class MeanGate(RecurrentGate):
    """h = (u + h_previous) / 2, no cell."""

    def forward(self, u, h, c):
        return (u + h) / 2, c


@DETECTORS.register("outside")
class CentreDetector:
    """One detection per frame: the centre quarter of the image, score 0.9, category 1."""

    categories = [{"id": 1, "name": "thing"}]
    appearance_dim = 0

    def __init__(self, checkpoint=None, device="cpu", overrides=()):
        self.meta = {"detector": "outside"}

    def __call__(self, frames):
        out = []
        for frame in frames:
            height, width = frame.shape[:2]
            box = torch.tensor([[width / 4, height / 4, 3 * width / 4, 3 * height / 4]])
            mask = torch.zeros((1, height, width), dtype=torch.bool)
            mask[:, height // 4: 3 * height // 4, width // 4: 3 * width // 4] = True
            detections = Detections(box, torch.tensor([0.9]), torch.tensor([1]), mask, (height, width))
            out.append(detections.with_class_probs([1]))
        return out
'''
#: ``gvis compare``'s smallest benchmark (the tiny generator with the hard simulated detector).
COMPARE = ["--seeds", "1", "--train-videos", "8", "--test-videos", "4", "--val-videos", "3", "--test-seeds", "1",
           "--synth-preset", "tiny", "--resamples", "50", "--json"]


@pytest.fixture
def outside(plugin_folder, tmp_path):
    """The plugin module (on ``sys.path`` and ``PYTHONPATH``), a training config importing it, and the tiny
    benchmark of ``gvis compare`` in ``tmp_path / "work"`` (made here in this process)."""
    (plugin_folder / "outside_parts.py").write_text(PLUGIN, encoding="utf-8")
    config = tmp_path / "outside.yaml"
    config.write_text(f"_base_: {CONFIG_DIR / 'train' / 'tiny.yaml'}\nimports: [outside_parts]\nmodel:\n"
                      "  gnn: {blocks: [outside_block, residual]}\n  gate: {type: outside_gate}\n"
                      "  init_threshold: -3.0\n", encoding="utf-8")
    bench = Benchmark((tmp_path / "work").resolve(), train_videos=8, test_videos=4, test_seeds=(1,),
                      synth_preset="tiny", val_videos=3)
    prepare(bench, in_process_runner)
    tune_heuristic(bench, in_process_runner, grid=["alpha=2", "beta=10", "gamma=1"])
    for name in HEURISTICS:
        evaluate_heuristic(bench, name, in_process_runner)
    return config, bench


def run_json(capsys, argv: list) -> dict:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_train_bench_and_compare_use_components_from_outside(outside, tmp_path, capsys, monkeypatch):
    from gvis.bench import train as bench_train
    from gvis.tracker.online import load_model

    config, bench = outside
    summary = run_json(capsys, ["train", config, "--set", f"data.train.annotations={bench.train_set}",
                                "--set", f"data.train.detections={bench.train_set / 'dets.pt'}",
                                "--set", "train.steps=2", "--set", f"output_dir={tmp_path / 'run'}", "--json"])
    assert summary["step"] == 2
    checkpoint = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert checkpoint["config"]["imports"] == ["outside_parts"]
    model = load_model(tmp_path / "run" / "model.pt")
    assert [type(block).__name__ for block in model.gnn.blocks] == ["ProjectionBlock", "ResidualBlock"]
    assert type(model.track_gate).__module__ == "outside_parts"

    result = run_json(capsys, ["bench", "tracker", "--config", config, "--sizes", "2x2", "--batches", "1",
                               "--repeats", "1", "--no-compile", "--json"])
    # No dense function for the outside block: PyG and the rule are timed, not the dense reference.
    assert {(row["impl"], row["scope"]) for row in result["step"]} == {("pyg", "gnn"), ("pyg", "step"),
                                                                       ("masktrack-rule", "step")}
    assert [row["impl"] for row in result["batched"]] == ["pyg"] and result["config"] == str(config)
    clips = bench_train.random_clips
    monkeypatch.setattr(bench_train, "random_clips", lambda **options: clips(count=2, length=2, **options))
    result = run_json(capsys, ["bench", "train", "--config", config, "--batches", "1", "--repeats", "1", "--json"])
    assert [(row["impl"], row["batch"]) for row in result["rows"]] == [("pyg", 1)]

    # Every stage of gvis compare in a fresh gvis process: training (the config imports the module) and
    # evaluation of its checkpoint (which records the import).
    report = run_json(capsys, ["compare", config, "--steps", "2", "--work", bench.work, *COMPARE])
    row, = (row for row in report["rows"] if row["name"] == "outside")
    assert row["steps"] == [2] and not row["failed"] and row["mean"]["AP"] is not None and row["parameters"] > 0
    assert (bench.work / "runs" / "outside" / "seed0" / "test_scores.json").exists()


def test_detect_and_track_with_a_detector_from_outside(outside, tmp_path, capsys):
    _, bench = outside
    test_set = bench.test_sets[0]
    frames = sum(len(video["file_names"]) for video in json.loads((test_set / "instances.json").read_text())["videos"])
    out = tmp_path / "outside.jsonl"
    summary = run_json(capsys, ["detect", "--import", "outside_parts", "--detector", "outside", "--data", test_set,
                                "--out", out, "--json"])
    assert summary["frames"] == frames and summary["detections"] == frames  # one per frame
    assert json.loads(out.read_text().splitlines()[0])["meta"]["detector"] == "outside"
    tracked = run_json(capsys, ["track", test_set, "--import", "outside_parts", "--detector", "outside",
                                "--tracker", "masktrack-rule", "--json"])
    # The same centre box in every frame of a video: one track per video.
    assert tracked["frames"] == frames and tracked["tracks"] == tracked["videos"] == 4
