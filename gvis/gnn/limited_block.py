"""Table 1 "Limited GNN": pair-only association, each track gathers its best detection once."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from gvis.gnn.edge_update import EdgeUpdateBlock
from gvis.gnn.features import FrameEdges, FrameFeatures
from gvis.gnn.modules import mlp, reset_all, run
from gvis.registry import GNN_LAYERS


@GNN_LAYERS.register("limited")
class LimitedBlock(EdgeUpdateBlock):
    r"""No message passing between edges and nodes: the association score of a pair comes from the
    pair alone, and each track gathers the features of its best-scoring detection once
    (docs/model.md §8 "Limited GNN"; RGNNVIS ``TrkNograph``, ``MatcherScoreLayerNograph``).

    .. math::
        e_{mn} &\leftarrow \varphi_e([t_m ; d_n ; e_{mn}]), \qquad
        e_{0n} \leftarrow \varphi_{0e}([t_0 ; d_n ; e_{0n}]) \\
        s_{mn} &= w^\top e_{mn} + b \qquad \text{(association logit, output as } \texttt{track\_det\_logit}) \\
        d_n &\leftarrow \varphi_d(d_n), \qquad t_0 \leftarrow \varphi_0(t_0) \\
        t_m &\leftarrow \varphi_t\big([t_m ; \mathbb{1}[s_{mn^*} > \tau]\, d_{n^*}]\big),
        \qquad n^* = \arg\max_n s_{mn}

    :math:`d_{n^*}` is the *new* detection embedding; ties go to the first detection; a track with no
    detections gathers zeros. The selection is hard (no gradient through :math:`n^*`; gradients reach
    :math:`s` through the association loss). Each :math:`\varphi` is Linear + ReLU to ``D`` (edge
    functions with ``Residual`` when ``edge_residual``). The paper's "new-track score = −max_m s_mn"
    (``MatcherScoreLayerNograph``, detached) belongs to the heads, which read ``track_det_logit``.
    The authors did not release the layer sizes; these follow block 1 of docs/model.md §2.

    Args:
        track_dim, det_dim, track_det_dim, empty_det_dim, width, residual_hidden, edge_residual:
            as :class:`~gvis.gnn.gated_block.GatedBlock`.
        gather_threshold: :math:`\tau`; the authors' default −100 gathers the best detection whenever
            a track has one.

    Shapes:
        - **input:** :class:`FrameFeatures` (input widths), :class:`FrameEdges`.
        - **output:** :class:`FrameFeatures` of width ``D`` with ``track_det_logit [E]``.
    """

    def __init__(
        self,
        track_dim: int,
        det_dim: int,
        track_det_dim: int,
        empty_det_dim: int,
        width: int = 128,
        residual_hidden: int = 32,
        edge_residual: bool = False,
        gather_threshold: float = -100.0,
    ) -> None:
        super().__init__(track_dim, det_dim, track_det_dim, empty_det_dim, width, residual_hidden, edge_residual)
        self.gather_threshold = gather_threshold
        self.pair_score = nn.Linear(width, 1)
        self.det_node = mlp(det_dim, width)
        self.empty_node = mlp(track_dim, width)
        self.track_node = mlp(track_dim + width, width)

    def reset_parameters(self) -> None:
        reset_all(self)

    def forward(self, features: FrameFeatures, edges: FrameEdges) -> FrameFeatures:
        num_tracks, num_dets = features.track.size(0), features.det.size(0)
        track_det, empty_det = self.update_edges(features, edges)
        track_det_logit = run(self.pair_score, track_det).squeeze(-1)
        det = run(self.det_node, features.det)
        track = self.propagate(
            edges.det_to_track,
            x=(det, features.track),
            is_best=self.best_detection(track_det_logit, edges.track_to_det[0], num_tracks),
            size=(num_dets, num_tracks),
        )
        return FrameFeatures(track, det, run(self.empty_node, features.empty), track_det, empty_det, track_det_logit)

    def best_detection(self, logit: Tensor, track_index: Tensor, num_tracks: int) -> Tensor:
        """``[E]`` bool: the edge is its track's first maximum of ``logit`` and exceeds the threshold."""
        logit = logit.detach()
        edge_ids = torch.arange(logit.numel(), device=logit.device)
        best = scatter(logit, track_index, dim=0, dim_size=num_tracks, reduce="max")
        candidate = torch.where(logit == best[track_index], edge_ids, logit.numel())
        first = scatter(candidate, track_index, dim=0, dim_size=num_tracks, reduce="min")
        return (edge_ids == first[track_index]) & (logit > self.gather_threshold)

    def message(self, x_j: Tensor, is_best: Tensor) -> Tensor:
        """The detection's embedding on its track's best edge, zeros elsewhere."""
        return x_j * is_best.unsqueeze(-1).to(x_j.dtype)

    def update(self, inputs: Tensor, x: tuple[Tensor, Tensor]) -> Tensor:
        """φ_t([track ; gathered detection])."""
        return run(self.track_node, torch.cat([x[1], inputs], dim=-1))
