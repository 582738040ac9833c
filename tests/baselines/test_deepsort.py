"""DeepSORT: the Kalman filter against hand-computed numbers, crossing objects, appearance gating, the
tentative / confirmed life cycle."""
from __future__ import annotations

import numpy as np
import pytest

from gvis.baselines.deepsort import DeepSortTracker, min_cost_matching
from gvis.baselines.kalman import CHI2_95_4DOF, BoxKalmanFilter, boxes_to_measurements, states_to_boxes
from gvis.errors import ConfigError
from gvis.registry import TRACKERS

CATEGORIES = [1, 2]
# Image 40 x 60, as the tracker tests' make_frame draws it.


def test_registered_under_its_name():
    assert isinstance(TRACKERS.build("deepsort", categories=CATEGORIES), DeepSortTracker)


def test_boxes_and_measurements_round_trip():
    boxes = np.array([[0.0, 10.0, 20.0, 50.0], [5.0, 5.0, 5.0, 9.0]])  # the second is 0 wide: 1 pixel
    z = boxes_to_measurements(boxes)
    np.testing.assert_allclose(z, [[10, 30, 0.5, 40], [5, 7, 0.25, 4]])
    np.testing.assert_allclose(states_to_boxes(np.concatenate([z, np.zeros((2, 4))], 1)), [[0, 10, 20, 50], [4.5, 5, 5.5, 9]])


def test_kalman_initiate_predict_update_by_hand():
    # z = [u, v, a, h] = [10, 20, 0.5, 40]: position std 40/20 = 2, velocity std 40/160 = 0.25.
    kf = BoxKalmanFilter()
    mean, cov = kf.initiate(np.array([[10.0, 20.0, 0.5, 40.0]]))
    np.testing.assert_allclose(mean[0], [10, 20, 0.5, 40, 0, 0, 0, 0])
    # Initial std: 2·2 = 4 on position, 10·0.25 = 2.5 on velocity; 1e-2 and 1e-5 on the aspect ratio.
    np.testing.assert_allclose(np.diag(cov[0]), [16, 16, 1e-4, 16, 6.25, 6.25, 1e-10, 6.25])

    mean, cov = kf.predict(mean, cov)
    np.testing.assert_allclose(mean[0], [10, 20, 0.5, 40, 0, 0, 0, 0])  # zero velocity: no move
    # F P Fᵀ: position 16 + 6.25, position-velocity 6.25; Q adds 2² and 0.25².
    assert cov[0, 0, 0] == pytest.approx(16 + 6.25 + 4)
    assert cov[0, 0, 4] == cov[0, 4, 0] == pytest.approx(6.25)
    assert cov[0, 4, 4] == pytest.approx(6.25 + 0.0625)
    assert cov[0, 2, 2] == pytest.approx(1e-4 + 1e-10 + 1e-4)

    # Squared Mahalanobis distance: S_uu = 26.25 + 2² (R) = 30.25, one coordinate off.
    gate = kf.gating_distance(mean, cov, np.array([[12.0, 20, 0.5, 40], [10, 31, 0.5, 40]]))
    np.testing.assert_allclose(gate, [[4 / 30.25, 121 / 30.25]])

    # Update with u = 12 (innovation 2): gain 26.25/30.25 on u, 6.25/30.25 on u'.
    mean, cov = kf.update(mean, cov, np.array([[12.0, 20.0, 0.5, 40.0]]))
    np.testing.assert_allclose(mean[0], [10 + 2 * 26.25 / 30.25, 20, 0.5, 40, 2 * 6.25 / 30.25, 0, 0, 0])
    assert cov[0, 0, 0] == pytest.approx(26.25 - 26.25**2 / 30.25)
    assert cov[0, 0, 4] == pytest.approx(6.25 - 26.25 * 6.25 / 30.25)
    assert cov[0, 4, 4] == pytest.approx(6.3125 - 6.25**2 / 30.25)
    np.testing.assert_allclose(cov[0], cov[0].T)


def test_kalman_follows_constant_velocity():
    kf = BoxKalmanFilter()
    mean, cov = kf.initiate(np.array([[0.0, 0.0, 1.0, 20.0]]))
    for t in range(1, 30):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, np.array([[3.0 * t, -1.0 * t, 1.0, 20.0]]))
    np.testing.assert_allclose(mean[0, 4:6], [3.0, -1.0], atol=0.05)
    predicted, _ = kf.predict(mean, cov)
    np.testing.assert_allclose(predicted[0, :2], [90.0, -30.0], atol=0.3)


def test_min_cost_matching_never_takes_a_forbidden_pair():
    cost = np.array([[0.1, np.inf], [0.15, 0.9]])
    # Row 1 may only take column 0 (0.9 > 0.2); the optimum under the cap gives column 0 to row 0.
    assert min_cost_matching(cost, 0.2) == [(0, 0)]
    assert min_cost_matching(np.zeros((0, 3)), 0.2) == []


def crossing_frames(make_frame, steps=17):
    """Two 8x8 boxes moving at ±3 px/frame along nearly the same row (2 px apart), crossing half-way;
    the detection order alternates so that it carries no identity."""
    frames, truth = [], []
    for t in range(steps):
        a = (2 + 3 * t, 10, 10 + 3 * t, 18)
        b = (48 - 3 * t, 12, 56 - 3 * t, 20)
        boxes = [a, b] if t % 2 == 0 else [b, a]
        frames.append(make_frame(boxes))
        truth.append(["a", "b"] if t % 2 == 0 else ["b", "a"])
    return frames, truth


def identities(tracker, frames, truth):
    """Per frame ``{object: track id}`` from the tracks' ``det_index``."""
    out = []
    for detections, names in zip(frames, truth):
        tracks = tracker.update(detections)
        out.append({names[d]: tid for tid, d in zip(tracks.track_ids.tolist(), tracks.det_indices.tolist()) if d >= 0})
    return out


def test_crossing_objects_keep_their_tracks(make_frame):
    frames, truth = crossing_frames(make_frame)
    tracker = TRACKERS.build("deepsort", categories=CATEGORIES, filtering={"nms_iou": None})
    seen = identities(tracker, frames, truth)
    assert all(s == {"a": 1, "b": 2} for s in seen), seen
    # Last-box IoU alone swaps them: at the crossing each object overlaps the other's last box more.
    iou_seen = identities(TRACKERS.build("iou", categories=CATEGORIES, filtering={"nms_iou": None}), frames, truth)
    assert any(s != {"a": 1, "b": 2} for s in iou_seen)


def test_appearance_outweighs_position_within_the_gate(make_frame):
    e1, e2 = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    tracker = TRACKERS.build("deepsort", categories=CATEGORIES, filtering={"nms_iou": None})
    for _ in range(4):  # confirmed, standing still at (20, 10)-(30, 20) with appearance e1
        tracks = tracker.update(make_frame([(20, 10, 30, 20)], appearance=[e1]))
    assert tracks.track_ids.tolist() == [1]
    # Detection 0 sits exactly on the track but looks different; detection 1 is 2 px off and looks the same.
    tracks = tracker.update(make_frame([(20, 10, 30, 20), (22, 10, 32, 20)], appearance=[e2, [0.9, 0.1, 0.0]]))
    assert dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist())) == {1: 1, 2: 0}


def test_mahalanobis_gate_stops_a_far_look_alike(make_frame):
    e1 = [1.0, 0.0]
    tracker = TRACKERS.build("deepsort", categories=CATEGORIES)
    for _ in range(4):
        tracker.update(make_frame([(0, 0, 10, 10)], appearance=[e1]))
    # Same appearance, 40 px away: squared Mahalanobis distance far above the χ² gate, no box overlap.
    kf = tracker.kalman
    memory = tracker.book.memory
    predicted = kf.predict(memory["mean"].numpy(), memory["covariance"].numpy())
    far = boxes_to_measurements(np.array([[40.0, 0.0, 50.0, 10.0]]))
    assert kf.gating_distance(*predicted, far)[0, 0] > CHI2_95_4DOF
    tracks = tracker.update(make_frame([(40, 0, 50, 10)], appearance=[e1]))
    assert dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist())) == {1: -1, 2: 0}


def test_tentative_tracks_die_at_their_first_miss(make_frame):
    tracker = TRACKERS.build("deepsort", categories=CATEGORIES, max_age=3)
    blip = (40, 20, 50, 30)
    reported = []
    for t in range(8):
        boxes = [(0, 0, 10, 10)] + ([blip] if t in (1, 2) else [])
        reported.append(tracker.update(make_frame(boxes)).track_ids.tolist())
    # The blip is seen twice (< n_init = 3) and deleted when it is missed in frame 3.
    assert reported[:4] == [[1], [1, 2], [1, 2], [1]]
    # A confirmed track survives max_age - 1 misses, and is gone after max_age.
    for t, expected in enumerate([[1], [1], []]):
        assert tracker.update(make_frame([])).track_ids.tolist() == expected, t


def test_report_tentative_false_gives_confirmed_tracks_only(make_frame):
    tracker = TRACKERS.build("deepsort", categories=CATEGORIES, report_tentative=False)
    reported = [tracker.update(make_frame([(0, 0, 10, 10)])).track_ids.tolist() for _ in range(4)]
    assert reported == [[], [], [1], [1]]


def test_masks_labels_and_scores_follow_the_track_book_rules(make_frame):
    tracker = TRACKERS.build("deepsort", categories=CATEGORIES)
    tracker.update(make_frame([(0, 0, 10, 10)], scores=[0.9], labels=[2]))
    tracks = tracker.update(make_frame([(1, 0, 11, 10)], scores=[0.5], labels=[1]))
    assert tracks.scores.tolist() == pytest.approx([0.7]) and tracks.labels.tolist() == [1]  # tie: listed first
    assert int(tracks.masks[0].sum()) == 100 and bool(tracks.masks[0, 0, 1]) and not bool(tracks.masks[0, 0, 0])
    tracker.reset()
    assert tracker.update(make_frame([(0, 0, 10, 10)])).track_ids.tolist() == [1]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="max_cosin_distance"):
        TRACKERS.build("deepsort", categories=CATEGORIES, max_cosin_distance=0.3)
    with pytest.raises(ValueError, match="max_age"):
        TRACKERS.build("deepsort", categories=CATEGORIES, max_age=0)
