"""Per-frame heterogeneous graphs: tracks, detections and one empty track per video.

A frame graph (docs/model.md §1) has three node types and two edge types, always all of them:

* ``'track'`` — ``x [M, Dt]``, one node per live track;
* ``'det'`` — ``x [N, Fd]``, one node per detection;
* ``'empty'`` — ``x [1, Dt]``, the empty track ("start a new track") of the video;
* ``('track', 'to', 'det')`` — complete bipartite, ``edge_index [2, M·N]`` ordered by track then
  detection (row-major over ``(m, n)``), ``edge_attr [M·N, Fe]``;
* ``('empty', 'to', 'det')`` — the empty node to every detection, ``edge_index [2, N]`` in detection
  order, ``edge_attr [N, Fe0]``.

A frame with no tracks or no detections still has every type, with ``[0, C]`` tensors: PyG's collate
takes the schema from the first graph, so a missing type would shift batch ids and point edges into
another graph's detections.

:func:`build_frame_batch` builds B such graphs as one batch directly from flat tensors and per-node
graph ids (vectorised offsets, no Python loop over graphs); the result equals
``Batch.from_data_list`` of the single graphs, which is slower on many tiny graphs.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch_geometric.data import Batch, HeteroData

TRACK = "track"
DET = "det"
EMPTY = "empty"
NODE_TYPES = (TRACK, DET, EMPTY)
TRACK_TO_DET = (TRACK, "to", DET)
EMPTY_TO_DET = (EMPTY, "to", DET)
EDGE_TYPES = (TRACK_TO_DET, EMPTY_TO_DET)


def _exclusive_cumsum(counts: Tensor) -> Tensor:
    """``[0, c0, c0+c1, ...]`` of length ``len(counts) + 1``."""
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def track_det_pairs(track_batch: Tensor, det_batch: Tensor, num_graphs: int) -> Tensor:
    """Every (track, detection) pair within the same graph: ``edge_index [2, E]``, ``E = Σ_b M_b·N_b``.

    Pairs are ordered by graph, then track, then detection; indices are global (into the flat track and
    detection tensors). ``track_batch [ΣM]`` and ``det_batch [ΣN]`` are the graph id of every node,
    sorted ascending (PyG's convention).
    """
    device = track_batch.device
    det_count = torch.bincount(det_batch, minlength=num_graphs)
    det_ptr = _exclusive_cumsum(det_count)
    dets_per_track = det_count[track_batch]  # [ΣM]
    num_tracks = track_batch.numel()
    source = torch.repeat_interleave(torch.arange(num_tracks, device=device), dets_per_track)
    # Position of each pair inside its track's run of detections.
    run_start = _exclusive_cumsum(dets_per_track)[:-1]
    within = torch.arange(source.numel(), device=device) - run_start[source]
    target = det_ptr[track_batch[source]] + within
    return torch.stack([source, target])


def frame_edge_indices(track_batch: Tensor, det_batch: Tensor, num_graphs: int) -> tuple[Tensor, Tensor]:
    """The two edge indices of a batch of frame graphs: ``track_det [2, E]`` (:func:`track_det_pairs`) and
    ``empty_det [2, ΣN]`` (graph id, detection row).

    Both depend only on the node counts per graph, which repeat from frame to frame of a video, so they
    are built once per count pattern (a small cache) instead of with ~20 tensor operations per frame.
    The returned tensors are shared between calls: read them, never write into them.
    """
    if num_graphs == 1:  # the counts without a bincount
        key = ((track_batch.numel(),), (det_batch.numel(),))
    else:
        counts = torch.stack([torch.bincount(track_batch, minlength=num_graphs),
                              torch.bincount(det_batch, minlength=num_graphs)]).tolist()
        key = (tuple(counts[0]), tuple(counts[1]))
    return _edge_indices_of_counts(*key, track_batch.device)


@functools.lru_cache(maxsize=64)
def _edge_indices_of_counts(track_counts: tuple[int, ...], det_counts: tuple[int, ...],
                            device: torch.device) -> tuple[Tensor, Tensor]:
    # Normal tensors even under inference mode: a later training step indexes with them (autograd saves them).
    with torch.inference_mode(False):
        graphs = torch.arange(len(track_counts), device=device)
        track_batch = torch.repeat_interleave(graphs, torch.tensor(track_counts, device=device))
        det_batch = torch.repeat_interleave(graphs, torch.tensor(det_counts, device=device))
        empty_det = torch.stack([det_batch, torch.arange(det_batch.numel(), device=device)])
        return track_det_pairs(track_batch, det_batch, len(track_counts)), empty_det


def build_frame_graph(
    track_x: Tensor,
    det_x: Tensor,
    empty_x: Tensor,
    track_det_attr: Tensor,
    empty_det_attr: Tensor,
) -> HeteroData:
    """One frame's graph.

    Args:
        track_x: ``[M, Dt]`` track features.
        det_x: ``[N, Fd]`` detection features.
        empty_x: ``[1, Dt]`` empty-track features.
        track_det_attr: ``[M·N, Fe]`` track–detection edge features, row-major over ``(m, n)``.
        empty_det_attr: ``[N, Fe0]`` empty–detection edge features (``Fe0`` may be 0).
    """
    num_tracks, num_dets = track_x.size(0), det_x.size(0)
    device = det_x.device
    tracks = torch.arange(num_tracks, device=device)
    dets = torch.arange(num_dets, device=device)
    graph = HeteroData()
    graph[TRACK].x = track_x
    graph[DET].x = det_x
    graph[EMPTY].x = empty_x
    graph[TRACK_TO_DET].edge_index = torch.stack(
        [tracks.repeat_interleave(num_dets), dets.repeat(num_tracks)]
    )
    graph[TRACK_TO_DET].edge_attr = track_det_attr
    graph[EMPTY_TO_DET].edge_index = torch.stack([torch.zeros_like(dets), dets])
    graph[EMPTY_TO_DET].edge_attr = empty_det_attr
    _check_rows(track_x, det_x, empty_x, track_det_attr, empty_det_attr, 1, num_tracks * num_dets)
    return graph


def build_frame_batch(
    track_x: Tensor,
    track_batch: Tensor,
    det_x: Tensor,
    det_batch: Tensor,
    empty_x: Tensor,
    track_det_attr: Tensor,
    empty_det_attr: Tensor,
    num_graphs: int,
) -> Batch:
    """B frame graphs as one PyG batch, built directly (equal to ``Batch.from_data_list``).

    Args:
        track_x: ``[ΣM, Dt]`` track features, grouped by graph.
        track_batch: ``[ΣM]`` graph id of each track (sorted).
        det_x: ``[ΣN, Fd]`` detection features, grouped by graph.
        det_batch: ``[ΣN]`` graph id of each detection (sorted).
        empty_x: ``[B, Dt]`` the empty track of every graph.
        track_det_attr: ``[E, Fe]`` edge features in :func:`track_det_pairs` order.
        empty_det_attr: ``[ΣN, Fe0]`` empty–detection edge features, in detection order.
        num_graphs: B.

    The batch has ``x``, ``batch`` and ``ptr`` per node type, ``edge_index`` and ``edge_attr`` per edge
    type, and the slice/increment bookkeeping that ``to_data_list`` / ``get_example`` use.
    """
    device = det_x.device
    graphs = torch.arange(num_graphs, device=device)
    track_count = torch.bincount(track_batch, minlength=num_graphs)
    det_count = torch.bincount(det_batch, minlength=num_graphs)
    track_ptr = _exclusive_cumsum(track_count)
    det_ptr = _exclusive_cumsum(det_count)
    empty_ptr = torch.arange(num_graphs + 1, device=device)
    edge_ptr = _exclusive_cumsum(track_count * det_count)

    batch = Batch(_base_cls=HeteroData)
    for node_type, x, node_batch, ptr in (
        (TRACK, track_x, track_batch, track_ptr),
        (DET, det_x, det_batch, det_ptr),
        (EMPTY, empty_x, graphs, empty_ptr),
    ):
        batch[node_type].x = x
        batch[node_type].batch = node_batch
        batch[node_type].ptr = ptr
    batch[TRACK_TO_DET].edge_index = track_det_pairs(track_batch, det_batch, num_graphs)
    batch[TRACK_TO_DET].edge_attr = track_det_attr
    batch[EMPTY_TO_DET].edge_index = torch.stack([det_batch, torch.arange(det_x.size(0), device=device)])
    batch[EMPTY_TO_DET].edge_attr = empty_det_attr

    # Bookkeeping of PyG's collate: per-graph slices into every attribute and the index increments.
    zeros = torch.zeros(num_graphs, dtype=torch.long, device=device)
    batch._num_graphs = num_graphs
    batch._slice_dict = {
        TRACK: {"x": track_ptr},
        DET: {"x": det_ptr},
        EMPTY: {"x": empty_ptr},
        TRACK_TO_DET: {"edge_index": edge_ptr, "edge_attr": edge_ptr},
        EMPTY_TO_DET: {"edge_index": det_ptr, "edge_attr": det_ptr},
    }
    batch._inc_dict = {
        TRACK: {"x": zeros},
        DET: {"x": zeros},
        EMPTY: {"x": zeros},
        TRACK_TO_DET: {"edge_index": torch.stack([track_ptr[:-1], det_ptr[:-1]], 1).unsqueeze(-1), "edge_attr": zeros},
        EMPTY_TO_DET: {"edge_index": torch.stack([graphs, det_ptr[:-1]], 1).unsqueeze(-1), "edge_attr": zeros},
    }
    _check_rows(track_x, det_x, empty_x, track_det_attr, empty_det_attr, num_graphs, int(edge_ptr[-1]))
    if track_batch.size(0) != track_x.size(0) or det_batch.size(0) != det_x.size(0):
        raise ValueError("build_frame_batch: track_batch / det_batch must have one entry per track / detection")
    return batch


def _check_rows(
    track_x: Tensor,
    det_x: Tensor,
    empty_x: Tensor,
    track_det_attr: Tensor,
    empty_det_attr: Tensor,
    num_graphs: int,
    num_pairs: int,
) -> None:
    """Row counts of the builder inputs (cheap: sizes only, no data-dependent reductions)."""
    expected = {
        "empty_x": (empty_x, num_graphs),
        "track_det_attr": (track_det_attr, num_pairs),
        "empty_det_attr": (empty_det_attr, det_x.size(0)),
    }
    for name, (tensor, rows) in expected.items():
        if tensor.dim() != 2 or tensor.size(0) != rows:
            raise ValueError(f"frame graph builder: {name} must be [{rows}, C], got {list(tensor.shape)}")
    if track_x.dim() != 2 or det_x.dim() != 2 or empty_x.size(1) != track_x.size(1):
        raise ValueError(
            f"frame graph builder: track_x [M, Dt], det_x [N, Fd] and empty_x [B, Dt] expected, got "
            f"{list(track_x.shape)}, {list(det_x.shape)}, {list(empty_x.shape)}"
        )


def validate_frame_graph(graph: HeteroData) -> None:
    """Check a frame graph or batch; ``ValueError`` naming the node/edge type and field if it is malformed.

    Checks: every node and edge type present with ``x`` / ``edge_index`` / ``edge_attr``; 2-D features
    of one width per type (tracks and empty nodes alike); edge counts matching their features; indices
    in range; exactly one empty node per graph; one empty edge per detection, in detection order.
    """
    for node_type in NODE_TYPES:
        if node_type not in graph.node_types:
            raise ValueError(f"frame graph: missing node type '{node_type}' (have {graph.node_types})")
        x = graph[node_type].get("x")
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"frame graph: node type '{node_type}': field 'x' must be a 2-D tensor")
    for edge_type in EDGE_TYPES:
        if edge_type not in graph.edge_types:
            raise ValueError(f"frame graph: missing edge type {edge_type} (have {graph.edge_types})")
        store = graph[edge_type]
        edge_index, edge_attr = store.get("edge_index"), store.get("edge_attr")
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"frame graph: edge type {edge_type}: field 'edge_index' must be [2, E]")
        if edge_index.dtype != torch.long:
            raise ValueError(f"frame graph: edge type {edge_type}: field 'edge_index' must be int64")
        if not isinstance(edge_attr, Tensor) or edge_attr.dim() != 2 or edge_attr.size(0) != edge_index.size(1):
            raise ValueError(
                f"frame graph: edge type {edge_type}: field 'edge_attr' must be [E, C] with "
                f"E = {edge_index.size(1)} edges"
            )
        for row, node_type in ((0, edge_type[0]), (1, edge_type[2])):
            count = graph[node_type].x.size(0)
            if edge_index.numel() and (edge_index[row].min() < 0 or edge_index[row].max() >= count):
                raise ValueError(
                    f"frame graph: edge type {edge_type}: field 'edge_index' row {row} out of range "
                    f"for {count} '{node_type}' nodes"
                )
    track_dim, empty_dim = graph[TRACK].x.size(1), graph[EMPTY].x.size(1)
    if track_dim != empty_dim:
        raise ValueError(
            f"frame graph: node type 'empty': field 'x' has width {empty_dim}, tracks have {track_dim}"
        )
    num_graphs = getattr(graph, "num_graphs", 1) if isinstance(graph, Batch) else 1
    num_dets = graph[DET].x.size(0)
    if graph[EMPTY].x.size(0) != num_graphs:
        raise ValueError(
            f"frame graph: node type 'empty': field 'x' has {graph[EMPTY].x.size(0)} rows for "
            f"{num_graphs} graph(s); expected one empty node per graph"
        )
    empty_targets = graph[EMPTY_TO_DET].edge_index[1]
    if empty_targets.numel() != num_dets or not torch.equal(
        empty_targets, torch.arange(num_dets, device=empty_targets.device)
    ):
        raise ValueError(
            f"frame graph: edge type {EMPTY_TO_DET}: field 'edge_index' must link the empty node to every "
            "detection exactly once, in detection order"
        )
