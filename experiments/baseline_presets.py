"""Heuristic-tracker AP on the synthetic presets, untuned and tuned (figures of docs/baselines.md).

For one preset: a training set and an evaluation set (different seeds) are generated and detected with
the simulated detector of the same preset; ``gvis tune-baseline`` grid-searches the MaskTrack R-CNN rule
on the training set; the evaluation set is tracked with the default and the tuned config, and with the
mask-IoU tracker; the table gives the video AP of each, next to two references: an oracle that links the
simulator's true-positive detections by their ground-truth instance (what perfect association would
score with these detections) and noise-free detections tracked by the default rule.

    .venv/bin/python experiments/baseline_presets.py --preset medium [--videos 50 --train-videos 12]
        [--stage all|tune|eval|refs]

All stages of one preset take about 4 minutes on a busy 2-core CPU; each stage alone stays under 3.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATS = ("AP", "AP50", "AP75", "AR1", "AR10")


def cli(*argv: object) -> None:
    from gvis.cli import main

    code = main([str(a) for a in argv])
    if code:
        sys.exit(f"'gvis {' '.join(map(str, argv))}' failed with exit code {code}")


def oracle_entries(data: Path, preset: str) -> list[dict]:
    """Results that link the simulator's true-positive detections by their ground-truth instance
    (duplicates, merges and background blobs are left out; ``gvis.eval.oracle.instance_tracks``)."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.simulate import SimulatedDetector
    from gvis.eval.oracle import instance_tracks

    dataset = YTVISDataset.from_json(data / "instances.json")
    detector = SimulatedDetector(dataset, preset=preset)
    entries = []
    for video in dataset.videos:
        per_frame = []
        for frame in detector.simulate_video(video.id):
            masks = frame.detections.mask_tensor()
            per_frame.append({int(instance): (int(frame.detections.labels[n]), float(frame.detections.scores[n]), masks[n])
                              for n, (instance, kind) in enumerate(zip(frame.instance_ids, frame.kinds)) if kind == "tp"})
        entries += instance_tracks(video.id, (video.height, video.width), per_frame)
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, help="synthetic + simulator preset (easy, medium, hard)")
    parser.add_argument("--videos", type=int, default=50, help="evaluation videos (default: 50)")
    parser.add_argument("--train-videos", type=int, default=12, help="training videos for the grid search (default: 12)")
    parser.add_argument("--seed", type=int, default=1, help="evaluation seed; training uses seed + 100")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "baseline_presets", help="work folder")
    parser.add_argument("--stage", choices=("all", "tune", "eval", "refs"), default="all",
                        help="tune: training set + grid search; eval: evaluation set, default/tuned/iou rows; "
                             "refs: noise-free and oracle rows (each under 3 minutes on a 2-core CPU)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    from gvis.eval.ytvis_ap import evaluate

    started = time.perf_counter()
    work = args.out / args.preset
    train, test = work / "train", work / "test"
    tuned = work / "masktrack-rule-tuned.yaml"
    stages = ("tune", "eval", "refs") if args.stage == "all" else (args.stage,)
    rows = []
    if "tune" in stages:
        cli("synth", "--preset", args.preset, "--videos", args.train_videos, "--seed", args.seed + 100, "--out", train, "--overwrite")
        cli("detect", "--detector", "simulated", "--preset", args.preset, "--data", train, "--out", train / "dets.jsonl")
        cli("tune-baseline", "--data", train, "--detections", train / "dets.jsonl", "--out", tuned, "--show", "5")
    if "eval" in stages:
        if not tuned.exists():
            sys.exit(f"no tuned config {tuned}: run --stage tune first")
        cli("synth", "--preset", args.preset, "--videos", args.videos, "--seed", args.seed, "--out", test, "--overwrite")
        cli("detect", "--detector", "simulated", "--preset", args.preset, "--data", test, "--out", test / "dets.jsonl")
        runs = [
            ("masktrack-rule, default", ["--tracker", "masktrack-rule"]),
            ("masktrack-rule, tuned", ["--tracker", "masktrack-rule", "--config", tuned]),
            ("iou, default", ["--tracker", "iou"]),
        ]
        for name, tracker_args in runs:
            results = work / f"results-{name.replace(', ', '-')}.json"
            cli("track", *tracker_args, "--detections", test / "dets.jsonl", "--results", results)
            rows.append({"name": name, "stats": evaluate(test / "instances.json", results)})
    if "refs" in stages:
        if not (test / "instances.json").exists():
            sys.exit(f"no evaluation set in {test}: run --stage eval first")
        cli("detect", "--detector", "simulated", "--preset", args.preset, "--noise-free", "--data", test,
            "--out", test / "noise_free.jsonl")
        results = work / "results-masktrack-rule-noise-free.json"
        cli("track", "--tracker", "masktrack-rule", "--detections", test / "noise_free.jsonl", "--results", results)
        rows.append({"name": "masktrack-rule, noise-free dets", "stats": evaluate(test / "instances.json", results)})
        rows.append({"name": "oracle linking of tp dets", "stats": evaluate(test / "instances.json", oracle_entries(test, args.preset))})

    if args.json:
        print(json.dumps({"preset": args.preset, "videos": args.videos, "rows": rows}))
    else:
        print(f"\npreset {args.preset}: {args.videos} evaluation videos (seed {args.seed}), tuned on "
              f"{args.train_videos} (seed {args.seed + 100}); stage {args.stage}, {time.perf_counter() - started:.0f} s")
        if rows:
            print(f"{'':<34}" + "".join(f"{s:>7}" for s in STATS))
        for row in rows:
            print(f"{row['name']:<34}" + "".join(f"{100 * row['stats'][s]:7.1f}" for s in STATS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
