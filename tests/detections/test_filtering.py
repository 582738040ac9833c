"""Detection filtering (threshold, class-agnostic NMS, top-N) shared by every tracker."""
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
