"""The training losses against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.train.losses import (
    association_loss,
    class_loss,
    init_loss,
    lovasz_softmax_flat,
    mask_loss,
    temporal_class_weights,
)


def test_temporal_weights_match_the_authors_for_ten_frames():
    weights = temporal_class_weights(10)
    authors = torch.tensor([0.285 * 0.8 ** (11 - t) for t in range(1, 11)])
    assert weights.sum().item() == pytest.approx(1.0)
    assert torch.allclose(weights, authors / authors.sum(), atol=1e-7)
    assert temporal_class_weights(1).tolist() == [1.0]
    assert weights[-1] / weights[-2] == pytest.approx(1.25)


def test_lovasz_softmax_hand_computed():
    # Worked by hand: class 0 loss 0.2 + 0.05 + 0.2/3, class 1 loss 0.35; mean = 1/3.
    probabilities = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1])
    assert lovasz_softmax_flat(probabilities, labels).item() == pytest.approx(1 / 3, abs=1e-12)


def test_lovasz_equals_jaccard_loss_on_hard_predictions():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        labels = torch.randint(0, 4, (50,), generator=generator)
        predicted = torch.randint(0, 4, (50,), generator=generator)
        probabilities = torch.nn.functional.one_hot(predicted, 4).double()
        expected = []
        for cls in range(4):
            if (labels == cls).any():
                inter = ((labels == cls) & (predicted == cls)).sum().item()
                union = ((labels == cls) | (predicted == cls)).sum().item()
                expected.append(1 - inter / union)
        assert lovasz_softmax_flat(probabilities, labels).item() == pytest.approx(sum(expected) / len(expected))


def test_mask_loss_perfect_and_gradient():
    target = torch.tensor([[0, 1], [2, 2]])
    perfect = torch.nn.functional.one_hot(target, 3).permute(2, 0, 1).double() * 50.0
    assert mask_loss([perfect], [target]).item() == pytest.approx(0.0, abs=1e-12)
    logits = torch.zeros(3, 2, 2, dtype=torch.float64, requires_grad=True)
    loss = mask_loss([logits, logits * 2], [target, target])
    loss.backward()
    assert loss.item() > 0 and logits.grad.abs().sum() > 0


def test_class_loss_weights_and_normalisation():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([0, 2])
    weights = torch.tensor([0.25, 0.75])
    ce0 = -math.log(math.exp(2) / (math.exp(2) + 2))
    ce1 = math.log(3)
    assert class_loss(logits, targets, weights, num_clips=2).item() == pytest.approx((0.25 * ce0 + 0.75 * ce1) / 2, rel=1e-6)
    assert class_loss(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.zeros(0), 2).item() == 0.0
    # Soft targets: one-hot ones give the same loss, a mixture the mixture of the cross-entropies.
    one_hot = torch.nn.functional.one_hot(targets, 3).float()
    assert class_loss(logits, one_hot, weights, 2).item() == pytest.approx(class_loss(logits, targets, weights, 2).item())
    soft = torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    ce0_soft = 0.5 * ce0 + 0.5 * -math.log(1 / (math.exp(2) + 2))
    assert class_loss(logits, soft, weights, 2).item() == pytest.approx((0.25 * ce0_soft + 0.75 * ce1) / 2, rel=1e-6)


def test_bce_losses_sum_over_elements_divided_by_frames():
    logits = torch.tensor([0.0, 2.0, -1.0])
    targets = torch.tensor([1.0, 0.0, 0.0])
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 4
    assert association_loss(logits, targets, num_frames=4).item() == pytest.approx(expected, rel=1e-6)
    assert init_loss(logits, targets, num_frames=4).item() == pytest.approx(expected, rel=1e-6)
