"""Full-pipeline proof: a detector and learned trackers trained behind it (stage 2), against the MaskTrack rule
tuned on that detector's own detections and against oracle linking of them, on held-out videos of two presets.

    python experiments/pipeline_proof.py --ship      # 2.5-3.5 h per training seed here, + data (docs/detector.md)
    python experiments/pipeline_proof.py --quick     # smoke test

The training seeds side by side, one process each, then one that reuses both runs and writes the report:

    python experiments/pipeline_proof.py --train-seeds 0 --runs-only &
    python experiments/pipeline_proof.py --train-seeds 1 --runs-only &
    wait; python experiments/pipeline_proof.py --ship

1. Data, per preset of ``--presets`` (default ``hard easy``) and for ``hard`` always: a benchmark of the
   learning proof's shape (:class:`gvis.compare.benchmark.Benchmark`): 200 training videos of generator seed 0
   and 50 held-out videos of each of the generator seeds 1, 2, 3, with simulated detections. ``hard`` lives
   in ``--data`` (the learning proof's folder, reused), another preset P in ``<data>_P``; made when absent.
2. Stage 2 per training seed (``--train-seeds``, default 0 1): ``gvis train stage2`` on the ``hard``
   training videos behind ``--detector`` (frozen; its appearance network re-initialised and trained with the
   tracker), at most ``--steps`` steps and ``--minutes`` CPU minutes, ``--set`` overrides passed on. It writes
   the tracker (``model.pt``) and the detector with the trained appearance network (``detector.pt``); the
   one tracker of a seed is scored on every preset.
3. Per run, the rule's tuning: ``detector.pt`` on the ``hard`` training videos, then ``gvis tune-baseline`` on
   those detections (the MaskTrack rule's 30 default settings of α, β, γ): the rule sees the same detections
   and appearance vectors as the learned tracker, on the same training videos.
4. Per run and preset: ``detector.pt`` on every held-out set; ``gvis eval-tracker`` of the learned tracker;
   ``gvis track --tracker masktrack-rule --config`` the run's tuned YAML + ``gvis eval``; class-agnostic AP
   of both (``gvis eval --class-agnostic``).
5. Per preset: ``gvis oracle`` of the first run's held-out detections, with classes and ``--class-agnostic``
   (stage 2 leaves the detection weights alone: every run's detections differ in appearance vectors only).
6. Writes ``docs/results/full_pipeline.md``: a table per preset, the acceptance lines (met / not met), and
   every stage-2 run's CPU and wall time.
7. ``--ship``: the first seed's tracker as ``checkpoints/learned-synth-hard-yolact.pt`` (+ ``.json``) and its
   appearance network beside ``--detector`` (float16): behind a split-form detector only its appearance file
   is rewritten; behind an embedded one, the whole detector file.

Work folder: ``WORK/run_seed{S}/`` (the stage-2 run; ``tuning/``: detections of the training videos,
``tuning.json``, ``masktrack_tuned.yaml``; ``<preset>/``: held-out detections, scores, results files) and
``WORK/oracle_<preset>.json``. Every stage is skipped when its output exists; an interrupted training resumes.
``--quick`` runs every stage at tiny size (work folder ``WORK/quick``, report there, nothing shipped).
"""
from __future__ import annotations

import argparse
import csv
import fcntl
import json
import math
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from gvis.compare.benchmark import (STATS, Benchmark, cached_json, evaluate_run, gvis, prepare, run_experiment,
                                    subprocess_runner, train_run, tune_heuristic)

REPO = Path(__file__).resolve().parent.parent
#: The detector stage 2 runs behind unless ``--detector`` names another.
DETECTOR = REPO / "checkpoints" / "detector-synth-mixed.pt"
#: The preset whose training videos train every tracker and tune every rule.
TRAIN_PRESET = "hard"
#: How every row is scored: with classes (the official metric) and class-agnostic (``gvis eval`` flags).
SCORINGS = {"classes": [], "agnostic": ["--class-agnostic"]}
#: Class-agnostic stats shown beside every row.
AGNOSTIC_STATS = ("AP", "AP50")
#: Acceptance per preset: what the learned tracker's mean AP must reach, from the tuned rule's mean AP and
#: the class-aware oracle's AP (all means over the held-out sets, and over the seeds where there are runs).
GOALS: dict[str, list[tuple[str, Callable[[float, float], float]]]] = {
    "hard": [("the tuned rule + 5 AP", lambda rule, oracle: rule + 5.0),
             ("40 % of the class-aware oracle", lambda rule, oracle: 0.4 * oracle)],
    "easy": [("the tuned rule − 1 AP", lambda rule, oracle: rule - 1.0)],
}
#: Logged steps at the end of a stage-2 run that its loss figures average.
LOG_TAIL = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "pipeline_proof", help="runs, detections, results")
    parser.add_argument("--data", type=Path, default=REPO / "runs" / "learning_proof",
                        help="the hard benchmark (the learning proof's work folder); preset P's is <data>_P")
    parser.add_argument("--presets", nargs="+", default=["hard", "easy"], help="presets of the held-out videos")
    parser.add_argument("--detector", type=Path, default=DETECTOR, help="the stage-1 detector, frozen in stage 2")
    parser.add_argument("--train-videos", type=int, default=200)
    parser.add_argument("--test-videos", type=int, default=50)
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=1000, help="stage-2 steps (B = 4 clips of 10 frames)")
    parser.add_argument("--minutes", type=float, default=60.0, help="stop a run after this much CPU time of training")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra overrides of configs/train/stage2.yaml (repeatable), e.g. loss.primary=score")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="an axis of the rule's tuning grid, replacing the default one (gvis tune-baseline --grid)")
    parser.add_argument("--runs-only", action="store_true",
                        help="train and evaluate the runs of --train-seeds only (no oracle, report or shipping), "
                             "for seeds side by side in separate processes")
    parser.add_argument("--ship", action="store_true", help="ship the first seed's tracker and appearance network")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 6 training videos, 1 held-out set of 2 videos, 1 seed, 3 steps, 2 tuning "
                             "settings; report in WORK/quick")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "full_pipeline.md")
    args = parser.parse_args()
    if not args.detector.is_file():
        parser.error(f"--detector {args.detector}: no such file (experiments/detector_proof.py makes detectors)")
    if args.ship and TRAIN_PRESET not in args.presets:
        parser.error(f"--ship records the tracker's held-out AP on {TRAIN_PRESET}: keep {TRAIN_PRESET} in --presets")
    args.detector = args.detector.resolve()
    if args.quick:
        args.train_videos, args.test_videos, args.train_seeds, args.steps = 6, 2, args.train_seeds[:1], 3
        args.test_seeds = args.test_seeds[:1]
        args.grid = ["alpha=1,4", "beta=10", "gamma=1"]
        args.work = args.work / "quick"
        args.data, args.doc, args.ship = args.work / "data", args.work / "full_pipeline.md", False
    return args


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock``: processes started side by side make the data once."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def detect(detector: Path, data: Path, out: Path) -> Path:
    """The detections of ``detector`` on the dataset ``data`` (``out/dets.jsonl`` and its cache)."""
    detections = out / "dets.jsonl"
    if not (out / "dets.pt").exists():
        gvis(["detect", "--detector", "yolact", "--checkpoint", detector, "--data", data, "--out", detections,
              "--cache"], subprocess_runner)
    return detections


def per_set(bench: Benchmark, command: Callable[[Path], Sequence], scorings: Sequence[str] = tuple(SCORINGS)) -> dict:
    """``{scoring: {set: 12 stats}}``: ``gvis COMMAND(set folder) --json`` on every held-out set, once per scoring
    of :data:`SCORINGS` (its flags appended)."""
    return {scoring: {test.name: json.loads(gvis([*command(test), "--json", *SCORINGS[scoring]], subprocess_runner))
                      for test in bench.test_sets}
            for scoring in scorings}


def check_trained_behind(model: Path, detector: Path) -> None:
    """Stop when the tracker ``model`` was trained behind other detection weights than ``detector``'s (a work
    folder reused with another ``--detector``)."""
    import torch

    from gvis.detectors.yolact.checkpoint import load_detector_checkpoint
    from gvis.provenance import weights_fingerprint

    recorded = torch.load(model, map_location="cpu", weights_only=True).get("detector_fingerprints") or {}
    if recorded.get("detection") != weights_fingerprint(load_detector_checkpoint(detector)["model"]):
        sys.exit(f"{model}: trained behind other detection weights than {detector}; give another --work")


def tune_rule(run: Path, train: Benchmark, grid: Sequence[str]) -> dict:
    """The MaskTrack rule tuned on the detections of ``run``'s detector on ``train``'s training videos
    (``tune_heuristic``, ``grid``: its ``--grid`` axes; cached in ``RUN/tuning/``); ``yaml``: the tuned config."""
    folder = run / "tuning"
    detections = detect(run / "detector.pt", train.train_set, folder)
    tuning = tune_heuristic(train, grid=grid, detections=detections, folder=folder)
    return {**tuning, "yaml": folder / train.tuned_yaml.name}


def evaluate_preset(run: Path, bench: Benchmark, tuned: Path) -> dict:
    """The run's learned tracker and the rule tuned behind its detector (config ``tuned``) on that detector's
    detections of ``bench``'s held-out sets: ``detections`` ``{set: path}``, ``held_out`` (``evaluate_run``'s
    scores), ``learned`` and ``rule`` ``{scoring: {set: stats}}``; cached in ``RUN/<preset>/``."""
    folder = run / bench.preset
    detections = {test.name: detect(run / "detector.pt", test, folder / test.name) for test in bench.test_sets}
    learned_results = {test.name: folder / "results" / f"learned_{test.name}.json" for test in bench.test_sets}
    rule_results = {test.name: folder / "results" / f"masktrack_tuned_{test.name}.json" for test in bench.test_sets}
    held_out = evaluate_run(folder, bench, detections=lambda test: detections[test.name],
                            results=lambda test: learned_results[test.name], model=run / "model.pt")
    agnostic = cached_json(folder / "learned_agnostic.json", False, lambda: per_set(
        bench, lambda test: ["eval", test / "instances.json", learned_results[test.name]], ["agnostic"]))

    def rule() -> dict:
        for test in bench.test_sets:
            gvis(["track", "--tracker", "masktrack-rule", "--config", tuned, "--detections", detections[test.name],
                  "--results", rule_results[test.name]], subprocess_runner)
        return per_set(bench, lambda test: ["eval", test / "instances.json", rule_results[test.name]])

    return {"detections": detections, "held_out": held_out,
            "learned": {"classes": {name: scores["stats"] for name, scores in held_out.items()}, **agnostic},
            "rule": cached_json(folder / "masktrack_tuned.json", False, rule)}


def log_tail(path: Path) -> dict[str, float]:
    """Association loss and assignment accuracy of a run's ``train_log.csv``, mean of its last :data:`LOG_TAIL`
    rows (NaN where a row has none)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))[-LOG_TAIL:]
    return {key: statistics.mean(float(row[key] or "nan") for row in rows)
            for key in ("association", "assignment_accuracy")}


def run_seed(args: argparse.Namespace, train: Benchmark, benches: list[Benchmark], seed: int, run: Path) -> dict:
    """Stage 2 of one training seed, the rule tuned behind its detector, and both on every preset's held-out sets."""
    outcome = train_run("stage2", run, train, seed, args.steps, args.minutes,
                        ["data.train.detections=null", f"detector.checkpoint={args.detector}", *args.overrides])
    if outcome.status == "diverged":
        sys.exit(f"training seed {seed} diverged: {outcome.record['message']}")
    check_trained_behind(run / "model.pt", args.detector)
    tuning = tune_rule(run, train, args.grid)
    return {"seed": seed, "folder": run, "summary": outcome.record, "log": log_tail(run / "train_log.csv"),
            "tuning": tuning,
            "presets": {bench.preset: evaluate_preset(run, bench, tuning["yaml"]) for bench in benches}}


def main() -> None:
    args = parse_args()
    started = time.time()
    work = args.work.resolve()
    benches = {preset: Benchmark(benchmark_folder(args.data, preset), preset=preset, train_videos=args.train_videos,
                                 test_videos=args.test_videos, test_seeds=tuple(args.test_seeds))
               for preset in dict.fromkeys([TRAIN_PRESET, *args.presets])}
    with exclusive(work / "prepare.lock"):
        for bench in benches.values():
            prepare(bench)
    runs = [run_seed(args, benches[TRAIN_PRESET], [benches[p] for p in args.presets], seed, work / f"run_seed{seed}")
            for seed in args.train_seeds]
    if args.runs_only:
        return
    oracles = {preset: cached_json(work / f"oracle_{preset}.json", False, lambda: per_set(
        benches[preset], lambda test: ["oracle", test, runs[0]["presets"][preset]["detections"][test.name]]))
        for preset in args.presets}
    verdicts = write_report(args, benches, runs, oracles, time.time() - started)
    print("\n".join(verdicts))
    if args.ship:
        ship(runs[0]["folder"], runs[0]["presets"][TRAIN_PRESET]["held_out"], args.detector)
    print(f"wrote {args.doc}")


def benchmark_folder(data: Path, preset: str) -> Path:
    """Where the benchmark of ``preset`` lives: ``data`` for :data:`TRAIN_PRESET`, ``<data>_<preset>`` else."""
    return (data if preset == TRAIN_PRESET else data.with_name(f"{data.name}_{preset}")).resolve()


# ------------------------------------------------------------------------------------------ report
def folder_name(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def set_mean(per_set_stats: dict, stat: str) -> float:
    """``stat`` (in %) averaged over the held-out sets of ``{set: stats}``."""
    return statistics.mean(100 * stats[stat] for stats in per_set_stats.values())


def mean_std(values: list[float]) -> str:
    """``m ± s`` of ``values`` (mean, standard deviation), the value alone when there is one."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def cells(rows: list[dict]) -> str:
    """The table cells of ``rows`` (``{scoring: {set: stats}}`` each, one per seed): :data:`STATS` with classes,
    then :data:`AGNOSTIC_STATS` class-agnostic, each the mean over the sets (mean ± std over several rows)."""
    columns = [("classes", stat) for stat in STATS] + [("agnostic", stat) for stat in AGNOSTIC_STATS]
    return " | ".join(mean_std([set_mean(row[scoring], stat) for row in rows]) for scoring, stat in columns)


def acceptance(preset: str, runs: list[dict], oracle: dict) -> list[str]:
    """The acceptance lines of ``preset`` (:data:`GOALS`), each saying whether it is met."""
    learned = statistics.mean(set_mean(run["presets"][preset]["learned"]["classes"], "AP") for run in runs)
    rule = statistics.mean(set_mean(run["presets"][preset]["rule"]["classes"], "AP") for run in runs)
    lines = []
    for what, threshold in GOALS.get(preset, []):
        needed = threshold(rule, set_mean(oracle["classes"], "AP"))
        verdict = "met" if learned >= needed else "not met"
        lines.append(f"{preset}: learned {learned:.1f} AP ≥ {what} ({needed:.1f}): **{verdict}**")
    return lines


def write_report(args: argparse.Namespace, benches: dict[str, Benchmark], runs: list[dict], oracles: dict[str, dict],
                 seconds: float) -> list[str]:
    """``args.doc``; returns the acceptance lines."""
    from gvis.detectors.yolact.checkpoint import load_detector_checkpoint
    from gvis.provenance import git_hash, weights_fingerprint

    fingerprint = weights_fingerprint(load_detector_checkpoint(args.detector)["model"])
    seeds = f"training seed{'s' if len(runs) > 1 else ''} {', '.join(str(run['seed']) for run in runs)}"
    command = " ".join(["python experiments/pipeline_proof.py", *sys.argv[1:]])
    header = ("| tracker | training seed | " + " | ".join(STATS) + " | "
              + " | ".join(f"class-agnostic {stat}" for stat in AGNOSTIC_STATS) + " | tracker frames/s |")
    rule_yaml = "`RUN/tuning/masktrack_tuned.yaml`"
    lines = [
        "# Full pipeline: a detector and the tracker trained behind it",
        "",
        f"Generated by `{command}` (git {git_hash() or 'unknown'}; this invocation {seconds / 60:.0f} min of wall "
        "time on this repository's 2-core CPU, reusing every stage whose output existed).",
        "",
        f"- Detector: `{args.detector.name}` (detection weights {fingerprint[:12]}), frozen.",
        f"- Learned tracker: stage 2 (`gvis train stage2`, `configs/train/stage2.yaml`"
        f"{''.join(f', `{o}`' for o in args.overrides)}) on the {benches[TRAIN_PRESET].train_videos} `hard` training "
        f"videos, the detector's appearance network re-initialised and trained with the tracker; at most {args.steps} "
        f"steps and {args.minutes:g} CPU minutes; {seeds}. Then the run's `detector.pt` on every "
        "held-out video and the tracker on its detections (`gvis eval-tracker`).",
        f"- MaskTrack rule, tuned: `gvis tune-baseline` ({len(runs[0]['tuning']['rows'])} settings of "
        f"{', '.join(runs[0]['tuning']['best']['values'])}) on the run's own "
        f"detections of the same `hard` training videos — the detections and appearance vectors the learned tracker "
        f"sees — then that config ({rule_yaml}) on the same held-out detections.",
        "- Oracle linking (`gvis oracle`, of the first run's held-out detections; stage 2 does not change the "
        "detection weights, so every run detects the same objects): every detection linked to the ground-truth "
        "instance it matches (mask IoU ≥ 0.5, greedy by score), class by majority, score the mean; unmatched "
        "detections dropped. The ceiling of any tracker fed those detections.",
        "- Class-agnostic (`gvis eval --class-agnostic`, `gvis oracle --class-agnostic`): every category counted as "
        "one, so a track is right when its masks are, whatever its class. Not the official metric; it separates "
        "class errors from the rest.",
        "- Video AP (YouTube-VIS 2019 metric) in %, mean over the held-out sets of the preset; a mean ± std row is "
        "the mean and standard deviation over the training seeds.",
    ]
    verdicts = []
    for preset in args.presets:
        bench = benches[preset]
        per_preset = [run["presets"][preset] for run in runs]
        seeds = ", ".join(map(str, bench.test_seeds))
        of_seeds = f"each of the generator seeds {seeds}" if len(bench.test_seeds) > 1 else f"generator seed {seeds}"
        held_out = (f"{bench.test_videos} `gvis synth --preset {preset}` videos of {of_seeds} "
                    f"(`{folder_name(bench.work)}`)")
        lines += ["", f"## `{preset}`", "", f"Held-out videos: {held_out}.", "", header,
                  "|---|---|" + "---|" * (len(STATS) + len(AGNOSTIC_STATS)) + "---|"]
        for run, scores in zip(runs, per_preset):
            fps = statistics.mean(s["fps"] for s in scores["held_out"].values())
            lines.append(f"| learned (stage 2) | {run['seed']} | {cells([scores['learned']])} | {fps:.0f} |")
        if len(runs) > 1:
            lines.append(f"| learned (stage 2) | mean ± std | {cells([s['learned'] for s in per_preset])} | – |")
        for run, scores in zip(runs, per_preset):
            lines.append(f"| MaskTrack rule, tuned behind that run's detector | {run['seed']} | "
                         f"{cells([scores['rule']])} | – |")
        if len(runs) > 1:
            lines.append(f"| MaskTrack rule, tuned | mean ± std | {cells([s['rule'] for s in per_preset])} | – |")
        lines.append(f"| oracle linking | – | {cells([oracles[preset]])} | – |")
        goals = acceptance(preset, runs, oracles[preset])
        verdicts += goals
        if goals:
            lines += ["", "Acceptance (means over the seeds and sets):", "", *(f"- {goal}" for goal in goals)]
    lines += ["", "## Stage-2 runs and the rule's tuning", "",
              "| training seed | steps | stopped by | training CPU / wall | association loss | assignment accuracy "
              "| tuned rule's setting | its AP on the training videos | tuning wall time |",
              "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        summary, log, tuning = run["summary"], run["log"], run["tuning"]
        best = tuning["best"]
        accuracy = log["assignment_accuracy"]
        lines.append(
            f"| {run['seed']} | {summary['step']} | {summary.get('stopped_by') or 'steps'} | "
            f"{summary.get('cpu_seconds', math.nan) / 60:.1f} / {summary['train_seconds'] / 60:.1f} min | "
            f"{log['association']:.2f} | {'–' if math.isnan(accuracy) else f'{100 * accuracy:.0f} %'} | "
            f"{', '.join(f'{key} {value:g}' for key, value in best['values'].items())} | "
            f"{100 * best['stats']['AP']:.1f} | {tuning['seconds'] / 60:.1f} min |")
    lines += ["", f"Association loss and assignment accuracy (positive track–detection pairs the step's assignment "
              f"took): mean of the last {LOG_TAIL} logged training steps (`train_log.csv`). The tuning's AP is on "
              "the training videos it was tuned on."]
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text("\n".join(lines) + "\n")
    return verdicts


# ------------------------------------------------------------------------------------------ shipping
def ship(run: Path, held_out: dict, detector: Path) -> None:
    """The first seed's tracker and its stage-2 appearance network as the shipped pair: the tracker as
    ``checkpoints/learned-synth-hard-yolact.pt`` (+ ``.json``); behind a split-form ``detector`` its appearance
    file, behind an embedded one the whole file (``detector.pt`` in float16); ``detector``'s ``.json`` records it."""
    from gvis.detectors.yolact.checkpoint import (SHIPPED_DETECTOR, load_detector_checkpoint,
                                                  save_appearance_checkpoint, save_detector_checkpoint)
    from gvis.io import write_json_atomic
    from gvis.provenance import weights_fingerprint
    from gvis.train.checkpoint import SHIPPED_DETECTOR_TRACKER, ship_checkpoint

    made_by = "python experiments/pipeline_proof.py --ship"
    trained = load_detector_checkpoint(run / "detector.pt")
    target = load_detector_checkpoint(detector)
    detection = weights_fingerprint(trained["model"])
    if detection != weights_fingerprint(target["model"]):
        sys.exit(f"{run / 'detector.pt'}: stage 2 ran behind other detection weights than {detector}; nothing shipped")
    tracker = ship_checkpoint(run / "model.pt", SHIPPED_DETECTOR_TRACKER, held_out, made_by,
                              f"video AP of the full pipeline ({detector.name} + this tracker) on the held-out "
                              "synthetic hard sets (generator seeds other than training)")
    if target.get("appearance_file") is not None:
        written = save_appearance_checkpoint(detector.parent / target["appearance_file"], trained["appearance"],
                                             detection, half=True)
    else:
        written = save_detector_checkpoint(detector, trained, half=True)
    meta_path = detector.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"checkpoint": detector.name}
    meta["bytes"] = detector.stat().st_size
    meta["appearance"] = {"made_by": made_by, "run": run.name, "tracker": tracker.name, "file": written.name,
                          "what": "the appearance network trained in stage 2 with that tracker (detection weights "
                                  "unchanged)"}
    write_json_atomic(meta_path, meta, indent=2)
    print(f"shipped {tracker} and {written}")
    if detector != SHIPPED_DETECTOR.resolve():
        print(f"note: gvis track's default detector is {SHIPPED_DETECTOR}, not {detector}: the shipped tracker is "
              "its default only behind that file (gvis.detectors.yolact.checkpoint.SHIPPED_DETECTOR)")


if __name__ == "__main__":
    sys.exit(run_experiment(main))
