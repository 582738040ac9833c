"""The GNN of the tracker: a configurable sequence of blocks over the frame graph."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from gvis.gnn.features import FrameEdges, FrameFeatures, GNNOutput
from gvis.graph.frame_graph import DET, EMPTY, EMPTY_TO_DET, TRACK, TRACK_TO_DET
from gvis.registry import GNN_LAYERS

BlockSpec = Union[str, dict[str, Any]]


@dataclass
class GNNConfig:
    """Settings of the GNN (docs/model.md §2 defaults).

    ``blocks`` lists the blocks in order; each is a name from ``gvis.registry.GNN_LAYERS`` or a
    mapping ``{type: name, <keyword>: value, ...}`` with keyword arguments of that block. The first
    block gets the graph's input widths and ``edge_residual: true`` unless it says otherwise (block 1
    of docs/model.md §2); every later block gets width ``D`` inputs. Examples::

        blocks: [gated, residual, gated, residual]            # paper (default)
        blocks: [gated, residual]                             # 1 GNN block
        blocks: [gated, residual, gated, residual, gated, residual]   # 3 GNN blocks
        blocks: [gated, gated]                                # no interleaved residual
        blocks: [mlp, residual, mlp, residual]                # Table 4 "MLP node updates"
        blocks: [limited]                                     # Table 1 "Limited GNN"
        blocks: [{type: attention, gate_hidden: 64}, residual, attention, residual]
    """

    width: int = 128
    gate_hidden: int = 32
    residual_hidden: int = 32
    blocks: list[Union[str, dict[str, Any]]] = field(
        default_factory=lambda: ["gated", "residual", "gated", "residual"]
    )

    def validate(self) -> None:
        if not self.blocks:
            raise ValueError("gnn.blocks: at least one block is needed")
        for position, spec in enumerate(self.blocks):
            name, _ = _split_spec(spec, position)
            try:
                GNN_LAYERS.get(name)
            except ValueError as exc:  # it lists the options
                raise ValueError(f"gnn.blocks[{position}]: {exc}") from None
        # The blocks' own rules (a residual block needs a message-passing block before it, keywords), on
        # a throw-away network with input widths unlike ``width``; the random state is left as it was.
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            _build_blocks(self, {"track_dim": self.width, "det_dim": self.width + 1, "track_det_dim": 2,
                                 "empty_det_dim": 1})


def _split_spec(spec: BlockSpec, position: int) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and isinstance(spec.get("type"), str):
        kwargs = dict(spec)
        return kwargs.pop("type"), kwargs
    raise ValueError(f"gnn.blocks[{position}]: expected a block name or a mapping with 'type', got {spec!r}")


class GraphNetwork(nn.Module):
    """A sequence of GNN blocks applied to a frame graph (or batch of frame graphs).

    ``forward(graph)`` reads the graph's tensors and calls :meth:`forward_tensors`, which is the part
    to ``torch.compile`` (plain tensors in, a named tuple out).

    Shapes:
        - **input:** a frame graph / batch (see ``gvis.graph.frame_graph``).
        - **output:** :class:`GNNOutput` ``track [ΣM, D]``, ``det [ΣN, D]``, ``empty [B, D]``,
          ``track_det [E, D]``, ``empty_det [ΣN, D]``, ``track_det_logit [E]`` or ``None``.
    """

    def __init__(self, blocks: Sequence[nn.Module], width: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.width = width

    def reset_parameters(self) -> None:
        for block in self.blocks:
            block.reset_parameters()

    def forward(self, graph: HeteroData) -> GNNOutput:
        return self.forward_tensors(
            graph[TRACK].x,
            graph[DET].x,
            graph[EMPTY].x,
            graph[TRACK_TO_DET].edge_index,
            graph[TRACK_TO_DET].edge_attr,
            graph[EMPTY_TO_DET].edge_index,
            graph[EMPTY_TO_DET].edge_attr,
        )

    def forward_tensors(
        self,
        track_x: Tensor,
        det_x: Tensor,
        empty_x: Tensor,
        track_det_index: Tensor,
        track_det_attr: Tensor,
        empty_det_index: Tensor,
        empty_det_attr: Tensor,
    ) -> GNNOutput:
        edges = FrameEdges.from_indices(track_det_index, empty_det_index, track_x.size(0), empty_x.size(0))
        features = FrameFeatures(track_x, det_x, empty_x, track_det_attr, empty_det_attr)
        for block in self.blocks:
            features = block(features, edges)
        return features


def build_gnn(
    config: GNNConfig,
    det_dim: int,
    track_det_edge_dim: int,
    empty_det_edge_dim: int,
    track_dim: int | None = None,
) -> GraphNetwork:
    """The :class:`GraphNetwork` described by ``config`` for the given input widths.

    Args:
        config: block sequence and widths.
        det_dim: ``Fd`` (C+1+4 by default; wider with appearance baked into the nodes).
        track_det_edge_dim: ``Fe`` (2 by default; 1 without appearance).
        empty_det_edge_dim: ``Fe0`` (1 by default; 0 without appearance).
        track_dim: ``Dt`` of track and empty-node inputs (default ``config.width``).

    Unknown block names and a broken block rule raise ``ValueError``, bad block keywords ``ConfigError``,
    each naming the block's position (unknown names list the options).
    """
    config.validate()
    dims = {
        "track_dim": config.width if track_dim is None else track_dim,
        "det_dim": det_dim,
        "track_det_dim": track_det_edge_dim,
        "empty_det_dim": empty_det_edge_dim,
    }
    return GraphNetwork(_build_blocks(config, dims), config.width)


def _build_blocks(config: GNNConfig, dims: dict[str, int]) -> list[nn.Module]:
    """The blocks of ``config``, the first taking inputs of widths ``dims``; a broken block rule is a
    ``ValueError`` naming the block's position."""
    width = config.width
    shared = {"width": width, "gate_hidden": config.gate_hidden, "residual_hidden": config.residual_hidden}
    blocks = []
    for position, spec in enumerate(config.blocks):
        name, kwargs = _split_spec(spec, position)
        reserved = sorted(set(kwargs) & {"width", *dims})
        if reserved:
            raise ValueError(f"gnn.blocks[{position}]: {', '.join(reserved)} are set by gvis, not per block")
        entry = GNN_LAYERS.get(name)
        accepted = inspect.signature(entry).parameters
        defaults = {key: value for key, value in shared.items() if key in accepted}
        if position == 0 and "edge_residual" in accepted:
            defaults["edge_residual"] = True
        try:
            blocks.append(GNN_LAYERS.build(name, **dims, **{**defaults, **kwargs}))
        except ValueError as exc:  # also ConfigError, a bad keyword
            raise type(exc)(f"gnn.blocks[{position}]: {exc}") from None
        dims = dict.fromkeys(dims, width)
    return blocks
