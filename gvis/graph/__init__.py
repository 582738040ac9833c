"""Per-frame heterogeneous bipartite graphs: track, detection and empty-track nodes."""
