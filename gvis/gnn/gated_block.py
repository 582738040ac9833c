"""The paper's gated GNN block (docs/model.md §2, P eq. 1a–c)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from gvis.gnn.edge_update import EdgeUpdateBlock
from gvis.gnn.features import FrameEdges, FrameFeatures
from gvis.gnn.modules import gate, mlp, reset_all, run
from gvis.registry import GNN_LAYERS


@GNN_LAYERS.register("gated")
class GatedBlock(EdgeUpdateBlock):
    r"""One gated message-passing block over a frame graph (docs/model.md §2; P eq. 1a–c).

    Edges are updated first, from the *old* nodes; then every node sums gated messages along its
    *new* edges. Each role has its own weights:

    .. math::
        e_{0n} &\leftarrow \varphi_{0e}([t_0 ; d_n ; e_{0n}]), \qquad
        e_{mn} \leftarrow \varphi_e([t_m ; d_n ; e_{mn}]) \\
        t_0 &\leftarrow \varphi_0\Big(\big[t_0 ; \textstyle\sum_n e_{0n} \odot \sigma(\gamma_0(e_{0n}))\big]\Big) \\
        t_m &\leftarrow \varphi_t\Big(\big[t_m ; \textstyle\sum_n e_{mn} \odot \sigma(\gamma_t(e_{mn}))\big]\Big) \\
        d_n &\leftarrow \varphi_d\Big(\big[d_n ; \textstyle\sum_m e_{mn} \odot \sigma(\gamma_d(e_{mn}))
              + e_{0n} \odot \sigma(\gamma_{d0}(e_{0n}))\big]\Big)

    Every :math:`\varphi` is Linear + ReLU to width ``D`` (the edge functions of the first block
    add a ``Residual(D, residual_hidden)``: ``edge_residual=True``); every :math:`\gamma` is
    Linear(D, gate_hidden) + ReLU + Linear(gate_hidden, D). Sums run over existing edges only
    (no mean / degree normalisation). With the default widths the first block has
    :math:`\varphi_e`: 175→128, :math:`\varphi_{0e}`: 174→128, :math:`\varphi_t, \varphi_0`: 256→128,
    :math:`\varphi_d`: 173→128; later blocks 384→128 for edges and 256→128 for nodes.

    PyG mapping: :meth:`edge_update` (of :class:`~gvis.gnn.edge_update.EdgeUpdateBlock`) is :math:`\varphi_e` / :math:`\varphi_{0e}`; :meth:`message` is
    the gated edge; aggregation is ``sum``; :meth:`update` is the node function. One ``propagate`` updates
    every node type (``FrameEdges.into_nodes``): a detection sums over all its incoming edges (its track
    edges, then its empty edge), tracks and empty nodes along the reversed edges.

    Args:
        track_dim: ``Dt``, width of track and empty-node inputs.
        det_dim: ``Fd``, width of detection inputs.
        track_det_dim: ``Fe``, width of track–detection edge inputs.
        empty_det_dim: ``Fe0``, width of empty–detection edge inputs (may be 0).
        width: ``D``, width of every output.
        gate_hidden: hidden width of the gates.
        residual_hidden: hidden width of the edge Residual (used when ``edge_residual``).
        edge_residual: append ``Residual(D, residual_hidden)`` to both edge functions (block 1).

    Shapes:
        - **input:** :class:`FrameFeatures` ``track [ΣM, Dt]``, ``det [ΣN, Fd]``, ``empty [B, Dt]``,
          ``track_det [E, Fe]``, ``empty_det [ΣN, Fe0]``; :class:`FrameEdges`.
        - **output:** :class:`FrameFeatures` with every field of width ``D``.
    """

    #: Number of Linear+ReLU layers in the node functions (the ``mlp`` variant uses 2).
    node_layers = 1

    def __init__(
        self,
        track_dim: int,
        det_dim: int,
        track_det_dim: int,
        empty_det_dim: int,
        width: int = 128,
        gate_hidden: int = 32,
        residual_hidden: int = 32,
        edge_residual: bool = False,
    ) -> None:
        super().__init__(track_dim, det_dim, track_det_dim, empty_det_dim, width, residual_hidden, edge_residual)
        self.det_from_track_gate = self.make_gate(width, gate_hidden)
        self.det_from_empty_gate = self.make_gate(width, gate_hidden)
        self.track_gate = self.make_gate(width, gate_hidden)
        self.empty_gate = self.make_gate(width, gate_hidden)
        self.track_node = mlp(track_dim + width, width, self.node_layers)
        self.empty_node = mlp(track_dim + width, width, self.node_layers)
        self.det_node = mlp(det_dim + width, width, self.node_layers)

    def make_gate(self, width: int, hidden: int) -> Optional[nn.Module]:
        """The gate γ of one role (``None``: messages are the plain edges)."""
        return gate(width, hidden, width)

    def reset_parameters(self) -> None:
        reset_all(self)

    def forward(self, features: FrameFeatures, edges: FrameEdges) -> FrameFeatures:
        # 1. Edges, from the old nodes.
        track_det, empty_det = self.update_edges(features, edges)
        # 2. Nodes, from messages along the new edges: every node type in one propagate over all nodes,
        # the message segments in ``edges.into_nodes`` order.
        num_nodes = features.track.size(0) + features.empty.size(0) + features.det.size(0)
        track, empty, det = self.propagate(
            edges.into_nodes,
            edges=(track_det, empty_det, track_det, empty_det),
            gates=(self.det_from_track_gate, self.det_from_empty_gate, self.track_gate, self.empty_gate),
            nodes=(features.track, features.empty, features.det),
            size=(num_nodes, num_nodes),
        )
        return FrameFeatures(track, det, empty, track_det, empty_det)

    def message(self, edges: Sequence[Tensor], gates: Sequence[Optional[nn.Module]]) -> Tensor:
        """Gated edges ``e ⊙ σ(γ(e))``, one gate per message segment, concatenated in edge-index order."""
        return torch.cat([e if g is None else e * torch.sigmoid(run(g, e)) for e, g in zip(edges, gates)])

    def update(self, inputs: Tensor, nodes: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """φ_t, φ_0, φ_d of ``[node ; Σ messages]``, each on its rows of ``inputs`` ``[ΣM + B + ΣN, D]``:
        ``(track [ΣM, D], empty [B, D], det [ΣN, D])``."""
        track, empty, det = nodes
        track_sum, empty_sum, det_sum = inputs.split([track.size(0), empty.size(0), det.size(0)])
        return (
            run(self.track_node, torch.cat([track, track_sum], dim=-1)),
            run(self.empty_node, torch.cat([empty, empty_sum], dim=-1)),
            run(self.det_node, torch.cat([det, det_sum], dim=-1)),
        )
