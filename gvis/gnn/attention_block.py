"""A new variant (not in the paper): softmax attention over a node's incoming edges."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import softmax

from gvis.gnn.gated_block import GatedBlock
from gvis.gnn.modules import gate, run
from gvis.registry import GNN_LAYERS


@GNN_LAYERS.register("attention")
class AttentionBlock(GatedBlock):
    r"""The gated block with the sigmoid gates replaced by softmax attention over incoming edges.

    Edge functions and node functions are those of :class:`GatedBlock`; messages are edges weighted
    by a softmax over all edges that reach the same node. A detection's weights are shared between
    its track edges *and* its empty edge, so it splits its attention between "track m" and "new
    track" — the same competition the association head resolves:

    .. math::
        \alpha_{mn} = \frac{\exp a_d(e_{mn})}{\sum_{m'} \exp a_d(e_{m'n}) + \exp a_{d0}(e_{0n})},\quad
        \alpha_{0n} = \frac{\exp a_{d0}(e_{0n})}{\sum_{m'} \exp a_d(e_{m'n}) + \exp a_{d0}(e_{0n})} \\
        d_n \leftarrow \varphi_d\big([d_n ; \textstyle\sum_m \alpha_{mn} e_{mn} + \alpha_{0n} e_{0n}]\big),
        \qquad
        t_m \leftarrow \varphi_t\big([t_m ; \textstyle\sum_n \mathrm{softmax}_n(a_t(e_{mn}))\, e_{mn}]\big)

    and likewise for the empty node (softmax over its detections). Each score function ``a`` is
    Linear(D, gate_hidden) + ReLU + Linear(gate_hidden, 1), one per role. A node without edges gets a
    zero message. Unlike the sum of the gated block, the aggregate does not grow with the number of
    tracks or detections.

    Shapes: as :class:`GatedBlock`.
    """

    def make_gate(self, width: int, hidden: int) -> Optional[nn.Module]:
        return gate(width, hidden, 1)

    def message(  # type: ignore[override]
        self, edges: Sequence[Tensor], gates: Sequence[nn.Module], index: Tensor, size_i: int
    ) -> Tensor:
        """Edges weighted by the softmax of their scores over the edges into the same node."""
        scores = torch.cat([run(g, e) for e, g in zip(edges, gates)])
        weights = softmax(scores, index, num_nodes=size_i, dim=0)
        return weights * torch.cat(list(edges))
