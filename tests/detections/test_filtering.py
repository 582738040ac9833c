"""Detection filtering (threshold, class-agnostic NMS, top-N, mask voting) shared by every tracker."""
from __future__ import annotations

import torch

from gvis.detections.filtering import FilterConfig, filter_detections
from gvis.detections.structures import Detections


def boxes_frame(boxes, scores) -> Detections:
    return Detections(
        boxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor(scores),
        labels=torch.tensor([1, 2, 3, 4, 5][: len(boxes)]),
        masks=torch.zeros((len(boxes), 8, 8), dtype=torch.bool),
        image_size=(8, 8),
    )


def test_threshold_is_strict_and_order_is_by_score():
    dets = boxes_frame([[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], [0.03, 0.5, 0.9])
    kept, indices = filter_detections(dets, FilterConfig())
    assert indices.tolist() == [2, 1]
    assert kept.labels.tolist() == [3, 2]


def test_nms_is_class_agnostic_and_greedy():
    # IoU(A, B) = 0.82, IoU(B, C) = 0.82, IoU(A, C) = 0.67: greedy NMS keeps A and C (Fast NMS would drop C).
    a, b, c = [0, 0, 10, 10], [0, 1, 10, 11], [0, 2, 10, 12]
    kept, indices = filter_detections(boxes_frame([c, b, a], [0.7, 0.8, 0.9]), FilterConfig())
    assert indices.tolist() == [2, 0]
    _, indices = filter_detections(boxes_frame([c, b, a], [0.7, 0.8, 0.9]), FilterConfig(nms_iou=None))
    assert indices.tolist() == [2, 1, 0]


def test_top_n_and_ties_keep_input_order():
    boxes = [[i * 10, 0, i * 10 + 5, 5] for i in range(5)]
    _, indices = filter_detections(boxes_frame(boxes, [1.0, 1.0, 0.5, 1.0, 1.0]), FilterConfig(top_n=3))
    assert indices.tolist() == [0, 1, 3]


def test_empty_frame():
    kept, indices = filter_detections(Detections.empty((8, 8)), FilterConfig())
    assert len(kept) == 0 and indices.numel() == 0


def test_box_iou_by_hand():
    from gvis.detections.filtering import box_iou

    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [3, 3, 3, 8]])
    expected = torch.tensor([[1.0, 25 / 175, 0.0], [25 / 175, 1.0, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(box_iou(boxes, boxes), expected)


def masks_frame(masks, scores) -> Detections:
    """Detections with the given ``[H, W]`` masks; boxes all equal, so that only mask overlap can tell."""
    stacked = torch.stack([torch.as_tensor(m) for m in masks])
    return Detections(
        boxes=torch.tensor([[0.0, 0.0, 12.0, 12.0]] * len(masks)),
        scores=torch.tensor(scores),
        labels=torch.ones(len(masks), dtype=torch.long),
        masks=stacked,
        image_size=tuple(stacked.shape[1:]),
    )


def rect(y0, y1, x0, x1, size=12):
    mask = torch.zeros((size, size), dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_mask_nms_compares_masks_not_boxes():
    # Equal boxes (box IoU 1), disjoint masks: box NMS keeps one, mask NMS keeps both.
    frame = masks_frame([rect(0, 6, 0, 12), rect(6, 12, 0, 12)], [0.9, 0.8])
    assert filter_detections(frame, FilterConfig())[1].tolist() == [0]
    assert filter_detections(frame, FilterConfig(nms_overlap="mask"))[1].tolist() == [0, 1]


def test_support_rank_keeps_the_proposal_the_others_agree_with():
    # Three proposals of one object with equal scores: its left half, the whole object, the whole shifted
    # by a column. Mask IoUs (pixels of a 12x12 frame):
    #   part = rows 0-5 x cols 0-5 (36 px), whole = rows 0-5 x cols 0-11 (72 px), shifted = rows 0-5 x cols 1-11 (66 px)
    #   IoU(part, whole) = 36/72 = 0.5, IoU(part, shifted) = 30/72, IoU(whole, shifted) = 66/72.
    # Support = sum of IoUs (itself included): part 1.917, whole 2.417, shifted 2.333 -> whole first.
    part, whole, shifted = rect(0, 6, 0, 6), rect(0, 6, 0, 12), rect(0, 6, 1, 12)
    frame = masks_frame([part, shifted, whole], [1.0, 1.0, 1.0])
    by_score = FilterConfig(nms_overlap="mask", nms_iou=0.3)
    assert filter_detections(frame, by_score)[1].tolist() == [0]  # ties in input order: the part wins
    by_support = FilterConfig(nms_overlap="mask", nms_iou=0.3, nms_rank="support")
    kept, indices = filter_detections(frame, by_support)
    assert indices.tolist() == [2] and bool(kept.masks[0].equal(whole))



def test_containment_drops_what_lies_inside_a_kept_detection_whatever_its_iou():
    # A thin object (row 4, 12 px), a loose copy around it (rows 2-7 x cols 0-11, 72 px: IoU 12/72 = 0.17,
    # the object all inside it) and a separate object (rows 7-10 x cols 0-3) sharing the copy's bottom row:
    # 4 of its 16 px, 0.25 of the smaller one.
    thin, loose, other = rect(4, 5, 0, 12), rect(2, 8, 0, 12), rect(7, 11, 0, 4)
    frame = masks_frame([loose, thin, other], [0.9, 0.8, 0.7])
    iou_only = FilterConfig(nms_overlap="mask", nms_iou=0.3)
    assert filter_detections(frame, iou_only)[1].tolist() == [0, 1, 2]
    contained = FilterConfig(nms_overlap="mask", nms_iou=0.3, nms_containment=0.8)
    assert filter_detections(frame, contained)[1].tolist() == [0, 2]
    # Whichever ranks first stays: the same rule drops the loose copy when the object leads.
    frame = masks_frame([loose, thin, other], [0.5, 0.8, 0.7])
    assert filter_detections(frame, contained)[1].tolist() == [1, 2]
    # Boxes: the same measure on box areas (box of 'thin' inside box of 'loose', IoU 0.2).
    boxes = boxes_frame([[0, 0, 10, 10], [0, 4, 10, 6]], [0.9, 0.8])
    assert filter_detections(boxes, FilterConfig(nms_iou=0.3))[1].tolist() == [0, 1]
    assert filter_detections(boxes, FilterConfig(nms_iou=0.3, nms_containment=0.8))[1].tolist() == [0]


def test_containment_by_hand():
    from gvis.detections.filtering import box_containment, mask_containment
    from gvis.detections.structures import encode_masks

    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [0, 4, 10, 6], [3, 3, 3, 8]])
    # 0-1: 25 / 100; 1-2: 5 / 20; 2 lies inside 0; 3 has no area.
    expected = torch.tensor([[1.0, 0.25, 1.0, 0.0], [0.25, 1.0, 0.25, 0.0], [1.0, 0.25, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(box_containment(boxes), expected)
    masks = torch.stack([rect(2, 8, 0, 12), rect(4, 5, 0, 12), rect(7, 11, 0, 4)])
    expected = torch.tensor([[1.0, 1.0, 4 / 16], [1.0, 1.0, 0.0], [4 / 16, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(torch.from_numpy(mask_containment(encode_masks(masks))), expected)


def test_nms_records_what_each_kept_detection_stands_for():
    # The three proposals above with scores 1.0, 0.5, 0.8: support = score-weighted sum of mask IoUs.
    part, whole, shifted = rect(0, 6, 0, 6), rect(0, 6, 0, 12), rect(0, 6, 1, 12)
    far = rect(8, 12, 0, 4)  # overlaps none of them: it stands for itself
    frame = masks_frame([part, shifted, whole, far], [1.0, 0.5, 0.8, 0.6])
    kept, indices = filter_detections(frame, FilterConfig(nms_overlap="mask", nms_iou=0.3, nms_rank="support"))
    whole_support = 1.0 * 0.5 + 0.5 * 66 / 72 + 0.8 * 1.0
    part_support = 1.0 + 0.5 * 30 / 72 + 0.8 * 0.5
    assert whole_support > part_support  # the whole object leads its cluster
    assert indices.tolist() == [2, 3]
    assert torch.allclose(kept.support, torch.tensor([whole_support, 0.6]))
    # Ranked by score, the part leads and keeps its own support; top-N cuts support with the rows.
    kept, indices = filter_detections(frame, FilterConfig(nms_overlap="mask", nms_iou=0.3, top_n=1))
    assert indices.tolist() == [0] and torch.allclose(kept.support, torch.tensor([part_support]))
    # Without NMS nothing was merged: no support.
    assert filter_detections(frame, FilterConfig(nms_iou=None))[0].support is None


def voting_frame() -> Detections:
    """One object proposed three times, A (kept by NMS) and two lower-scored copies shifted a column right,
    plus a disjoint strip D. 12x12 frame; A = rows 2-9 x cols 2-9, B = C = rows 2-9 x cols 3-10 (mask IoU
    with A 56/72 = 0.78), D = rows 0-1 x all columns."""
    a, b, d = rect(2, 10, 2, 10), rect(2, 10, 3, 11), rect(0, 2, 0, 12)
    frame = masks_frame([b, a, d, b], [0.8, 1.0, 0.5, 0.8])
    # D's box is larger than its mask (as a detector's box may be): a detection that votes alone keeps it.
    frame.boxes = torch.tensor([[3.0, 2, 11, 10], [2, 2, 10, 10], [0, 0, 12, 3], [3, 2, 11, 10]])
    frame.mask_logits = torch.zeros((4, 6, 6))
    return frame


def test_mask_voting_by_hand():
    # NMS (mask IoU 0.7) keeps A (index 1) and D (index 2). A's voters at vote_iou 0.5: A, B, C (weights 1.0,
    # 0.8, 0.8; half of the sum is 1.3). Column 2 is covered by A only (1.0 < 1.3): out; column 10 by B and C
    # (1.6): in; columns 3-9 by all three: in. So A's voted mask is B's pixels and its box B's box. D has no
    # voter but itself: unchanged, box included.
    frame = voting_frame()
    config = FilterConfig(nms_overlap="mask", vote_iou=0.5)
    kept, indices = filter_detections(frame, config)
    assert indices.tolist() == [1, 2]
    assert kept.masks[0].equal(rect(2, 10, 3, 11)) and kept.boxes[0].tolist() == [3.0, 2.0, 11.0, 10.0]
    assert kept.masks[1].equal(rect(0, 2, 0, 12)) and kept.boxes[1].tolist() == [0.0, 0.0, 12.0, 3.0]
    assert kept.scores.tolist() == [1.0, 0.5] and kept.mask_logits is None
    # The input is not modified.
    assert frame.masks[1].equal(rect(2, 10, 2, 10)) and frame.mask_logits is not None


def test_mask_voting_only_counts_overlapping_detections_above_the_threshold():
    frame = voting_frame()
    # vote_iou above the copies' IoU (0.78): every kept detection votes alone, so nothing changes, the
    # detector's mask logits included.
    kept, _ = filter_detections(frame, FilterConfig(nms_overlap="mask", vote_iou=0.8))
    assert kept.masks[0].equal(rect(2, 10, 2, 10)) and kept.boxes[0].tolist() == [2.0, 2.0, 10.0, 10.0]
    assert kept.boxes[1].tolist() == [0.0, 0.0, 12.0, 3.0] and kept.mask_logits is not None
    # A copy under the score threshold does not vote: with one copy left (1.0 vs 0.8 of 1.8), A's pixels win.
    frame.scores = torch.tensor([0.8, 1.0, 0.5, 0.02])
    kept, _ = filter_detections(frame, FilterConfig(nms_overlap="mask", vote_iou=0.5))
    assert kept.masks[0].equal(rect(2, 10, 2, 10))
    # Without voting the kept detections are the input's rows, mask logits included.
    kept, _ = filter_detections(voting_frame(), FilterConfig(nms_overlap="mask"))
    assert kept.masks[0].equal(rect(2, 10, 2, 10)) and kept.mask_logits is not None


def test_vote_iou_and_containment_are_validated():
    import pytest

    with pytest.raises(ValueError, match="vote_iou"):
        FilterConfig(vote_iou=0.0).validate()
    with pytest.raises(ValueError, match="nms_containment"):
        FilterConfig(nms_containment=1.5).validate()
