"""Table 4 "MLP node updates": the gated block without gates, with 2-layer node functions."""
from __future__ import annotations

from typing import Optional

from torch import nn

from gvis.gnn.gated_block import GatedBlock
from gvis.registry import GNN_LAYERS


@GNN_LAYERS.register("mlp")
class MLPBlock(GatedBlock):
    r"""The gated block with its gates removed and 2-layer node functions (P Table 4, docs/model.md §8).

    .. math::
        e_{mn} &\leftarrow \varphi_e([t_m ; d_n ; e_{mn}]), \qquad
        e_{0n} \leftarrow \varphi_{0e}([t_0 ; d_n ; e_{0n}]) \\
        t_m &\leftarrow \varphi_t^{(2)}\big([t_m ; \textstyle\sum_n e_{mn}]\big), \qquad
        t_0 \leftarrow \varphi_0^{(2)}\big([t_0 ; \textstyle\sum_n e_{0n}]\big) \\
        d_n &\leftarrow \varphi_d^{(2)}\big([d_n ; \textstyle\sum_m e_{mn} + e_{0n}]\big)

    :math:`\varphi^{(2)}` = (Linear + ReLU) × 2; edge functions as in :class:`GatedBlock`
    (the authors' ``*_sigmoid=None`` with an extra Linear+ReLU in the node functions).

    Shapes: as :class:`GatedBlock`.
    """

    node_layers = 2

    def make_gate(self, width: int, hidden: int) -> Optional[nn.Module]:
        return None
