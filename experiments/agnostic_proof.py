"""The detector-agnostic learned tracker: trained on simulated proposals that look like other segmenters'
output, scored on held-out synthetic videos, shipped as ``checkpoints/learned-agnostic.pt``.

One command:

    python experiments/agnostic_proof.py            # about an hour on the 2-core CPU (30 CPU minutes of training)
    python experiments/agnostic_proof.py --quick    # smoke test (minutes; report and checkpoint in the work folder)

1. 200 ``gvis synth --preset hard`` training videos (generator seed 0) and 50 held-out videos for each of the
   generator seeds 1, 2, 3 (the learning proof's videos), with ``gvis detect --detector simulated --preset
   agnostic`` proposals: one category, no appearance vectors, scores constant 1.0 in 30 % of the videos and
   otherwise spread or squeezed, several overlapping masks per object (``configs/simulator/agnostic.yaml``).
2. ``gvis train agnostic`` (``configs/train/agnostic.yaml``; training seed 0, at most ``--minutes`` CPU minutes).
3. On the held-out proposals, class-agnostic video AP (``gvis eval --class-agnostic``; the proposals have no
   classes) of the trained tracker (``gvis eval-tracker --class-agnostic``), of the MaskTrack R-CNN rule and
   the IoU tracker with their default configs, and of oracle linking (``gvis oracle --class-agnostic``: the
   ceiling of any tracker fed these proposals).
4. On the same held-out videos with the hard preset's detections (8 categories, appearance vectors: the
   learning proof's), video AP with classes of the agnostic checkpoint (classes from its label vote) next to
   the class-specific ``checkpoints/learned-synth-hard.pt``.
5. Writes ``docs/results/agnostic.md`` and ``docs/results/agnostic_loss.png``; ships the run's model as
   ``checkpoints/learned-agnostic.pt`` (≤ 5 MB, + ``.json``), the checkpoint ``gvis track --tracker learned``
   falls back to for detections that fit no class-specific one.

Every stage is skipped when its output exists (an interrupted training resumes with ``--resume``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from gvis.compare.benchmark import (
    STATS,
    Benchmark,
    cached_json,
    checkpoint_scores,
    evaluate_run,
    gvis,
    prepare,
    subprocess_runner,
    train_run,
)
from gvis.train.checkpoint import SHIPPED_AGNOSTIC, SHIPPED_CHECKPOINT, ship_checkpoint
from gvis.train.loop import load_train_config
from learning_proof import loss_curves

REPO = Path(__file__).resolve().parent.parent
CONFIG = "agnostic"
#: The heuristics run with their default configs (``configs/baselines/<name>.yaml``).
HEURISTICS = ("masktrack-rule", "iou")


def add_training_arguments(parser: argparse.ArgumentParser, config: str) -> None:
    """``--seed``, ``--steps``, ``--minutes`` (defaults: training config ``config``'s schedule) and ``--set``."""
    schedule = load_train_config(config).train
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--steps", type=int, default=schedule.steps, help=f"training steps (configs/train/{config}.yaml)")
    parser.add_argument("--minutes", type=float, default=schedule.time_limit_minutes,
                        help="stop training after this much CPU time of the training process")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra training-config overrides (repeatable)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "agnostic_proof", help="data, runs and results")
    parser.add_argument("--train-videos", type=int, default=200)
    parser.add_argument("--test-videos", type=int, default=50)
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[1, 2, 3], help="generator seeds of the held-out sets")
    add_training_arguments(parser, CONFIG)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 12 training videos, 6 per held-out set, 20 steps, report and checkpoint in --work")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "agnostic.md")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "results" / "agnostic_loss.png")
    parser.add_argument("--ship", type=Path, default=SHIPPED_AGNOSTIC, help="where the model is shipped (+ .json)")
    args = parser.parse_args()
    if args.quick:
        args.train_videos, args.test_videos, args.steps = 12, 6, 20
        args.doc, args.png, args.ship = args.work / "agnostic.md", args.work / "agnostic_loss.png", args.work / "agnostic.pt"
    return args


def labelled_detections(bench: Benchmark) -> None:
    """The hard preset's detections (classes, appearance) of every held-out set as ``dets_hard.jsonl``."""
    for test in bench.test_sets:
        if not (test / "dets_hard.pt").exists():
            gvis(["detect", "--detector", "simulated", "--preset", "hard", "--data", test, "--seed",
                  test.name.removeprefix("test_seed"), "--out", test / "dets_hard.jsonl", "--cache"], subprocess_runner)


def heuristic_scores(bench: Benchmark, name: str) -> dict:
    """``name`` (default config) on every held-out set's proposals: ``{set: class-agnostic stats}``."""
    def make() -> dict:
        scores = {}
        for test in bench.test_sets:
            results = bench.work / "results" / f"{name}_{test.name}.json"
            gvis(["track", "--tracker", name, "--detections", test / "dets.jsonl", "--results", results], subprocess_runner)
            scores[test.name] = json.loads(gvis(["eval", test / "instances.json", results, "--class-agnostic", "--json"],
                                                subprocess_runner))
        return scores

    return cached_json(bench.work / f"heuristic_{name}.json", False, make)


def oracle_scores(bench: Benchmark) -> dict:
    """``gvis oracle --class-agnostic`` of every held-out set's proposals."""
    return cached_json(bench.work / "oracle.json", False, lambda: {
        test.name: json.loads(gvis(["oracle", test, test / "dets.jsonl", "--class-agnostic", "--json"], subprocess_runner))
        for test in bench.test_sets})


def mean_over_sets(per_set: dict, stat: str) -> float:
    """``stat`` (in %) averaged over the held-out sets of ``{set: stats}``."""
    return statistics.mean(100 * stats[stat] for stats in per_set.values())


def main() -> None:
    args = parse_args()
    started = time.time()
    bench = Benchmark(args.work.resolve(), preset="agnostic", synth_preset="hard", train_videos=args.train_videos,
                      test_videos=args.test_videos, test_seeds=tuple(args.test_seeds))
    prepare(bench)
    outcome = train_run(CONFIG, bench.work / f"run_seed{args.seed}", bench, args.seed, args.steps, args.minutes,
                        args.overrides)
    if outcome.status == "diverged":
        sys.exit(f"training diverged: {outcome.record['message']}")
    run = outcome.folder
    learned = evaluate_run(run, bench, flags=["--class-agnostic"])
    rows = {"learned (detector-agnostic)": {name: s["stats"] for name, s in learned.items()},
            **{f"{name} (default config)": heuristic_scores(bench, name) for name in HEURISTICS},
            "oracle linking": oracle_scores(bench)}
    labelled_detections(bench)
    with_classes = {
        "learned, detector-agnostic (this run)": checkpoint_scores(
            run / "model.pt", bench, run / "labelled_scores.json", detections=lambda test: test / "dets_hard.jsonl"),
    }
    if SHIPPED_CHECKPOINT.is_file():
        with_classes[f"learned, class-specific ({SHIPPED_CHECKPOINT.name})"] = checkpoint_scores(
            SHIPPED_CHECKPOINT, bench, bench.work / "class_specific_scores.json",
            detections=lambda test: test / "dets_hard.jsonl")
    loss_curves({args.seed: run}, args.png)
    write_report(args, bench, outcome.record, rows, with_classes, time.time() - started)
    shipped = ship_checkpoint(run / "model.pt", args.ship, learned, "python experiments/agnostic_proof.py",
                              "class-agnostic video AP on the held-out synthetic hard sets (generator seeds other than "
                              "training) with class-agnostic, appearance-free simulated proposals")
    print(f"wrote {args.doc}, {args.png} and {shipped}")


def write_report(args: argparse.Namespace, bench: Benchmark, summary: dict, rows: dict, with_classes: dict,
                 seconds: float) -> None:
    from gvis.provenance import git_hash

    names = [test.name for test in bench.test_sets]
    config = load_train_config(CONFIG)
    lines = [
        "# The detector-agnostic learned tracker",
        "",
        f"Generated by `python experiments/agnostic_proof.py{' --quick' if args.quick else ''}` (git "
        f"{git_hash() or 'unknown'}; this invocation {seconds / 60:.0f} min on this repository's 2-core CPU, reusing "
        "every stage whose output existed).",
        "",
        f"- Videos: {bench.describe()} (`configs/simulator/agnostic.yaml`: one category, no appearance vectors, "
        "scores constant 1.0 in 30 % of the videos, else sigmoid(logit / τ) with τ log-uniform in [0.3, 3], up to "
        "three extra overlapping proposals per object and frame).",
        f"- Training: `gvis train agnostic` (`configs/train/agnostic.yaml`, `configs/model/agnostic.yaml`: `geometry` "
        f"inputs, no appearance, `label_vote` scorer, top {config.model.filtering.top_n} after NMS), training seed "
        f"{args.seed}, {summary['step']} steps of 4 clips × {config.data.clips.length} frames in "
        f"{summary.get('cpu_seconds', float('nan')) / 60:.1f} CPU minutes ({summary['train_seconds'] / 60:.1f} min "
        f"wall; at most {args.minutes:g} CPU minutes, `train.time_limit_clock: cpu`); mask head at 1/"
        f"{config.model.mask_stride} of the frame; final checkpoint, no model selection.",
        "- Scores: video AP (YouTube-VIS 2019 metric), mean over the held-out sets. The proposals have no classes, "
        "so they are scored class-agnostic (`gvis eval --class-agnostic`: every category counted as one).",
        "",
        "## On class-agnostic, appearance-free proposals (held-out)",
        "",
        "| tracker | " + " | ".join(STATS) + " | " + " | ".join(f"AP {name}" for name in names) + " |",
        "|---|" + "---|" * (len(STATS) + len(names)),
    ]
    for label, per_set in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{mean_over_sets(per_set, s):.1f}" for s in STATS) + " | "
                     + " | ".join(f"{100 * per_set[name]['AP']:.1f}" for name in names) + " |")
    lines += [
        "",
        "Oracle linking links every proposal to the ground-truth instance it matches (mask IoU ≥ 0.5) and drops "
        "the others: the ceiling of any tracker fed these proposals.",
        "",
        "## On the hard preset's class-labelled detections (held-out)",
        "",
        "The same videos with the simulated detector's `hard` detections (8 categories, appearance vectors of "
        "width 64: the learning proof's). The agnostic checkpoint ignores the appearance and takes each track's "
        "class from the vote of its detections' labels; the class-specific checkpoint reads class logits and "
        "appearance (docs/results/learning.md).",
        "",
        "| tracker | " + " | ".join(STATS) + " | tracker frames/s |",
        "|---|" + "---|" * (len(STATS) + 1),
    ]
    for label, scores in with_classes.items():
        per_set = {name: s["stats"] for name, s in scores.items()}
        fps = statistics.mean(s["fps"] for s in scores.values())
        lines.append(f"| {label} | " + " | ".join(f"{mean_over_sets(per_set, s):.1f}" for s in STATS) + f" | {fps:.0f} |")
    lines += [
        "",
        f"![training loss]({os.path.relpath(args.png, args.doc.parent)})",
        "",
        "Training loss per step (moving average).",
    ]
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
