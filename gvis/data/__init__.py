"""Datasets: YouTube-VIS / OVIS annotations and frames, the synthetic benchmark, clips and splits."""
