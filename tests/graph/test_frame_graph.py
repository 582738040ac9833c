"""Frame graphs: structure, the batched builder against Batch.from_data_list, validation."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from gvis.graph import (
    DET,
    EDGE_TYPES,
    EMPTY,
    EMPTY_TO_DET,
    NODE_TYPES,
    TRACK,
    TRACK_TO_DET,
    build_frame_batch,
    build_frame_graph,
    frame_edge_indices,
    track_det_pairs,
    validate_frame_graph,
)

TRACK_DIM, DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM = 5, 4, 2, 1


def single_graph(num_tracks: int, num_dets: int, generator: torch.Generator):
    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    return build_frame_graph(
        rand(num_tracks, TRACK_DIM),
        rand(num_dets, DET_DIM),
        rand(1, TRACK_DIM),
        rand(num_tracks * num_dets, EDGE_DIM),
        rand(num_dets, EMPTY_EDGE_DIM),
    )


def batch_directly(graphs):
    """build_frame_batch from the concatenated tensors of single graphs."""
    def cat(key, field):
        return torch.cat([g[key][field] for g in graphs])

    def ids(node_type):
        return torch.cat([torch.full((g[node_type].x.size(0),), b) for b, g in enumerate(graphs)]).long()

    return build_frame_batch(
        track_x=cat(TRACK, "x"),
        track_batch=ids(TRACK),
        det_x=cat(DET, "x"),
        det_batch=ids(DET),
        empty_x=cat(EMPTY, "x"),
        track_det_attr=cat(TRACK_TO_DET, "edge_attr"),
        empty_det_attr=cat(EMPTY_TO_DET, "edge_attr"),
        num_graphs=len(graphs),
    )


def test_track_det_pairs_hand_computed():
    # graph 0: 2 tracks × 3 dets; graph 1: 0 tracks × 2 dets; graph 2: 1 track × 0 dets
    pairs = track_det_pairs(torch.tensor([0, 0, 2]), torch.tensor([0, 0, 0, 1, 1]), num_graphs=3)
    assert pairs.tolist() == [[0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]]
    # graph 0: 1 × 1; graph 1: 2 × 2
    pairs = track_det_pairs(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 1]), num_graphs=2)
    assert pairs.tolist() == [[0, 1, 1, 2, 2], [0, 1, 2, 1, 2]]
    empty = track_det_pairs(torch.zeros(0, dtype=torch.long), torch.tensor([0, 1]), num_graphs=2)
    assert empty.shape == (2, 0) and empty.dtype == torch.long


@pytest.mark.parametrize("track_counts, det_counts", [([3], [4]), ([0], [2]), ([2], [0]), ([2, 0, 1], [3, 2, 0]),
                                                       ([1, 1], [1, 1])])
def test_frame_edge_indices_equal_the_uncached_construction(track_counts, det_counts):
    num_graphs = len(track_counts)
    track_batch = torch.repeat_interleave(torch.arange(num_graphs), torch.tensor(track_counts))
    det_batch = torch.repeat_interleave(torch.arange(num_graphs), torch.tensor(det_counts))
    for _ in range(2):  # built, then from the cache
        track_det, empty_det = frame_edge_indices(track_batch, det_batch, num_graphs)
        assert torch.equal(track_det, track_det_pairs(track_batch, det_batch, num_graphs))
        assert torch.equal(empty_det, torch.stack([det_batch, torch.arange(det_batch.numel())]))


def test_frame_edge_indices_made_under_inference_mode_serve_training():
    track_batch, det_batch = torch.zeros(5, dtype=torch.long), torch.zeros(7, dtype=torch.long)
    with torch.inference_mode():
        frame_edge_indices(track_batch, det_batch, 1)
    src, dst = frame_edge_indices(track_batch, det_batch, 1)[0]
    x = torch.randn(7, 3, requires_grad=True)
    x[dst].sum().backward()  # autograd saves the index: an inference tensor would be refused here
    assert torch.equal(x.grad, torch.full((7, 3), 5.0))


def test_single_graph_structure():
    graph = single_graph(2, 3, torch.Generator().manual_seed(0))
    assert set(graph.node_types) == set(NODE_TYPES) and set(graph.edge_types) == set(EDGE_TYPES)
    assert graph[TRACK_TO_DET].edge_index.tolist() == [[0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]]
    assert graph[EMPTY_TO_DET].edge_index.tolist() == [[0, 0, 0], [0, 1, 2]]
    validate_frame_graph(graph)


@pytest.mark.parametrize("num_tracks,num_dets", [(0, 3), (2, 0), (0, 0)])
def test_single_graph_keeps_every_type_when_empty(num_tracks, num_dets):
    graph = single_graph(num_tracks, num_dets, torch.Generator().manual_seed(0))
    assert graph[TRACK].x.shape == (num_tracks, TRACK_DIM)
    assert graph[DET].x.shape == (num_dets, DET_DIM)
    assert graph[EMPTY].x.shape == (1, TRACK_DIM)
    assert graph[TRACK_TO_DET].edge_index.shape == (2, num_tracks * num_dets)
    assert graph[TRACK_TO_DET].edge_attr.shape == (num_tracks * num_dets, EDGE_DIM)
    assert graph[EMPTY_TO_DET].edge_index.shape == (2, num_dets)
    validate_frame_graph(graph)


SIZE_LISTS = [
    [(2, 3), (0, 2), (1, 0), (7, 7), (0, 0), (2, 1)],
    [(0, 0)],
    [(0, 4), (0, 1)],
    [(3, 0), (1, 0)],
    [(1, 1)],
]


@pytest.mark.parametrize("sizes", SIZE_LISTS)
def test_batched_builder_equals_from_data_list(sizes):
    generator = torch.Generator().manual_seed(len(sizes))
    graphs = [single_graph(m, n, generator) for m, n in sizes]
    expected = Batch.from_data_list(graphs)
    built = batch_directly(graphs)
    assert built.num_graphs == expected.num_graphs == len(sizes)
    for node_type in NODE_TYPES:
        for field in ("x", "batch", "ptr"):
            assert torch.equal(built[node_type][field], expected[node_type][field]), (node_type, field)
    for edge_type in EDGE_TYPES:
        for field in ("edge_index", "edge_attr"):
            assert torch.equal(built[edge_type][field], expected[edge_type][field]), (edge_type, field)
    assert set(built.node_types) == set(expected.node_types)
    assert set(built.edge_types) == set(expected.edge_types)
    # The collate bookkeeping matches too, so the batch splits back into the same graphs.
    for original, recovered in zip(graphs, built.to_data_list()):
        for key in NODE_TYPES:
            assert torch.equal(original[key].x, recovered[key].x)
        for key in EDGE_TYPES:
            assert torch.equal(original[key].edge_index, recovered[key].edge_index)
            assert torch.equal(original[key].edge_attr, recovered[key].edge_attr)
    validate_frame_graph(built)
    validate_frame_graph(expected)


def test_validation_rejects_missing_node_type():
    generator = torch.Generator().manual_seed(1)
    batch = Batch.from_data_list([single_graph(2, 3, generator), single_graph(1, 2, generator)])
    del batch[EMPTY]
    with pytest.raises(ValueError, match="missing node type 'empty'"):
        validate_frame_graph(batch)


def test_validation_rejects_missing_edge_type():
    graph = single_graph(2, 3, torch.Generator().manual_seed(1))
    del graph[EMPTY_TO_DET]
    with pytest.raises(ValueError, match="missing edge type"):
        validate_frame_graph(graph)


def test_validation_rejects_out_of_range_index():
    graph = single_graph(2, 3, torch.Generator().manual_seed(1))
    graph[TRACK_TO_DET].edge_index[1, -1] = 3
    with pytest.raises(ValueError, match=r"\('track', 'to', 'det'\).*out of range for 3 'det' nodes"):
        validate_frame_graph(graph)


def test_validation_rejects_wrong_widths_and_counts():
    graph = single_graph(2, 3, torch.Generator().manual_seed(1))
    graph[EMPTY].x = torch.zeros(1, TRACK_DIM + 1)
    with pytest.raises(ValueError, match="node type 'empty'"):
        validate_frame_graph(graph)
    graph = single_graph(2, 3, torch.Generator().manual_seed(1))
    graph[TRACK_TO_DET].edge_attr = torch.zeros(5, EDGE_DIM)
    with pytest.raises(ValueError, match="'edge_attr'"):
        validate_frame_graph(graph)
    graph = single_graph(2, 3, torch.Generator().manual_seed(1))
    graph[EMPTY_TO_DET].edge_index = graph[EMPTY_TO_DET].edge_index.flip(1)
    with pytest.raises(ValueError, match="every detection exactly once"):
        validate_frame_graph(graph)


def test_builders_check_row_counts():
    with pytest.raises(ValueError, match="track_det_attr"):
        build_frame_graph(torch.zeros(2, 5), torch.zeros(3, 4), torch.zeros(1, 5), torch.zeros(5, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="empty_x"):
        build_frame_batch(
            torch.zeros(1, 5), torch.tensor([0]), torch.zeros(1, 4), torch.tensor([1]),
            torch.zeros(1, 5), torch.zeros(0, 2), torch.zeros(1, 1), num_graphs=2,
        )
