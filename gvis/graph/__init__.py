"""Per-frame heterogeneous bipartite graphs: track, detection and empty-track nodes."""
from gvis.graph.frame_graph import (
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

__all__ = [
    "DET",
    "EDGE_TYPES",
    "EMPTY",
    "EMPTY_TO_DET",
    "NODE_TYPES",
    "TRACK",
    "TRACK_TO_DET",
    "build_frame_batch",
    "build_frame_graph",
    "frame_edge_indices",
    "track_det_pairs",
    "validate_frame_graph",
]
