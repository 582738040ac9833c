"""Training targets on hand-made frames."""
from __future__ import annotations

import pytest
import torch

from gvis.train.targets import (
    assign_detections_to_objects,
    association_targets,
    best_mask_fit,
    first_track_of_object,
    fit_class_targets,
    init_targets,
)


def box(x: float, y: float, w: float = 10.0, h: float = 10.0) -> list[float]:
    return [x, y, x + w, y + h]


def test_primary_detection_keeps_the_id_others_become_negatives():
    gt_boxes = torch.tensor([box(0, 0), box(100, 100)])
    gt_ids = torch.tensor([7, 9])
    det_boxes = torch.tensor([
        box(1, 0),        # object 7, IoU 0.818
        box(0, 0),        # object 7, IoU 1.0 -> primary
        box(100, 103),    # object 9, IoU 0.538 -> primary (only candidate)
        box(50, 50),      # nothing
        box(0, 4),        # object 7 but IoU 0.43 < 0.5 -> background
    ])
    assert assign_detections_to_objects(det_boxes, gt_boxes, gt_ids).tolist() == [0, 7, 9, 0, 0]


def test_primary_by_score_takes_the_highest_scoring_candidate():
    gt_boxes = torch.tensor([box(0, 0), box(100, 100)])
    gt_ids = torch.tensor([7, 9])
    det_boxes = torch.tensor([box(1, 0), box(0, 0), box(100, 103), box(50, 50), box(0, 4)])  # as above
    scores = torch.tensor([0.9, 0.6, 0.2, 0.99, 0.95])
    # Object 7's candidates are detections 0 (IoU 0.82, score 0.9) and 1 (IoU 1.0, score 0.6): 0 wins by
    # score. Detections 3 and 4 are no candidates whatever their score.
    assert assign_detections_to_objects(det_boxes, gt_boxes, gt_ids, det_scores=scores).tolist() == [7, 0, 9, 0, 0]
    tied = torch.tensor([0.5, 0.5, 0.2, 0.0, 0.0])
    assert assign_detections_to_objects(det_boxes, gt_boxes, gt_ids, det_scores=tied).tolist() == [7, 0, 9, 0, 0]


def test_equal_iou_duplicates_keep_the_first_and_empty_inputs():
    gt_boxes = torch.tensor([box(0, 0)])
    det_boxes = torch.tensor([box(0, 0), box(0, 0)])
    assert assign_detections_to_objects(det_boxes, gt_boxes, torch.tensor([3])).tolist() == [3, 0]
    assert assign_detections_to_objects(torch.zeros(0, 4), gt_boxes, torch.tensor([3])).tolist() == []
    assert assign_detections_to_objects(det_boxes, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)).tolist() == [0, 0]


def test_first_track_and_association_targets():
    # Video 0: tracks 0 (obj 5), 1 (obj 5, duplicate), 2 (obj 0, false positive). Video 1: track 3 (obj 5).
    track_ids = torch.tensor([5, 5, 0, 5])
    track_video = torch.tensor([0, 0, 0, 1])
    first = first_track_of_object(track_ids, track_video, torch.arange(4))
    assert first.tolist() == [True, False, False, True]
    det_ids = torch.tensor([5, 0, 5])  # dets 0, 1 in video 0; det 2 in video 1
    pairs = torch.tensor([[0, 0, 1, 1, 2, 2, 3], [0, 1, 0, 1, 0, 1, 2]])
    assert association_targets(pairs, track_ids, first, det_ids).tolist() == [1, 0, 0, 0, 0, 0, 1]


def test_init_targets_only_for_unfollowed_objects():
    det_ids = torch.tensor([5, 6, 0, 5])
    det_video = torch.tensor([0, 0, 0, 1])
    track_ids = torch.tensor([5])
    track_video = torch.tensor([0])
    assert init_targets(det_ids, det_video, track_ids, track_video).tolist() == [0, 1, 0, 1]
    assert init_targets(det_ids, det_video, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)).tolist() == [1, 1, 0, 1]


def test_duplicates_of_a_tracks_own_object_leave_the_association_loss():
    from gvis.train.targets import association_edges_kept, overlapped_objects

    gt_boxes = torch.tensor([box(0, 0), box(100, 100)])
    gt_ids = torch.tensor([7, 9])
    det_boxes = torch.tensor([box(0, 0), box(1, 0), box(0, 4), box(100, 100), box(50, 50)])
    # IoUs with object 7: 1.0, 0.82, 0.43; detection 3 is object 9's; detection 4 overlaps nothing.
    assert overlapped_objects(det_boxes, gt_boxes, gt_ids, 0.3).tolist() == [7, 7, 7, 9, 0]
    assert overlapped_objects(det_boxes, gt_boxes, gt_ids, 0.5).tolist() == [7, 7, 0, 9, 0]
    # Tracks 0 (object 7), 1 (object 0: a false positive's track); every pair an edge.
    pairs = torch.tensor([[0] * 5 + [1] * 5, list(range(5)) * 2])
    edge_targets = torch.tensor([1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    kept = association_edges_kept(pairs, torch.tensor([7, 0]), edge_targets, overlapped_objects(det_boxes, gt_boxes, gt_ids, 0.3))
    # Track 0 keeps its positive and the negatives of other objects / background; its duplicate (1) and
    # partial detection (2) are left out. The false positive's track keeps every edge.
    assert kept.tolist() == [True, False, False, True, True] + [True] * 5


def test_best_mask_fit_hand_computed():
    gt_masks = torch.zeros((2, 10, 10), dtype=torch.bool)
    gt_masks[0, :4, :4] = True    # 16 pixels
    gt_masks[1, 6:, 6:] = True    # 16 pixels
    det_masks = torch.zeros((3, 10, 10), dtype=torch.bool)
    det_masks[0, :4, :2] = True   # half of object 0: IoU 8 / 16
    det_masks[1, 5:, 5:] = True   # 25 pixels holding object 1: IoU 16 / 25
    det_masks[2, :1, 9:] = True   # background
    ids, iou = best_mask_fit(det_masks, gt_masks, torch.tensor([7, 9]))
    assert ids.tolist() == [7, 9, 0]
    assert iou.tolist() == pytest.approx([0.5, 16 / 25, 0.0])
    ids, iou = best_mask_fit(det_masks, gt_masks[:0], torch.zeros(0, dtype=torch.long))
    assert ids.tolist() == [0, 0, 0] and iou.tolist() == [0.0, 0.0, 0.0]


def test_fit_class_targets_soften_only_tracks_that_took_a_detection_of_an_object():
    # Tracks: object 7 took det 0 (fits 7 at 0.6); object 7 took det 1 (fits object 9); object 9 took nothing;
    # a false-positive track (object 0) took det 0.
    targets = fit_class_targets(class_targets=torch.tensor([2, 2, 1, 0]),
                                track_object_ids=torch.tensor([7, 7, 9, 0]),
                                assigned_det=torch.tensor([0, 1, -1, 0]),
                                det_fit_ids=torch.tensor([7, 9]), det_fit_iou=torch.tensor([0.6, 0.8]),
                                num_classes=2)
    expected = torch.tensor([[0.4, 0.0, 0.6], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert torch.allclose(targets, expected)
