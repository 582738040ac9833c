"""Detector learning proof: the small YOLACT-style detector trained from scratch on CPU, on frames of every
synthetic preset, with a few variants compared before one longer final run.

One command:

    python experiments/detector_proof.py --variant all     # each variant: <= --minutes of training
    python experiments/detector_proof.py --final NAME      # the final run of variant NAME, report, shipping
    python experiments/detector_proof.py --quick           # smoke test (minutes; report in the work folder)

1. ``gvis synth``: ``--train-videos`` training videos of each of ``--train-presets`` (generator seed 0) and
   ``--test-videos`` held-out videos of ``easy`` (seed 1) and ``hard`` (seed 2), all 240x320.
2. ``gvis train-detector synth-small`` on the frames of all training sets mixed, from random initialisation
   (MobileNetV3-Large backbone, nothing pre-trained), once per variant of :data:`VARIANTS` asked for
   (``--steps`` steps of 8 frames, stopped after ``--minutes`` at the latest, ``--threads`` torch threads);
   with ``--final NAME`` once more for that variant, ``--final-steps`` / ``--final-minutes``.
3. ``gvis eval-detector`` on ``--eval-frames`` frames of each held-out set: image-level mask AP with the
   class-agnostic Fast NMS the tracker gets, the class accuracy of found objects (``class_accuracy``) and,
   for the final run, mask AP with YOLACT's per-class Fast NMS as well.
4. Writes ``docs/results/detector.md`` (+ ``detector_loss.png`` of the final run); with ``--final`` ships it as
   ``checkpoints/detector-synth-mixed.pt`` (float16 weights, at most 15 MB; the appearance network in its
   own file beside it) with ``.json`` metadata: the detector ``gvis track`` and ``gvis detect --detector
   yolact`` use when given no checkpoint.

Every stage is skipped when its output exists (an interrupted training continues with ``--resume``;
``--force`` redoes everything). Variants running in parallel processes (``--variant A`` and ``--variant B``)
share the work folder.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gvis.errors import EXIT_SIGTERM, STOPPED_EXIT_CODES

REPO = Path(__file__).resolve().parent.parent
SHOWN = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR10")
#: The shipped checkpoint's size budget.
MAX_BYTES = 15 * 2**20
#: Variants compared at the short budget: name → (what it changes, ``--set`` overrides of synth-small).
VARIANTS = {
    "base": ("configs/detector/synth-small.yaml as it is", []),
    "class-x3": ("class-loss weight 3 (YOLACT: 1)", ["loss.class_weight=3.0"]),
    "class-x3-semantic-x3": ("class-loss and semantic-segmentation weights 3",
                             ["loss.class_weight=3.0", "loss.semantic_weight=3.0"]),
}
#: Fast NMS modes: name in the report → the ``postprocess.nms`` value.
NMS_MODES = {"class-agnostic (shipped; the tracker's input)": "class_agnostic", "per class (YOLACT's evaluation)": "per_class"}
HELD_OUT = {"easy": 1, "hard": 2}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "detector_proof", help="data, runs and results")
    parser.add_argument("--train-presets", nargs="+", default=["easy", "medium", "hard"])
    parser.add_argument("--train-videos", type=int, default=100, help="training videos per preset")
    parser.add_argument("--test-videos", type=int, default=20)
    parser.add_argument("--eval-frames", type=int, default=300, help="held-out frames evaluated per preset")
    parser.add_argument("--variant", action="append", default=[], choices=[*VARIANTS, "all"],
                        help="train and evaluate this variant at the short budget (repeatable; 'all')")
    parser.add_argument("--steps", type=int, default=900, help="a variant's steps of 8 frames (its cosine schedule)")
    parser.add_argument("--minutes", type=float, default=30.0, help="stop a variant's training after this long")
    parser.add_argument("--final", choices=list(VARIANTS), help="train this variant once more, long, and ship it")
    parser.add_argument("--final-steps", type=int, default=4000)  # the shipped detector-synth-mixed.pt
    parser.add_argument("--final-minutes", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of a training process")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 videos per preset, 3 steps, report in --work")
    parser.add_argument("--force", action="store_true", help="redo every stage")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "detector.md")
    parser.add_argument("--ship", type=Path, default=REPO / "checkpoints" / "detector-synth-mixed.pt")
    args = parser.parse_args()
    args.variant = list(VARIANTS) if "all" in args.variant else list(dict.fromkeys(args.variant))
    if args.quick:
        args.train_videos, args.test_videos, args.eval_frames, args.steps, args.final_steps = 2, 2, 10, 3, 4
        args.doc, args.ship = args.work / "detector.md", args.work / "detector-synth-mixed.pt"
    return args


def gvis(*argv, capture: bool = False, threads: int = 1) -> str:
    """Run ``gvis ARGV`` in a fresh process; returns stdout if ``capture``."""
    command = [sys.executable, "-m", "gvis", *map(str, argv)]
    print("$ gvis " + " ".join(map(str, argv)), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE if capture else None)
    if done.returncode in STOPPED_EXIT_CODES or done.returncode < 0:
        print(f"stopped ({done.returncode}): gvis {' '.join(map(str, argv))}; run this script again to resume",
              file=sys.stderr)
        sys.exit(done.returncode if done.returncode > 0 else EXIT_SIGTERM)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): gvis {' '.join(map(str, argv))}")
    return done.stdout if capture else ""


def make_set(folder: Path, preset: str, videos: int, seed: int, force: bool) -> None:
    if force or not (folder / "instances.json").exists():
        gvis("synth", "--preset", preset, "--videos", videos, "--seed", seed, "--out", folder, "--overwrite")


def train(args: argparse.Namespace, train_sets: list[Path], run: Path, variant: str, steps: int, minutes: float) -> dict:
    summary_path = run / "summary.json"
    if summary_path.exists() and not args.force:
        return json.loads(summary_path.read_text())
    folders = "[" + ",".join(str(folder) for folder in train_sets) + "]"
    options = ["--set", f"data.train={folders}", "--set", f"output_dir={run}", "--set", f"train.steps={steps}",
               "--set", f"train.time_limit_minutes={minutes}", "--set", f"threads={args.threads}"]
    for override in VARIANTS[variant][1]:
        options += ["--set", override]
    resume = (run / "last.pt").exists() and not args.force
    flags = ["--resume"] if resume else ["--overwrite"]
    output = gvis("train-detector", "synth-small", *options, *flags, "--json", "--no-progress", capture=True,
                  threads=args.threads)
    summary = json.loads(output.strip().splitlines()[-1])
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def evaluate(args: argparse.Namespace, run: Path, data: Path, nms: str) -> dict:
    """Stats of ``run``'s model on one held-out set with one NMS mode (cached in the run folder)."""
    out = run / f"eval-{data.name}-{nms}.json"
    if out.exists() and not args.force:
        return json.loads(out.read_text())
    output = gvis("eval-detector", "--checkpoint", run / "model.pt", "--data", data, "--max-frames", args.eval_frames,
                  "--set", f"postprocess.nms={nms}", "--json", capture=True)
    stats = json.loads(output.strip().splitlines()[-1])
    out.write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def loss_curve(run: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(run / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps = [int(r["step"]) for r in rows]
    fig, axis = plt.subplots(figsize=(7, 4))
    window = max(1, len(rows) // 30)
    for key in ("loss", "box", "class", "mask", "semantic"):
        values = [float(r[key]) for r in rows]
        smooth = [statistics.mean(values[max(0, i - window + 1):i + 1]) for i in range(len(values))]
        axis.plot(steps, smooth, label=key, linewidth=1)
    axis.set_xlabel("step (8 frames)")
    axis.set_yscale("log")
    axis.set_title("detector training loss (weighted terms, moving average)")
    axis.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def ship(run: Path, scores: dict, path: Path, all_scores: dict, args: argparse.Namespace) -> int:
    """The shipped checkpoint: the model in float16 with its held-out ``scores`` (its own, class-agnostic
    post-processing), the appearance network in its own file, and a JSON of the metadata (``all_scores``:
    every NMS mode)."""
    from gvis.detectors.yolact.checkpoint import (appearance_path, export_detector, load_detector_checkpoint,
                                                  save_detector_checkpoint)
    from gvis.resources import repository_relative

    checkpoint = export_detector(load_detector_checkpoint(run / "model.pt"))
    checkpoint["metrics"] = {"held_out": scores}
    save_detector_checkpoint(path, checkpoint, half=True, split_appearance=True)
    size = path.stat().st_size + appearance_path(path).stat().st_size
    if size > MAX_BYTES:
        sys.exit(f"{path} is {size / 2**20:.1f} MB, over the 15 MB budget")
    meta = {
        "checkpoint": path.name, "appearance_file": appearance_path(path).name, "bytes": size,
        "made_by": "python experiments/detector_proof.py --final " + args.final,
        "weights": "float16 (loaded as float32)", "seed": checkpoint["seed"], "steps": checkpoint["step"],
        "train_seconds": checkpoint["train_seconds"], "git_hash": checkpoint["git_hash"],
        "gvis_version": checkpoint["gvis_version"], "categories": checkpoint["categories"],
        "training_frames": {"presets": args.train_presets, "videos_per_preset": args.train_videos, "generator_seed": 0},
        "validation": {"what": "image-level mask AP (COCOeval segm) and class accuracy on held-out synthetic frames",
                       "per_set": scores, "per_nms_mode": all_scores},
        "config": checkpoint["config"], "train_config": checkpoint["train_config"],
    }
    path.with_suffix(".json").write_text(json.dumps(repository_relative(meta), indent=2) + "\n")
    return size


def pct(value: float) -> str:
    return f"{100 * value:.1f}" if value >= 0 else "–"


def variant_rows(args: argparse.Namespace, results: dict) -> list[str]:
    """One row per variant run: ``results[name] = (summary, {held-out set: class-agnostic stats})``."""
    rows = []
    for name, (summary, per_set) in results.items():
        cells = [pct(per_set[s]["AP50"]) for s in HELD_OUT] + [pct(per_set[s]["classes"]["top1"]) for s in HELD_OUT]
        cells += [pct(per_set[s]["classes"]["recall"]) for s in HELD_OUT]
        rows.append(f"| {name} | {VARIANTS[name][0]} | {summary['step']} | {summary['train_seconds'] / 60:.1f} | "
                    + " | ".join(cells) + " |")
    return rows


def write_report(args: argparse.Namespace, results: dict, final: tuple | None, size: int, seconds: float) -> None:
    """``results``: variants at the short budget; ``final``: (name, summary, scores[nms mode][held-out set])."""
    from gvis.provenance import git_hash

    presets = ", ".join(f"`{p}`" for p in args.train_presets)
    lines = [
        "# Detector learning proof: YOLACT-style detector from scratch on frames of every synthetic preset",
        "",
        f"Generated by `python experiments/detector_proof.py` (git {git_hash() or 'unknown'}; this invocation "
        f"{seconds / 60:.0f} min, reusing every stage whose output existed). Machine: this repository's 2-core "
        f"CPU, each training process with {args.threads} torch thread(s), evaluation with 1.",
        "",
        f"- Training: `gvis train-detector synth-small` (`configs/detector/synth-small.yaml`: MobileNetV3-Large "
        f"from random initialisation, FPN P3–P7 of 64 channels, 32 prototypes, 240×320 input, Adam 1e−3 with "
        f"cosine decay) on the frames of {args.train_videos} videos of each of {presets} (`gvis synth`, "
        "generator seed 0), mixed.",
        f"- Evaluation: `gvis eval-detector` on {args.eval_frames} frames spread over {args.test_videos} held-out "
        "videos of `easy` (generator seed 1) and `hard` (seed 2), never seen in training. Mask AP50: image-level "
        "COCOeval (`segm`), every frame one image, at most 16 detections per frame. *Found*: an object that some "
        "detection's mask overlaps with IoU > 0.5; *class right*: the best-overlapping detection carries the "
        "object's category (top-1), among found objects. Numbers in %.",
        "",
    ]
    if results:
        lines += [
            f"## Variants ({args.steps}-step cosine schedule, at most {args.minutes:.0f} min each; class-agnostic NMS)",
            "",
            "| variant | change | steps | minutes | AP50 easy | AP50 hard | class right, easy | class right, hard | found, easy | found, hard |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *variant_rows(args, results),
            "",
        ]
    if final:
        name, summary, scores = final
        agnostic = scores[next(iter(NMS_MODES))]
        rows = [f"| {held} | {mode} | " + " | ".join(pct(stats[s]) for s in SHOWN)
                + f" | {pct(stats['classes']['recall'])} | {pct(stats['classes']['top1'])} | {pct(stats['classes']['top2'])} | {stats['fps']:.1f} |"
                for held in HELD_OUT for mode, per_set in scores.items() for stats in [per_set[held]]]
        confusions = ", ".join(f"{t} → {d} ({c})" for t, d, c in agnostic["hard"]["classes"]["confusions"][:6])
        lines += [
            f"## Final run: `{name}`, {summary['step']} steps in {summary['train_seconds'] / 60:.1f} min"
            + (f" (stopped by the {summary['stopped_by']})" if summary.get("stopped_by") else ""),
            "",
            "| held-out set | NMS | " + " | ".join(SHOWN) + " | found | class right | in top 2 | FPS |",
            "|---|---|" + "---|" * (len(SHOWN) + 4),
            *rows,
            "",
            f"Top-1 class accuracy of found objects with the tracker's post-processing: `easy` "
            f"{pct(agnostic['easy']['classes']['top1'])}, `hard` {pct(agnostic['hard']['classes']['top1'])}. Most "
            f"frequent confusions on `hard`: {confusions or 'none'}.",
            "",
            f"Shipped as `{args.ship.name}` ({size / 2**20:.1f} MB, float16 weights) with "
            f"`{args.ship.with_suffix('.json').name}`.",
            "",
            "![training loss](detector_loss.png)",
            "",
        ]
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(lines))


def main() -> None:
    args = parse_args()
    if not args.variant and not args.final and not args.quick:
        sys.exit("nothing to do: give --variant NAME (or all) and/or --final NAME")
    if args.quick and not args.variant and not args.final:
        args.variant, args.final = ["base"], "base"
    started = time.time()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    train_sets = [work / f"{preset}-train" for preset in args.train_presets]
    for preset, folder in zip(args.train_presets, train_sets):
        make_set(folder, preset, args.train_videos, 0, args.force)
    held_out = {name: work / f"{name}-test" for name in HELD_OUT}
    for name, seed in HELD_OUT.items():
        make_set(held_out[name], name, args.test_videos, seed, args.force)
    # Every variant whose evaluation exists is reported, also those another process trained.
    results = {}
    for name in VARIANTS:
        run = work / f"run-{name}"
        if name in args.variant:
            train(args, train_sets, run, name, args.steps, args.minutes)
        if (run / "summary.json").exists() and (run / "model.pt").exists():
            per_set = {held: evaluate(args, run, data, "class_agnostic") for held, data in held_out.items()}
            results[name] = (json.loads((run / "summary.json").read_text()), per_set)
    final, size = None, 0
    if args.final:
        run = work / f"final-{args.final}"
        summary = train(args, train_sets, run, args.final, args.final_steps, args.final_minutes)
        scores = {mode: {held: evaluate(args, run, data, nms) for held, data in held_out.items()}
                  for mode, nms in NMS_MODES.items()}
        final = (args.final, summary, scores)
        loss_curve(run, args.doc.with_name("detector_loss.png"))
        size = ship(run, scores[next(iter(NMS_MODES))], args.ship, scores, args)
    write_report(args, results, final, size, time.time() - started)
    print(f"wrote {args.doc}" + (f" and {args.ship}" if final else ""))


if __name__ == "__main__":
    main()
