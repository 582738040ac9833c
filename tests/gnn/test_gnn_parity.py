"""Every GNN variant and block sequence: graph (PyG) forward == dense padded reference, float64.

Random batches mix graphs with M, N ∈ {0, 1, 2, 7}; padding holds random values (masks must hide
it) and live slots are scattered (masks are not prefixes). Outputs and parameter gradients of the
same weights must agree within 1e-5.
"""
from __future__ import annotations

import itertools
import zlib

import pytest
import torch

from gvis.gnn import GNNConfig, build_gnn
from gvis.gnn.dense_reference import DenseFrame, dense_forward, dense_to_flat, dense_to_graph, graph_to_dense
from gvis.graph import validate_frame_graph
from gvis.registry import GNN_LAYERS

SIZES = (0, 1, 2, 7)
TOL = 1e-5
#: Every registered block but ``residual`` (the node-only block that the sequences interleave): a new block is
#: checked against its dense function (``@dense_block``) without editing this file.
VARIANTS = tuple(name for name in GNN_LAYERS.names() if name != "residual")
SEQUENCES = {
    "one_block": lambda v: [v],
    "one_block_residual": lambda v: [v, "residual"],
    "paper": lambda v: [v, "residual", v, "residual"],
    "three_blocks": lambda v: [v, "residual", v, "residual", v, "residual"],
    "no_interleaved_residual": lambda v: [v, v],
}
# (det_dim, track_det_dim, empty_det_dim, track_dim): default; no appearance; appearance baked in.
INPUT_DIMS = {"default": (45, 2, 1, None), "no_appearance": (45, 1, 0, None), "baked": (53, 1, 0, 40)}


def random_frame(sizes: list[tuple[int, int]], dims, width: int, generator: torch.Generator) -> DenseFrame:
    det_dim, edge_dim, empty_edge_dim, track_dim = dims
    track_dim = width if track_dim is None else track_dim
    batch = len(sizes)
    max_tracks = max(m for m, _ in sizes) + 1  # one extra padded slot in every graph
    max_dets = max(n for _, n in sizes) + 1

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    def scattered_mask(counts, slots):
        mask = torch.zeros(batch, slots, dtype=torch.bool)
        for b, count in enumerate(counts):
            mask[b, torch.randperm(slots, generator=generator)[:count]] = True
        return mask

    return DenseFrame(
        track=rand(batch, max_tracks, track_dim),
        det=rand(batch, max_dets, det_dim),
        empty=rand(batch, track_dim),
        track_det=rand(batch, max_tracks, max_dets, edge_dim),
        empty_det=rand(batch, max_dets, empty_edge_dim),
        track_mask=scattered_mask([m for m, _ in sizes], max_tracks),
        det_mask=scattered_mask([n for _, n in sizes], max_dets),
    )


def random_sizes(generator: torch.Generator, batch: int) -> list[tuple[int, int]]:
    picks = torch.randint(len(SIZES), (batch, 2), generator=generator).tolist()
    return [(SIZES[m], SIZES[n]) for m, n in picks]


def check_parity(gnn, frame: DenseFrame, generator: torch.Generator) -> None:
    graph = dense_to_graph(frame)
    validate_frame_graph(graph)
    params = [p for p in gnn.parameters()]
    graph_out = gnn(graph)
    dense_out = dense_to_flat(dense_forward(gnn, *frame), frame.track_mask, frame.det_mask)
    assert (graph_out.track_det_logit is None) == (dense_out.track_det_logit is None)
    pairs = [(g, d) for g, d in zip(graph_out, dense_out) if g is not None]
    for field, (g, d) in zip(graph_out._fields, pairs):
        assert g.shape == d.shape, field
        torch.testing.assert_close(g, d, rtol=0, atol=TOL, msg=lambda m: f"{field}: {m}")
    # Gradients of one random linear functional of every output, through each implementation.
    weights = [torch.randn(g.shape, generator=generator, dtype=torch.float64) for g, _ in pairs]
    graph_loss = sum((w * g).sum() for w, (g, _) in zip(weights, pairs))
    dense_loss = sum((w * d).sum() for w, (_, d) in zip(weights, pairs))
    graph_grads = torch.autograd.grad(graph_loss, params, allow_unused=True)
    dense_grads = torch.autograd.grad(dense_loss, params, allow_unused=True)
    for (name, _), g, d in zip(gnn.named_parameters(), graph_grads, dense_grads):
        assert (g is None) == (d is None), name
        if g is not None:
            torch.testing.assert_close(g, d, rtol=0, atol=TOL, msg=lambda m: f"grad {name}: {m}")


def build(blocks, dims, width=32):
    det_dim, edge_dim, empty_edge_dim, track_dim = dims
    config = GNNConfig(width=width, gate_hidden=8, residual_hidden=8, blocks=blocks)
    return build_gnn(config, det_dim, edge_dim, empty_edge_dim, track_dim=track_dim).double()


@pytest.mark.parametrize("variant,sequence", list(itertools.product(VARIANTS, SEQUENCES)))
def test_parity_every_variant_and_sequence(variant, sequence):
    generator = torch.Generator().manual_seed(zlib.crc32(f"{variant}/{sequence}".encode()))
    torch.manual_seed(0)
    gnn = build(SEQUENCES[sequence](variant), INPUT_DIMS["default"])
    for _ in range(2):
        frame = random_frame(random_sizes(generator, 6), INPUT_DIMS["default"], gnn.width, generator)
        check_parity(gnn, frame, generator)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dims", ["no_appearance", "baked"])
def test_parity_input_widths(variant, dims):
    generator = torch.Generator().manual_seed(7)
    gnn = build([variant, "residual"], INPUT_DIMS[dims])
    frame = random_frame(random_sizes(generator, 5), INPUT_DIMS[dims], gnn.width, generator)
    check_parity(gnn, frame, generator)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("sizes", [[(0, 0)], [(0, 2), (0, 7)], [(7, 0), (1, 0)], [(2, 7), (0, 0), (7, 0), (0, 1)]])
def test_parity_empty_graphs(variant, sizes):
    generator = torch.Generator().manual_seed(3)
    gnn = build([variant, "residual", variant], INPUT_DIMS["default"])
    check_parity(gnn, random_frame(sizes, INPUT_DIMS["default"], gnn.width, generator), generator)


def test_parity_at_paper_widths():
    generator = torch.Generator().manual_seed(11)
    gnn = build_gnn(GNNConfig(), 45, 2, 1).double()
    check_parity(gnn, random_frame(random_sizes(generator, 8), INPUT_DIMS["default"], 128, generator), generator)


def test_limited_ties_go_to_the_first_detection():
    """With a constant pair score every detection ties; graph and dense both gather the first."""
    generator = torch.Generator().manual_seed(5)
    gnn = build(["limited"], INPUT_DIMS["default"])
    with torch.no_grad():
        gnn.blocks[0].pair_score.weight.zero_()
    frame = random_frame([(2, 3), (1, 7), (0, 2)], INPUT_DIMS["default"], gnn.width, generator)
    check_parity(gnn, frame, generator)


def test_dense_graph_round_trip():
    generator = torch.Generator().manual_seed(2)
    frame = random_frame([(2, 3), (0, 1), (7, 0), (1, 7)], INPUT_DIMS["default"], 16, generator)
    graph = dense_to_graph(frame)
    padded = graph_to_dense(graph)
    again = dense_to_graph(padded)
    for node_type in ("track", "det", "empty"):
        assert torch.equal(graph[node_type].x, again[node_type].x)
    for edge_type in graph.edge_types:
        assert torch.equal(graph[edge_type].edge_index, again[edge_type].edge_index)
        assert torch.equal(graph[edge_type].edge_attr, again[edge_type].edge_attr)
    # Live slots come first after graph_to_dense (prefix masks).
    counts = padded.track_mask.sum(1)
    assert torch.equal(padded.track_mask, torch.arange(padded.track_mask.size(1)) < counts[:, None])
