"""Real data: the BDD100K MOTS predictions, track ids removed, re-linked by every heuristic tracker.

Reference figures (PROVENANCE.md of the fixtures): 1567 predicted labels in 90 tracks; the original
tracks score AP 11.39 with the official YTVOSeval.
"""
from __future__ import annotations

import json

import pytest

from gvis.baselines.runner import run_tracker, tracker_threads
from gvis.data.ytvis import YTVISDataset
from gvis.eval.results_to_detections import check_results, detections_from_results
from gvis.eval.ytvis_ap import evaluate
from gvis.registry import TRACKERS

FIXTURE = "bdd100k_mots_b1c66a42-6f7d68ca"


@pytest.fixture(scope="module")
def bdd(real_data):
    folder = real_data / FIXTURE
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    gt = YTVISDataset.from_json(folder / "ytvis_gt.json")
    original = json.loads((folder / "ytvis_results.json").read_text())
    video = gt.videos[0]
    tracks = check_results(original, gt, folder / "ytvis_results.json")
    return gt, original, video, [d for _, _, d in detections_from_results(tracks, gt)]


def test_detections_are_the_predicted_masks_in_file_order(bdd):
    gt, original, video, frames = bdd
    assert len(frames) == video.length == 100
    assert sum(len(f) for f in frames) == 1567
    assert all(f.appearance is None and bool((f.scores == 1.0).all()) for f in frames)
    first = [e["category_id"] for e in original if e["segmentations"][0] is not None and "counts" in e["segmentations"][0]]
    assert frames[0].labels.tolist() == first[: len(frames[0])]
    widths = frames[0].boxes[:, 2] - frames[0].boxes[:, 0]
    assert bool((widths > 0).all()) and frames[0].image_size == (720, 1280)


#: Every registered heuristic (a tracker with a config schema; the learned tracker has none).
HEURISTICS = [name for name in TRACKERS.names() if getattr(TRACKERS.get(name), "config_class", None) is not None]


@pytest.mark.parametrize("name", HEURISTICS)
def test_heuristic_trackers_relink_the_predictions(bdd, name):
    gt, original, video, frames = bdd
    tracker = TRACKERS.build(name, categories=gt.categories)
    with tracker_threads(tracker):
        entries = run_tracker(tracker, [(video.id, frames)]).entries
    stats = evaluate(gt, entries)
    # Box/mask overlap and motion alone re-link these small, fast objects worse than the original tracker
    # (docs/results/real_data.md), but each must link something.
    assert 0.01 < stats["AP"] < evaluate(gt, original)["AP"]
    assert len(entries) >= 60
