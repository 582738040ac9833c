"""The edge step shared by the frame-graph blocks (docs/model.md §2, P eq. 1a)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from gvis.gnn.features import FrameEdges, FrameFeatures
from gvis.gnn.modules import mlp, run


class EdgeUpdateBlock(MessagePassing):
    r"""Base of the blocks that first update both edge types from the *old* nodes:

    .. math::
        e_{mn} \leftarrow \varphi_e([t_m ; d_n ; e_{mn}]), \qquad
        e_{0n} \leftarrow \varphi_{0e}([t_0 ; d_n ; e_{0n}])

    Each :math:`\varphi` is Linear + ReLU to width ``D``, plus ``Residual(D, residual_hidden)`` when
    ``edge_residual`` (the paper's first block). Subclasses add their node updates; aggregation is ``sum``.

    Args:
        track_dim: ``Dt``, width of track and empty-node inputs.
        det_dim: ``Fd``, width of detection inputs.
        track_det_dim: ``Fe``, width of track–detection edge inputs.
        empty_det_dim: ``Fe0``, width of empty–detection edge inputs (may be 0).
        width: ``D``, width of the new edges.
        residual_hidden: hidden width of the edge Residual (used when ``edge_residual``).
        edge_residual: append ``Residual(D, residual_hidden)`` to both edge functions.
    """

    def __init__(self, track_dim: int, det_dim: int, track_det_dim: int, empty_det_dim: int, width: int,
                 residual_hidden: int, edge_residual: bool) -> None:
        super().__init__(aggr="sum", node_dim=0)
        edge_residual_hidden = residual_hidden if edge_residual else None
        self.width = width
        self.track_det_edge = mlp(track_dim + det_dim + track_det_dim, width, residual_hidden=edge_residual_hidden)
        self.empty_det_edge = mlp(track_dim + det_dim + empty_det_dim, width, residual_hidden=edge_residual_hidden)

    def update_edges(self, features: FrameFeatures, edges: FrameEdges) -> tuple[Tensor, Tensor]:
        """The new ``(track_det [E, D], empty_det [ΣN, D])`` edges, both types in one ``edge_updater``
        call over ``edges.into_det`` (sources ``[tracks ; empty nodes]``)."""
        sources = torch.cat([features.track, features.empty])
        return self.edge_updater(
            edges.into_det,
            x=(sources, features.det),
            edge_attr=(features.track_det, features.empty_det),
            num_track_det=edges.track_to_det.size(1),
            size=(sources.size(0), features.det.size(0)),
        )

    def edge_update(  # type: ignore[override]
        self, x_j: Tensor, x_i: Tensor, edge_attr: tuple[Tensor, Tensor], num_track_det: int
    ) -> tuple[Tensor, Tensor]:
        """φ_e([track ; detection ; edge]) on the first ``num_track_det`` edges, φ_0e([empty ; detection ;
        edge]) on the rest: ``([E, D], [ΣN, D])``. (``num_track_det`` is the index's edge count, not the
        attributes' row count, so that ``torch.export`` sees the slices as sizes of the two edge indices.)"""
        track_det_attr, empty_det_attr = edge_attr
        track_det = run(self.track_det_edge, torch.cat([x_j[:num_track_det], x_i[:num_track_det], track_det_attr], dim=-1))
        empty_det = run(self.empty_det_edge, torch.cat([x_j[num_track_det:], x_i[num_track_det:], empty_det_attr], dim=-1))
        return track_det, empty_det

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)
