"""The edge step shared by the frame-graph blocks (docs/model.md §2, P eq. 1a)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
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
        call over ``edges.into_det`` (sources ``[tracks ; empty nodes]``).

        The first Linear of φ on ``[source ; detection ; edge]`` is applied as the sum of its column blocks:
        the node blocks once per node (``[ΣM + B, D]`` sources, ``[ΣN, 2D]`` detections for both edge
        types), gathered per edge, plus the edge block per edge, so that an edge costs ``Fe × D`` instead
        of ``(Dt + Fd + Fe) × D`` multiply-adds. The function is the same; its float32 rounding differs from
        the concatenated form of the dense reference within float32 tolerance (docs/gnn.md)."""
        track_dim, det_dim = features.track.size(1), features.det.size(1)
        track_det_first, empty_det_first = self.track_det_edge[0], self.empty_det_edge[0]
        sources = torch.cat([
            F.linear(features.track, track_det_first.weight[:, :track_dim]),
            F.linear(features.empty, empty_det_first.weight[:, :track_dim]),
        ])
        det_columns = slice(track_dim, track_dim + det_dim)
        dets = F.linear(features.det, torch.cat([track_det_first.weight[:, det_columns],
                                                 empty_det_first.weight[:, det_columns]]))
        return self.edge_updater(
            edges.into_det,
            x=(sources, dets),
            edge_attr=(features.track_det, features.empty_det),
            num_track_det=edges.track_to_det.size(1),
            size=(sources.size(0), features.det.size(0)),
        )

    def edge_update(  # type: ignore[override]
        self, x_j: Tensor, x_i: Tensor, edge_attr: tuple[Tensor, Tensor], num_track_det: int
    ) -> tuple[Tensor, Tensor]:
        """φ_e on the first ``num_track_det`` edges, φ_0e on the rest, from the projected source ``x_j [·, D]``
        and detection ``x_i [·, 2D]`` (φ_e's columns, then φ_0e's): ``([E, D], [ΣN, D])``.
        (``num_track_det`` is the index's edge count, not the attributes' row count, so that ``torch.export``
        sees the slices as sizes of the two edge indices.)"""
        width = x_j.size(1)
        track_det = self._finish(self.track_det_edge, x_j[:num_track_det] + x_i[:num_track_det, :width], edge_attr[0])
        empty_det = self._finish(self.empty_det_edge, x_j[num_track_det:] + x_i[num_track_det:, width:], edge_attr[1])
        return track_det, empty_det

    @staticmethod
    def _finish(edge_mlp: nn.Sequential, node_part: Tensor, edge_attr: Tensor) -> Tensor:
        """φ from its first Linear's node part ``[·, D]``: add the edge columns' product and the bias, then
        the remaining layers."""
        first = edge_mlp[0]
        x = node_part + F.linear(edge_attr, first.weight[:, first.weight.size(1) - edge_attr.size(1):], first.bias)
        for layer in list(edge_mlp)[1:]:
            x = run(layer, x)
        return x

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)
