"""Dense padded reference of the GNN blocks (the authors' layout), for tests and benchmarks only.

The same block modules (same weights) are evaluated on padded tensors with masks instead of a
graph: tracks ``[B, M, Dt]``, detections ``[B, N, Fd]``, empty tracks ``[B, Dt]``, track–detection
edges ``[B, M, N, Fe]``, empty–detection edges ``[B, N, Fe0]``, ``track_mask [B, M]`` and
``det_mask [B, N]``. Padded elements are computed and then ignored by the masks, as in RGNNVIS.
Every sum / softmax / max is written independently of PyG, so agreement with
:class:`~gvis.gnn.network.GraphNetwork` checks the graph implementation.

A new block type needs a dense function here (``@dense_block(MyBlock)``); subclasses inherit the
function of their parent (``mlp`` reuses the gated one: its gates are ``None``).
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.utils import to_dense_batch

from gvis.gnn.attention_block import AttentionBlock
from gvis.gnn.features import FrameFeatures
from gvis.gnn.gated_block import GatedBlock
from gvis.gnn.limited_block import LimitedBlock
from gvis.gnn.network import GraphNetwork
from gvis.gnn.residual_block import ResidualBlock
from gvis.graph.frame_graph import DET, EMPTY, EMPTY_TO_DET, TRACK, TRACK_TO_DET, build_frame_batch


class DenseFrame(NamedTuple):
    """A padded batch of frame graphs (shapes in the module docstring)."""

    track: Tensor
    det: Tensor
    empty: Tensor
    track_det: Tensor
    empty_det: Tensor
    track_mask: Tensor
    det_mask: Tensor


DenseBlockFn = Callable[[nn.Module, FrameFeatures, Tensor, Tensor], FrameFeatures]
_DENSE_BLOCKS: dict[type, DenseBlockFn] = {}


def dense_block(block_type: type) -> Callable[[DenseBlockFn], DenseBlockFn]:
    """Register the dense evaluation of ``block_type`` (and its subclasses without their own)."""

    def add(fn: DenseBlockFn) -> DenseBlockFn:
        _DENSE_BLOCKS[block_type] = fn
        return fn

    return add


def _find_dense_fn(block: nn.Module) -> DenseBlockFn | None:
    """The dense function of ``block``'s class or of its nearest parent that has one."""
    return next((_DENSE_BLOCKS[cls] for cls in type(block).__mro__ if cls in _DENSE_BLOCKS), None)


def _dense_fn(block: nn.Module) -> DenseBlockFn:
    fn = _find_dense_fn(block)
    if fn is None:
        raise TypeError(f"no dense reference for {type(block).__name__}; register one with @dense_block")
    return fn


def covers(gnn: GraphNetwork) -> bool:
    """Whether every block of ``gnn`` has a dense function (its own or a parent's)."""
    return all(_find_dense_fn(block) is not None for block in gnn.blocks)


def dense_forward(
    gnn: GraphNetwork,
    track_x: Tensor,
    det_x: Tensor,
    empty_x: Tensor,
    track_det_attr: Tensor,
    empty_det_attr: Tensor,
    track_mask: Tensor,
    det_mask: Tensor,
) -> FrameFeatures:
    """Run ``gnn``'s blocks on padded tensors. Returns dense :class:`FrameFeatures`:
    ``track [B, M, D]``, ``det [B, N, D]``, ``empty [B, D]``, ``track_det [B, M, N, D]``,
    ``empty_det [B, N, D]``, ``track_det_logit [B, M, N]`` or ``None``; padded entries are arbitrary."""
    features = FrameFeatures(track_x, det_x, empty_x, track_det_attr, empty_det_attr)
    for block in gnn.blocks:
        features = _dense_fn(block)(block, features, track_mask, det_mask)
    return features


# --- blocks ------------------------------------------------------------------------------------


def _dense_edges(block: nn.Module, f: FrameFeatures) -> tuple[Tensor, Tensor]:
    """φ_e([t_m ; d_n ; e_mn]) ``[B, M, N, D]`` and φ_0e([t_0 ; d_n ; e_0n]) ``[B, N, D]``."""
    num_tracks, num_dets = f.track.size(1), f.det.size(1)
    track_det = block.track_det_edge(
        torch.cat(
            [
                f.track.unsqueeze(2).expand(-1, -1, num_dets, -1),
                f.det.unsqueeze(1).expand(-1, num_tracks, -1, -1),
                f.track_det,
            ],
            dim=-1,
        )
    )
    empty_det = block.empty_det_edge(
        torch.cat([f.empty.unsqueeze(1).expand(-1, num_dets, -1), f.det, f.empty_det], dim=-1)
    )
    return track_det, empty_det


def _masked(x: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))


def _gated(edge: Tensor, gate: Optional[nn.Module]) -> Tensor:
    return edge if gate is None else edge * torch.sigmoid(gate(edge))


def _masked_softmax(scores: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Softmax over ``dim`` of the entries where ``mask``; zeros where ``mask`` is False everywhere."""
    neg_inf = torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
    peak = torch.where(mask, scores, neg_inf).amax(dim, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    weights = torch.exp(torch.where(mask, scores - peak, neg_inf))
    total = weights.sum(dim, keepdim=True)
    return weights / torch.where(total > 0, total, torch.ones_like(total))


def _node_updates(block: nn.Module, f: FrameFeatures, track_msg: Tensor, det_msg: Tensor, empty_msg: Tensor):
    return (
        block.track_node(torch.cat([f.track, track_msg], dim=-1)),
        block.det_node(torch.cat([f.det, det_msg], dim=-1)),
        block.empty_node(torch.cat([f.empty, empty_msg], dim=-1)),
    )


@dense_block(GatedBlock)
def _dense_gated(block: GatedBlock, f: FrameFeatures, track_mask: Tensor, det_mask: Tensor) -> FrameFeatures:
    pair_mask = track_mask.unsqueeze(2) & det_mask.unsqueeze(1)
    track_det, empty_det = _dense_edges(block, f)
    det_msg = _masked(_gated(track_det, block.det_from_track_gate), pair_mask).sum(1) + _gated(
        empty_det, block.det_from_empty_gate
    )
    track_msg = _masked(_gated(track_det, block.track_gate), pair_mask).sum(2)
    empty_msg = _masked(_gated(empty_det, block.empty_gate), det_mask).sum(1)
    track, det, empty = _node_updates(block, f, track_msg, det_msg, empty_msg)
    return FrameFeatures(track, det, empty, track_det, empty_det)


@dense_block(AttentionBlock)
def _dense_attention(block: AttentionBlock, f: FrameFeatures, track_mask: Tensor, det_mask: Tensor) -> FrameFeatures:
    num_tracks = f.track.size(1)
    pair_mask = track_mask.unsqueeze(2) & det_mask.unsqueeze(1)
    track_det, empty_det = _dense_edges(block, f)
    # A detection's softmax runs over its M track edges and its empty edge: [B, M + 1, N].
    det_scores = torch.cat(
        [block.det_from_track_gate(track_det).squeeze(-1), block.det_from_empty_gate(empty_det).squeeze(-1).unsqueeze(1)],
        dim=1,
    )
    det_weights = _masked_softmax(det_scores, torch.cat([pair_mask, det_mask.unsqueeze(1)], dim=1), dim=1)
    det_msg = _masked(det_weights[:, :num_tracks].unsqueeze(-1) * track_det, pair_mask).sum(1) + (
        det_weights[:, num_tracks].unsqueeze(-1) * empty_det
    )
    track_weights = _masked_softmax(block.track_gate(track_det).squeeze(-1), pair_mask, dim=2)
    track_msg = _masked(track_weights.unsqueeze(-1) * track_det, pair_mask).sum(2)
    empty_weights = _masked_softmax(block.empty_gate(empty_det).squeeze(-1), det_mask, dim=1)
    empty_msg = _masked(empty_weights.unsqueeze(-1) * empty_det, det_mask).sum(1)
    track, det, empty = _node_updates(block, f, track_msg, det_msg, empty_msg)
    return FrameFeatures(track, det, empty, track_det, empty_det)


@dense_block(LimitedBlock)
def _dense_limited(block: LimitedBlock, f: FrameFeatures, track_mask: Tensor, det_mask: Tensor) -> FrameFeatures:
    pair_mask = track_mask.unsqueeze(2) & det_mask.unsqueeze(1)
    track_det, empty_det = _dense_edges(block, f)
    logit = block.pair_score(track_det).squeeze(-1)  # [B, M, N]
    det = block.det_node(f.det)
    batch_size, num_tracks, num_dets = logit.shape
    gathered = det.new_zeros(batch_size, num_tracks, det.size(-1))
    if num_dets > 0:
        masked_logit = torch.where(pair_mask, logit.detach(), torch.full_like(logit, float("-inf")))
        best_logit, best_det = masked_logit.max(dim=2)  # first maximum
        gathered = torch.gather(det, 1, best_det.unsqueeze(-1).expand(-1, -1, det.size(-1)))
        gathered = _masked(gathered, best_logit > block.gather_threshold)
    track = block.track_node(torch.cat([f.track, gathered], dim=-1))
    return FrameFeatures(track, det, block.empty_node(f.empty), track_det, empty_det, logit)


@dense_block(ResidualBlock)
def _dense_residual(block: ResidualBlock, f: FrameFeatures, track_mask: Tensor, det_mask: Tensor) -> FrameFeatures:
    return f._replace(
        track=block.track(f.track),
        det=block.det(f.det),
        empty=block.empty(f.empty),
        track_det=block.track_det(f.track_det),
        empty_det=block.empty_det(f.empty_det),
    )


# --- converters --------------------------------------------------------------------------------


def graph_to_dense(batch: Batch) -> DenseFrame:
    """Pad a frame batch (from ``build_frame_batch`` or ``Batch.from_data_list``); padding is zero."""
    num_graphs = batch[EMPTY].x.size(0)
    track_batch, det_batch = batch[TRACK].batch, batch[DET].batch
    track, track_mask = to_dense_batch(batch[TRACK].x, track_batch, batch_size=num_graphs)
    det, det_mask = to_dense_batch(batch[DET].x, det_batch, batch_size=num_graphs)
    track_ptr, det_ptr = batch[TRACK].ptr, batch[DET].ptr
    source, target = batch[TRACK_TO_DET].edge_index
    graph = track_batch[source]
    edge_attr = batch[TRACK_TO_DET].edge_attr
    track_det = edge_attr.new_zeros(num_graphs, track.size(1), det.size(1), edge_attr.size(1))
    track_det[graph, source - track_ptr[graph], target - det_ptr[graph]] = edge_attr
    empty_attr = batch[EMPTY_TO_DET].edge_attr
    empty_target = batch[EMPTY_TO_DET].edge_index[1]
    empty_det = empty_attr.new_zeros(num_graphs, det.size(1), empty_attr.size(1))
    empty_graph = det_batch[empty_target]
    empty_det[empty_graph, empty_target - det_ptr[empty_graph]] = empty_attr
    return DenseFrame(track, det, batch[EMPTY].x, track_det, empty_det, track_mask, det_mask)


def dense_to_graph(frame: DenseFrame) -> Batch:
    """The frame batch of the masked entries of a padded batch (masks need not be prefixes)."""
    pair_mask = frame.track_mask.unsqueeze(2) & frame.det_mask.unsqueeze(1)
    return build_frame_batch(
        track_x=frame.track[frame.track_mask],
        track_batch=frame.track_mask.nonzero()[:, 0],
        det_x=frame.det[frame.det_mask],
        det_batch=frame.det_mask.nonzero()[:, 0],
        empty_x=frame.empty,
        track_det_attr=frame.track_det[pair_mask],
        empty_det_attr=frame.empty_det[frame.det_mask],
        num_graphs=frame.empty.size(0),
    )


def dense_to_flat(features: FrameFeatures, track_mask: Tensor, det_mask: Tensor) -> FrameFeatures:
    """The masked entries of dense outputs, in graph order (comparable with ``GraphNetwork`` output)."""
    pair_mask = track_mask.unsqueeze(2) & det_mask.unsqueeze(1)
    return FrameFeatures(
        features.track[track_mask],
        features.det[det_mask],
        features.empty,
        features.track_det[pair_mask],
        features.empty_det[det_mask],
        None if features.track_det_logit is None else features.track_det_logit[pair_mask],
    )
