"""Why the learned tracker loses behind a learned detector: four measurements on held-out ``hard`` videos,
each for the detector's detections and the simulated detector's.

    python experiments/pipeline_diagnosis.py                  # about 50 CPU minutes (M4 trains two trackers)
    python experiments/pipeline_diagnosis.py --quick          # smoke test (a few minutes; report in the work folder)

Data: the learning proof's videos (``experiments/learning_proof.py``; made here if ``--data`` lacks them):
200 ``gvis synth --preset hard`` training videos and the held-out set of generator seed 1, each with its
simulated detections; ``gvis detect --detector yolact`` (``--detector``, default the shipped detector with
its stage-2 appearance network) adds the detector's own.

- **M1 association**: the training objective (losses of ``gvis.train.objective``, no gradients) of a
  tracker run over consecutive 10-frame clips of the held-out videos, as in training but without
  augmentation: association and init loss per frame, and the per-frame assignment accuracy (positive
  track–detection pairs that the step's hard assignment took). Rows: each shipped tracker on the
  detections it was trained on, the simulated-detection tracker behind the detector, and M4's tracker.
- **M2 appearance**: distances between the appearance vectors of the primary detections (the detection a
  training target gives an object) of the same object vs of different objects, 1–5 frames apart, in units
  of the median vector norm; separation as the probability that a same-object pair is closer than a
  different-object pair (ROC AUC), for all different pairs and for look-alikes (same category).
- **M3 targets**: what the training targets make of each filtered detection: *primary* (association /
  init target of its object), *duplicate* (overlaps an object at box IoU > 0.5 but another detection is
  that object's primary: a negative), *near miss* (best box IoU in (0.3, 0.5]: a negative) or
  *background*; scores of each kind, how often a duplicate outscores its object's primary, and objects
  in view without a primary.
- **M4 cached vs stage 2**: the learned tracker (``configs/train/base.yaml``, seed 0, ``--steps``) trained on
  the detector's *cached* detections (appearance network frozen as shipped) instead of stage 2, once with
  the authors' targets and once with the targets M3 points to (:data:`TARGETS_FIX`); held-out video AP of
  these trackers and of the stage-2 one on the detector's detections (and of the stage-2 one behind the
  detector run live, which keeps the mask logits that stage 2 trained on).

Writes ``docs/results/pipeline_diagnosis.md`` (+ ``diagnosis.json`` in the work folder). Every stage is
skipped when its output exists.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from gvis.compare.benchmark import (Benchmark, cached_json, evaluate_run, gvis, prepare, run_experiment, subprocess_runner,
                                    train_run)
from gvis.runtime import pin_threads

REPO = Path(__file__).resolve().parent.parent
CLIP_LENGTH = 10
#: The training targets that M3 points to: an object's primary is its highest-scoring detection, and a
#: track's edges to duplicates or partial detections of its own object leave the association loss.
TARGETS_FIX = ("loss.primary=score", "loss.duplicate_iou=0.3")
MAX_GAP = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "pipeline_diagnosis")
    parser.add_argument("--data", type=Path, default=REPO / "runs" / "learning_proof", help="the learning proof's work folder")
    parser.add_argument("--detector", type=Path, default=REPO / "checkpoints" / "detector-synth-mixed.pt")
    parser.add_argument("--stage2-tracker", type=Path, default=REPO / "checkpoints" / "learned-synth-hard-yolact.pt",
                        help="the tracker trained behind --detector in stage 2")
    parser.add_argument("--simulated-tracker", type=Path, default=REPO / "checkpoints" / "learned-synth-hard.pt",
                        help="the tracker trained on simulated detections")
    parser.add_argument("--videos", type=int, default=50, help="held-out videos measured (M1-M3)")
    parser.add_argument("--steps", type=int, default=1000, help="M4's training steps")
    parser.add_argument("--minutes", type=float, default=30.0, help="M4's CPU-time limit")
    parser.add_argument("--quick", action="store_true", help="smoke test: 12 training and 6 held-out videos, 5 steps")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "pipeline_diagnosis.md")
    args = parser.parse_args()
    if args.quick:
        args.data, args.videos, args.steps = args.work / "data", 6, 5
        args.doc = args.work / "pipeline_diagnosis.md"
    return args


def detect(detector: Path, data: Path, out: Path) -> Path:
    """``gvis detect --detector yolact`` of the dataset ``data`` into ``out/dets.jsonl`` (+ its cache)."""
    if not (out / "dets.pt").exists():
        gvis(["detect", "--detector", "yolact", "--checkpoint", detector, "--data", data, "--out", out / "dets.jsonl",
              "--cache"], subprocess_runner)
    return out / "dets.jsonl"


def training_videos(data: Path, detections: Path, videos: int):
    """The held-out videos with their filtered detections, as the training code reads them."""
    from gvis.data.folders import open_dataset
    from gvis.tracker.model import TrackerConfig
    from gvis.train.data import TrainingVideos, open_detections

    return TrainingVideos(open_dataset(data), open_detections(detections), TrackerConfig().filtering, max_videos=videos)


@torch.no_grad()
def objective_stats(checkpoint: Path, videos) -> dict:
    """M1: losses per frame and assignment accuracy of ``checkpoint`` over consecutive clips of ``videos``."""
    from gvis.tracker.online import load_model
    from gvis.train.config import LossConfig
    from gvis.train.objective import ClipObjective, collate

    model = load_model(checkpoint, num_classes=len(videos.categories)).eval()
    loss = LossConfig()
    objective = ClipObjective(model, loss)
    category_ids = [c["id"] for c in videos.categories]
    clips = [videos.clip_frames(video.id, range(start, min(start + CLIP_LENGTH, video.length)))
             for video in videos.videos for start in range(0, video.length, CLIP_LENGTH)]
    totals = {"association": 0.0, "init": 0.0, "images": 0, "positives": 0.0, "assigned_right": 0.0}
    for first in range(0, len(clips), 4):
        batch = collate(clips[first:first + 4], model, category_ids, loss)
        terms = objective(batch)
        for name in ("association", "init"):
            totals[name] += float(terms[name]) * batch.num_images
        totals["images"] += batch.num_images
        totals["positives"] += float(terms["positives"])
        totals["assigned_right"] += float(terms["assigned_right"])
    return {"association_loss": totals["association"] / totals["images"], "init_loss": totals["init"] / totals["images"],
            "assignment_accuracy": totals["assigned_right"] / max(totals["positives"], 1.0),
            "positives": totals["positives"], "frames": totals["images"]}


def labelled_detections(videos) -> list[list[tuple]]:
    """Per video, per frame: ``(kind, object id, score, appearance, category of the object, best box IoU)``
    of every filtered detection, with the targets' assignment (M2, M3)."""
    from torchvision.ops import box_iou

    from gvis.train.targets import assign_detections_to_objects

    out = []
    for video in videos.videos:
        frames = videos.clip_frames(video.id, range(video.length))
        category = {inst.id: inst.category_id for inst in videos.dataset.instances(video.id)}
        per_frame = []
        for frame in frames:
            det = frame.detections
            primary = assign_detections_to_objects(det.boxes, frame.gt_boxes, frame.gt_ids)
            iou = (box_iou(det.boxes.float(), frame.gt_boxes.float()) if len(det) and len(frame.gt_ids)
                   else torch.zeros((len(det), 1)))
            best_iou, best_object = iou.max(1) if len(det) else (torch.zeros(0), torch.zeros(0, dtype=torch.long))
            rows = []
            for n in range(len(det)):
                if primary[n] > 0:
                    kind, object_id = "primary", int(primary[n])
                elif best_iou[n] > 0.5:
                    kind, object_id = "duplicate", int(frame.gt_ids[best_object[n]])
                elif best_iou[n] > 0.3:
                    kind, object_id = "near miss", int(frame.gt_ids[best_object[n]])
                else:
                    kind, object_id = "background", 0
                appearance = det.appearance[n] if det.appearance is not None else None
                rows.append((kind, object_id, float(det.scores[n]), appearance, category.get(object_id), float(best_iou[n])))
            per_frame.append((rows, frame.gt_ids.tolist()))
        out.append(per_frame)
    return out


def auc(same: list[float], different: list[float]) -> float:
    """P(a same-object distance < a different-object distance), ties half (Mann–Whitney)."""
    if not same or not different:
        return float("nan")
    values = torch.tensor(same + different)
    ranks = torch.empty_like(values)
    order = values.argsort()
    ranks[order] = torch.arange(1, len(values) + 1, dtype=values.dtype)
    for value in values.unique():  # average ranks of ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    rank_sum = float(ranks[: len(same)].sum())
    greater = rank_sum - len(same) * (len(same) + 1) / 2  # pairs where the same-object distance is larger
    return 1.0 - greater / (len(same) * len(different))


def appearance_stats(labelled: list) -> dict:
    """M2 on the primaries' appearance vectors."""
    same, different, look_alike = [], [], []
    norms = [float(row[3].norm()) for video in labelled for rows, _ in video for row in rows
             if row[0] == "primary" and row[3] is not None]
    if not norms:
        return {"available": False}
    scale = statistics.median(norms) or 1.0
    for video in labelled:
        primaries = [[row for row in rows if row[0] == "primary"] for rows, _ in video]
        for t, now in enumerate(primaries):
            for later in primaries[t + 1:t + 1 + MAX_GAP]:
                for a in now:
                    for b in later:
                        distance = float((a[3] - b[3]).norm()) / scale
                        if a[1] == b[1]:
                            same.append(distance)
                        else:
                            different.append(distance)
                            if a[4] == b[4]:
                                look_alike.append(distance)
    return {"available": True, "pairs_same": len(same), "pairs_different": len(different), "pairs_look_alike": len(look_alike),
            "median_same": statistics.median(same), "median_different": statistics.median(different),
            "median_look_alike": statistics.median(look_alike) if look_alike else float("nan"),
            "auc": auc(same, different), "auc_look_alike": auc(same, look_alike)}


def target_stats(labelled: list) -> dict:
    """M3: kinds of detections under the training targets, per frame, with their scores."""
    kinds = ("primary", "duplicate", "near miss", "background")
    scores = {kind: [] for kind in kinds}
    frames = objects = without_primary = outscoring = duplicates = 0
    for video in labelled:
        for rows, gt_ids in video:
            frames += 1
            objects += len(gt_ids)
            primary_score = {row[1]: row[2] for row in rows if row[0] == "primary"}
            without_primary += sum(object_id not in primary_score for object_id in gt_ids)
            for row in rows:
                scores[row[0]].append(row[2])
                if row[0] == "duplicate":
                    duplicates += 1
                    outscoring += row[2] > primary_score.get(row[1], float("inf"))
    return {"frames": frames, "objects": objects, "objects_without_primary": without_primary / max(objects, 1),
            "per_frame": {kind: len(values) / max(frames, 1) for kind, values in scores.items()},
            "median_score": {kind: statistics.median(values) if values else float("nan") for kind, values in scores.items()},
            "duplicates_outscoring_primary": outscoring / max(duplicates, 1)}


def measure(args: argparse.Namespace, bench: Benchmark, work: Path) -> dict:
    test = bench.test_sets[0]
    yolact = detect(args.detector, test, work / f"yolact_{test.name}")
    sources = {"detector": yolact, "simulated": test / "dets.jsonl"}
    videos = {name: training_videos(test, path, args.videos) for name, path in sources.items()}
    results: dict = {"M1": {}, "M2": {}, "M3": {}}
    trackers = [("stage-2 tracker", args.stage2_tracker, "detector"),
                ("simulated-detection tracker", args.simulated_tracker, "simulated"),
                ("simulated-detection tracker", args.simulated_tracker, "detector")]
    for name, checkpoint, source in trackers:
        results["M1"][f"{name} on {source}"] = objective_stats(checkpoint, videos[source])
    for source, source_videos in videos.items():
        labelled = labelled_detections(source_videos)
        results["M2"][source] = appearance_stats(labelled)
        results["M3"][source] = target_stats(labelled)
    return results


def cached_training(args: argparse.Namespace, bench: Benchmark, work: Path, results: dict) -> dict:
    """M4: the tracker trained on the detector's cached detections, and both trackers' held-out AP."""
    train_dets = detect(args.detector, bench.train_set, work / "yolact_train")
    held_out = {test.name: detect(args.detector, test, work / f"yolact_{test.name}") for test in bench.test_sets}
    cached_options = [f"data.train.detections={train_dets.with_suffix('.pt')}", "train.time_limit_clock=cpu"]
    run = train_run("base", work / "cached_run", bench, 0, args.steps, args.minutes, overrides=cached_options)
    cached = evaluate_run(run.folder, bench, detections=lambda test: held_out[test.name])
    fixed = train_run("base", work / "cached_run_targets", bench, 0, args.steps, args.minutes,
                      overrides=[*cached_options, *TARGETS_FIX])
    cached_fixed = evaluate_run(fixed.folder, bench, detections=lambda test: held_out[test.name])
    stage2_folder = work / "stage2_tracker"
    stage2_folder.mkdir(exist_ok=True)
    stage2 = cached_json(stage2_folder / "test_scores.json", False, lambda: {
        test.name: json.loads(gvis(["eval-tracker", "--checkpoint", args.stage2_tracker, "--data", test, "--detections",
                                    held_out[test.name], "--json"], subprocess_runner))
        for test in bench.test_sets})
    videos = training_videos(bench.test_sets[0], held_out[bench.test_sets[0].name], args.videos)
    results["M1"]["cached-detection tracker (M4) on detector"] = objective_stats(run.folder / "model.pt", videos)
    results["M1"]["cached-detection tracker, targets fixed (M4) on detector"] = objective_stats(fixed.folder / "model.pt", videos)
    return {"cached": cached, "cached_fixed": cached_fixed, "stage2": stage2, "summary": run.record,
            "stage2_live": live_detector_scores(args, bench.test_sets[0], stage2_folder)}


def live_detector_scores(args: argparse.Namespace, test: Path, folder: Path) -> dict:
    """The stage-2 tracker behind the detector run live (``gvis track DATASET``): the detections keep the
    detector's mask logits, as in stage-2 training, where a ``.jsonl`` carries binary masks only."""
    def make() -> dict:
        results = folder / f"live_{test.name}.json"
        gvis(["track", test, "--tracker", "learned", "--checkpoint", args.stage2_tracker, "--detector", "yolact",
              "--detector-checkpoint", args.detector, "--results", results], subprocess_runner)
        return {"stats": json.loads(gvis(["eval", test / "instances.json", results, "--json"], subprocess_runner))}

    return cached_json(folder / f"live_{test.name}_scores.json", False, make)


def mean_ap(scores: dict) -> float:
    return statistics.mean(100 * s["stats"]["AP"] for s in scores.values())


def write_report(args: argparse.Namespace, bench: Benchmark, results: dict, seconds: float) -> None:
    from gvis.provenance import git_hash

    m1 = [f"| {name} | {r['association_loss']:.3f} | {r['init_loss']:.3f} | {100 * r['assignment_accuracy']:.1f} | "
          f"{r['positives']:.0f} | {r['frames']} |" for name, r in results["M1"].items()]
    m2 = [f"| {source} | {r['median_same']:.2f} | {r['median_different']:.2f} | {r['median_look_alike']:.2f} | "
          f"{r['auc']:.3f} | {r['auc_look_alike']:.3f} | {r['pairs_same']} / {r['pairs_different']} / {r['pairs_look_alike']} |"
          for source, r in results["M2"].items() if r["available"]]
    kinds = ("primary", "duplicate", "near miss", "background")
    m3 = [f"| {source} | " + " | ".join(f"{r['per_frame'][k]:.2f} ({r['median_score'][k]:.2f})" for k in kinds)
          + f" | {100 * r['duplicates_outscoring_primary']:.0f} | {100 * r['objects_without_primary']:.0f} |"
          for source, r in results["M3"].items()]
    m4 = results["M4"]
    lines = [
        "# Why the learned tracker loses behind a learned detector: four measurements",
        "",
        f"Generated by `python experiments/pipeline_diagnosis.py{' --quick' if args.quick else ''}` "
        f"(git {git_hash() or 'unknown'}; {seconds / 60:.0f} min on this repository's 2-core CPU, one torch "
        f"thread per process). Detector: `{args.detector.name}` (with the appearance network stage 2 trained); "
        f"held-out set: the first {args.videos} videos of generator seed {bench.test_seeds[0]} (`hard`). "
        "*Simulated*: the simulated `hard` detector's detections of the same videos. Method: "
        "`experiments/pipeline_diagnosis.py`'s docstring.",
        "",
        "## M1: association under the training objective (no augmentation, consecutive 10-frame clips)",
        "",
        "| tracker on detections | association loss / frame | init loss / frame | assignment accuracy % | positive pairs | frames |",
        "|---|---|---|---|---|---|",
        *m1,
        "",
        f"## M2: appearance distances (primaries 1–{MAX_GAP} frames apart, in median vector norms)",
        "",
        "| detections | median, same object | median, different | median, look-alike | AUC | AUC, look-alikes | pairs same / different / look-alike |",
        "|---|---|---|---|---|---|---|",
        *m2,
        "",
        "## M3: what the targets make of the detections (per frame, median score in brackets)",
        "",
        "| detections | primary | duplicate | near miss | background | duplicates outscoring their primary % | objects without a primary % |",
        "|---|---|---|---|---|---|---|",
        *m3,
        "",
        f"## M4: cached detections (appearance frozen) vs stage 2, video AP on {len(bench.test_sets)} × "
        f"{bench.test_videos} held-out videos",
        "",
        "| tracker | " + " | ".join(m4["cached"]) + " | mean |",
        "|---|" + "---|" * (len(m4["cached"]) + 1),
        "| trained on cached detections (" + f"{m4['summary'].get('step', '?')} steps) | "
        + " | ".join(f"{100 * s['stats']['AP']:.1f}" for s in m4["cached"].values()) + f" | {mean_ap(m4['cached']):.1f} |",
        "| stage 2 (shipped) | " + " | ".join(f"{100 * s['stats']['AP']:.1f}" for s in m4["stage2"].values())
        + f" | {mean_ap(m4['stage2']):.1f} |",
        "| trained on cached detections, targets fixed (`" + " ".join(TARGETS_FIX) + "`) | "
        + " | ".join(f"{100 * s['stats']['AP']:.1f}" for s in m4["cached_fixed"].values()) + f" | {mean_ap(m4['cached_fixed']):.1f} |",
        f"| stage 2 (shipped), detector run live (its mask logits, as in stage-2 training) | "
        f"{100 * m4['stage2_live']['stats']['AP']:.1f} |" + " |" * len(m4["stage2"]),
        "",
    ]
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(lines))


def main() -> None:
    args = parse_args()
    started = time.time()
    pin_threads(1)
    bench = Benchmark(args.data.resolve(), preset="hard", **({"train_videos": 12, "test_videos": 6} if args.quick else {}))
    prepare(bench)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = cached_json(work / "measurements.json", False, lambda: measure(args, bench, work))
    results["M4"] = cached_training(args, bench, work, results)
    (work / "diagnosis.json").write_text(json.dumps(results, indent=1) + "\n")
    write_report(args, bench, results, time.time() - started)
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    sys.exit(run_experiment(main))
