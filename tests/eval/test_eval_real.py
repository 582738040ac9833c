"""The official evaluator's scores on real data (BDD100K MOTS ground truth and a real tracker's output).

Reference numbers: ``../shared/data/real/PROVENANCE.md`` (official youtubevos/cocoapi YTVOSeval on
the two converted files). All predicted scores are 1.0, so the order of the ties decides the first
line: a tie-break that reorders results moves it.
"""
from __future__ import annotations

import json

import pytest

from gvis.eval.ytvis_ap import evaluate

FOLDER = "bdd100k_mots_b1c66a42-6f7d68ca"


def percent(stats: dict) -> dict:
    return {name: 100 * value for name, value in stats.items()}


def test_bdd100k_predictions_match_the_official_scores(real_data):
    stats = percent(evaluate(real_data / FOLDER / "ytvis_gt.json", real_data / FOLDER / "ytvis_results.json"))
    expected = {"AP": 11.39, "AP50": 23.87, "AP75": 8.71, "AR1": 2.23, "AR10": 8.14, "AR100": 15.65}
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=0.01), name


def test_bdd100k_ground_truth_as_results(real_data):
    gt = json.loads((real_data / FOLDER / "ytvis_gt.json").read_text())
    results = [
        {"video_id": a["video_id"], "category_id": a["category_id"], "score": 1.0, "segmentations": a["segmentations"]}
        for a in gt["annotations"]
    ]
    stats = percent(evaluate(real_data / FOLDER / "ytvis_gt.json", results))
    expected = {"AP": 100, "AR1": 55.26, "AR10": 82.56, "AR100": 100}
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=0.01), name
