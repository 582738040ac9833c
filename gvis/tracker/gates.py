"""Recurrent gates: how a track embedding is carried from one frame to the next (docs/model.md §3).

Every gate maps the GNN's output for a track, ``u [T, D]``, and the track's previous state
``(h [T, D], c [T, D])`` to the new state ``(h, c)``. ``h`` is the final track embedding: the next frame's
GNN input and the input of the class, appearance-update and mask heads. ``c`` is the cell of the
LSTM-like gate; gates without a cell return it unchanged. The empty track has its own gate instance.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gvis.registry import RECURRENT_GATES


class RecurrentGate(nn.Module):
    """Base class: ``forward(u, h, c) -> (h, c)``, all ``[T, D]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, u: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError


@RECURRENT_GATES.register("lstm_like")
class LSTMLikeGate(RecurrentGate):
    r"""The paper's gate (eq. 2–3): an LSTM whose input transform is the whole GNN.

    .. math::
        [f, i, o, g] = W_u u + W_h h^{t-1}, \quad
        c^t = \sigma(f) \odot c^{t-1} + \sigma(i) \odot \tanh(g), \quad
        h^t = \sigma(o) \odot \tanh(c^t)

    Shapes: ``u, h, c: [T, D]``; ``W_u, W_h: Linear(D, 4D)`` with bias; chunks in the order f, i, o, g.

    ``forget_bias`` is added to the initial bias of ``f`` (the usual LSTM initialisation, Jozefowicz et al.
    2015): with 0, a fresh gate halves the cell every frame and a track forgets its initialising detection
    before the class head can learn to read it.
    """

    def __init__(self, dim: int, forget_bias: float = 0.0) -> None:
        super().__init__(dim)
        self.forget_bias = forget_bias
        self.input_transform = nn.Linear(dim, 4 * dim)
        self.hidden_transform = nn.Linear(dim, 4 * dim)
        self._init_forget_bias()

    def reset_parameters(self) -> None:
        self.input_transform.reset_parameters()
        self.hidden_transform.reset_parameters()
        self._init_forget_bias()

    def _init_forget_bias(self) -> None:
        with torch.no_grad():
            self.input_transform.bias[: self.dim] += self.forget_bias

    def forward(self, u: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        forget, inp, out, cand = (self.input_transform(u) + self.hidden_transform(h)).chunk(4, dim=-1)
        c = torch.sigmoid(forget) * c + torch.sigmoid(inp) * torch.tanh(cand)
        return torch.sigmoid(out) * torch.tanh(c), c


@RECURRENT_GATES.register("simple")
class SimpleGate(RecurrentGate):
    r"""Table 1 "Simple gate": no cell and no previous-state term.

    .. math:: h^t = \sigma(A u) \odot \tanh(B u)

    Shapes: ``u: [T, D]``; ``[A; B] = Linear(D, 2D)`` with bias (A = first D outputs).
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.input_transform = nn.Linear(dim, 2 * dim)

    def reset_parameters(self) -> None:
        self.input_transform.reset_parameters()

    def forward(self, u: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        gate, cand = self.input_transform(u).chunk(2, dim=-1)
        return torch.sigmoid(gate) * torch.tanh(cand), c


@RECURRENT_GATES.register("none")
class NoGate(RecurrentGate):
    """Table 1 "No LSTM-like gating": ``h^t = u`` (the paper reports that training diverges)."""

    def forward(self, u: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return u, c
