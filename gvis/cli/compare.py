"""``gvis compare``: train and evaluate tracker configs over seeds with the learning-proof protocol; one table."""
from __future__ import annotations

import argparse
from pathlib import Path

from gvis.cli._common import add_set_argument, print_json

COMMAND = "compare"
HELP = "train + evaluate configs (e.g. configs/ablations/*.yaml) over seeds on the synthetic benchmark; write a table"
DESCRIPTION = (
    "For every CONFIG (a training config: YAML path or name in configs/train/) and training seed, train on "
    "the cached synthetic benchmark of the learning proof (gvis synth + simulated detections; made on first "
    "use in --work) at a short budget, evaluate on the held-out sets with gvis eval-tracker, and write a "
    "markdown table (mean ± std of AP, AP50, AP75, AR10; training time; tracker ms/frame; parameters; the "
    "paper's number and whether our ordering agrees) and a bar chart. The MaskTrack R-CNN rule, tuned on the "
    "training videos and with its defaults, gives reference rows. Resumable: one folder per config and seed "
    "(WORK/runs/<stem>/seed<k>); finished runs are skipped, interrupted ones resume. Share the learning "
    "proof's data with --work runs/learning_proof. docs/ablations.md."
)
#: Checkpoints, logs and reports keep their own atomic rules (written as the run goes, resumable).
OUTPUTS_STAGED = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="training configs, e.g. configs/ablations/*.yaml")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="training seeds 0..N-1 (default 3)")
    parser.add_argument("--preset", default="hard", help="synthetic and simulated-detector preset (default hard)")
    parser.add_argument("--work", type=Path, metavar="DIR",
                        help="data, runs and cached scores (default runs/compare; --quick: runs/compare-quick)")
    parser.add_argument("--steps", type=int, default=300, metavar="N", help="training steps per run (default 300)")
    parser.add_argument("--minutes", type=float, default=3.0, help="stop a run after this much training (default 3)")
    parser.add_argument("--train-videos", type=int, default=200, metavar="N", help="training videos (default 200)")
    parser.add_argument("--test-videos", type=int, default=50, metavar="N", help="videos per held-out set (default 50)")
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[1, 2, 3], metavar="S",
                        help="generator seeds of the held-out sets (default 1 2 3)")
    parser.add_argument("--synth-preset", metavar="P",
                        help="generator preset when it differs from --preset (e.g. tiny frames for a smoke test)")
    parser.add_argument("--tune-grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="axis of the MaskTrack rule's grid search (repeatable; default: gvis tune-baseline's grid)")
    parser.add_argument("--out", type=Path, metavar="MD", help="report (default docs/results/ablations.md)")
    parser.add_argument("--png", type=Path, metavar="PNG", help="bar chart (default docs/results/ablations.png)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 12 training videos, 6 per held-out set, 1 seed, 20 steps; report in --work")
    parser.add_argument("--json", action="store_true", help="print one JSON object (rows, report paths) on stdout")
    parser.add_argument("--in-process", action="store_true",
                        help="run every stage in this process instead of a fresh gvis process per stage (no start-up "
                             "cost, but stages share threads and random state; tests and debugging)")
    add_set_argument(parser)


def _command_line(args: argparse.Namespace) -> str:
    """The command as a user would type it (a whole folder of configs as ``folder/*.yaml``)."""
    configs = list(args.configs)
    folders = {Path(c).parent for c in configs}
    if len(folders) == 1 and all(c.endswith(".yaml") for c in configs):
        folder = folders.pop()
        if sorted(Path(c).name for c in configs) == sorted(p.name for p in folder.glob("*.yaml")):
            configs = [str(folder / "*.yaml")]
    parts = ["gvis compare", *configs]
    if args.quick:
        parts.append("--quick")
    else:
        parts += [f"--seeds {args.seeds}", f"--preset {args.preset}"]
        defaults = {"steps": 300, "minutes": 3.0, "train_videos": 200, "test_videos": 50}
        parts += [f"--{key.replace('_', '-')} {getattr(args, key):g}" for key, value in defaults.items()
                  if getattr(args, key) != value]
        if args.test_seeds != [1, 2, 3]:
            parts.append("--test-seeds " + " ".join(map(str, args.test_seeds)))
    if args.synth_preset:
        parts.append(f"--synth-preset {args.synth_preset}")
    parts += [f"--tune-grid {axis}" for axis in args.tune_grid]
    parts.append(f"--work {args.work}")
    parts += [f"--set {o}" for o in args.overrides]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    import time

    from gvis.compare.benchmark import (
        HEURISTICS,
        Benchmark,
        evaluate_heuristic,
        in_process_runner,
        log,
        prepare,
        subprocess_runner,
        tune_heuristic,
    )
    from gvis.compare.report import bar_chart, collect_learned, compare_orderings, heuristic_rows, markdown
    from gvis.compare.sweep import resolve_configs, sweep
    from gvis.errors import ConfigError
    from gvis.io import atomic_open
    from gvis.train.loop import load_train_config

    started = time.time()
    if args.quick:
        args.train_videos, args.test_videos, args.seeds, args.steps = 12, 6, 1, 20
    args.work = args.work or Path("runs/compare-quick" if args.quick else "runs/compare")
    if args.quick:
        args.out, args.png = args.out or args.work / "ablations.md", args.png or args.work / "ablations.png"
    out = args.out or Path("docs/results/ablations.md")
    png = args.png or Path("docs/results/ablations.png")
    if min(args.seeds, args.steps, args.train_videos, args.test_videos) < 1 or args.minutes <= 0:
        raise ConfigError("--seeds, --steps, --train-videos, --test-videos and --minutes must be positive")
    configs = resolve_configs(args.configs, args.overrides)
    seeds = list(range(args.seeds))
    bench = Benchmark(args.work.resolve(), preset=args.preset, train_videos=args.train_videos,
                      test_videos=args.test_videos, test_seeds=tuple(args.test_seeds), synth_preset=args.synth_preset)
    runner = in_process_runner if args.in_process else subprocess_runner
    log(f"compare: {len(configs)} configs x {len(seeds)} seeds in {args.work}")
    prepare(bench, runner)
    tuning = tune_heuristic(bench, runner, grid=args.tune_grid)
    heuristics = {name: evaluate_heuristic(bench, name, runner) for name in HEURISTICS}
    records = sweep(bench, configs, seeds, args.steps, args.minutes, args.overrides, runner)

    rows = collect_learned(bench, configs, seeds, records) + heuristic_rows(bench, tuning, heuristics)
    compare_orderings(rows)
    mask_stride = load_train_config(next(iter(configs.values())), args.overrides).model.mask_stride
    text = markdown(rows, bench, seeds, args.steps, args.minutes, _command_line(args), png, out, args.overrides,
                    mask_stride, time.time() - started)
    with atomic_open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    bar_chart(rows, png, args.preset)
    failed = [r for r in records if r.status == "failed"]
    log(f"compare: wrote {out} and {png}" + (f"; {len(failed)} runs failed (rerun to retry)" if failed else ""))
    if args.json:
        print_json({"report": str(out), "png": str(png), "work": str(args.work),
                    "rows": [row.to_json() for row in rows]})
    return 1 if failed else 0
