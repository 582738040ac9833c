"""Fast NMS against torchvision's greedy NMS."""
from __future__ import annotations

import torch
from torchvision.ops import box_iou, nms

from gvis.detectors.yolact.fast_nms import fast_nms, fast_nms_per_class


def _random_boxes(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(count, 2, generator=generator) * 80
    boxes = torch.cat([corners, corners + 5 + 30 * torch.rand(count, 2, generator=generator)], 1)
    scores = torch.randperm(count, generator=generator).float() / count  # distinct scores
    return boxes, scores


def test_fast_nms_is_greedy_nms_minus_boxes_only_suppressed_boxes_overlap():
    """Fast NMS ⊆ greedy NMS, and greedy keeps exactly the extra boxes whose every higher-scored
    overlapping box was suppressed by greedy NMS (the documented relation)."""
    threshold = 0.5
    differing = 0
    for seed in range(20):
        boxes, scores = _random_boxes(60, seed)
        fast = set(fast_nms(boxes, scores, threshold, top_k=1000).tolist())
        greedy = set(nms(boxes, scores, threshold).tolist())
        assert fast <= greedy
        overlaps = box_iou(boxes, boxes) > threshold
        expected_extra = set()
        for j in greedy:
            above = [i for i in range(len(boxes)) if scores[i] > scores[j] and overlaps[i, j]]
            if above and all(i not in greedy for i in above):
                expected_extra.add(j)
        assert greedy - fast == expected_extra
        differing += bool(expected_extra)
    assert differing > 0  # the random sets do exercise the difference


def test_fast_nms_equals_greedy_when_no_suppressed_box_suppresses():
    # Clusters far apart, each: one high-scored box and looser copies of it only.
    boxes, scores = [], []
    for k in range(5):
        base = torch.tensor([k * 100.0, 0.0, k * 100.0 + 40, 40.0])
        for j, shift in enumerate([0.0, 2.0, 4.0]):
            boxes.append(base + torch.tensor([shift, shift, shift, shift]))
            scores.append(1.0 - 0.1 * j - 0.01 * k)
    boxes, scores = torch.stack(boxes), torch.tensor(scores)
    kept = fast_nms(boxes, scores, 0.5)
    assert set(kept.tolist()) == set(nms(boxes, scores, 0.5).tolist()) == {0, 3, 6, 9, 12}
    assert torch.equal(scores[kept], scores[kept].sort(descending=True).values)


def test_fast_nms_drops_a_box_overlapping_only_a_suppressed_box():
    # a (0.9) suppresses b (0.8); b overlaps c (0.7) but a does not: greedy keeps c, Fast NMS drops it.
    boxes = torch.tensor([[0.0, 0, 10, 10], [3.0, 0, 13, 10], [6.0, 0, 16, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.4).tolist() == [0, 2]
    assert fast_nms(boxes, scores, 0.4).tolist() == [0]


def test_fast_nms_top_k_and_empty():
    boxes, scores = _random_boxes(30, 1)
    kept = fast_nms(boxes, scores, 1.0, top_k=7)  # threshold 1: nothing suppressed
    assert kept.tolist() == scores.argsort(descending=True)[:7].tolist()
    assert fast_nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).numel() == 0


def test_per_class_fast_nms_is_class_agnostic_fast_nms_per_class():
    boxes, _ = _random_boxes(40, 3)
    generator = torch.Generator().manual_seed(3)
    class_scores = torch.rand(40, 3, generator=generator)
    indices, classes, scores = fast_nms_per_class(boxes, class_scores, 0.5, top_k=1000, score_threshold=0.2)
    for c in range(3):
        expected = fast_nms(boxes, class_scores[:, c], 0.5, top_k=1000)
        expected = expected[class_scores[expected, c] > 0.2]
        assert set(indices[classes == c].tolist()) == set(expected.tolist())
    assert torch.equal(scores, class_scores[indices, classes])
    assert torch.equal(scores, scores.sort(descending=True).values)
