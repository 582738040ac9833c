"""The "GNN residual block": a Residual unit per element type, no message passing (docs/model.md §2)."""
from __future__ import annotations

from torch import nn

from gvis.gnn.features import FrameEdges, FrameFeatures
from gvis.gnn.modules import Residual, reset_all, run
from gvis.registry import GNN_LAYERS


@GNN_LAYERS.register("residual")
class ResidualBlock(nn.Module):
    r"""Every element type gets its own residual unit; nothing is exchanged between elements.

    .. math::
        x \leftarrow \mathrm{ReLU}\big(x + W_2\,\mathrm{ReLU}(W_1 x + c_1) + c_2\big)
        \quad \text{for } x \in \{t_m, t_0, d_n, e_{mn}, e_{0n}\}

    with separate weights (:math:`W_1: D \to` ``residual_hidden``, :math:`W_2` back) per type. It is
    not a ``MessagePassing`` layer because it passes no messages; it has the same interface as one.

    Args:
        track_dim, det_dim, track_det_dim, empty_det_dim: input widths; all must equal ``width``
            (a residual block cannot come first: it needs the outputs of a message-passing block).
        width: ``D``.
        residual_hidden: hidden width of each residual unit.

    Shapes:
        - **input / output:** :class:`FrameFeatures` with every field ``[*, D]``; ``track_det_logit``
          is passed through.
    """

    def __init__(
        self,
        track_dim: int,
        det_dim: int,
        track_det_dim: int,
        empty_det_dim: int,
        width: int = 128,
        residual_hidden: int = 32,
    ) -> None:
        super().__init__()
        dims = {"track": track_dim, "det": det_dim, "track_det": track_det_dim, "empty_det": empty_det_dim}
        wrong = {name: dim for name, dim in dims.items() if dim != width}
        if wrong:
            raise ValueError(
                f"residual block needs inputs of width {width}, got {wrong}; "
                "put a message-passing block before it"
            )
        self.track = Residual(width, residual_hidden)
        self.det = Residual(width, residual_hidden)
        self.empty = Residual(width, residual_hidden)
        self.track_det = Residual(width, residual_hidden)
        self.empty_det = Residual(width, residual_hidden)

    def reset_parameters(self) -> None:
        reset_all(self)

    def forward(self, features: FrameFeatures, edges: FrameEdges) -> FrameFeatures:
        return features._replace(
            track=run(self.track, features.track),
            det=run(self.det, features.det),
            empty=run(self.empty, features.empty),
            track_det=run(self.track_det, features.track_det),
            empty_det=run(self.empty_det, features.empty_det),
        )
