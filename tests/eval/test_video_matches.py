"""Per-video matches (``match_videos``): AP of weighted videos equals the evaluator's AP of the videos repeated."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from gvis.eval.ytvis_ap import VideoMatches, evaluate, match_videos


def random_case(vis_case, masks, seed: int, videos: int = 5):
    """Videos of 2 frames (12x12) with 0-3 objects (4x4) of two categories and noisy predictions (distinct
    scores): found or not, exact or shifted by a pixel (IoU 0.6), sometimes of the wrong class."""
    rng = np.random.default_rng(seed)
    case = vis_case(((1, "cat"), (2, "dog")))
    scores = iter(rng.permutation(1000)[:200] / 1000 + 0.0005)
    for video_id in range(1, videos + 1):
        case.video(video_id, frames=2, height=12, width=12)
        for _ in range(rng.integers(0, 4)):
            y, x = rng.integers(0, 8, size=2)
            category = int(rng.integers(1, 3))
            case.instance(video_id, [masks.rect(12, 12, y, y + 4, x, x + 4)] * 2, category_id=category)
            if rng.random() < 0.8:
                dy = int(rng.random() < 0.4)
                guess = [masks.rect(12, 12, y + dy, y + dy + 4, x, x + 4)] * 2
                wrong = rng.random() < 0.2
                case.predict(video_id, guess, score=next(scores), category_id=3 - category if wrong else category)
        if rng.random() < 0.5:  # a false positive
            case.predict(video_id, [masks.rect(12, 12, 0, 1, 0, 1)] * 2, score=next(scores),
                         category_id=int(rng.integers(1, 3)))
    return case


def repeated(case, counts):
    """The case with video ``i`` (1-based) present ``counts[i - 1]`` times (copies get new ids, after all)."""
    gt, results = copy.deepcopy(case.gt), copy.deepcopy(case.results)
    by_id = {video["id"]: video for video in gt["videos"]}
    kept_videos, annotations, entries = [], [], []
    next_id, next_ann = 1000, 10000
    for video_id, count in enumerate(counts, 1):
        ids = [video_id] + [next_id + c for c in range(count - 1)]
        next_id += count
        for new_id in ids[:count]:
            kept_videos.append({**by_id[video_id], "id": new_id})
            for annotation in (a for a in gt["annotations"] if a["video_id"] == video_id):
                next_ann += 1
                annotations.append({**annotation, "id": next_ann, "video_id": new_id})
            entries += [{**entry, "video_id": new_id} for entry in results if entry["video_id"] == video_id]
    return {**gt, "videos": kept_videos, "annotations": annotations}, entries


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weights_equal_repeated_videos(vis_case, masks, seed):
    from gvis.data.ytvis import YTVISDataset

    case = random_case(vis_case, masks, seed)
    matches = match_videos(case.dataset(), json.loads(json.dumps(case.results)))
    assert matches.video_ids == [1, 2, 3, 4, 5]
    weightings = [[1, 1, 1, 1, 1], [2, 0, 1, 1, 1], [0, 3, 0, 1, 1], [1, 0, 0, 0, 4]]
    got = matches.ap(np.array(weightings))
    for counts, value in zip(weightings, got):
        gt, entries = repeated(case, counts)
        expected = evaluate(YTVISDataset.from_dict(gt, source="gt.json"), entries)["AP"]
        assert value == pytest.approx(expected, abs=1e-12), counts


def test_hand_computed_two_videos(vis_case, masks):
    # Video 1: one object found (score 0.9). Video 2: one object missed, a false positive (score 0.8).
    # Both: tp [1, 1], fp [0, 1], 2 objects: rc [0.5, 0.5], env 1 up to recall 0.5 -> AP = 51/101.
    # Video 1 alone: AP 1. Video 2 alone: no true positive -> 0. Video 1 twice: AP 1.
    case = vis_case().video(1, frames=1).video(2, frames=1)
    square = masks.rect(4, 4, 0, 2, 0, 2)
    case.instance(1, [square]).predict(1, [square], score=0.9)
    case.instance(2, [masks.rect(4, 4, 2, 4, 2, 4)]).predict(2, [square], score=0.8)
    matches = match_videos(case.dataset(), case.results)
    assert matches.ap(np.array([[1, 1], [1, 0], [0, 1], [2, 0], [0, 0]])).tolist() == pytest.approx(
        [51 / 101, 1.0, 0.0, 1.0, -1.0])
    assert case.evaluate()["AP"] == pytest.approx(51 / 101)


def test_arrays_round_trip(vis_case, masks, tmp_path):
    matches = match_videos(random_case(vis_case, masks, 3).dataset(), random_case(vis_case, masks, 3).results)
    np.savez(tmp_path / "m.npz", **matches.to_arrays())
    with np.load(tmp_path / "m.npz") as arrays:
        loaded = VideoMatches.from_arrays(arrays)
    weights = np.random.default_rng(0).integers(0, 3, size=(7, 5))
    assert loaded.video_ids == matches.video_ids
    assert np.array_equal(loaded.ap(weights), matches.ap(weights))


def test_ap_per_threshold_hand_computed(vis_case, masks):
    """Two videos, each object found by its video's only track: video 1 with mask IoU 0.75 (12 of 16 pixels),
    video 2 exactly. Up to IoU 0.75 both are true positives: AP 1. From 0.80 video 1's track is a false
    positive; it scores higher (0.9 > 0.8), so the one true positive comes second: precision 1/2 up to recall
    0.5, AP 51/101 / 2. The mean over the ten thresholds is the evaluator's AP."""
    case = vis_case().video(1, frames=1, height=8, width=8).video(2, frames=1, height=8, width=8)
    case.instance(1, [masks.rect(8, 8, 0, 4, 0, 4)]).predict(1, [masks.rect(8, 8, 0, 4, 0, 3)], score=0.9)
    case.instance(2, [masks.rect(8, 8, 2, 6, 2, 6)]).predict(2, [masks.rect(8, 8, 2, 6, 2, 6)], score=0.8)
    per_threshold = match_videos(case.dataset(), case.results).ap_per_threshold()
    expected = [1.0] * 6 + [51 / 101 / 2] * 4
    assert per_threshold.shape == (1, 10) and per_threshold[0].tolist() == pytest.approx(expected)
    assert per_threshold[0].mean() == pytest.approx(case.evaluate()["AP"])
