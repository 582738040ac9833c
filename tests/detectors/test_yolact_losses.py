"""The YOLACT losses on hand-made targets."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.detectors.yolact.box_coding import encode_boxes, xyxy_to_cxcywh
from gvis.detectors.yolact.losses import (IGNORED, NEGATIVE, POSITIVE, ImageTargets, LossConfig, YolactLoss, box_loss,
                                          class_loss, mask_loss, match_anchors, semantic_loss)
from gvis.detectors.yolact.model import YolactOutput


def _ce(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(z) for z in logits)) - logits[target]


def test_anchor_matching_thresholds_and_forced_best_anchor():
    anchors = xyxy_to_cxcywh(torch.tensor([
        [0.0, 0.0, 0.2, 0.2],     # IoU 1 with object 0 → positive
        [0.0, 0.0, 0.2, 0.3],     # IoU 0.667 → positive
        [0.0, 0.0, 0.2, 0.45],    # IoU 0.444 → ignored
        [0.5, 0.5, 0.7, 0.7],     # IoU 0 → negative
        [0.75, 0.75, 0.95, 0.95],  # IoU 0.25 with object 1, its best anchor → positive anyway
    ]))
    objects = torch.tensor([[0.0, 0.0, 0.2, 0.2], [0.8, 0.8, 0.9, 0.9]])
    matched, state = match_anchors(anchors, objects, 0.5, 0.4)
    assert state.tolist() == [POSITIVE, POSITIVE, IGNORED, NEGATIVE, POSITIVE]
    assert matched[[0, 1, 4]].tolist() == [0, 0, 1]
    _, none = match_anchors(anchors, torch.zeros((0, 4)))
    assert (none == NEGATIVE).all()


def test_box_loss_is_summed_smooth_l1():
    deltas = torch.tensor([[0.5, 2.0, 0.0, -1.0]])
    assert math.isclose(box_loss(deltas, torch.zeros(1, 4)).item(), 0.125 + 1.5 + 0.0 + 0.5, rel_tol=1e-6)


def test_class_loss_mines_three_hardest_negatives_per_positive():
    # Row 0 is the positive (class 2); rows 1, 2, 3, 5 negatives with background logit a; row 4 ignored.
    rows = [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [-5.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    targets = torch.tensor([2, 0, 0, 0, -1, 0])
    loss = class_loss(torch.tensor(rows), targets, negatives_per_positive=3)
    # Background losses: row 1 log 3, row 2 0.24, row 3 1.86, row 5 0.55 → rows 3, 1, 5 are mined.
    expected = _ce(rows[0], 2) + _ce(rows[3], 0) + _ce(rows[1], 0) + _ce(rows[5], 0)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    assert class_loss(torch.tensor(rows), torch.tensor([0, 0, 0, 0, -1, 0])).item() == 0.0  # no positive, no negative


def test_mask_loss_is_the_mean_bce_inside_the_object_box():
    c = 0.7
    prototypes = torch.stack([torch.ones(4, 4), torch.zeros(4, 4)])  # logits = c everywhere
    gt = torch.zeros(1, 4, 4)
    gt[0, 0, 0] = gt[0, 0, 1] = gt[0, 1, 0] = 1.0  # 3 of the 4 pixels of the box
    gt[0, 3, 3] = 1.0  # outside the box: cropped away
    box = torch.tensor([[0.0, 0.0, 0.5, 0.5]])  # 2 x 2 prototype pixels
    loss = mask_loss(prototypes, torch.tensor([[c, 0.3]]), gt, box)
    expected = (3 * math.log(1 + math.exp(-c)) + math.log(1 + math.exp(c))) / 4
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_semantic_loss_per_class_union_of_masks():
    logits = torch.stack([torch.ones(2, 2), -torch.ones(2, 2)])  # C = 2
    masks = torch.zeros(2, 2, 2)
    masks[0, 0, 0] = 1.0  # an object of class column 1 → channel 0
    masks[1, 1] = 1.0  # an object of class column 2 → channel 1 (2 pixels)
    loss = semantic_loss(logits, masks, torch.tensor([1, 2]))
    soft_pos, soft_neg = math.log(1 + math.exp(-1)), math.log(1 + math.exp(1))
    expected = (1 * soft_pos + 3 * soft_neg + 2 * soft_neg + 2 * soft_pos) / 4
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_total_loss_normalises_by_the_batch_positives():
    anchors = xyxy_to_cxcywh(torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0]]))
    generator = torch.Generator().manual_seed(0)
    output = YolactOutput(
        deltas=torch.randn(2, 3, 4, generator=generator), class_logits=torch.randn(2, 3, 3, generator=generator),
        coefficients=torch.rand(2, 3, 2, generator=generator), anchors=anchors,
        prototypes=torch.rand(2, 2, 4, 4, generator=generator), semantic_logits=torch.randn(2, 2, 2, 2, generator=generator),
        features={},
    )
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :4, :4] = True
    first = ImageTargets(torch.tensor([[0.0, 0.0, 0.5, 0.5]]), torch.tensor([1]), mask)
    empty = ImageTargets(torch.zeros((0, 4)), torch.zeros(0, dtype=torch.long), torch.zeros((0, 8, 8), dtype=torch.bool))
    config = LossConfig()
    terms = YolactLoss(config)(output, [first, empty])
    assert terms["positives"].item() == 1.0  # only anchor 0 matches
    box = box_loss(output.deltas[0, :1], encode_boxes(first.boxes, anchors[:1]))
    cls = class_loss(output.class_logits[0], torch.tensor([1, 0, 0]))  # 2 negatives available < 3
    proto_mask = torch.zeros(1, 4, 4)
    proto_mask[0, :2, :2] = 1.0  # the 8 x 8 mask at the 4 x 4 prototype resolution
    msk = mask_loss(output.prototypes[0], output.coefficients[0, :1], proto_mask, first.boxes)
    sem = (semantic_loss(output.semantic_logits[0], torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), torch.tensor([1]))
           + semantic_loss(output.semantic_logits[1], torch.zeros((0, 2, 2)), torch.zeros(0, dtype=torch.long)))
    assert math.isclose(terms["box"].item(), config.box_weight * box.item(), rel_tol=1e-5)
    assert math.isclose(terms["class"].item(), config.class_weight * cls.item(), rel_tol=1e-5)
    assert math.isclose(terms["mask"].item(), config.mask_weight * msk.item(), rel_tol=1e-5)
    assert math.isclose(terms["semantic"].item(), config.semantic_weight * sem.item() / 2, rel_tol=1e-5)
    total = terms["box"] + terms["class"] + terms["mask"] + terms["semantic"]
    assert torch.allclose(terms["loss"], total)


def test_loss_config_rejects_inverted_thresholds():
    from gvis.config import build_dataclass
    from gvis.errors import ConfigError

    with pytest.raises(ConfigError, match="negative_iou"):
        build_dataclass(LossConfig, {"positive_iou": 0.3, "negative_iou": 0.5})
