"""Heuristic trackers on dense class-agnostic proposals (synthetic data only): where the MaskTrack R-CNN
rule loses, the shipped improvement (configs/baselines/masktrack-rule-dense.yaml), and the figures of
docs/results/dense_proposals.md.

Data: synthetic ``hard`` videos (a tuning set and a held-out set, different seeds). Proposals
(``gvis.detections.proposals``, class-agnostic, no appearance, >= 8 per object plus background) are built
from two sources: the ground truth itself (``gt``, the recipe the real-data report applies to DAVIS) and
the ``hard`` simulated detector's output (``sim``: misses, false positives, merges, noisy masks), each with
constant scores (1.0) and with spread scores. Everything is scored with the class-agnostic video AP; the
oracle links the proposals by the ground truth (``gvis oracle --class-agnostic``).

    .venv/bin/python experiments/dense_proposals.py --stage build     # data + proposal files (~10 min)
    .venv/bin/python experiments/dense_proposals.py --stage ablate    # tuning set: one change at a time
    .venv/bin/python experiments/dense_proposals.py --stage tune      # tuning set: grid -> the shipped config
    .venv/bin/python experiments/dense_proposals.py --stage eval      # held-out set: every heuristic, the oracle
    .venv/bin/python experiments/dense_proposals.py --stage learned-tune --learned C.pt[@PRESET][:KEY=VALUE,...] ...
        # tuning set: each learned setting (--learned repeatable, as experiments/real_data.py takes it)
    .venv/bin/python experiments/dense_proposals.py --stage learned-eval [--learned SETTING ...]
        # held-out set: the best mean AP of those (and, for comparison only, the settings given)
    .venv/bin/python experiments/dense_proposals.py --stage report    # docs/results/dense_proposals.md

Other objects: ``--synth-set KEY=VALUE`` (``build``; e.g. ``max_aspect=4``, docs/synthetic.md) makes the videos with
that generator key on top of the hard preset; give such a run its own ``--out`` and ``--report``.

Nothing here reads the real fixtures.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("gt", "sim")
SCORES = ("constant", "spread")
FILES = [f"{source}-{scores}" for source in SOURCES for scores in SCORES]
SHIPPED = REPO / "configs" / "baselines" / "masktrack-rule-dense.yaml"
#: The filtering of the improvement: mask NMS, the proposal most others agree with kept first.
DENSE_FILTERING = {"nms_rank": "support", "nms_overlap": "mask", "nms_iou": 0.3}
#: Tuning set, one change to the default rule at a time, then all together.
ABLATION = [
    ("masktrack-rule (default)", {}),
    ("+ top_n null (no top-16 cut)", {"filtering": {"top_n": None}}),
    ("+ box NMS 0.3", {"filtering": {"nms_iou": 0.3}}),
    ("+ mask NMS 0.3", {"filtering": {"nms_overlap": "mask", "nms_iou": 0.3}}),
    ("+ mask NMS 0.3, support rank", {"filtering": DENSE_FILTERING}),
    ("+ mask NMS 0.3, support rank, containment 0.8", {"filtering": {**DENSE_FILTERING, "nms_containment": 0.8}}),
    ("+ overlap: mask", {"overlap": "mask"}),
    ("+ new_track_iou_without_appearance 0.1", {"new_track_iou_without_appearance": 0.1}),
    ("+ on_conflict: new", {"on_conflict": "new"}),
    ("+ score_prior_frames 5", {"score_prior_frames": 5}),
    ("+ mask voting 0.5", {"filtering": {"vote_iou": 0.5}}),
    ("all of: support-ranked mask NMS 0.3, new-track IoU 0.1, score prior 5",
     {"filtering": DENSE_FILTERING, "new_track_iou_without_appearance": 0.1, "score_prior_frames": 5}),
]
#: The grid of ``--stage tune``, on top of the support-ranked mask NMS and a score prior of 5 frames.
GRID = {
    "filtering.nms_iou": [0.3, 0.4],
    "new_track_iou_without_appearance": [0.1, 0.2],
    "overlap": ["box", "mask"],
    "filtering.vote_iou": [None, 0.3, 0.5, 0.7],
    "filtering.nms_containment": [None, 0.8, 0.9],
}


def cli(*argv: object) -> None:
    from gvis.cli import main

    code = main([str(a) for a in argv])
    if code:
        sys.exit(f"'gvis {' '.join(map(str, argv))}' failed with exit code {code}")


def synth_hard(folder: Path, videos: int, seed: int, synth_set: list[str]) -> None:
    """``gvis synth --preset hard`` videos in ``folder``, the generator keys ``synth_set`` (``KEY=VALUE``) on top."""
    cli("synth", "--preset", "hard", "--videos", videos, "--seed", seed, "--out", folder, "--overwrite",
        *[word for setting in synth_set for word in ("--set", setting)])


def build(folder: Path, videos: int, seed: int, synth_set: list[str]) -> None:
    """Synthetic hard videos (generator keys ``synth_set`` on top) and the four proposal files of ``FILES``."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.proposals import DenseProposalConfig, write_dense_proposals
    from gvis.detections.simulate import SimulatedDetector

    synth_hard(folder, videos, seed, synth_set)
    dataset = YTVISDataset.from_json(folder / "instances.json")
    simulated = SimulatedDetector(dataset, preset="hard", seed=seed)

    def simulated_objects(video_id: int):
        for detections in simulated.detect_video(video_id):
            yield list(detections.mask_tensor().numpy())

    for name in FILES:
        source, scores = name.split("-")
        objects = simulated_objects if source == "sim" else None
        counts = write_dense_proposals(folder / f"{name}.jsonl", dataset, DenseProposalConfig(scores=scores), seed,
                                       objects=objects, meta={"source": "hard simulated detector" if objects else "ground truth"})
        print(f"{folder.name}/{name}.jsonl: {counts['detections']} proposals in {counts['frames']} frames "
              f"({counts['detections'] / counts['frames']:.1f} per frame)", flush=True)


def load_videos(path: Path) -> tuple[list, list]:
    from gvis.detections.jsonl import DetectionsReader

    reader = DetectionsReader(path)
    return reader.categories, list(reader.videos())


def entries_of(tracker, videos: list) -> list[dict]:
    """Results entries of a built tracker over in-memory videos."""
    from gvis.baselines.runner import run_tracker, tracker_threads

    with tracker_threads(tracker):
        return run_tracker(tracker, videos).entries


def track(tracker_name: str, categories: list, videos: list, config=None, **settings) -> list[dict]:
    """Results entries of one tracker over in-memory videos."""
    from gvis.registry import TRACKERS

    return entries_of(TRACKERS.build(tracker_name, categories=categories,
                                     **({"config": config} if config is not None else {}), **settings), videos)


def shipped_config():
    from gvis.baselines.masktrack_rule import MaskTrackRuleConfig
    from gvis.config import load_config

    return load_config(MaskTrackRuleConfig, SHIPPED)


def ablate(folder: Path) -> list[dict]:
    from gvis.data.ytvis import YTVISDataset
    from gvis.eval.ytvis_ap import evaluate

    dataset = YTVISDataset.from_json(folder / "instances.json")
    rows = []
    for name in FILES:
        categories, videos = load_videos(folder / f"{name}.jsonl")
        for label, settings in ABLATION:
            stats = evaluate(dataset, track("masktrack-rule", categories, videos, **settings), class_agnostic=True)
            rows.append({"file": name, "row": label, "AP": stats["AP"], "AP50": stats["AP50"]})
            print(f"{name:14s} {label:70s} AP {100 * stats['AP']:5.1f}  AP50 {100 * stats['AP50']:5.1f}", flush=True)
    return rows


def tune(folder: Path) -> dict:
    """The grid on every tuning file; the point with the best mean AP (means within ``AP_TIE``, 0.01 AP points,
    tie: the first in grid order) becomes the shipped config."""
    from gvis.baselines.masktrack_rule import MaskTrackRuleConfig
    from gvis.baselines.tuning import AP_TIE, best_mean_point, grid_key, grid_search
    from gvis.config import build_dataclass, dump_yaml
    from gvis.data.ytvis import YTVISDataset
    from gvis.registry import TRACKERS

    dataset = YTVISDataset.from_json(folder / "instances.json")
    base = build_dataclass(MaskTrackRuleConfig, {"filtering": DENSE_FILTERING, "score_prior_frames": 5.0})
    runs = []
    for name in FILES:
        categories, videos = load_videos(folder / f"{name}.jsonl")
        runs.append(grid_search(lambda c: TRACKERS.build("masktrack-rule", categories=categories, config=c),
                                base, GRID, videos, dataset, class_agnostic=True))
        print(f"{name}: best {runs[-1][0].values} AP {100 * runs[-1][0].stats['AP']:.1f}", flush=True)
    choice = best_mean_point(GRID, runs, tolerance=AP_TIE)
    for key in sorted(choice.aps, key=lambda k: -statistics.mean(choice.aps[k]))[:5]:
        print(f"mean AP {100 * statistics.mean(choice.aps[key]):5.2f}  {key}")
    return {"values": choice.values, "mean_ap": choice.mean_ap, "per_file": choice.aps[grid_key(choice.values)],
            "yaml": dump_yaml(choice.config)}


def scored(dataset, name: str, label: str, run) -> dict:
    """A row of file ``name``: ``run()``'s entries scored with the class-agnostic video AP, the time of
    ``run()`` (``track_seconds``) and of both (``seconds``)."""
    from gvis.eval.ytvis_ap import evaluate

    start = time.perf_counter()
    entries = run()
    tracked = time.perf_counter()
    stats = evaluate(dataset, entries, class_agnostic=True)
    print(f"{name:14s} {label:45s} AP {100 * stats['AP']:5.1f}  AP50 {100 * stats['AP50']:5.1f}  "
          f"tracks {len(entries)}", flush=True)
    return {"file": name, "row": label, "stats": stats, "tracks": len(entries), "track_seconds": tracked - start,
            "seconds": time.perf_counter() - start}


def evaluate_rows(folder: Path) -> list[dict]:
    """Held-out table: every heuristic with its default config, the shipped improvement, the oracle."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.eval.oracle import oracle_link

    dataset = YTVISDataset.from_json(folder / "instances.json")
    improved = shipped_config()
    rows = []
    for name in FILES:
        categories, videos = load_videos(folder / f"{name}.jsonl")
        runs = [
            ("masktrack-rule", lambda: track("masktrack-rule", categories, videos)),
            ("masktrack-rule, masktrack-rule-dense.yaml", lambda: track("masktrack-rule", categories, videos, config=improved)),
            ("iou", lambda: track("iou", categories, videos)),
            ("deepsort", lambda: track("deepsort", categories, videos)),
            ("oracle linking", lambda: oracle_link(dataset, videos)),
        ]
        rows += [scored(dataset, name, label, run) for label, run in runs]
    return rows


def tune_learned(train: Path, specs: list[str]) -> dict:
    """Each learned setting ``CHECKPOINT[@PRESET][:KEY=VALUE,...]`` on every tuning file; the one with the best
    mean AP (the first given on a tie) is chosen."""
    from real_data import learned_rows

    from gvis.data.ytvis import YTVISDataset

    if not specs:
        sys.exit("--stage learned-tune needs at least one --learned CHECKPOINT[@PRESET][:KEY=VALUE,...]")
    tuning = []
    dataset = YTVISDataset.from_json(train / "instances.json")
    for name in FILES:
        categories, videos = load_videos(train / f"{name}.jsonl")
        for spec, (label, tracker) in zip(specs, learned_rows(specs, categories)):
            tuning.append({"spec": spec, **scored(dataset, name, label, lambda: entries_of(tracker, videos))})
    mean_ap = {spec: statistics.mean(r["stats"]["AP"] for r in tuning if r["spec"] == spec) for spec in specs}
    chosen = max(specs, key=lambda spec: mean_ap[spec])  # max keeps the first of equal ones
    print(f"chosen on the tuning set: {chosen} (mean AP {100 * mean_ap[chosen]:.2f})", flush=True)
    return {"tuning": tuning, "mean_ap": mean_ap, "chosen": chosen}


def evaluate_learned(test: Path, setting: str) -> list[dict]:
    """Held-out rows of the learned ``setting`` (``CHECKPOINT[@PRESET][:KEY=VALUE,...]``), one per file."""
    from real_data import learned_rows

    from gvis.data.ytvis import YTVISDataset

    dataset = YTVISDataset.from_json(test / "instances.json")
    rows = []
    for name in FILES:
        categories, videos = load_videos(test / f"{name}.jsonl")
        (label, tracker), = learned_rows([setting], categories)
        rows.append(scored(dataset, name, label, lambda: entries_of(tracker, videos)))
    return rows


def checkpoint_origins(checkpoints: Iterable[str]) -> list[str]:
    """One line per checkpoint with shipped metadata (``<stem>.json``): the command that made it."""
    lines = []
    for checkpoint in dict.fromkeys(checkpoints):
        meta = Path(checkpoint).with_suffix(".json")
        if not meta.is_absolute():
            meta = REPO / meta
        if meta.exists():
            lines.append(f"- `{Path(checkpoint).name}`: made by `{json.loads(meta.read_text())['made_by']}`.")
    return lines + [""] if lines else []


def learned_section(learned: dict, tuned: dict, check: bool = False) -> list[str]:
    """The report's tuning-set table of the learned settings (``learned_tuned.json``), the rule's grid point
    beside; ``check``: a run on other objects, where the grid's point is not the shipped one and nothing is chosen."""
    from real_data import learned_spec

    specs = list(learned["mean_ap"])
    lines = [
        "## The learned tracker (tuning set: each setting, the best mean AP goes to the held-out set)",
        "",
        "`--stage learned-tune --learned CHECKPOINT[@PRESET][:KEY=VALUE,...]`: the checkpoint with these inference keys",
        "(`gvis track --inference` and `--set`; without `filtering.*` keys it filters the proposals with its model config's",
        "filtering). Class-agnostic video AP in %.",
        "",
        *checkpoint_origins(learned_spec(spec).checkpoint for spec in specs),
        "| setting | " + " | ".join(FILES) + " | mean |",
        "|---" * (len(FILES) + 2) + "|",
        ("| masktrack-rule, the grid's best point above | " if check else
         "| masktrack-rule, masktrack-rule-dense.yaml (the shipped config above) | ")
        + " | ".join(f"{100 * ap:.1f}" for ap in tuned["per_file"]) + f" | {100 * tuned['mean_ap']:.1f} |",
    ]
    for spec in specs:
        cells = [next(f"{100 * r['stats']['AP']:.1f}" for r in learned["tuning"] if r["spec"] == spec and r["file"] == name)
                 for name in FILES]
        lines.append(f"| {learned_spec(spec).name} | " + " | ".join(cells) + f" | {100 * learned['mean_ap'][spec]:.1f} |")
    best = "Best here (nothing is chosen on this run)" if check else "Chosen"
    return lines + ["", f"{best}: `{learned['chosen']}`.", ""]


def generator_changes(folder: Path) -> dict:
    """The generator keys of ``folder``'s videos that differ from their preset (``--synth-set``)."""
    from gvis.config import find_config, load_config, to_dict
    from gvis.data.synth import SynthConfig

    info = json.loads((folder / "instances.json").read_text())["info"]
    preset = to_dict(load_config(SynthConfig, find_config(info["preset"], "synth")))
    return {key: value for key, value in info["config"].items() if preset.get(key) != value}


def write_report(work: Path, out: Path, command: str = "python experiments/dense_proposals.py --stage report") -> str:
    """The report (``out``) from the JSON files of the ablate, tune and eval stages (and the learned ones)."""
    from real_data import learned_spec

    ablation = json.loads((work / "ablation.json").read_text())
    tuned = json.loads((work / "tuned.json").read_text())
    held_out = json.loads((work / "eval.json").read_text())
    learned = None
    if (work / "learned_tuned.json").exists():  # the learned-tune and learned-eval stages ran
        learned = {**json.loads((work / "learned_tuned.json").read_text()), **json.loads((work / "learned_eval.json").read_text())}
    # The learned rows with the heuristics, the oracle (the ceiling) last.
    held_out_rows = sorted(held_out["rows"] + (learned["rows"] if learned else []), key=lambda r: r["row"] == "oracle linking")
    stages = "`build`, `ablate`, `tune`, `eval`, `learned-tune` and `learned-eval`" if learned else "`build`, `ablate`, `tune` and `eval`"
    learned_time = f", learned-eval {learned['eval_seconds']:.0f} s" if learned else ""
    sizes = {}
    for split in ("train", "test"):
        videos = json.loads((work / split / "instances.json").read_text())["videos"]
        sizes[split] = f"{len(videos)} videos, {sum(len(v['file_names']) for v in videos)} frames"
    changes = ", ".join(f"{key} {value}" for key, value in generator_changes(work / "train").items())
    lines = [
        f"# Heuristics on dense class-agnostic proposals (synthetic{', ' + changes if changes else ''})",
        "",
        f"Generated by `{command}` from the {stages} stages",
        f"({held_out['machine']}; the eval stage took {held_out['seconds']:.0f} s{learned_time}). Do not edit by hand.",
        "Proposals: `gvis.detections.proposals` defaults (per object 4 jittered copies, 3 parts, 1 loose copy; 2",
        "background blobs per frame; one category, no appearance) on synthetic `hard` videos"
        + (f" (generator keys changed: {changes})" if changes else "") + ", built from the ground",
        "truth (`gt`) or from the `hard` simulated detector's detections (`sim`), with constant (1.0) or spread",
        f"scores. Tuning set: {sizes['train']}; held-out set: {sizes['test']} (other seed). Class-agnostic video",
        "AP in %. Nothing here uses real data.",
        "",
        "## Where the MaskTrack R-CNN rule loses (tuning set: one change at a time)",
        "",
        "| change to the default rule | " + " | ".join(FILES) + " |",
        "|---" * (len(FILES) + 1) + "|",
    ]
    for label, _ in ABLATION:
        cells = [next(f"{100 * r['AP']:.1f}" for r in ablation if r["file"] == name and r["row"] == label) for name in FILES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The rule's grid (tuning set: best mean AP over the four files)" if changes else
        "## The shipped config (tuning set: grid, best mean AP over the four files)",
        "",
        f"Grid on top of the support-ranked mask NMS and `score_prior_frames: 5`: {json.dumps(GRID)}. "
        f"Best (mean APs within 0.01 points tie, the first in grid order wins): `{json.dumps(tuned['values'])}`, "
        f"mean AP {100 * tuned['mean_ap']:.1f} (" + ", ".join(f"{n} {100 * ap:.1f}" for n, ap in zip(FILES, tuned["per_file"])) + ").",
        ("The shipped `configs/baselines/masktrack-rule-dense.yaml` is the best point of the run on the hard preset "
         "([dense_proposals.md](dense_proposals.md)); this run on other objects checks the choices made there."
         if changes else "It is `configs/baselines/masktrack-rule-dense.yaml`."),
        "",
    ]
    if learned:
        lines += learned_section(learned, tuned, check=bool(changes))
    leader = "tuning set's best" if changes else "chosen"
    compared = [learned_spec(spec).name for spec in learned.get("compared", []) if spec != learned["chosen"]] if learned else []
    lines += [
        "## Held-out videos",
        "",
        *([f"Beside the {leader} learned setting, for comparison only (`--stage learned-eval --learned`): "
           + "; ".join(f"`{name}`" for name in compared) + ".", ""] if compared else []),
        "| tracker | " + " | ".join(f"{name} AP (AP50)" for name in FILES) + " |",
        "|---" * (len(FILES) + 1) + "|",
    ]
    for label in dict.fromkeys(r["row"] for r in held_out_rows):
        cells = []
        for name in FILES:
            row = next(r for r in held_out_rows if r["file"] == name and r["row"] == label)
            cells.append(f"{100 * row['stats']['AP']:.1f} ({100 * row['stats']['AP50']:.1f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=("build", "ablate", "tune", "eval", "learned-tune", "learned-eval", "report"),
                        required=True)
    parser.add_argument("--learned", action="append", default=[], metavar="CHECKPOINT",
                        help="--stage learned-tune: a setting of the learned tracker (repeatable); --stage "
                             "learned-eval: a setting shown beside the chosen one on the held-out set; "
                             "CHECKPOINT@PRESET takes inference keys from configs/inference/PRESET.yaml (or a path), "
                             "CHECKPOINT:KEY=VALUE,... sets them one by one (docs/tracker.md)")
    parser.add_argument("--videos", type=int, default=40, help="held-out videos (default 40)")
    parser.add_argument("--train-videos", type=int, default=16, help="tuning videos (default 16)")
    parser.add_argument("--seed", type=int, default=302, help="held-out seed; the tuning set uses seed - 1")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "dense_proposals", help="work folder")
    parser.add_argument("--synth-set", action="append", default=[], metavar="KEY=VALUE",
                        help="--stage build: a generator key on top of the hard preset, as 'gvis synth --set' takes it "
                             "(repeatable; e.g. max_aspect=4)")
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "results" / "dense_proposals.md",
                        help="--stage report: where the report goes")
    args = parser.parse_args()
    train, test = args.out / "train", args.out / "test"
    started = time.perf_counter()
    if args.stage == "build":
        build(train, args.train_videos, args.seed - 1, args.synth_set)
        build(test, args.videos, args.seed, args.synth_set)
    elif args.stage == "ablate":
        (args.out / "ablation.json").write_text(json.dumps(ablate(train)))
    elif args.stage == "tune":
        (args.out / "tuned.json").write_text(json.dumps(tune(train)))
    elif args.stage == "learned-tune":
        (args.out / "learned_tuned.json").write_text(json.dumps({**tune_learned(train, args.learned),
                                                                 "seconds": time.perf_counter() - started}))
    elif args.stage == "learned-eval":
        chosen = json.loads((args.out / "learned_tuned.json").read_text())["chosen"]
        rows = [row for spec in dict.fromkeys([chosen, *args.learned]) for row in evaluate_learned(test, spec)]
        (args.out / "learned_eval.json").write_text(json.dumps({"rows": rows, "compared": args.learned,
                                                                "eval_seconds": time.perf_counter() - started}))
    elif args.stage == "report":
        command = " ".join(["python experiments/dense_proposals.py", *sys.argv[1:]])
        print(write_report(args.out, args.report, command))
    else:
        rows = evaluate_rows(test)
        (args.out / "eval.json").write_text(json.dumps({
            "rows": rows, "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, shared 2-core CPU",
            "seconds": time.perf_counter() - started}))
    print(f"stage {args.stage} done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
