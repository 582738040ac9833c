"""Recurrent gates against hand-computed values (docs/model.md §3, paper eq. 2–3)."""
from __future__ import annotations

import math

import torch

from gvis.registry import RECURRENT_GATES


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def set_linear(linear: torch.nn.Linear, weight, bias) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        linear.bias.copy_(torch.tensor(bias, dtype=torch.float64))


def test_lstm_like_gate_matches_hand_computation():
    gate = RECURRENT_GATES.build("lstm_like", dim=1).double()
    set_linear(gate.input_transform, [[1.0], [2.0], [3.0], [4.0]], [0.1, 0.2, 0.3, 0.4])
    set_linear(gate.hidden_transform, [[0.5], [-1.0], [0.0], [1.0]], [0.0, 0.0, 0.0, 0.0])
    u, h, c = 0.5, 0.2, 0.1
    # z = W_u u + b_u + W_h h: f, i, o, g
    f, i, o, g = 0.5 + 0.1 + 0.1, 1.0 + 0.2 - 0.2, 1.5 + 0.3, 2.0 + 0.4 + 0.2
    c_new = sigmoid(f) * c + sigmoid(i) * math.tanh(g)
    h_new = sigmoid(o) * math.tanh(c_new)
    out_h, out_c = gate(torch.tensor([[u]], dtype=torch.float64), torch.tensor([[h]], dtype=torch.float64),
                        torch.tensor([[c]], dtype=torch.float64))
    assert math.isclose(out_c.item(), c_new, rel_tol=1e-12)
    assert math.isclose(out_h.item(), h_new, rel_tol=1e-12)


def test_simple_gate_ignores_previous_state():
    gate = RECURRENT_GATES.build("simple", dim=1).double()
    set_linear(gate.input_transform, [[2.0], [-1.0]], [0.5, 0.25])
    u = torch.tensor([[0.3]], dtype=torch.float64)
    expected = sigmoid(2 * 0.3 + 0.5) * math.tanh(-0.3 + 0.25)
    for h in (0.0, 5.0):
        c = torch.tensor([[h]], dtype=torch.float64)
        out_h, out_c = gate(u, torch.tensor([[h]], dtype=torch.float64), c)
        assert math.isclose(out_h.item(), expected, rel_tol=1e-12)
        assert out_c is c


def test_no_gate_passes_the_gnn_output_through():
    gate = RECURRENT_GATES.build("none", dim=3)
    u, h, c = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    out_h, out_c = gate(u, h, c)
    assert out_h is u and out_c is c
    assert list(gate.parameters()) == []


def test_forget_bias_is_added_to_the_forget_gate_only():
    torch.manual_seed(0)
    plain = RECURRENT_GATES.build("lstm_like", dim=3)
    torch.manual_seed(0)
    biased = RECURRENT_GATES.build("lstm_like", dim=3, forget_bias=1.0)
    difference = biased.input_transform.bias - plain.input_transform.bias
    assert torch.allclose(difference, torch.tensor([1.0] * 3 + [0.0] * 9))
    biased.reset_parameters()
    assert biased.input_transform.bias[:3].min() > 1.0 - 1 / math.sqrt(3)
