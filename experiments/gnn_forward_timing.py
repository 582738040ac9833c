"""Quick timing of the GNN forward: PyG graph vs dense padded reference (same weights).

    .venv/bin/python experiments/gnn_forward_timing.py [--sizes 10x10 30x30] [--batch 1] [--threads 1]

Prints the median and minimum milliseconds per forward (no grad) of the default GNN (docs/model.md §2) for one frame
graph / padded frame of M tracks × N detections. Indicative only: the full benchmark (graph build,
heads, batched throughput) is ``gvis bench tracker``.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from gvis.gnn import GNNConfig, build_gnn
from gvis.gnn.dense_reference import DenseFrame, dense_forward, dense_to_graph
from gvis.runtime import pin_threads


def time_ms(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """(median, min) ms per call of each function; calls are interleaved so that load changes on a
    shared machine hit every implementation alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for repeat in range(repeats + 10):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if repeat >= 10:  # warm-up
                times[name].append(time.perf_counter() - start)
    return {name: (1000 * statistics.median(values), 1000 * min(values)) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10x10"], help="MxN tracks x detections")
    parser.add_argument("--batch", type=int, default=1, help="graphs per forward (all the same size)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--blocks", nargs="+", default=None, help="block sequence (default: the paper's)")
    args = parser.parse_args()
    pin_threads(args.threads)
    torch.manual_seed(0)
    config = GNNConfig() if args.blocks is None else GNNConfig(blocks=args.blocks)
    gnn = build_gnn(config, 45, 2, 1).eval()
    print(f"threads={args.threads} batch={args.batch} machine={platform.processor() or platform.machine()} "
          f"blocks={config.blocks}")
    for size in args.sizes:
        tracks, dets = map(int, size.split("x"))
        batch = args.batch
        frame = DenseFrame(
            torch.randn(batch, tracks, 128), torch.randn(batch, dets, 45), torch.randn(batch, 128),
            torch.randn(batch, tracks, dets, 2), torch.randn(batch, dets, 1),
            torch.ones(batch, tracks, dtype=torch.bool), torch.ones(batch, dets, dtype=torch.bool),
        )
        graph = dense_to_graph(frame)
        with torch.no_grad():
            ms = time_ms({"pyg": lambda: gnn(graph), "dense": lambda: dense_forward(gnn, *frame)}, args.repeats)
        (pyg, pyg_min), (dense, dense_min) = ms["pyg"], ms["dense"]
        print(
            f"{tracks}x{dets}: median pyg {pyg:.3f} ms  dense {dense:.3f} ms  ratio {pyg / dense:.2f} | "
            f"min pyg {pyg_min:.3f} ms  dense {dense_min:.3f} ms  ratio {pyg_min / dense_min:.2f}"
        )


if __name__ == "__main__":
    main()
