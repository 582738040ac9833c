"""Baselines on synthetic data: ground truth as results scores AP 1, and the MaskTrack R-CNN rule
on noise-free simulated detections of the easy preset scores AP >= 0.9."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvis.data.ytvis import YTVISDataset
from gvis.detections.structures import Tracks
from gvis.eval.results import VideoResults, write_results
from gvis.eval.ytvis_ap import evaluate


@pytest.fixture(scope="module")
def easy_set(tmp_path_factory, run_gvis):
    root = tmp_path_factory.mktemp("easy")
    run_gvis("synth", "--preset", "easy", "--videos", 10, "--seed", 0, "--out", root / "data")
    run_gvis("detect", "--detector", "simulated", "--preset", "easy", "--noise-free", "--data", root / "data",
             "--out", root / "noise_free.jsonl")
    return root


def test_ground_truth_as_results_scores_ap_one(easy_set, tmp_path):
    dataset = YTVISDataset.from_json(easy_set / "data" / "instances.json")
    entries = []
    for video in dataset.videos:
        instances = dataset.instances(video.id)
        results = VideoResults(video.id)
        for t in range(video.length):
            present, masks = dataset.frame_masks(video.id, t)
            full = np.zeros((len(instances), video.height, video.width), dtype=bool)
            for row, instance in enumerate(instances):
                hit = np.nonzero(present == instance.id)[0]
                if hit.size:
                    full[row] = masks[hit[0]]
            results.add_frame(Tracks(
                track_ids=torch.tensor([i.id for i in instances], dtype=torch.long),
                det_indices=torch.full((len(instances),), -1),
                labels=torch.tensor([i.category_id for i in instances], dtype=torch.long),
                scores=torch.ones(len(instances)),
                masks=torch.from_numpy(full),
            ))
        entries += results.entries()
    assert len(entries) == sum(len(dataset.instances(v.id)) for v in dataset.videos) > 0
    write_results(tmp_path / "gt.json", entries)
    stats = evaluate(dataset, tmp_path / "gt.json")
    assert stats["AP"] == pytest.approx(1.0) and stats["AR100"] == pytest.approx(1.0)


def test_masktrack_rule_on_noise_free_easy_detections(easy_set, tmp_path, run_gvis):
    run_gvis("track", "--tracker", "masktrack-rule", "--detections", easy_set / "noise_free.jsonl",
             "--results", tmp_path / "r.json")
    stats = evaluate(easy_set / "data" / "instances.json", tmp_path / "r.json")
    assert stats["AP"] >= 0.9
