"""Small building blocks shared by the GNN layers: the residual unit, node/edge MLPs and gates."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class Residual(nn.Module):
    r"""The authors' residual unit (docs/model.md §2, RGNNVIS ``custom_modules.Residual``).

    .. math::
        \mathrm{Residual}(a, b)(x) = \mathrm{ReLU}\big(x + W_2\,\mathrm{ReLU}(W_1 x + c_1) + c_2\big),
        \quad W_1: a \to b,\; W_2: b \to a

    Shapes:
        input ``[*, a]`` → output ``[*, a]``.
    """

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, hidden)
        self.outer = nn.Linear(hidden, width)

    def reset_parameters(self) -> None:
        self.inner.reset_parameters()
        self.outer.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        hidden = F.relu(F.linear(x, self.inner.weight, self.inner.bias))
        return F.relu(x + F.linear(hidden, self.outer.weight, self.outer.bias))


def mlp(in_dim: int, width: int, layers: int = 1, residual_hidden: int | None = None) -> nn.Sequential:
    """``layers`` × (Linear + ReLU) from ``in_dim`` to ``width``, optionally followed by a Residual."""
    modules: list[nn.Module] = []
    for layer in range(layers):
        modules += [nn.Linear(in_dim if layer == 0 else width, width), nn.ReLU()]
    if residual_hidden is not None:
        modules.append(Residual(width, residual_hidden))
    return nn.Sequential(*modules)


def gate(width: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear(width, hidden) + ReLU + Linear(hidden, out_dim): a gate's pre-activation (sigmoid/softmax
    is applied by the layer that uses it)."""
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def run(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` for the layer stacks built here (Sequential, Linear, ReLU, Residual), calling each
    layer's ``forward`` directly: ``nn.Module.__call__`` costs microseconds of hook bookkeeping per layer,
    a large share of a small frame's GNN. Hooks registered on these layers do not run."""
    if isinstance(module, nn.Sequential):
        for layer in module:
            x = run(layer, x)
        return x
    return module.forward(x)


def reset_all(module: nn.Module) -> None:
    """Re-initialise every Linear layer inside ``module`` (PyTorch's default initialisation)."""
    for child in module.modules():
        if isinstance(child, nn.Linear):
            child.reset_parameters()
