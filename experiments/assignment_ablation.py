"""Inference rules of the learned tracker behind a detector whose objects come with near-identical twins:
each of ``assignment``, ``claimed_start_tracks`` and ``output_masks`` (docs/tracker.md, "Hard assignment")
switched on and off for trained checkpoints, on validation videos that no proof or test uses.

    python experiments/assignment_ablation.py --run runs/pipeline_proof/run_seed0     # about 10 CPU minutes
    python experiments/assignment_ablation.py --run RUN --videos 4                    # smoke test

Data (made here when absent): ``--videos`` ``gvis synth --preset hard`` videos of generator seed
:data:`VALIDATION_SEED`; the detections of the stage-2 run's detector (``RUN/detector.pt``) and of the
simulated ``hard`` detector on them. Rows: the run's tracker (``RUN/model.pt``) behind its detector and the
shipped simulated-detection tracker (``checkpoints/learned-synth-hard.pt``) on the simulated detections,
each under every setting of :data:`SETTINGS`; beside them the MaskTrack rule with its default config and
oracle linking (``gvis oracle``) of the same detections. Video AP (YouTube-VIS 2019) and class-agnostic AP;
for the paper's setting, all three keys and the rule, how the tracks cover each object (:func:`coverage`).

Writes ``docs/results/assignment.md`` (``--doc``) and ``WORK/scores.json``; every stage is skipped when its
output exists.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from gvis.cli.eval_tracker import read_videos
from gvis.compare.benchmark import cached_json, gvis, subprocess_runner
from gvis.data.folders import open_dataset
from gvis.detections.structures import pycoco_rle
from gvis.eval.oracle import match_to_instances
from gvis.eval.ytvis_ap import evaluate
from gvis.provenance import git_hash
from gvis.runtime import pin_threads
from gvis.tracker.online import load_model
from gvis.train.evaluation import track_videos

REPO = Path(__file__).resolve().parent.parent
#: Generator seed of the validation videos: used by no proof, test or training set.
VALIDATION_SEED = 21
PAPER = {"assignment": "best", "claimed_start_tracks": True, "output_masks": "head"}
#: (row label, model-config keys) in report order; the first is the paper's inference.
SETTINGS = (
    ("paper (every track its best detection; any detection may start a track; mask head)", {}),
    ("output_masks: detection", {"output_masks": "detection"}),
    ("+ claimed_start_tracks: false", {"output_masks": "detection", "claimed_start_tracks": False}),
    ("+ assignment: exclusive", {"output_masks": "detection", "assignment": "exclusive"}),
    ("all three", {"output_masks": "detection", "claimed_start_tracks": False, "assignment": "exclusive"}),
    ("all but output_masks (mask head)", {"claimed_start_tracks": False, "assignment": "exclusive"}),
)
#: The rows whose coverage of the objects is measured too (:func:`coverage`).
COVERAGE_ROWS = (SETTINGS[0][0], SETTINGS[4][0])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a stage-2 run folder (model.pt, detector.pt)")
    parser.add_argument("--simulated", type=Path, default=REPO / "checkpoints" / "learned-synth-hard.pt",
                        help="the tracker of simulated `hard` detections")
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "assignment_ablation")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "assignment.md")
    return parser.parse_args()


def make_data(work: Path, videos: int, detector: Path) -> tuple[Path, dict[str, Path]]:
    """The validation videos and their detections: ``{"detector": jsonl, "simulated": jsonl}``."""
    data = work / "val_hard"
    if not (data / "instances.json").exists():
        gvis(["synth", "--preset", "hard", "--videos", videos, "--seed", VALIDATION_SEED, "--out", data,
              "--overwrite"], subprocess_runner)
    detections = {"detector": work / "detector.jsonl", "simulated": work / "simulated.jsonl"}
    if not detections["detector"].exists():
        gvis(["detect", "--detector", "yolact", "--checkpoint", detector, "--data", data,
              "--out", detections["detector"]], subprocess_runner)
    if not detections["simulated"].exists():
        gvis(["detect", "--detector", "simulated", "--preset", "hard", "--seed", VALIDATION_SEED, "--data", data,
              "--out", detections["simulated"]], subprocess_runner)
    return data, detections


def stats(dataset, entries: list[dict]) -> dict:
    """AP, AP50 and class-agnostic AP, as fractions."""
    official = evaluate(dataset, entries)
    return {"AP": official["AP"], "AP50": official["AP50"],
            "agnostic_AP": evaluate(dataset, entries, class_agnostic=True)["AP"], "tracks": len(entries)}


def coverage(dataset, videos: list, entries: list[dict]) -> dict:
    """Per ground-truth object, how the tracks cover it (mask IoU ≥ 0.5 in a frame):

    - ``detected``: fraction of object-frames with a matching detection (``match_to_instances``);
    - ``covered``: fraction of object-frames some track covers;
    - ``tracks_per_object``: mean number of different tracks that cover an object;
    - ``main_track_share``: mean fraction of an object's frames covered by its most frequent track;
    - ``track_mask_iou`` / ``detection_mask_iou``: mean mask IoU of the covering track and of the
      matching detection, over frames with both.
    """
    by_video: dict[int, list[dict]] = {}
    for entry in entries:
        by_video.setdefault(entry["video_id"], []).append(entry)
    counts = {"frames": 0, "detected": 0, "covered": 0}
    covering: dict[tuple[int, int], list[int]] = {}
    track_ious, detection_ious = [], []
    for video_id, frames in videos:
        tracks = by_video.get(video_id, [])
        for t, detections in enumerate(frames):
            instance_ids, instance_masks = dataset.frame_masks(video_id, t)
            if len(instance_ids) == 0:
                continue
            truth = mask_utils.encode(np.asfortranarray(instance_masks.transpose(1, 2, 0).astype(np.uint8)))
            matched = {row: n for n, row in enumerate(match_to_instances(detections, instance_masks)) if row >= 0}
            shown = [(k, _rle(track["segmentations"][t])) for k, track in enumerate(tracks)
                     if track["segmentations"][t] is not None]
            shown = [(k, rle) for k, rle in shown if mask_utils.area(rle) > 0]
            track_iou = (np.asarray(mask_utils.iou([rle for _, rle in shown], truth, [0] * len(truth)))
                         .reshape(len(shown), len(truth)) if shown else np.zeros((0, len(truth))))
            detection_rles = [pycoco_rle(rle) for rle in detections.mask_rles()] if matched else []
            for k, instance in enumerate(instance_ids):
                counts["frames"] += 1
                counts["detected"] += k in matched
                best = int(track_iou[:, k].argmax()) if shown else -1
                is_covered = best >= 0 and track_iou[best, k] >= 0.5
                counts["covered"] += is_covered
                covering.setdefault((video_id, int(instance)), []).append(shown[best][0] if is_covered else -1)
                if is_covered and k in matched:
                    track_ious.append(track_iou[best, k])
                    detection_ious.append(mask_utils.iou([detection_rles[matched[k]]], [truth[k]], [0])[0][0])
    per_object = [Counter(track for track in frames if track >= 0) for frames in covering.values()]
    lengths = [len(frames) for frames in covering.values()]
    return {"detected": counts["detected"] / counts["frames"], "covered": counts["covered"] / counts["frames"],
            "tracks_per_object": float(np.mean([len(c) for c in per_object])),
            "main_track_share": float(np.mean([max(c.values(), default=0) / n for c, n in zip(per_object, lengths)])),
            "track_mask_iou": float(np.mean(track_ious)), "detection_mask_iou": float(np.mean(detection_ious))}


def _rle(segmentation: dict) -> dict:
    """A results-file RLE as pycocotools takes it (``counts`` as bytes)."""
    counts = segmentation["counts"]
    return {"size": segmentation["size"], "counts": counts.encode() if isinstance(counts, str) else counts}


def learned_scores(checkpoint: Path, data: Path, detections: Path) -> dict:
    """``{label: stats}`` of ``checkpoint`` under every setting of :data:`SETTINGS`."""
    dataset = open_dataset(data)
    videos, header = read_videos(detections, dataset)
    categories = [int(c["id"]) for c in header["categories"]]
    scores = {}
    for label, keys in SETTINGS:
        model = load_model(checkpoint, num_classes=len(categories))
        for key, value in {**PAPER, **keys}.items():
            setattr(model.config, key, value)
        entries, _, _ = track_videos(model, categories, videos)
        scores[label] = stats(dataset, entries)
        if label in COVERAGE_ROWS:
            scores[label]["coverage"] = coverage(dataset, videos, entries)
    return scores


def reference_scores(work: Path, data: Path, detections: Path, name: str) -> dict:
    """The MaskTrack rule (default config) and oracle linking on ``detections``."""
    dataset = open_dataset(data)
    rule_results = work / f"rule_{name}.json"
    if not rule_results.exists():
        gvis(["track", "--tracker", "masktrack-rule", "--detections", detections, "--results", rule_results],
             subprocess_runner)
    oracle_results = work / f"oracle_{name}.json"
    if not oracle_results.exists():
        gvis(["oracle", data / "instances.json", detections, "--results", oracle_results], subprocess_runner)

    def entries(path: Path) -> list:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        return loaded["results"] if isinstance(loaded, dict) else loaded

    rule_entries = entries(rule_results)
    videos, _ = read_videos(detections, dataset)
    return {"MaskTrack rule, default config": {**stats(dataset, rule_entries),
                                               "coverage": coverage(dataset, videos, rule_entries)},
            "oracle linking": stats(dataset, entries(oracle_results))}


def write_report(args: argparse.Namespace, scores: dict, seconds: float) -> None:
    def pct(value: float) -> str:
        return f"{100 * value:.1f}"

    lines = [
        "# Inference rules behind a detector: assignment, new tracks, output masks",
        "",
        f"Generated by `python experiments/assignment_ablation.py --run {args.run.relative_to(REPO) if args.run.is_relative_to(REPO) else args.run}` "
        f"(git {git_hash()}; {seconds / 60:.0f} min on this repository's 2-core CPU).",
        "",
        f"- Videos: {args.videos} `gvis synth --preset hard` videos of generator seed {VALIDATION_SEED}, used by no "
        "proof, test or training set (validation: the settings below were chosen here, never on held-out sets).",
        "- Behind the detector: the stage-2 run's tracker (`model.pt`, trained with the paper's inference rules) on "
        "`gvis detect` of the run's detector (`detector.pt`).",
        f"- Simulated: `{args.simulated.relative_to(REPO) if args.simulated.is_relative_to(REPO) else args.simulated}` "
        "on `gvis detect --detector simulated --preset hard` of the same videos.",
        "- Keys (docs/tracker.md, \"Hard assignment\"): `output_masks: detection` shows a matched track's detection "
        "mask instead of the mask head's; `claimed_start_tracks: false` starts no track on a detection a track took; "
        "`assignment: exclusive` takes one detection per track and one track per detection, greedily by `s_mn`.",
        "- AP in points (YouTube-VIS 2019 video AP); class-agnostic AP counts every category as one.",
        "",
        "| detections | tracker, inference setting | AP | AP50 | class-agnostic AP | tracks |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("detector", "simulated"):
        for label, row in scores[name].items():
            lines.append(f"| {name} | {label} | {pct(row['AP'])} | {pct(row['AP50'])} | {pct(row['agnostic_AP'])} "
                         f"| {row['tracks']} |")
    lines += ["", "How the tracks cover the ground-truth objects (mask IoU ≥ 0.5 in a frame): object-frames with a "
              "matching detection, object-frames a track covers, different tracks per object, the share of an "
              "object's frames its main track covers, and the mean mask IoU of the covering track and of the "
              "matching detection over frames with both.", "",
              "| detections | tracker, inference setting | detected | covered | tracks per object | main track's share "
              "| track mask IoU | detection mask IoU |", "|---|---|---|---|---|---|---|---|"]
    for name in ("detector", "simulated"):
        for label, row in scores[name].items():
            if "coverage" in row:
                c = row["coverage"]
                lines.append(f"| {name} | {label} | {pct(c['detected'])} % | {pct(c['covered'])} % | "
                             f"{c['tracks_per_object']:.2f} | {pct(c['main_track_share'])} % | "
                             f"{c['track_mask_iou']:.3f} | {c['detection_mask_iou']:.3f} |")
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    args = parse_args()
    pin_threads(1)
    start = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    data, detections = make_data(args.work, args.videos, args.run / "detector.pt")
    checkpoints = {"detector": args.run / "model.pt", "simulated": args.simulated}

    def measure() -> dict:
        return {name: {**learned_scores(checkpoints[name], data, detections[name]),
                       **reference_scores(args.work, data, detections[name], name)} for name in checkpoints}

    scores = cached_json(args.work / "scores.json", False, measure)
    write_report(args, scores, time.time() - start)
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
