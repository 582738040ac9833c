"""Message-passing layers over the per-frame track/detection graph, one layer per file.

Importing this package registers the built-in blocks in ``gvis.registry.GNN_LAYERS``.
"""
from gvis.gnn.attention_block import AttentionBlock
from gvis.gnn.features import FrameEdges, FrameFeatures, GNNOutput
from gvis.gnn.gated_block import GatedBlock
from gvis.gnn.limited_block import LimitedBlock
from gvis.gnn.mlp_block import MLPBlock
from gvis.gnn.modules import Residual
from gvis.gnn.network import GNNConfig, GraphNetwork, build_gnn
from gvis.gnn.residual_block import ResidualBlock

__all__ = [
    "AttentionBlock",
    "FrameEdges",
    "FrameFeatures",
    "GNNConfig",
    "GNNOutput",
    "GatedBlock",
    "GraphNetwork",
    "LimitedBlock",
    "MLPBlock",
    "Residual",
    "ResidualBlock",
    "build_gnn",
]
