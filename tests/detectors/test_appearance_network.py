"""The appearance network: mask pooling with competing detections (0, 1 and many), MLP, frame descriptor."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.detectors.appearance import AppearanceConfig, AppearanceNetwork, mask_pool, mask_scores


def _dense_pool(feature_map: torch.Tensor, scores: torch.Tensor, background: float, eps: float) -> torch.Tensor:
    """Reference: per-pixel softmax over [background, s_1..s_N] with Python loops (same resolution)."""
    count, (height, width) = scores.shape[0], feature_map.shape[1:]
    weights = torch.zeros(count, height, width, dtype=torch.float64)
    for y in range(height):
        for x in range(width):
            logits = [background] + [float(scores[n, y, x]) for n in range(count)]
            total = sum(math.exp(v) for v in logits)
            for n in range(count):
                weights[n, y, x] = math.exp(logits[n + 1]) / total
    pooled = torch.zeros(count, feature_map.shape[0], dtype=torch.float64)
    for n in range(count):
        normalised = weights[n] / (weights[n].sum() + eps)
        pooled[n] = (feature_map.double() * normalised).sum(dim=(1, 2))
    return pooled


def test_no_detection_gives_an_empty_table():
    assert mask_pool(torch.randn(5, 4, 6), torch.zeros((0, 4, 6)), 10.0, 1e-4).shape == (0, 5)


def test_one_confident_detection_averages_its_region():
    feature_map = torch.randn(3, 4, 6)
    scores = torch.full((1, 4, 6), -100.0)
    scores[0, 1:3, 2:5] = 100.0  # 6 pixels far above the background's 10
    pooled = mask_pool(feature_map, scores, 10.0, 1e-4)
    expected = feature_map[:, 1:3, 2:5].mean(dim=(1, 2)) * 6 / (6 + 1e-4)
    assert torch.allclose(pooled[0], expected, atol=1e-5)


def test_many_detections_compete_for_pixels_as_the_dense_reference():
    generator = torch.Generator().manual_seed(0)
    feature_map = torch.randn(4, 5, 7, generator=generator)
    scores = 12 * torch.randn(3, 5, 7, generator=generator)  # overlapping, some pixels contested
    scores[2] = scores[1] + 0.5  # a near-duplicate that takes most of detection 1's pixels
    pooled = mask_pool(feature_map, scores, 10.0, 1e-4)
    assert torch.allclose(pooled.double(), _dense_pool(feature_map, scores, 10.0, 1e-4), atol=1e-5)


def test_scores_are_resized_to_each_map():
    feature_map = torch.ones(2, 3, 4)
    scores = torch.full((2, 12, 16), 50.0)  # both everywhere: each gets half of every pixel
    pooled = mask_pool(feature_map, scores, 10.0, 1e-4)
    assert torch.allclose(pooled, torch.ones(2, 2) * 6 / (6 + 1e-4), atol=1e-5)


def test_mask_scores_add_the_box_logit_inside_the_box():
    logits = torch.zeros(1, 2, 4)
    scores = mask_scores(logits, torch.tensor([[0.0, 0.0, 0.5, 1.0]]), 10.0)
    assert torch.equal(scores[0], torch.tensor([[10.0, 10, 0, 0], [10, 10, 0, 0]]))


@pytest.mark.parametrize("counts", [(0,), (1,), (0, 3, 1)])
def test_network_vectors_and_frame_descriptor(counts):
    config = AppearanceConfig(map_channels=4, hidden=3)
    network = AppearanceNetwork((6, 8), config)
    generator = torch.Generator().manual_seed(1)
    batch = len(counts)
    c4, c5 = torch.randn(batch, 6, 4, 6, generator=generator), torch.randn(batch, 8, 2, 3, generator=generator)
    scores = [5 * torch.randn(n, 8, 12, generator=generator) for n in counts]
    vectors, frames = network(c4, c5, scores)
    assert network.dim == 8 and frames.shape == (batch, 8)
    assert [tuple(v.shape) for v in vectors] == [(n, 8) for n in counts]
    maps = [network.project[0](c4), network.project[1](c5)]
    assert torch.allclose(frames, torch.cat([maps[0].mean(dim=(2, 3)), maps[1].mean(dim=(2, 3))], 1), atol=1e-6)
    for b, n in enumerate(counts):
        if n:
            pooled = torch.cat([mask_pool(maps[0][b], scores[b], 10.0, 1e-4), mask_pool(maps[1][b], scores[b], 10.0, 1e-4)], 1)
            layers = network.mlp.layers
            expected = torch.relu(pooled + layers[4](torch.relu(layers[2](torch.relu(layers[0](pooled))))))
            assert torch.allclose(vectors[b], expected, atol=1e-6)
            assert (vectors[b] >= 0).all()
