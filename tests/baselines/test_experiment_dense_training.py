"""experiments/dense_training.py on a few videos: its training proposals (sources and scores mixed per video),
a short training and the shipped checkpoint with its held-out scores (no real data)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from test_experiment_learned_rows import load_script, proposal_folder


def test_dense_training_data_train_and_ship(tiny_set, tmp_path, monkeypatch):
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detections.proposals import DenseProposalConfig, write_dense_proposals

    training = load_script("dense_training", monkeypatch)
    dense = load_script("dense_proposals", monkeypatch)
    proposal_folder(tiny_set, tmp_path / "proposals" / "test", dense)
    work, shipped = tmp_path / "work", tmp_path / "shipped" / "dense.pt"
    shipped.parent.mkdir()
    argv = ["dense_training.py", "--work", str(work), "--videos", "6", "--steps", "2", "--ship", str(shipped),
            "--proposals", str(tmp_path / "proposals")]
    monkeypatch.setattr(sys, "argv", argv)
    training.main()

    reader = DetectionsReader(work / "train" / "dets.jsonl")
    assert reader.categories == [{"id": 1, "name": "object"}] and reader.appearance_dim is None
    # Each video as drawn: its scores constant or spread, its proposals built from the ground truth or not.
    mixed = DenseProposalConfig(scores="mixed")
    dataset = YTVISDataset.from_json(work / "train" / "instances.json")
    from_truth = tmp_path / "from_truth.jsonl"
    write_dense_proposals(from_truth, dataset, mixed, seed=0)
    truth = {video_id: frames for video_id, frames in DetectionsReader(from_truth).videos()}
    sources = set()
    for video_id, frames in reader.videos():
        scores = torch.cat([detections.scores for detections in frames])
        assert bool((scores == 1.0).all()) == (mixed.for_video(0, video_id).scores == "constant")
        same = all(a.masks == b.masks for a, b in zip(frames, truth[video_id]))
        gt_drawn = bool(np.random.default_rng([0, video_id, training.SOURCE_DRAW_KEY]).random() < training.GT_FRACTION)
        assert same == gt_drawn
        sources.add(same)
    assert sources == {True, False}  # 6 videos of seed 0: both kinds drawn
    assert (work / "train" / "dets.pt").exists()
    assert json.loads((work / "run_seed0" / "summary.json").read_text())["step"] == 2

    meta = json.loads(shipped.with_suffix(".json").read_text())
    assert meta["steps"] == 2 and set(meta["validation"]["per_set"]) == set(dense.FILES)
    assert meta["made_by"] == "python experiments/dense_training.py " + " ".join(argv[1:])
    assert meta["config"]["model"]["filtering"]["nms_rank"] == "support"  # the dense keys travel with it
    # A second call finds every stage done and trains nothing more; another video count is refused.
    before = (work / "run_seed0" / "model.pt").stat().st_mtime_ns
    training.main()
    assert (work / "run_seed0" / "model.pt").stat().st_mtime_ns == before
    monkeypatch.setattr(sys, "argv", [*argv[:4], "7", *argv[5:]])
    with pytest.raises(SystemExit, match=r"holds 6 videos of seed 0 made with --synth-set \[\], not 7 of seed 0"):
        training.main()
    monkeypatch.setattr(sys, "argv", [*argv, "--synth-set", "max_aspect=4"])
    with pytest.raises(SystemExit, match=r"not 6 of seed 0 with \['max_aspect=4'\]"):
        training.main()
