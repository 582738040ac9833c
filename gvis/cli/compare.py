"""``gvis compare``: train and evaluate tracker configs over seeds with the learning-proof protocol; one table."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from gvis.cli._common import add_set_argument, print_json
from gvis.compare.benchmark import STDERR_TAIL, CommandResult
from gvis.compare.paper import REFERENCE

COMMAND = "compare"
HELP = "train + evaluate configs (e.g. configs/ablations/*.yaml) over seeds on the synthetic benchmark; write a table"
DESCRIPTION = (
    "For every CONFIG (a training config: YAML path or name in configs/train/) and training seed, train on "
    "the cached synthetic benchmark of the learning proof (gvis synth + simulated detections; made on first "
    "use in --work) at a short budget, with learning curves on a small validation set, evaluate on the "
    "held-out sets with gvis eval-tracker, and write a markdown report, its JSON and a chart: mean ± std of "
    "AP, AP50, AP75, AR10; the paired difference to the --reference config with a 95 % bootstrap interval "
    "over held-out videos and seeds and a verdict (better / worse / undecided), or a 'not learned at this "
    "budget' flag; training time; tracker ms/frame; parameters; the paper's number and whether its ordering "
    "is reproduced. The MaskTrack R-CNN rule, tuned on the training videos and with its defaults, gives "
    "reference rows. Resumable: one folder per config and seed (RUNS/<stem>/seed<k>); finished runs are "
    "skipped, interrupted ones resume. Share the learning proof's data with --work runs/learning_proof. "
    "docs/ablations.md."
)
#: Checkpoints, logs and reports keep their own atomic rules (written as the run goes, resumable).
OUTPUTS_STAGED = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="training configs, e.g. configs/ablations/*.yaml")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="training seeds 0..N-1 (default 3)")
    parser.add_argument("--preset", default="hard", help="synthetic and simulated-detector preset (default hard)")
    parser.add_argument("--work", type=Path, metavar="DIR",
                        help="data, runs and cached scores (default runs/compare; --quick: runs/compare-quick)")
    parser.add_argument("--runs", type=Path, metavar="DIR",
                        help="the run folders (default WORK/runs); another budget needs its own")
    parser.add_argument("--reference", metavar="STEM",
                        help=f"the config every row is compared with (default {REFERENCE}, if compared)")
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
    parser.add_argument("--val-videos", type=int, default=20, metavar="N",
                        help="validation videos for the learning curves (default 20)")
    parser.add_argument("--resamples", type=int, metavar="N",
                        help="bootstrap resamples of the intervals (default 2000, gvis.compare.verdicts.RESAMPLES)")
    parser.add_argument("--out", type=Path, metavar="MD",
                        help="report (default WORK/compare.md; its JSON is written beside it, .json)")
    parser.add_argument("--png", type=Path, metavar="PNG", help="chart (default: the report's path, .png)")
    parser.add_argument("--since", type=Path, metavar="JSON",
                        help="an earlier report's JSON: list the verdicts that changed since")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 12 training videos, 6 per held-out set, 6 validation videos, 1 seed, 20 steps")
    parser.add_argument("--json", action="store_true", help="print one JSON object (rows, report paths) on stdout")
    parser.add_argument("--in-process", action="store_true",
                        help="run every stage in this process instead of a fresh gvis process per stage (no start-up "
                             "cost, but stages share threads and random state; tests and debugging)")
    add_set_argument(parser, "gvis.train.config:TrainConfig", "optim.lr=1e-3")


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
        defaults = {"steps": 300, "minutes": 3.0, "train_videos": 200, "test_videos": 50, "val_videos": 20}
        parts += [f"--{key.replace('_', '-')} {getattr(args, key):g}" for key, value in defaults.items()
                  if getattr(args, key) != value]
        if args.test_seeds != [1, 2, 3]:
            parts.append("--test-seeds " + " ".join(map(str, args.test_seeds)))
    if args.synth_preset:
        parts.append(f"--synth-preset {args.synth_preset}")
    parts += [f"--tune-grid {axis}" for axis in args.tune_grid]
    parts.append(f"--work {args.work}")
    parts += [f"--{name} {getattr(args, name)}" for name in ("runs", "reference", "resamples", "out", "png", "since")
              if getattr(args, name) is not None]
    parts += [f"--set {o}" for o in args.overrides]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from gvis.compare.benchmark import (
        HEURISTICS,
        Benchmark,
        evaluate_heuristic,
        log,
        prepare,
        subprocess_runner,
        tune_heuristic,
    )
    from gvis.compare.report import Comparison, assess, chart, collect_learned, heuristic_rows, markdown, report_json
    from gvis.compare.sweep import resolve_configs, sweep
    from gvis.compare.verdicts import RESAMPLES
    from gvis.errors import ConfigError, InputError
    from gvis.io import atomic_open, write_json_atomic
    from gvis.train.loop import load_train_config

    started = time.time()
    if args.quick:
        args.train_videos, args.test_videos, args.val_videos, args.seeds, args.steps = 12, 6, 6, 1, 20
    args.work = args.work or Path("runs/compare-quick" if args.quick else "runs/compare")
    command = _command_line(args)
    out = args.out or args.work / "compare.md"
    png = args.png or out.with_suffix(".png")
    runs = args.runs or args.work / "runs"
    args.resamples = RESAMPLES if args.resamples is None else args.resamples
    if min(args.seeds, args.steps, args.train_videos, args.test_videos, args.val_videos, args.resamples) < 1 \
            or args.minutes <= 0:
        raise ConfigError("--seeds, --steps, --train-videos, --test-videos, --val-videos, --resamples and --minutes "
                          "must be positive")
    configs = resolve_configs(args.configs, args.overrides)
    if args.reference is not None and args.reference not in configs:
        raise ConfigError(f"--reference {args.reference}: not one of the compared configs ({', '.join(configs)})")
    previous = None
    if args.since is not None:
        try:
            previous = json.loads(args.since.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"not a report's JSON: {exc}", file=args.since) from None
    seeds = list(range(args.seeds))
    bench = Benchmark(args.work.resolve(), preset=args.preset, train_videos=args.train_videos,
                      test_videos=args.test_videos, test_seeds=tuple(args.test_seeds), synth_preset=args.synth_preset,
                      val_videos=args.val_videos)
    runner = _in_process_runner if args.in_process else subprocess_runner
    log(f"compare: {len(configs)} configs x {len(seeds)} seeds in {runs}")
    prepare(bench, runner)
    tuning = tune_heuristic(bench, runner, grid=args.tune_grid)
    heuristics = {name: evaluate_heuristic(bench, name, runner) for name in HEURISTICS}
    records = sweep(bench, runs.resolve(), configs, seeds, args.steps, args.minutes, args.overrides, runner)

    rows = collect_learned(bench, runs.resolve(), configs, seeds, records) + heuristic_rows(bench, tuning, heuristics)
    comparison = Comparison(bench, runs, seeds, args.steps, args.minutes, args.reference or REFERENCE, command,
                            args.overrides, load_train_config(next(iter(configs.values())), args.overrides).model.mask_stride,
                            resamples=args.resamples)
    assess(rows, comparison)
    comparison.seconds = time.time() - started
    text = markdown(rows, comparison, png, out, previous)
    paths = {"report": str(out), "png": str(png), "json": str(out.with_suffix(".json")), "work": str(args.work),
             "runs": str(runs)}
    result = report_json(rows, comparison, **paths)
    with atomic_open(out, "w", encoding="utf-8") as handle:
        handle.write(text)
    write_json_atomic(out.with_suffix(".json"), result, indent=1)
    chart(rows, png, comparison)
    failed = [r for r in records if r.status == "failed"]
    log(f"compare: wrote {out}, {out.with_suffix('.json')} and {png}"
        + (f"; {len(failed)} run{'s' if len(failed) != 1 else ''} failed (rerun to retry)" if failed else ""))
    if args.json:
        print_json(result)
    return 1 if failed else 0


def _in_process_runner(argv: Sequence[str]) -> CommandResult:
    """``gvis ARGV`` in this process, output captured: no interpreter start-up per stage (tests).

    Unlike :func:`~gvis.compare.benchmark.subprocess_runner` it shares this process's torch threads and
    global random state.
    """
    import io
    import traceback
    from contextlib import redirect_stderr, redirect_stdout

    from gvis.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # what a fresh process would print before exiting with 1
            traceback.print_exc()
            code = 1
    return CommandResult(code, stdout.getvalue(), stderr.getvalue()[-STDERR_TAIL:])
