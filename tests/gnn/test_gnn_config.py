"""GNN configuration: every registry entry from YAML, docs/model.md §2 block shapes, bad names and keywords."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from gvis.config import load_config
from gvis.errors import ConfigError
from gvis.gnn import GatedBlock, GNNConfig, LimitedBlock, MLPBlock, Residual, ResidualBlock, build_gnn
from gvis.gnn.dense_reference import DenseFrame, dense_to_graph
from gvis.registry import GNN_LAYERS

DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM = 45, 2, 1


def load(tmp_path, text: str) -> GNNConfig:
    path = tmp_path / "gnn.yaml"
    path.write_text(text)
    return load_config(GNNConfig, path)


def small_batch(width: int = 128):
    generator = torch.Generator().manual_seed(0)
    frame = DenseFrame(
        torch.randn(3, 4, width, generator=generator),
        torch.randn(3, 5, DET_DIM, generator=generator),
        torch.randn(3, width, generator=generator),
        torch.randn(3, 4, 5, EDGE_DIM, generator=generator),
        torch.randn(3, 5, EMPTY_EDGE_DIM, generator=generator),
        torch.tensor([[True] * 4, [False] * 4, [True, False, True, False]]),
        torch.tensor([[True] * 5, [True, True, False, False, False], [False] * 5]),
    )
    return dense_to_graph(frame)


@pytest.mark.parametrize("name", GNN_LAYERS.names())
def test_every_registry_entry_builds_from_yaml(tmp_path, name):
    blocks = f"[gated, {name}]" if name == "residual" else f"[{name}, residual, {name}]"
    config = load(tmp_path, f"width: 32\nblocks: {blocks}\n")
    gnn = build_gnn(config, DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM, track_dim=128)
    assert isinstance(gnn.blocks[-1], GNN_LAYERS.get(name))
    out = gnn(small_batch())
    assert out.track.shape == (6, 32) and out.det.shape == (7, 32) and out.empty.shape == (3, 32)
    assert out.track_det.shape == (4 * 5 + 0 * 2 + 2 * 0, 32) and out.empty_det.shape == (7, 32)
    assert out.track_det_logit is None or out.track_det_logit.shape == (4 * 5,)


def test_only_the_limited_block_scores_pairs():
    for name, scores in (("limited", True), ("gated", False), ("attention", False), ("mlp", False)):
        gnn = build_gnn(GNNConfig(width=32, blocks=[name]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM, track_dim=128)
        out = gnn(small_batch())
        assert (out.track_det_logit is not None) == scores, name


def test_block_keywords_from_yaml(tmp_path):
    config = load(tmp_path, "blocks:\n  - {type: gated, gate_hidden: 8, edge_residual: false}\n  - residual\n")
    gnn = build_gnn(config, DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    first = gnn.blocks[0]
    assert first.track_gate[0].out_features == 8
    assert not any(isinstance(m, Residual) for m in first.track_det_edge)


def test_unknown_block_name_lists_options(tmp_path):
    options = re.escape(", ".join(GNN_LAYERS.names()))
    assert "gated" in options and "residual" in options
    with pytest.raises(ConfigError, match=f"unknown GNN layer 'gatd'; options: {options}$"):
        load(tmp_path, "blocks: [gatd, residual]\n")
    with pytest.raises(ValueError, match=f"options: {options}$"):
        build_gnn(GNNConfig(blocks=["gated", "nope"]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)


def test_bad_block_keyword_and_spec(tmp_path):
    with pytest.raises(ConfigError, match="gated"):
        build_gnn(GNNConfig(blocks=[{"type": "gated", "gates": 3}]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    with pytest.raises(ValueError, match="width"):
        build_gnn(GNNConfig(blocks=[{"type": "gated", "width": 64}]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    with pytest.raises(ConfigError, match=r"blocks\[0\]"):
        load(tmp_path, "blocks: [{gate_hidden: 3}]\n")
    with pytest.raises(ValueError, match="residual block needs inputs of width 128"):
        build_gnn(GNNConfig(blocks=["residual", "gated"]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)


def linear_shapes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_default_blocks_have_the_shapes_of_spec_section_2():
    gnn = build_gnn(GNNConfig(), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    block1, res1, block2, res2 = gnn.blocks
    assert isinstance(block1, GatedBlock) and isinstance(block2, GatedBlock)
    assert isinstance(res1, ResidualBlock) and isinstance(res2, ResidualBlock)
    # Block 1: edge functions Linear + ReLU + Residual(128, 32); nodes Linear + ReLU.
    assert linear_shapes(block1.track_det_edge) == [(175, 128), (128, 32), (32, 128)]
    assert linear_shapes(block1.empty_det_edge) == [(174, 128), (128, 32), (32, 128)]
    assert linear_shapes(block1.track_node) == [(256, 128)]
    assert linear_shapes(block1.empty_node) == [(256, 128)]
    assert linear_shapes(block1.det_node) == [(173, 128)]
    for gate in (block1.det_from_track_gate, block1.det_from_empty_gate, block1.track_gate, block1.empty_gate):
        assert linear_shapes(gate) == [(128, 32), (32, 128)]
    # Block 2: no edge Residual.
    assert linear_shapes(block2.track_det_edge) == [(384, 128)]
    assert linear_shapes(block2.empty_det_edge) == [(384, 128)]
    assert linear_shapes(block2.det_node) == [(256, 128)]
    assert linear_shapes(res1.track_det) == [(128, 32), (32, 128)]
    assert {name for name, _ in res1.named_children()} == {"track", "det", "empty", "track_det", "empty_det"}


def test_ablation_shapes():
    no_appearance = build_gnn(GNNConfig(), DET_DIM, 1, 0)
    assert linear_shapes(no_appearance.blocks[0].track_det_edge)[0] == (174, 128)
    assert linear_shapes(no_appearance.blocks[0].empty_det_edge)[0] == (173, 128)
    three = build_gnn(GNNConfig(blocks=["gated", "residual"] * 3), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    assert linear_shapes(three.blocks[4].track_det_edge) == [(384, 128)]
    no_residual = build_gnn(GNNConfig(blocks=["gated", "gated"]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    assert linear_shapes(no_residual.blocks[0].track_det_edge) == [(175, 128), (128, 32), (32, 128)]
    assert linear_shapes(no_residual.blocks[1].track_det_edge) == [(384, 128)]
    mlp = build_gnn(GNNConfig(blocks=["mlp"]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM).blocks[0]
    assert isinstance(mlp, MLPBlock) and mlp.track_gate is None
    assert linear_shapes(mlp.track_node) == [(256, 128), (128, 128)]
    limited = build_gnn(GNNConfig(blocks=["limited"]), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM).blocks[0]
    assert isinstance(limited, LimitedBlock) and linear_shapes(limited.pair_score) == [(128, 1)]


def test_same_seed_same_weights():
    torch.manual_seed(3)
    first = build_gnn(GNNConfig(), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    torch.manual_seed(3)
    second = build_gnn(GNNConfig(), DET_DIM, EDGE_DIM, EMPTY_EDGE_DIM)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    second.reset_parameters()
    assert not all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
