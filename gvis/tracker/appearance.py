"""Appearance models: what a track remembers of its detections' appearance vectors (docs/model.md §3, §8).

A model owns a per-track state (a dict of ``[T, ...]`` tensors kept in :class:`~gvis.tracker.state.TrackState`),
turns it into edge features of the frame graph, and updates it with the appearance ``x [., Da]`` of the
detection a track was assigned. The empty track has a state of the same kind, observed with the frame
descriptor ``g^t`` every frame. Each model declares the widths it adds, so that the GNN is built with the
right input widths:

- ``track_det_edge_dim``: columns added to the track–detection edge features (before the box IoU);
- ``empty_det_edge_dim``: columns of the empty–detection edge features;
- ``det_node_dim``: columns appended to the detection node features.

The likelihood features are ``offset + scale · log N(x; μ, diag σ²)`` (docs/model.md §1: −4 + 0.01·ℓ for 512-d
features); ``loglik_offset``, ``loglik_scale`` and ``init_var_logit`` (σ₀² = softplus(init_var_logit)) are
keys of every likelihood model, so that another appearance scale can be calibrated (docs/tracker.md).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gvis.registry import APPEARANCE_MODELS

State = dict[str, Tensor]
_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_likelihood(x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    r"""``log N(x; mean, diag var)`` row by row.

    .. math:: \ell = -\tfrac12 \Big[D_a \log 2\pi + \sum_d \log\sigma^2_d + \sum_d (x_d - \mu_d)^2 / \sigma^2_d\Big]

    Shapes: ``x, mean, var: [E, Da]`` → ``[E]``.
    """
    return -0.5 * (x.shape[-1] * _LOG_2PI + var.log().sum(-1) + ((x - mean).square() / var).sum(-1))


class AppearanceModel(nn.Module):
    """Base class. Subclasses set the three widths and implement what they use."""

    track_det_edge_dim: int = 0
    empty_det_edge_dim: int = 0
    det_node_dim: int = 0
    #: Whether detections must carry appearance vectors.
    needs_appearance: bool = False

    def __init__(self, dim: int, appearance_dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.appearance_dim = appearance_dim

    def new_state(self, x: Tensor, h: Tensor) -> State:
        """State of tracks initialised with appearance ``x [K, Da]`` and embedding ``h [K, D]``."""
        return {}

    def new_empty_state(self, g: Tensor, h: Tensor) -> State:
        """State of empty tracks at their video's first frame, from the frame descriptor ``g [B, Da]``."""
        return self.new_state(g, h)

    def update(self, state: State, h: Tensor, x: Tensor) -> State:
        """State after observing ``x [T, Da]`` with final embeddings ``h [T, D]`` (every row updated)."""
        return state

    def track_det_features(self, state: State, x: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        """``[E, track_det_edge_dim]`` for pairs (track ``src[e]``, detection ``dst[e]``)."""
        return x.new_zeros((src.shape[0], 0))

    def empty_det_features(self, empty_state: State, x: Tensor, det_video: Tensor) -> Tensor:
        """``[N, empty_det_edge_dim]``: each detection against its video's empty track."""
        return x.new_zeros((det_video.shape[0], 0))

    def det_node_features(self, x: Tensor) -> Tensor:
        """``[N, det_node_dim]`` appended to the detection node features."""
        return x.new_zeros((x.shape[0], 0))


class _LikelihoodModel(AppearanceModel):
    """Shared by the models that feed a Gaussian log-likelihood into the edges (state: mean, var)."""

    track_det_edge_dim = 1
    empty_det_edge_dim = 1
    needs_appearance = True

    def __init__(
        self,
        dim: int,
        appearance_dim: int,
        loglik_offset: float = -4.0,
        loglik_scale: float = 0.01,
        init_var_logit: float = -7.0,
    ) -> None:
        super().__init__(dim, appearance_dim)
        self.loglik_offset = loglik_offset
        self.loglik_scale = loglik_scale
        self.init_var_logit = init_var_logit
        # σ₀² is fixed (the authors' non-trainable parameter).
        self.register_buffer("init_var", F.softplus(torch.tensor(init_var_logit)), persistent=False)

    def scaled_log_likelihood(self, x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
        """``[E, 1]``: ``offset + scale · log N(x; mean, var)``."""
        return (self.loglik_offset + self.loglik_scale * gaussian_log_likelihood(x, mean, var)).unsqueeze(-1)

    def track_det_features(self, state: State, x: Tensor, src: Tensor, dst: Tensor) -> Tensor:
        return self.scaled_log_likelihood(x[dst], state["mean"][src], state["var"][src])

    def empty_det_features(self, empty_state: State, x: Tensor, det_video: Tensor) -> Tensor:
        return self.scaled_log_likelihood(x, empty_state["mean"][det_video], empty_state["var"][det_video])


@APPEARANCE_MODELS.register("gaussian")
class GaussianAppearance(_LikelihoodModel):
    r"""The paper's model (eq. 4): a diagonal Gaussian per track with learned scalar update rates.

    Three heads on the final embedding ``h``, each ``Linear(D, 1)`` shared by all ``Da`` channels:
    :math:`\eta_\mu = \sigma(\cdot)`, :math:`\eta_\sigma = \sigma(\cdot)`, :math:`s^2 = \mathrm{softplus}(\cdot)`
    (Xavier weight, bias ``init_var_logit``). With ``x`` the assigned detection's appearance:

    .. math::
        \mu' = (1-\eta_\mu)\mu + \eta_\mu x, \qquad
        \sigma'^2 = (1-\eta_\sigma)\sigma^2 + \eta_\sigma s^2
                    + \frac{\eta_\mu\eta_\sigma}{\eta_\mu+\eta_\sigma}(\mu - x)^2

    A new track starts at ``μ = x``, ``σ² = σ₀²`` (paper); ``init_from: zero`` is the authors' code
    instead (start from ``μ = 0, σ² = σ₀²`` and apply the update). ``constant_variance`` keeps ``σ² = σ₀²``.

    Shapes: state ``mean, var: [T, Da]``; ``h: [T, D]``; ``x: [T, Da]``.
    """

    constant_variance = False

    def __init__(
        self,
        dim: int,
        appearance_dim: int,
        loglik_offset: float = -4.0,
        loglik_scale: float = 0.01,
        init_var_logit: float = -7.0,
        init_from: Literal["detection", "zero"] = "detection",
    ) -> None:
        super().__init__(dim, appearance_dim, loglik_offset, loglik_scale, init_var_logit)
        if init_from not in ("detection", "zero"):
            raise ValueError(f"appearance init_from must be 'detection' or 'zero', got {init_from!r}")
        self.init_from = init_from
        self.mean_rate = nn.Linear(dim, 1)
        self.var_rate = nn.Linear(dim, 1)
        self.new_var = nn.Linear(dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.mean_rate.reset_parameters()
        self.var_rate.reset_parameters()
        nn.init.xavier_uniform_(self.new_var.weight)
        nn.init.constant_(self.new_var.bias, self.init_var_logit)

    def new_state(self, x: Tensor, h: Tensor) -> State:
        var = self.init_var.to(x.dtype).expand_as(x)
        if self.init_from == "zero":
            return self.update({"mean": torch.zeros_like(x), "var": var}, h, x)
        return {"mean": x, "var": var}

    def new_empty_state(self, g: Tensor, h: Tensor) -> State:
        # The empty track starts at μ_0 = g^0 whatever ``init_from`` says (docs/model.md §3).
        return {"mean": g, "var": self.init_var.to(g.dtype).expand_as(g)}

    def update(self, state: State, h: Tensor, x: Tensor) -> State:
        mean, var = state["mean"], state["var"]
        mean_rate = torch.sigmoid(self.mean_rate(h))
        new_mean = (1 - mean_rate) * mean + mean_rate * x
        if self.constant_variance:
            return {"mean": new_mean, "var": var}
        var_rate = torch.sigmoid(self.var_rate(h))
        sample_var = F.softplus(self.new_var(h))
        spread = mean_rate * var_rate / (mean_rate + var_rate)
        new_var = (1 - var_rate) * var + var_rate * sample_var + spread * (mean - x).square()
        return {"mean": new_mean, "var": new_var}


@APPEARANCE_MODELS.register("constant_variance")
class ConstantVarianceAppearance(GaussianAppearance):
    """Table 1 "Appearance const. variance": the Gaussian model with ``σ² = σ₀²`` forever (no code upstream)."""

    constant_variance = True


@APPEARANCE_MODELS.register("lstm")
class LSTMAppearance(_LikelihoodModel):
    r"""Table 1 "Appearance update with LSTM": two LSTM cells read the assigned detection's ``x``.

    .. math::
        (h_\mu, c_\mu) = \mathrm{LSTM}_\mu(x, (h_\mu, c_\mu)),\quad \mu = W_\mu h_\mu,\qquad
        (h_\sigma, c_\sigma) = \mathrm{LSTM}_\sigma(x, (h_\sigma, c_\sigma)),\quad
        \sigma^2 = \mathrm{softplus}(W_\sigma h_\sigma)

    A new track (and the empty track at its first frame) runs one step from a zero LSTM state. The
    σ² output bias starts at ``init_var_logit`` so that a new track's variance starts near σ₀².

    Shapes: ``x: [T, Da]``; LSTM states ``[T, hidden]`` (``hidden`` defaults to ``Da``); mean, var ``[T, Da]``.
    """

    def __init__(
        self,
        dim: int,
        appearance_dim: int,
        hidden: int | None = None,
        loglik_offset: float = -4.0,
        loglik_scale: float = 0.01,
        init_var_logit: float = -7.0,
    ) -> None:
        super().__init__(dim, appearance_dim, loglik_offset, loglik_scale, init_var_logit)
        self.hidden = hidden or appearance_dim
        self.mean_cell = nn.LSTMCell(appearance_dim, self.hidden)
        self.var_cell = nn.LSTMCell(appearance_dim, self.hidden)
        self.mean_out = nn.Linear(self.hidden, appearance_dim)
        self.var_out = nn.Linear(self.hidden, appearance_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.mean_cell, self.var_cell, self.mean_out, self.var_out):
            module.reset_parameters()
        nn.init.constant_(self.var_out.bias, self.init_var_logit)

    def new_state(self, x: Tensor, h: Tensor) -> State:
        zeros = x.new_zeros((x.shape[0], self.hidden))
        state = {"mean_h": zeros, "mean_c": zeros, "var_h": zeros, "var_c": zeros}
        return self.update(state, h, x)

    def update(self, state: State, h: Tensor, x: Tensor) -> State:
        mean_h, mean_c = self.mean_cell(x, (state["mean_h"], state["mean_c"]))
        var_h, var_c = self.var_cell(x, (state["var_h"], state["var_c"]))
        return {
            "mean_h": mean_h, "mean_c": mean_c, "var_h": var_h, "var_c": var_c,
            "mean": self.mean_out(mean_h), "var": F.softplus(self.var_out(var_h)),
        }


@APPEARANCE_MODELS.register("baked")
class BakedAppearance(AppearanceModel):
    """Table 1 "Appearance baked into embedding": no likelihood edges; ``x`` is appended to the
    detection node features (``[C+1 logits ; box ; x]``), so tracks see it only through the GNN."""

    needs_appearance = True

    def __init__(self, dim: int, appearance_dim: int) -> None:
        super().__init__(dim, appearance_dim)
        self.det_node_dim = appearance_dim

    def det_node_features(self, x: Tensor) -> Tensor:
        return x


@APPEARANCE_MODELS.register("none")
class NoAppearance(AppearanceModel):
    """Table 1 "No appearance": box IoU is the only pair feature; the empty–detection edges start empty."""
