"""Appearance models: likelihood and update formulas against hand-computed values (docs/model.md §3, paper eq. 4)."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.registry import APPEARANCE_MODELS
from gvis.tracker.appearance import gaussian_log_likelihood


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def inverse_softplus(y: float) -> float:
    return math.log(math.expm1(y))


def fixed_rates(model, mean_rate: float, var_rate: float, new_var: float):
    """Heads with zero weights: η_μ, η_σ and s² no longer depend on h."""
    with torch.no_grad():
        for head, bias in ((model.mean_rate, logit(mean_rate)), (model.var_rate, logit(var_rate)),
                           (model.new_var, inverse_softplus(new_var))):
            head.weight.zero_()
            head.bias.fill_(bias)
    return model


def test_log_likelihood_is_the_diagonal_gaussian():
    x, mean, var = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64) + 0.1
    expected = torch.distributions.Normal(mean, var.sqrt()).log_prob(x).sum(-1)
    assert torch.allclose(gaussian_log_likelihood(x, mean, var), expected, atol=1e-12)


def test_gaussian_update_equation_4():
    model = fixed_rates(APPEARANCE_MODELS.build("gaussian", dim=2, appearance_dim=2).double(), 0.25, 0.5, 0.04)
    state = {"mean": torch.tensor([[1.0, 2.0]], dtype=torch.float64), "var": torch.tensor([[0.1, 0.2]], dtype=torch.float64)}
    x = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    new = model.update(state, torch.zeros(1, 2, dtype=torch.float64), x)
    # μ' = 0.75 μ + 0.25 x; σ'² = 0.5 σ² + 0.5·0.04 + (0.25·0.5/0.75)(μ − x)²
    assert torch.allclose(new["mean"], torch.tensor([[1.25, 1.5]], dtype=torch.float64), atol=1e-12)
    spread = 0.25 * 0.5 / 0.75
    expected_var = [0.05 + 0.02 + spread * 1.0, 0.1 + 0.02 + spread * 4.0]
    assert torch.allclose(new["var"], torch.tensor([expected_var], dtype=torch.float64), atol=1e-12)


def test_new_tracks_paper_and_code_initialisation():
    init_var = math.log1p(math.exp(-7.0))
    paper = APPEARANCE_MODELS.build("gaussian", dim=2, appearance_dim=2).double()
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    h = torch.zeros(1, 2, dtype=torch.float64)
    start = paper.new_state(x, h)
    assert torch.equal(start["mean"], x)
    assert torch.allclose(start["var"], torch.full((1, 2), init_var, dtype=torch.float64))
    code = fixed_rates(APPEARANCE_MODELS.build("gaussian", dim=2, appearance_dim=2, init_from="zero").double(), 0.25, 0.5, 0.04)
    start = code.new_state(x, h)
    # From μ = 0, σ² = σ₀²: μ = η_μ x, σ² = (1−η_σ)σ₀² + η_σ s² + spread·x².
    assert torch.allclose(start["mean"], 0.25 * x)
    assert torch.allclose(start["var"], 0.5 * init_var + 0.5 * 0.04 + (0.25 * 0.5 / 0.75) * x.square())
    # The empty track always starts at its frame descriptor.
    assert torch.equal(code.new_empty_state(x, h)["mean"], x)
    with pytest.raises(ValueError, match="init_from"):
        APPEARANCE_MODELS.build("gaussian", dim=2, appearance_dim=2, init_from="mean")


def test_constant_variance_keeps_sigma0():
    model = fixed_rates(APPEARANCE_MODELS.build("constant_variance", dim=2, appearance_dim=2, init_var_logit=-3.0).double(), 0.25, 0.5, 0.04)
    state = model.new_state(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64))
    new = model.update(state, torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64))
    assert torch.allclose(new["mean"], torch.full((1, 2), 0.25, dtype=torch.float64))
    assert torch.allclose(new["var"], torch.full((1, 2), math.log1p(math.exp(-3.0)), dtype=torch.float64))


def test_scaled_likelihood_edge_features():
    model = APPEARANCE_MODELS.build("gaussian", dim=4, appearance_dim=2, loglik_offset=-4.0, loglik_scale=0.01).double()
    state = {"mean": torch.tensor([[0.0, 1.0]], dtype=torch.float64), "var": torch.tensor([[0.5, 2.0]], dtype=torch.float64)}
    x = torch.tensor([[1.0, 1.0], [0.0, 3.0]], dtype=torch.float64)
    src, dst = torch.tensor([0, 0]), torch.tensor([0, 1])
    features = model.track_det_features(state, x, src, dst)
    for e, (x1, x2) in enumerate(([1.0, 1.0], [0.0, 3.0])):
        ll = -0.5 * (2 * math.log(2 * math.pi) + math.log(0.5) + math.log(2.0) + (x1 - 0.0) ** 2 / 0.5 + (x2 - 1.0) ** 2 / 2.0)
        assert math.isclose(features[e, 0].item(), -4.0 + 0.01 * ll, rel_tol=1e-12)
    empty = model.empty_det_features(state, x, torch.tensor([0, 0]))
    assert torch.allclose(empty, features)


def test_lstm_appearance_shapes_and_initial_variance():
    model = APPEARANCE_MODELS.build("lstm", dim=4, appearance_dim=6, hidden=5, init_var_logit=-2.0)
    x = torch.randn(3, 6)
    state = model.new_state(x, torch.zeros(3, 4))
    assert set(state) == {"mean", "var", "mean_h", "mean_c", "var_h", "var_c"}
    assert state["mean"].shape == (3, 6) and state["mean_h"].shape == (3, 5)
    assert (state["var"] > 0).all()
    updated = model.update(state, torch.zeros(3, 4), torch.randn(3, 6))
    assert not torch.equal(updated["mean_c"], state["mean_c"])
    # With zero weights the variance head gives softplus(init_var_logit).
    with torch.no_grad():
        model.var_out.weight.zero_()
    assert torch.allclose(model.new_state(x, torch.zeros(3, 4))["var"], torch.full((3, 6), math.log1p(math.exp(-2.0))))


@pytest.mark.parametrize("name, edge, empty, node", [
    ("gaussian", 1, 1, 0), ("constant_variance", 1, 1, 0), ("lstm", 1, 1, 0), ("baked", 0, 0, 7), ("none", 0, 0, 0),
])
def test_declared_widths(name, edge, empty, node):
    model = APPEARANCE_MODELS.build(name, dim=4, appearance_dim=7)
    x = torch.randn(3, 7 if model.needs_appearance else 0)
    state = model.new_state(torch.randn(2, 7), torch.zeros(2, 4)) if model.needs_appearance else {}
    assert model.track_det_features(state, x, torch.tensor([0, 1]), torch.tensor([2, 0])).shape == (2, edge)
    empty_state = model.new_empty_state(torch.randn(1, 7), torch.zeros(1, 4)) if model.needs_appearance else {}
    assert model.empty_det_features(empty_state, x, torch.zeros(3, dtype=torch.long)).shape == (3, empty)
    assert model.det_node_features(x).shape == (3, node)
    assert (model.track_det_edge_dim, model.empty_det_edge_dim, model.det_node_dim) == (edge, empty, node)
