"""``gvis bench``: benchmarks that print figures (they assert nothing)."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, parse_sizes, print_json

COMMAND = "bench"
HELP = "benchmarks: tracker latency and throughput, training throughput, detector + tracker pipeline FPS"
DESCRIPTION = (
    "gvis bench tracker: per-frame latency of the learned tracker at 5x5 ... 100x100 tracks x detections "
    "(scopes gnn and step; PyG vs the dense padded reference vs the MaskTrack R-CNN rule), the mask head, "
    "batched throughput for B = 1, 8, 32 mixed-size videos, and torch.compile of the GNN. Random weights. "
    "See docs/tracker.md. gvis bench train: training clips/s for B = 1, 4, 16 (--batches) with native PyG "
    "batching vs the dense padded GNN, 1-30 detections per frame, 240x320 frames (--sizes HxW: another size); "
    "see docs/training.md. With --config C, tracker and train time the model (and train the loss) of any "
    "training config instead of configs/model/base.yaml; the dense rows appear where the dense reference "
    "covers the model. --device cuda: tracker and train on a GPU. gvis bench pipeline: "
    "FPS of detector + appearance + tracker + results encoding per backbone (--backbones) and frame size "
    "(--sizes, default 480x864 240x320), I/O (MP4 decoding) excluded and included, random weights; see "
    "docs/pipeline.md. gvis bench step: the learned tracker's full step per frame (filtering, "
    "graph, GNN, heads, mask head, pixel assignment, RLE) at the paper's 480x864 with 16 detections and 24 "
    "tracks, inference vs the reference computation of the masks, 1 and 2 threads (--threads: one count), "
    "median and minimum over --frames frames, peak memory; see docs/tracker.md."
)

TARGETS = ("tracker", "train", "pipeline", "step")
#: Writes only scratch files (in a temporary folder) that it reads back; prints its results.
OUTPUTS_STAGED = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=TARGETS, help="what to benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default 1; pipeline: torch's default; "
                        "step: 1 and 2)")
    parser.add_argument("--repeats", type=int, help="timed repeats per figure, the median is reported (tracker: 7, train: 3)")
    parser.add_argument("--sizes", nargs="+", help="tracker: tracks x detections (default 5x5,10x10,30x30,100x100); "
                        "pipeline: frame HxW (default 480x864 240x320); train: one frame HxW (default 240x320); step: one frame HxW (default 480x864); "
                        "comma or space separated")
    parser.add_argument("--backbones", nargs="+", help="pipeline: detector backbones (default: resnet50 resnet101 "
                        "resnet18 mobilenet_v3_large; maskrcnn = torchvision's Mask R-CNN)")
    parser.add_argument("--frames", type=int, default=20, help="pipeline, step: timed frames per row (default 20, after 3 warm-up)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda (tracker, train, pipeline)")
    parser.add_argument("--batches", help="batch sizes of the throughput rows (tracker: 1,8,32; train: 1,4,16)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--config", metavar="C", help="tracker, train: time the model of this training config "
                        "(YAML path or name in configs/train/) instead of configs/model/base.yaml")
    add_set_argument(parser, "gvis.train.config:TrainConfig", "optim.lr=1e-3", "--config C")


def _batches(text: str) -> tuple[int, ...]:
    """``"1,8,32"`` → ``(1, 8, 32)`` (each >= 1)."""
    from gvis.errors import InputError

    try:
        batches = tuple(int(b) for b in text.split(","))
    except ValueError:
        batches = ()
    if not batches or min(batches) < 1:
        raise InputError(f"expected batch sizes (>= 1) like 1,8,32, got '{text}'", field="--batches")
    return batches


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    import torch

    from gvis.bench.tracker import machine, run_benchmark
    from gvis.errors import InputError

    if args.repeats is None:
        args.repeats = 7 if args.target == "tracker" else 3
    if (args.threads is not None and args.threads < 1) or args.repeats < 1 or args.frames < 1:
        raise InputError("--threads, --repeats and --frames must be at least 1")
    warnings.filterwarnings("ignore", message=".*TorchScript.*")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available", field="--device")
    if args.target in ("pipeline", "step"):
        if args.config is not None or args.overrides:
            raise InputError("--config and --set time a tracker model: bench tracker or bench train", field="--config")
        return _pipeline(args) if args.target == "pipeline" else _step(args)
    args.threads = args.threads or 1
    batches = _batches(args.batches or ("1,8,32" if args.target == "tracker" else "1,4,16"))
    config = _train_config(args)
    model = f", model of {args.config}" if args.config else ""
    header = f"{machine(args.device)}, {args.threads} thread(s), median of {args.repeats}{model}"
    if args.target == "train":
        from gvis.bench import train

        frame_sizes = parse_sizes(",".join(args.sizes or ["240x320"]), "--sizes", minimum=32)
        if len(frame_sizes) != 1:
            raise InputError("gvis bench train takes one frame size", field="--sizes")
        print(f"gvis bench train: {header}", file=sys.stderr)
        result = train.run_benchmark(batches=batches, repeats=args.repeats, threads=args.threads,
                                     progress=lambda line: print(line, file=sys.stderr), config=config,
                                     device=args.device, image_size=frame_sizes[0])
        result["config"] = args.config
        print_json(result) if args.json else print(train.format_table(result))
        return 0
    sizes = parse_sizes(",".join(args.sizes or ["5x5,10x10,30x30,100x100"]), "--sizes")
    print(f"gvis bench tracker: {header}", file=sys.stderr)
    result = run_benchmark(sizes=sizes, batches=batches, repeats=args.repeats, threads=args.threads,
                           compile=not args.no_compile, progress=lambda line: print(line, file=sys.stderr),
                           config=None if config is None else config.model, device=args.device)
    result["config"] = args.config
    if args.json:
        print_json(result)
    else:
        print(format_table(result))
    return 0


def _train_config(args: argparse.Namespace):
    """The training config of ``--config`` with ``--set`` overrides, or ``None`` (the benchmarks' default
    model); ``--set`` without ``--config`` is an error."""
    from gvis.errors import ConfigError
    from gvis.train.loop import load_train_config

    if args.config is None:
        if args.overrides:
            raise ConfigError("--set needs --config (the benchmarks' default model takes no overrides)")
        return None
    return load_train_config(args.config, args.overrides)


def _pipeline(args: argparse.Namespace) -> int:
    import sys

    from gvis.bench import pipeline
    from gvis.errors import ConfigError

    sizes = parse_sizes(",".join(args.sizes or ["480x864,240x320"]), "--sizes", minimum=32)
    backbones = ",".join(args.backbones or pipeline.BACKBONES).split(",")
    known = (*pipeline.BACKBONES, "maskrcnn")
    unknown = [b for b in backbones if b not in known]
    if unknown:
        raise ConfigError(f"unknown backbone '{unknown[0]}'; options: {', '.join(known)}")
    print(f"gvis bench pipeline: {pipeline.device_name(args.device)}, {args.frames} timed frames per row",
          file=sys.stderr)
    result = pipeline.run_benchmark(backbones, sizes, frames=args.frames, device=args.device, threads=args.threads,
                                    progress=lambda line: print(line, file=sys.stderr))
    print_json(result) if args.json else print(pipeline.format_table(result))
    return 0


def _step(args: argparse.Namespace) -> int:
    import sys

    from gvis.bench import step

    threads = (args.threads,) if args.threads is not None else (1, 2)
    sizes = parse_sizes(",".join(args.sizes), "--sizes", minimum=32) if args.sizes else (step.SIZE,)
    print(f"gvis bench step: {', '.join(map(str, threads))} thread(s), {args.frames} timed frames", file=sys.stderr)
    result = step.run_benchmark(frames=args.frames, threads=threads, size=sizes[0],
                                progress=lambda line: print(line, file=sys.stderr))
    print_json(result) if args.json else print(step.format_table(result))
    return 0


def format_table(result: dict) -> str:
    lines = [f"threads: {result['threads']}  machine: {result['machine']}", "",
             "| tracks x dets | scope | pyg ms | dense ms | pyg/dense | masktrack-rule ms |", "|---|---|---|---|---|---|"]
    cells: dict = {}
    for row in result["step"]:
        cells[(row["tracks"], row["dets"], row["scope"], row["impl"])] = row["ms_per_frame"]
    for tracks, dets, scope in sorted({(r["tracks"], r["dets"], r["scope"]) for r in result["step"]}):
        pyg, dense = cells.get((tracks, dets, scope, "pyg")), cells.get((tracks, dets, scope, "dense"))
        rule = cells.get((tracks, dets, scope, "masktrack-rule"))
        versus = "- | -" if dense is None else f"{dense:.3f} | {pyg / dense:.2f}"  # no dense reference for the model
        rule_cell = "" if rule is None else f"{rule:.3f}"
        lines.append(f"| {tracks}x{dets} | {scope} | {pyg:.3f} | {versus} | {rule_cell} |")
    lines += ["", "| tracks | mask head + pixel assignment ms |", "|---|---|"]
    lines += [f"| {row['tracks']} | {row['ms_per_frame']:.3f} |" for row in result["mask_head"]]
    lines += ["", "| B (mixed sizes) | pyg frames/s | dense frames/s |", "|---|---|---|"]
    rates = {(row["impl"], row["batch"]): row["frames_per_s"] for row in result["batched"]}
    for batch in sorted({row["batch"] for row in result["batched"]}):
        dense = rates.get(("dense", batch))
        lines.append(f"| {batch} | {rates[('pyg', batch)]:.1f} | {'-' if dense is None else f'{dense:.1f}'} |")
    if "compile" in result:
        comp = result["compile"]
        if comp["ok"]:
            lines.append(f"\ntorch.compile(GNN, dynamic=True, fullgraph=True): no graph breaks, {comp['graphs']} "
                         f"graph(s) for 3 sizes; step 10x10 {comp['compiled_ms']:.3f} ms compiled vs "
                         f"{comp['eager_ms']:.3f} ms eager (compile {comp['compile_s']:.1f} s)")
        else:
            lines.append(f"\ntorch.compile of the GNN failed: {comp['error']}")
    return "\n".join(lines)
