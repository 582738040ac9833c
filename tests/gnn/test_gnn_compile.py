"""torch.compile(dynamic=True, fullgraph=True) of the GNN: no graph breaks, no recompiles across sizes."""
from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounter

from gvis.gnn import GNNConfig, build_gnn
from gvis.gnn.dense_reference import DenseFrame, dense_to_graph
from gvis.graph import EMPTY_TO_DET, TRACK_TO_DET
from gvis.registry import GNN_LAYERS

pytestmark = pytest.mark.compile


def graph_tensors(batch: int, tracks: int, dets: int, seed: int):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    graph = dense_to_graph(
        DenseFrame(
            rand(batch, tracks, 128), rand(batch, dets, 45), rand(batch, 128),
            rand(batch, tracks, dets, 2), rand(batch, dets, 1),
            torch.rand(batch, tracks, generator=generator) < 0.8,
            torch.rand(batch, dets, generator=generator) < 0.8,
        )
    )
    return (
        graph["track"].x, graph["det"].x, graph["empty"].x,
        graph[TRACK_TO_DET].edge_index, graph[TRACK_TO_DET].edge_attr,
        graph[EMPTY_TO_DET].edge_index, graph[EMPTY_TO_DET].edge_attr,
    )


def assert_same(compiled_out, eager_out):
    for got, expected in zip(compiled_out, eager_out):
        assert (got is None) == (expected is None)
        if got is not None:
            torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("variant", [name for name in GNN_LAYERS.names() if name != "residual"])
def test_gnn_traces_as_one_graph_for_all_sizes(variant):
    """Dynamo traces the whole forward (fullgraph) once for every non-empty size."""
    torch._dynamo.reset()
    gnn = build_gnn(GNNConfig(blocks=[variant, "residual", variant, "residual"]), 45, 2, 1).eval()
    counter = CompileCounter()
    compiled = torch.compile(gnn.forward_tensors, backend=counter, dynamic=True, fullgraph=True)
    with torch.no_grad():
        for seed, (batch, tracks, dets) in enumerate([(3, 6, 5), (5, 9, 11), (2, 4, 3)]):
            args = graph_tensors(batch, tracks, dets, seed)
            assert_same(compiled(*args), gnn.forward_tensors(*args))
        assert counter.frame_count == 1
        # Zero tracks: size 0 is specialised by dynamo (one more graph), still without breaks.
        args = graph_tensors(2, 0, 3, 9)
        assert_same(compiled(*args), gnn.forward_tensors(*args))
        assert counter.frame_count <= 2


@pytest.mark.slow
def test_gnn_compiles_with_inductor():
    """The default GNN through inductor (C++ codegen: minutes on a busy 2-core CPU)."""
    torch._dynamo.reset()
    gnn = build_gnn(GNNConfig(), 45, 2, 1).eval()
    compiled = torch.compile(gnn.forward_tensors, dynamic=True, fullgraph=True)
    with torch.no_grad():
        for seed, (batch, tracks, dets) in enumerate([(3, 6, 5), (4, 8, 10)]):
            args = graph_tensors(batch, tracks, dets, seed)
            assert_same(compiled(*args), gnn.forward_tensors(*args))
