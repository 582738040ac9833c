"""Message-passing layers over the per-frame track/detection graph, one layer per file."""
