"""Learning proof: the trained tracker against the MaskTrack R-CNN rule tuned on the same data.

One command (README):

    python experiments/learning_proof.py            # full run: about 2 hours on the 2-core CPU

1. ``gvis synth --preset hard``: 200 training videos (generator seed 0) and 50 held-out videos for each of
   the generator seeds 1, 2, 3; ``gvis detect --detector simulated --preset hard`` on all of them.
2. ``gvis tune-baseline``: the MaskTrack rule's α, β, γ grid-searched by video AP on the 200 training videos.
3. ``gvis train base`` for training seeds 0, 1, 2 on the 200 training videos (``--steps`` steps, stopped at
   ``--minutes`` of training at the latest; mask head at the configured 1/8 resolution).
4. ``gvis eval-tracker`` for every trained model, ``gvis track`` + ``gvis eval`` for the tuned (and the
   default) MaskTrack rule, on the three held-out sets.
5. Writes ``docs/results/learning.md`` (per seed and mean ± std of AP, AP50, AP75, AR10; margins; training
   time and mask resolution) and ``docs/results/learning_loss.png`` (training-loss curves).
6. Ships the first seed's model as ``checkpoints/learned-synth-hard.pt`` (≤ 5 MB) with
   ``checkpoints/learned-synth-hard.json`` (config, seed, steps, git hash, held-out AP): the checkpoint
   ``gvis track --tracker learned`` uses when no ``--checkpoint`` is given.

The stages are the functions of ``gvis.compare.benchmark`` (shared with ``gvis compare``, which reuses this
work folder with ``--work runs/learning_proof``). Every stage is skipped when its output exists (an
interrupted run continues; ``--force`` redoes all), and a training run left by a stop continues with
``--resume``. ``--quick`` shrinks everything for a smoke test
(and writes the report into the work folder instead of ``docs/results``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

from gvis.compare.benchmark import (
    HEURISTICS,
    STATS,
    Benchmark,
    evaluate_heuristic,
    evaluate_run,
    prepare,
    run_experiment,
    train_run,
    tune_heuristic,
)
from gvis.train.checkpoint import ship_checkpoint

REPO = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "learning_proof", help="data, runs and results")
    parser.add_argument("--train-videos", type=int, default=200)
    parser.add_argument("--test-videos", type=int, default=50)
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[1, 2, 3], help="generator seeds of the held-out sets")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--steps", type=int, default=1000,
                        help="training steps per seed (B = 4 clips of 10 frames; about 0.55 s each on this CPU)")
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="stop a training run after this much training (CPU time of the training process)")
    parser.add_argument("--config", default="base", help="training config (configs/train/<name>.yaml or a path)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra training-config overrides (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 12 training videos, 6 per held-out set, 1 seed, 20 steps, report in --work")
    parser.add_argument("--force", action="store_true", help="redo every stage")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "learning.md")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "results" / "learning_loss.png")
    parser.add_argument("--ship", type=Path, default=REPO / "checkpoints" / "learned-synth-hard.pt",
                        help="where the first seed's model is shipped (with a .json of its metadata)")
    args = parser.parse_args()
    if args.quick:
        args.train_videos, args.test_videos, args.train_seeds, args.steps = 12, 6, args.train_seeds[:1], 20
        args.doc, args.png = args.work / "learning.md", args.work / "learning_loss.png"
        args.ship = args.work / "learned-synth-hard.pt"
    return args


def mean_std(values: list[float]) -> str:
    values = [100 * v for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {std:.1f}"


def loss_curves(runs: dict[int, Path], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for seed, run in runs.items():
        with open(run / "train_log.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        steps = [int(r["step"]) for r in rows]
        window = max(1, len(rows) // 40)
        for axis, keys in zip(axes, (("loss",), ("class", "mask", "association", "init"))):
            for key in keys:
                values = [float(r[key]) for r in rows]
                smooth = [statistics.mean(values[max(0, i - window + 1):i + 1]) for i in range(len(values))]
                label = f"seed {seed}" if key == "loss" else f"{key} (seed {seed})"
                axis.plot(steps, smooth, label=label, linewidth=1)
    axes[0].set_title("total training loss (moving average)")
    axes[1].set_title("loss terms (unweighted)")
    for axis in axes:
        axis.set_xlabel("step (4 clips x 10 frames)")
        axis.legend(fontsize=7)
    axes[1].set_yscale("log")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> None:
    args = parse_args()
    started = time.time()
    bench = Benchmark(args.work.resolve(), preset="hard", train_videos=args.train_videos, test_videos=args.test_videos,
                      test_seeds=tuple(args.test_seeds))
    prepare(bench, force=args.force)
    tuning = tune_heuristic(bench, force=args.force)
    heuristics = {name: evaluate_heuristic(bench, name, force=args.force) for name in HEURISTICS}

    runs, learned = {}, {}
    for seed in args.train_seeds:
        outcome = train_run(args.config, bench.work / f"run_seed{seed}", bench, seed, args.steps, args.minutes,
                            args.overrides, force=args.force)
        if outcome.status == "diverged":
            sys.exit(f"training seed {seed} diverged: {outcome.record['message']}")
        runs[seed] = outcome.folder
        learned[seed] = evaluate_run(outcome.folder, bench, force=args.force)
    loss_curves(runs, args.png)
    write_report(args, tuning, heuristics, runs, learned, time.time() - started)
    seed = args.train_seeds[0]
    shipped = ship_checkpoint(runs[seed] / "model.pt", args.ship, learned[seed], "python experiments/learning_proof.py",
                              "video AP on the held-out synthetic hard sets (generator seeds other than training)")
    print(f"wrote {args.doc}, {args.png} and {shipped}")


def write_report(args, tuning: dict, heuristics: dict, runs: dict, learned: dict, seconds: float) -> None:
    import torch

    from gvis.provenance import git_hash

    names = [f.name for f in (args.work / f"test_seed{s}" for s in args.test_seeds)]

    def mean_over_sets(scores: dict, stat: str) -> float:
        return statistics.mean(scores[name][stat] for name in names)

    tuned = {stat: mean_over_sets(heuristics["tuned"], stat) for stat in STATS}
    default = {stat: mean_over_sets(heuristics["default"], stat) for stat in STATS}
    rows, margins = [], []
    for seed, scores in learned.items():
        stats = {name: scores[name]["stats"] for name in names}
        per_seed = {stat: mean_over_sets(stats, stat) for stat in STATS}
        summary = json.loads((runs[seed] / "summary.json").read_text())
        checkpoint = torch.load(runs[seed] / "model.pt", weights_only=True)
        margin = 100 * (per_seed["AP"] - tuned["AP"])
        margins.append(margin)
        fps = statistics.mean(scores[name]["fps"] for name in names)
        rows.append((seed, per_seed, margin, summary, checkpoint, fps, stats))
    config = rows[0][4]["config"]
    mask = config["model"]["mask_stride"]
    best = tuning["best"]["values"]
    lines = [
        "# Learning proof: the learned tracker vs the tuned MaskTrack R-CNN rule",
        "",
        f"Generated by `python experiments/learning_proof.py{' --quick' if args.quick else ''}` "
        f"(git {git_hash() or 'unknown'}; this invocation {seconds / 60:.0f} min on this machine, reusing every stage whose output existed). "
        "Training: "
        f"{args.train_videos} `gvis synth --preset hard` videos (generator seed 0) with `gvis detect --detector "
        f"simulated --preset hard` detections; evaluation: {args.test_videos} held-out videos from each of the "
        f"generator seeds {', '.join(map(str, args.test_seeds))} with their own simulated detections. Video AP "
        "(YouTube-VIS 2019 metric, `gvis eval`); each number is the mean over the held-out sets.",
        "",
        f"- Learned tracker: `configs/train/{args.config}.yaml`"
        + (f" with {' '.join('--set ' + o for o in args.overrides)}" if args.overrides else "")
        + f", {args.steps} steps of 4 clips × {config['data']['clips']['length']} frames at most, stopped after "
        f"{args.minutes:g} CPU minutes of training at the latest (`train.time_limit_clock: cpu`; wall time is longer on "
        f"a machine shared with other jobs, both are listed); mask head and Lovász loss at 1/{mask} of the frame "
        f"({240 // mask}×{320 // mask} for 240×320); final checkpoint, no model selection.",
        f"- MaskTrack R-CNN rule tuned on the same {args.train_videos} training videos "
        f"(`gvis tune-baseline`, {len(tuning['rows'])} settings): best α={best.get('alpha')}, β={best.get('beta')}, "
        f"γ={best.get('gamma')} (training AP {100 * tuning['best']['stats']['AP']:.1f}).",
        "",
        "| tracker | training seed | AP | AP50 | AP75 | AR10 | AP margin over tuned rule | training time (CPU / wall) | steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for seed, per_seed, margin, summary, _checkpoint, _fps, _ in rows:
        lines.append(f"| learned | {seed} | " + " | ".join(f"{100 * per_seed[s]:.1f}" for s in STATS)
                     + f" | {margin:+.1f} | {summary.get('cpu_seconds', float('nan')) / 60:.1f} / {summary['train_seconds'] / 60:.1f} min | "
                     f"{summary['step']} |")
    lines.append("| learned | mean ± std | " + " | ".join(mean_std([r[1][s] for r in rows]) for s in STATS)
                 + f" | {statistics.mean(margins):+.1f} | | |")
    lines.append("| MaskTrack rule, tuned | – | " + " | ".join(f"{100 * tuned[s]:.1f}" for s in STATS) + " | 0 | | |")
    lines.append("| MaskTrack rule, default (2, 10, 1) | – | " + " | ".join(f"{100 * default[s]:.1f}" for s in STATS)
                 + f" | {100 * (default['AP'] - tuned['AP']):+.1f} | | |")
    goal_mean, goal_each = statistics.mean(margins) >= 5, min(margins) >= 3
    lines += [
        "",
        f"Goal: ≥ 5 AP over the tuned rule on average — **{'met' if goal_mean else 'not met'}** "
        f"({statistics.mean(margins):+.1f}); ≥ 3 AP for every training seed — **{'met' if goal_each else 'not met'}** "
        f"(smallest {min(margins):+.1f}).",
        "",
        "Per held-out set (AP):",
        "",
        "| tracker | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for seed, _, _, _, _, _, stats in rows:
        lines.append(f"| learned, seed {seed} | " + " | ".join(f"{100 * stats[n]['AP']:.1f}" for n in names) + " |")
    for name in ("tuned", "default"):
        lines.append(f"| MaskTrack rule, {name} | " + " | ".join(f"{100 * heuristics[name][n]['AP']:.1f}" for n in names) + " |")
    lines += [
        "",
        f"Tracker speed during evaluation (one video at a time, one thread): "
        f"{statistics.mean(r[5] for r in rows):.0f} frames/s (mean over seeds and sets).",
        "",
        f"![training loss]({os.path.relpath(args.png, args.doc.parent)})",
        "",
        "Training loss per step (moving average); it can rise at first because the network starts "
        "tracks only once its initialisation scores pass the threshold, and every track adds terms.",
    ]
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(run_experiment(main))
