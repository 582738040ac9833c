"""The MaskTrack R-CNN rule on hand-made detections."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.baselines.masktrack_rule import MaskTrackRuleTracker
from gvis.errors import ConfigError, InputError
from gvis.registry import TRACKERS

CATEGORIES = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def build(**fields) -> MaskTrackRuleTracker:
    return TRACKERS.build("masktrack-rule", categories=CATEGORIES, **fields)


def test_registered_under_its_name():
    assert isinstance(build(), MaskTrackRuleTracker)


def test_association_score_by_hand(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10]], appearance=[[1.0, 0.0]]))
    det = make_frame([[0, 0, 10, 20]], scores=[0.8], appearance=[[2.0, 0.0]])
    track_scores, new_scores = tracker.association_scores(det)
    # dot product 2 against the track, 0 for "new"; box IoU 100 / 200; same class; alpha 2, beta 10, gamma 1.
    log_norm = math.log(1 + math.exp(2.0))
    assert track_scores.item() == pytest.approx(2.0 - log_norm + 2 * 0.5 + 10 + math.log(0.8))
    assert new_scores.item() == pytest.approx(-log_norm + 0 + 10 + math.log(0.8))


def test_appearance_scale_and_new_option_by_hand(make_frame):
    tracker = build(appearance_scale=3.0, new_track_similarity=0.5)
    tracker.update(make_frame([[0, 0, 10, 10], [40, 20, 50, 30]], appearance=[[1.0, 0.0], [0.0, 1.0]]))
    det = make_frame([[0, 0, 10, 10]], scores=[0.5], appearance=[[1.0, 0.2]])
    track_scores, new_scores = tracker.association_scores(det)
    # logits 3 * [0.5 (new), 1.0, 0.2]; IoU 1 with track 1, 0 with track 2.
    log_norm = math.log(math.exp(1.5) + math.exp(3.0) + math.exp(0.6))
    expected_tracks = [3.0 - log_norm + 2.0 + 10 + math.log(0.5), 0.6 - log_norm + 10 + math.log(0.5)]
    assert track_scores[0].tolist() == pytest.approx(expected_tracks)
    assert new_scores.item() == pytest.approx(1.5 - log_norm + 10 + math.log(0.5))


def test_ids_stable_while_objects_move(make_frame):
    tracker = build()
    boxes = [[0, 0, 10, 10], [20, 5, 32, 17], [40, 20, 55, 35]]
    appearance = [[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]
    labels = [1, 1, 2]
    seen = []
    for t in range(6):
        order = [2, 0, 1] if t % 2 else [0, 1, 2]  # detection order changes between frames
        moved = [[b[0] + t, b[1] + t // 2, b[2] + t, b[3] + t // 2] for b in boxes]
        tracks = tracker.update(make_frame([moved[i] for i in order], labels=[labels[i] for i in order],
                                           appearance=[appearance[i] for i in order]))
        by_object = {order[int(d)]: int(i) for i, d in zip(tracks.track_ids, tracks.det_indices)}
        seen.append(by_object)
    assert all(frame_ids == {0: 1, 1: 2, 2: 3} for frame_ids in seen)


def test_appearance_outweighs_position(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10], [3, 0, 13, 10]], appearance=[[5.0, 0.0], [0.0, 5.0]]))
    # The look-alikes swap places: box IoU favours the wrong pairing (1.0 against 0.54), appearance wins.
    tracks = tracker.update(make_frame([[3, 0, 13, 10], [0, 0, 10, 10]], appearance=[[5.0, 0.0], [0.0, 5.0]]))
    assert dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist())) == {1: 0, 2: 1}
    without = build(appearance_scale=1e-3)
    without.update(make_frame([[0, 0, 10, 10], [3, 0, 13, 10]], appearance=[[5.0, 0.0], [0.0, 5.0]]))
    tracks = without.update(make_frame([[3, 0, 13, 10], [0, 0, 10, 10]], appearance=[[5.0, 0.0], [0.0, 5.0]]))
    assert dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist())) == {1: 1, 2: 0}


def test_new_track_when_nothing_matches(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10]], appearance=[[4.0, 0.0]]))
    tracks = tracker.update(make_frame([[40, 20, 50, 30]], appearance=[[0.0, 4.0]]))
    assert tracks.track_ids.tolist() == [1, 2]
    assert tracks.det_indices.tolist() == [-1, 0]
    assert not tracks.masks[0].any() and tracks.masks[1].sum() == 100


def test_without_appearance_box_iou_decides(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10]]))
    continued = tracker.update(make_frame([[0, 0, 10, 20]]))  # IoU 0.5 > 0.3
    assert continued.track_ids.tolist() == [1] and continued.det_indices.tolist() == [0]
    fresh = tracker.update(make_frame([[0, 16, 10, 26]]))  # IoU 4 / 196 with the track's latest box
    assert fresh.track_ids.tolist() == [1, 2] and fresh.det_indices.tolist() == [-1, 0]


def test_mask_overlap_by_hand(make_frame):
    # Same boxes, different masks: box IoU 1, mask IoU 40 / 160 = 0.25 (two 10x10 masks overlapping 4 rows).
    def frame(row):
        detections = make_frame([[0, 0, 10, 20]])
        detections.masks[:] = False
        detections.masks[0, row:row + 10, 0:10] = True
        return detections

    tracker = build(overlap="mask", alpha=4.0)
    tracker.update(frame(0))
    track_scores, new_scores = tracker.association_scores(frame(6))
    assert track_scores.item() == pytest.approx(4 * 0.25 + 10 + math.log(0.9))
    assert new_scores.item() == pytest.approx(4 * 0.3 + 10 + math.log(0.9))  # 0.25 < 0.3: a new track
    assert build(alpha=4.0).update(frame(0)).track_ids.tolist() == [1]
    box_rule = build()
    box_rule.update(frame(0))
    assert box_rule.update(frame(6)).track_ids.tolist() == [1]  # box IoU 1: continued


def test_score_prior_frames_ranks_short_tracks_lower(make_frame):
    tracker = build(score_prior_frames=2.0)
    scores = [tracker.update(make_frame([[0, 0, 10, 10]], scores=[0.6])).scores.item() for _ in range(3)]
    # sum of scores / (hits + 2): 0.6 / 3, 1.2 / 4, 1.8 / 5
    assert scores == pytest.approx([0.2, 0.3, 0.36])


def test_class_disagreement_starts_a_new_track(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10]], labels=[1]))
    tracks = tracker.update(make_frame([[0, 0, 10, 10]], labels=[2]))
    assert tracks.track_ids.tolist() == [1, 2]


def test_majority_vote_and_mean_score(make_frame):
    tracker = build(beta=0.0)  # let the class change while the track continues
    results = [tracker.update(make_frame([[0, 0, 10, 10]], scores=[s], labels=[c]))
               for s, c in [(0.9, 1), (0.5, 2), (0.7, 2)]]
    assert [r.track_ids.tolist() for r in results] == [[1], [1], [1]]
    assert results[0].labels.tolist() == [1] and results[0].scores.item() == pytest.approx(0.9)
    assert results[1].labels.tolist() == [1]  # 1 vote each: the category listed first wins
    assert results[1].scores.item() == pytest.approx(0.7)
    assert results[2].labels.tolist() == [2] and results[2].scores.item() == pytest.approx(0.7)


def test_vote_tie_follows_category_order(make_frame):
    tracker = TRACKERS.build("masktrack-rule", categories=[2, 1], beta=0.0)
    tracker.update(make_frame([[0, 0, 10, 10]], labels=[1]))
    assert tracker.update(make_frame([[0, 0, 10, 10]], labels=[2])).labels.tolist() == [2]


def test_one_detection_per_track_loser_dropped_or_new(make_frame):
    # The two detections overlap by IoU 80 / 120 < 0.7, so NMS keeps both.
    second = [[0, 0, 10, 10], [0, 2, 10, 12]]
    dropping = build()
    dropping.update(make_frame([[0, 0, 10, 10]]))
    tracks = dropping.update(make_frame(second, scores=[0.6, 0.9]))
    assert tracks.track_ids.tolist() == [1] and tracks.det_indices.tolist() == [0]  # IoU 1 beats IoU 0.67
    spawning = build(on_conflict="new")
    spawning.update(make_frame([[0, 0, 10, 10]]))
    tracks = spawning.update(make_frame(second, scores=[0.6, 0.9]))
    assert tracks.track_ids.tolist() == [1, 2] and tracks.det_indices.tolist() == [0, 1]


def test_loser_takes_its_second_candidate(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10], [0, 4, 10, 14]]))
    # Detection 0 fits track 1 best; detection 1 fits track 1 (IoU .67) better than track 2 (IoU .43)... but
    # track 1 is taken, so it continues track 2.
    tracks = tracker.update(make_frame([[0, 0, 10, 10], [0, 2, 10, 12]], scores=[0.9, 0.9]))
    assert dict(zip(tracks.track_ids.tolist(), tracks.det_indices.tolist())) == {1: 0, 2: 1}


def test_unmatched_tracks_are_reported_then_retired(make_frame):
    tracker = build(max_inactive_frames=2)
    tracker.update(make_frame([[0, 0, 10, 10]]))
    empty = make_frame([])
    rows = [tracker.update(empty) for _ in range(3)]
    assert [r.track_ids.tolist() for r in rows] == [[1], [1], []]
    assert rows[0].det_indices.tolist() == [-1] and not rows[0].masks.any()
    assert rows[0].scores.item() == pytest.approx(0.9)


def test_det_index_counts_filtered_detections(make_frame):
    tracker = build()
    tracks = tracker.update(make_frame([[0, 0, 10, 10], [30, 0, 40, 10]], scores=[0.01, 0.8]))
    assert tracks.det_indices.tolist() == [1]  # the 0.01 detection is below the 0.03 threshold


def test_reset_restarts_ids(make_frame):
    tracker = build()
    tracker.update(make_frame([[0, 0, 10, 10], [30, 0, 40, 10]]))
    tracker.reset()
    assert tracker.update(make_frame([[0, 0, 10, 10]])).track_ids.tolist() == [1]


def test_frames_without_detections_first(make_frame):
    tracker = build()
    assert len(tracker.update(make_frame([]))) == 0
    assert tracker.update(make_frame([[0, 0, 10, 10]], appearance=[[1.0]])).track_ids.tolist() == [1]


def test_rle_masks_are_accepted(make_frame):
    dense = make_frame([[0, 0, 10, 10]])
    dense.masks = dense.mask_rles()
    tracks = build().update(dense)
    assert tracks.masks.sum() == 100


def test_bad_config_and_labels(make_frame):
    with pytest.raises(ConfigError, match="alpha"):
        build(alpha="high")
    with pytest.raises(ConfigError, match="unknown key 'delta'"):
        build(delta=1.0)
    with pytest.raises(ConfigError, match="appearance_scale"):
        build(appearance_scale=0.0)
    with pytest.raises(InputError, match="labels"):
        build().update(make_frame([[0, 0, 10, 10]], labels=[7]))


def test_deterministic(make_frame):
    def run():
        tracker = build()
        torch.manual_seed(0)
        out = []
        for _ in range(4):
            boxes = torch.randint(0, 30, (5, 2))
            dets = make_frame([[x, y, x + 12, y + 9] for x, y in boxes.tolist()], scores=torch.rand(5).tolist())
            out.append(tracker.update(dets).track_ids.tolist())
        return out

    assert run() == run()


@pytest.mark.parametrize("name", ["masktrack-rule", "iou", "deepsort"])
def test_heuristics_report_the_voted_masks(make_frame, name):
    # A (score 1.0) and two copies shifted 2 columns right (0.8 each, mask IoU with A 360/440): mask NMS keeps
    # A, mask voting gives it the copies' pixels (docs/baselines.md, filtering); the track reports A's index.
    frame = make_frame([[12, 10, 32, 30], [10, 10, 30, 30], [12, 10, 32, 30]], scores=[0.8, 1.0, 0.8])
    filtering = {"nms_overlap": "mask", "nms_iou": 0.7}
    for vote_iou, shown in ((None, 1), (0.5, 0)):
        tracker = TRACKERS.build(name, categories=[1], config={"filtering": {**filtering, "vote_iou": vote_iou}})
        tracks = tracker.update(frame)
        assert tracks.det_indices.tolist() == [1]
        assert torch.equal(tracks.masks[0], frame.masks[shown])
