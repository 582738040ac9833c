"""experiments/dense_training.py on a few videos: its training proposals (sources and scores mixed per video),
a short training and the shipped checkpoint with its held-out scores (no real data)."""
from __future__ import annotations

import json
import sys

import torch

from test_experiment_learned_rows import load_script, proposal_folder


def test_dense_training_data_train_and_ship(tiny_set, tmp_path, monkeypatch):
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detections.proposals import DenseProposalConfig

    training = load_script("dense_training", monkeypatch)
    dense = load_script("dense_proposals", monkeypatch)
    proposal_folder(tiny_set, tmp_path / "proposals" / "test", dense)
    work, shipped = tmp_path / "work", tmp_path / "shipped" / "dense.pt"
    shipped.parent.mkdir()
    argv = ["dense_training.py", "--work", str(work), "--videos", "4", "--steps", "2", "--ship", str(shipped),
            "--proposals", str(tmp_path / "proposals")]
    monkeypatch.setattr(sys, "argv", argv)
    training.main()

    reader = DetectionsReader(work / "train" / "dets.jsonl")
    assert reader.categories == [{"id": 1, "name": "object"}] and reader.appearance_dim is None
    mixed = DenseProposalConfig(scores="mixed")
    for video_id, frames in reader.videos():
        scores = torch.cat([detections.scores for detections in frames])
        constant = bool((scores == 1.0).all())
        assert constant == (mixed.for_video(0, video_id).scores == "constant")  # per video, as drawn
    assert (work / "train" / "dets.pt").exists()
    assert json.loads((work / "run_seed0" / "summary.json").read_text())["step"] == 2

    meta = json.loads(shipped.with_suffix(".json").read_text())
    assert meta["steps"] == 2 and set(meta["validation"]["per_set"]) == set(dense.FILES)
    assert meta["config"]["model"]["filtering"]["nms_rank"] == "support"  # the dense keys travel with it
    # A second call finds every stage done and trains nothing more.
    before = (work / "run_seed0" / "model.pt").stat().st_mtime_ns
    training.main()
    assert (work / "run_seed0" / "model.pt").stat().st_mtime_ns == before
