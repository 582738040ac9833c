"""The mask-IoU tracker on hand-made masks."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from gvis.baselines.iou_tracker import IoUTracker
from gvis.detections.filtering import mask_ious
from gvis.detections.structures import Detections, encode_masks
from gvis.registry import TRACKERS

CATEGORIES = [1, 2]


def strips(spans, labels=None, width=40) -> Detections:
    """Detections whose masks are column ranges ``[a, b)`` of a 4-row image (IoU = 1-D interval IoU)."""
    masks = torch.zeros((len(spans), 4, width), dtype=torch.bool)
    for k, (a, b) in enumerate(spans):
        masks[k, :, a:b] = True
    return Detections(
        boxes=torch.tensor([[a, 0, b, 4] for a, b in spans], dtype=torch.float32).reshape(-1, 4),
        scores=torch.full((len(spans),), 0.9),
        labels=torch.tensor(labels or [1] * len(spans)),
        masks=masks,
        image_size=(4, width),
    )


def interval_iou(a, b) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (a[1] - a[0] + b[1] - b[0] - inter)


def test_registered_under_its_name():
    assert isinstance(TRACKERS.build("iou", categories=CATEGORIES), IoUTracker)


def test_mask_ious_match_a_dense_reference():
    rng = np.random.default_rng(0)
    first = torch.from_numpy(rng.random((3, 9, 11)) > 0.5)
    second = torch.from_numpy(rng.random((4, 9, 11)) > 0.6)
    dense = np.array([[(a & b).sum() / (a | b).sum() for b in second.numpy()] for a in first.numpy()])
    np.testing.assert_allclose(mask_ious(encode_masks(first), encode_masks(second)), dense)


def test_hungarian_maximises_total_iou():
    # Tracks A = [0, 20), B = [10, 30). Detection 0 = [0, 26) fits A best (0.77; B 0.53), detection 1 =
    # [0, 12) fits only A (0.6). Greedy would give A to detection 0 and start a track for detection 1;
    # the Hungarian assignment pairs 0-B and 1-A (total 1.13 > 0.77).
    tracks_spans, det_spans = [(0, 20), (10, 30)], [(0, 26), (0, 12)]
    ious = np.array([[interval_iou(d, t) for t in tracks_spans] for d in det_spans])
    allowed = ious >= 0.3
    best = max(itertools.permutations(range(2)), key=lambda p: sum(ious[d, t] * allowed[d, t] for d, t in enumerate(p)))
    assert best == (1, 0)
    tracker = TRACKERS.build("iou", categories=CATEGORIES, filtering={"nms_iou": None})
    tracker.update(strips(tracks_spans))
    tracks = tracker.update(strips(det_spans))
    assert dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist())) == {1: 1, 2: 0}


def test_threshold_and_new_tracks():
    tracker = TRACKERS.build("iou", categories=CATEGORIES, iou_threshold=0.5)
    tracker.update(strips([(0, 10)]))
    assert tracker.update(strips([(3, 13)])).track_ids.tolist() == [1]  # IoU 7 / 13 = 0.54
    tracks = tracker.update(strips([(8, 18)]))  # IoU 5 / 15 = 0.33 with [3, 13)
    assert tracks.track_ids.tolist() == [1, 2] and tracks.det_indices.tolist() == [-1, 0]


def test_same_class_option():
    agnostic = TRACKERS.build("iou", categories=CATEGORIES)
    agnostic.update(strips([(0, 10)], labels=[1]))
    assert agnostic.update(strips([(0, 10)], labels=[2])).track_ids.tolist() == [1]
    strict = TRACKERS.build("iou", categories=CATEGORIES, same_class=True)
    strict.update(strips([(0, 10)], labels=[1]))
    assert strict.update(strips([(0, 10)], labels=[2])).track_ids.tolist() == [1, 2]


def test_matches_the_latest_mask_across_a_gap():
    tracker = TRACKERS.build("iou", categories=CATEGORIES, max_inactive_frames=2)
    tracker.update(strips([(0, 10)]))
    tracker.update(strips([]))
    assert tracker.update(strips([(1, 11)])).track_ids.tolist() == [1]
    for _ in range(3):
        last = tracker.update(strips([]))
    assert len(last) == 0


def test_ids_stable_for_moving_objects():
    tracker = TRACKERS.build("iou", categories=CATEGORIES)
    ids = []
    for t in range(8):
        spans = [(t, t + 8), (20 + t // 2, 30 + t // 2)]
        tracks = tracker.update(strips(spans if t % 2 else spans[::-1]))
        det_of = dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist()))
        ids.append({track: (det if t % 2 else 1 - det) for track, det in det_of.items()})
    assert all(frame == ids[0] for frame in ids) and len(ids[0]) == 2


@pytest.mark.parametrize("name", ["iou", "masktrack-rule"])
def test_scores_and_votes_follow_the_shared_rule(name):
    tracker = TRACKERS.build(name, categories=CATEGORIES, **({"beta": 0.0} if name != "iou" else {}))
    for score, label in [(0.2, 2), (0.6, 1), (0.7, 1)]:
        dets = strips([(0, 10)], labels=[label])
        dets.scores = torch.tensor([score])
        tracks = tracker.update(dets)
    assert tracks.track_ids.tolist() == [1]
    assert tracks.labels.tolist() == [1] and tracks.scores.item() == pytest.approx(0.5)
