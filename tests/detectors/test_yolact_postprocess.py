"""Post-processing on hand-made network outputs: threshold, Fast NMS, top-N, boxes and masks in frame pixels."""
from __future__ import annotations

import math

import torch

from gvis.detectors.yolact.box_coding import xyxy_to_cxcywh
from gvis.detectors.yolact.model import PostprocessConfig, YolactOutput
from gvis.detectors.yolact.postprocess import postprocess


def _output() -> YolactOutput:
    # Four anchors equal to their boxes (zero deltas): a and b overlap (IoU 0.82), c elsewhere, d unsure.
    boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.45], [0.5, 0.5, 1.0, 1.0], [0.5, 0.0, 1.0, 0.5]])
    logits = torch.log(torch.tensor([
        [0.1, 0.8, 0.1],     # a: class column 1, p = 0.8
        [0.3, 0.1, 0.6],     # b: class column 2, p = 0.6, overlaps a → dropped (class-agnostic)
        [0.5, 0.05, 0.45],   # c: column 2, p = 0.45
        [0.98, 0.01, 0.01],  # d: p = 0.01 < 0.03 → dropped
    ]))
    prototypes = torch.zeros(2, 4, 4)
    prototypes[0, :2, :2] = 1.0  # top-left quarter
    prototypes[1] = 1.0
    coefficients = torch.tensor([[5.0, -1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    return YolactOutput(deltas=torch.zeros(1, 4, 4), class_logits=logits[None], coefficients=coefficients[None],
                        anchors=xyxy_to_cxcywh(boxes), prototypes=prototypes[None], semantic_logits=None, features={})


def test_class_agnostic_postprocess():
    det = postprocess(_output(), 0, PostprocessConfig(), (40, 60), category_ids=[3, 9])
    assert det.labels.tolist() == [3, 9] and torch.allclose(det.scores, torch.tensor([0.8, 0.45]))
    assert torch.allclose(det.boxes, torch.tensor([[0.0, 0.0, 30.0, 20.0], [30.0, 20.0, 60.0, 40.0]]))
    assert torch.allclose(det.class_probs[0], torch.tensor([0.1, 0.8, 0.1]))
    # mask logits are c · prototypes, uncropped: a = 5·P0 − 1·P1 → 4 inside the top-left quarter, −1 elsewhere
    assert torch.allclose(det.mask_logits[0], 5 * _output().prototypes[0, 0] - 1.0)
    assert det.mask_logits[1].min() == 1.0  # c's logits are positive everywhere ...
    expected = torch.zeros(40, 60, dtype=torch.bool)
    expected[20:, 30:] = True
    assert torch.equal(det.masks[1], expected)  # ... but its binary mask is cropped to its box
    assert det.masks[0][:20, :30].float().mean() > 0.9 and not det.masks[0][20:].any()


def test_per_class_keeps_overlapping_boxes_of_different_classes_and_top_n():
    det = postprocess(_output(), 0, PostprocessConfig(nms="per_class"), (40, 60), category_ids=[3, 9])
    # class 3: a (0.8) suppresses b (0.1), c (0.05) survives; class 9: b (0.6) suppresses a (0.1), c (0.45)
    assert det.labels.tolist() == [3, 9, 9, 3] and torch.allclose(det.scores, torch.tensor([0.8, 0.6, 0.45, 0.05]))
    top = postprocess(_output(), 0, PostprocessConfig(nms="per_class", top_n=2), (40, 60), category_ids=[3, 9])
    assert len(top) == 2 and math.isclose(top.scores[-1].item(), 0.6, rel_tol=1e-6)
