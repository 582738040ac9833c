"""Trackers behind a segmenter's final output (synthetic data only): the inference settings of the learned
detector-agnostic tracker and of the MaskTrack R-CNN rule chosen for it, and docs/results/final_outputs.md.

A segmenter's *final output* (what a detector with its own NMS, or another tracker with its identities
removed, hands over) has about one mask per object, the detector's own labels, often no appearance vectors
and often no informative scores (BDD100K MOTS predictions: all 1.0). That is not what dense proposals are
(``experiments/dense_proposals.py``: many overlapping masks per object), and the two want different settings:
with duplicates a tracker must be slow to start and to keep tracks, without them it can afford not to be.

Data: the sets of ``experiments/category_hypotheses.py`` (the learning proof's synthetic ``hard`` videos;
tuning set: 20 videos of generator seed 100; held-out sets: 50 videos of each of the seeds 1, 2, 3; made with
``gvis synth`` + ``gvis detect`` where absent) with the ``hard`` simulated detector's detections (misses, false
positives, merges, class confusion), their appearance vectors removed, with the simulated scores
(``spread``) and with every score 1.0 (``constant``). Video AP per category (YouTube-VIS 2019), as the
real-data report scores BDD100K.

1. The rule: a grid (:data:`RULE_GRID`) on top of its default config, the dense config among its points; the
   best mean AP over the two tuning files (means within ``AP_TIE``, 0.01 AP points, tie; the first in grid order wins) is the
   tuned rule, named by the shipped config it equals, if any.
2. The learned tracker: each setting (``--learned``, default :func:`default_learned`: the setting chosen on
   dense proposals with the match and start thresholds of a 3 x 3 grid) on the tuning files; the best mean AP
   is chosen (the first given on a tie).
3. The held-out sets: every heuristic of the real-data report (default configs, the dense config), the tuned
   rule if no shipped config equals it, the chosen learned setting, the first one given (by default the dense
   setting as it is, to show what the choice changed) and the oracle linking.

    .venv/bin/python experiments/final_outputs.py [--work runs/learning_proof] [--learned C.pt[:KEY=VALUE,...] ...]
        [--out docs/results/final_outputs.md]   # about 15 minutes on the 2-core CPU

Nothing here reads the real fixtures.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from category_hypotheses import AGNOSTIC_SETTING as DENSE_SETTING
from category_hypotheses import HELD_OUT, TUNING
from gvis.baselines.masktrack_rule import MaskTrackRuleConfig
from gvis.baselines.tuning import AP_TIE
from gvis.compare.benchmark import make_set
from gvis.io import atomic_open, write_json_atomic
from gvis.provenance import git_hash
from real_data import HEURISTICS, heuristic, heuristic_config, learned_rows, learned_spec

REPO = Path(__file__).resolve().parent.parent
SCORES = ("spread", "constant")
#: The rule's grid, on top of its default config (configs/baselines/masktrack-rule.yaml); the first value of
#: every key is the default. ``filtering``: the default's, or that of ``masktrack-rule-dense.yaml``.
RULE_GRID = {
    "filtering": [{}, {"nms_overlap": "mask", "nms_rank": "support", "nms_iou": 0.3, "nms_containment": 0.8, "vote_iou": 0.5}],
    "overlap": ["box", "mask"],
    "new_track_iou_without_appearance": [0.3, 0.1],
    "on_conflict": ["drop", "new"],
    "score_prior_frames": [0.0, 5.0],
}
#: The learned tracker's thresholds (logits; model defaults -2): a track keeps its best detection when
#: s_mn >= match_threshold, a detection starts a track when s_0n > init_threshold. DENSE_SETTING is the setting
#: chosen on dense proposals (docs/results/dense_proposals.md).
THRESHOLDS = (-2.0, -3.0, -4.0)
#: The tuned rule's row where no shipped config equals it.
TUNED_RULE = "masktrack-rule, the grid's best point"


def default_learned() -> list[str]:
    """:data:`DENSE_SETTING` as it is, then with every other pair of :data:`THRESHOLDS`."""
    pairs = [pair for pair in itertools.product(THRESHOLDS, THRESHOLDS) if pair != (-2.0, -2.0)]
    return [DENSE_SETTING] + [f"{DENSE_SETTING},match_threshold={m:g},init_threshold={i:g}" for m, i in pairs]


def final_output_videos(folder: Path) -> tuple[list, dict[str, list]]:
    """The categories and, per score kind of :data:`SCORES`, the ``(video_id, frames)`` of a set's detections
    without appearance vectors."""
    import torch

    from gvis.detections.jsonl import DetectionsReader

    reader = DetectionsReader(folder / "dets.jsonl")
    spread = [(video_id, [dataclasses.replace(frame, appearance=None, frame_appearance=None) for frame in frames])
              for video_id, frames in reader.videos()]
    constant = [(video_id, [dataclasses.replace(frame, scores=torch.ones_like(frame.scores)) for frame in frames])
                for video_id, frames in spread]
    return reader.categories, {"spread": spread, "constant": constant}


def tracked_ap(tracker: Any, dataset: Any, videos: list) -> float:
    """Video AP (per category, as a fraction) of ``tracker`` over ``videos`` against ``dataset``."""
    from gvis.baselines.runner import run_tracker, tracker_threads
    from gvis.eval.ytvis_ap import evaluate

    with tracker_threads(tracker):
        return evaluate(dataset, run_tracker(tracker, videos).entries)["AP"]


def tune_rule(folder: Path) -> tuple[dict, MaskTrackRuleConfig]:
    """The rule's grid on both tuning files: ``({values, mean_ap, per_file, points, tied, yaml, shipped}, config)``
    of the chosen point (:func:`gvis.baselines.tuning.best_mean_point` with ``AP_TIE``); ``points``: every
    point's APs in grid order, ``tied``: the points within ``AP_TIE`` of the best mean, ``shipped``: the row of
    :data:`HEURISTICS` whose config equals the chosen one (``None`` if none does)."""
    from gvis.baselines.tuning import best_mean_point, grid_key, grid_search
    from gvis.config import dump_yaml
    from gvis.data.ytvis import YTVISDataset
    from gvis.registry import TRACKERS

    dataset = YTVISDataset.from_json(folder / "instances.json")
    categories, files = final_output_videos(folder)
    runs = []
    for kind in SCORES:
        runs.append(grid_search(lambda c: TRACKERS.build("masktrack-rule", categories=categories, config=c),
                                heuristic_config("masktrack-rule", None), RULE_GRID, files[kind], dataset))
        print(f"rule grid, {kind}: best {runs[-1][0].values} AP {100 * runs[-1][0].stats['AP']:.2f}", flush=True)
    choice = best_mean_point(RULE_GRID, runs, tolerance=AP_TIE)
    shipped = next((name for name, tracker, config in HEURISTICS
                    if tracker == "masktrack-rule" and heuristic_config(tracker, config) == choice.config), None)
    return ({"values": choice.values, "mean_ap": choice.mean_ap, "per_file": choice.aps[grid_key(choice.values)],
             "points": choice.aps, "tied": choice.tied, "yaml": dump_yaml(choice.config), "shipped": shipped},
            choice.config)


def score_set(folder: Path, learned: list[str], tuned_rule_config: MaskTrackRuleConfig | None,
              with_oracle: bool) -> dict[str, dict[str, float]]:
    """``{row: {score kind: AP}}`` on one set: every heuristic of the real-data report, the rule with
    ``tuned_rule_config`` (``None``: no such row), each learned setting and (``with_oracle``) the oracle linking."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.eval.oracle import oracle_link
    from gvis.eval.ytvis_ap import evaluate
    from gvis.registry import TRACKERS

    dataset = YTVISDataset.from_json(folder / "instances.json")
    categories, files = final_output_videos(folder)
    trackers = [(name, heuristic(tracker, config, categories)) for name, tracker, config in HEURISTICS]
    if tuned_rule_config is not None:
        trackers.append((TUNED_RULE, TRACKERS.build("masktrack-rule", categories=categories, config=tuned_rule_config)))
    trackers += list(zip(learned, (tracker for _, tracker in learned_rows(learned, categories))))
    rows: dict[str, dict[str, float]] = {}
    for name, tracker in trackers:
        start = time.perf_counter()
        rows[name] = {kind: tracked_ap(tracker, dataset, files[kind]) for kind in SCORES}
        print(f"{folder.name:12s} {learned_spec(name).name if name in learned else name:50.50s} "
              + "  ".join(f"{kind} {100 * ap:5.2f}" for kind, ap in rows[name].items())
              + f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    if with_oracle:
        rows["oracle linking"] = {kind: evaluate(dataset, oracle_link(dataset, files[kind]))["AP"] for kind in SCORES}
    return rows


def report(command: str, rule: dict, tuning: dict, learned: list[str], chosen: str, held_out: dict,
           seconds: float) -> str:
    """docs/results/final_outputs.md: the rule's grid, every setting on the tuning set (the heuristics beside),
    the held-out table."""
    mean = statistics.mean
    defaults = json.dumps({key: values[0] for key, values in RULE_GRID.items()})
    tied = [point for point in rule["tied"] if point != json.dumps(rule["values"])]
    lines = [
        "# Trackers behind a segmenter's final output (synthetic)",
        "",
        f"Generated by `{command}` (git {git_hash()}; {seconds / 60:.0f} min on this machine: {platform.machine()}, "
        f"{platform.system()}, a shared 2-core CPU). Do not edit by hand.",
        "",
        "About one mask per object with the detector's own labels, no appearance vectors, scores as simulated "
        "(`spread`) or all 1.0 (`constant`): the learning proof's synthetic `hard` videos and the hard simulated "
        "detector's detections (misses, false positives, merges, class confusion) with their appearance vectors "
        "removed. Video AP per category (YouTube-VIS 2019), %. The settings are chosen on the tuning set "
        f"({TUNING[2]} videos, generator seed {TUNING[1]}) and reported on the held-out sets "
        f"({', '.join(f'{n} videos of seed {s}' for _, s, n in HELD_OUT)}); no real fixture was read. "
        "Dense proposals want other settings: [dense_proposals.md](dense_proposals.md).",
        "",
        f"## The rule (tuning set: a {len(rule['points'])}-point grid on its defaults)",
        "",
        f"Grid: `{json.dumps(RULE_GRID)}`. Chosen: `{json.dumps(rule['values'])}`, mean AP {100 * rule['mean_ap']:.2f} ("
        + ", ".join(f"{k} {100 * ap:.2f}" for k, ap in zip(SCORES, rule["per_file"]))
        + f"); the defaults' {100 * mean(rule['points'][defaults]):.2f}. Mean APs within {100 * AP_TIE:.2f} points of the "
        "best tie and the first in grid order is chosen"
        + (": " + "; ".join(f"`{point}` ({100 * mean(rule['points'][point]):.4f} against "
                             f"{100 * rule['mean_ap']:.4f}) tied with it" for point in tied) if tied else "; none tied with it")
        + ". "
        + (f"It is the config of the row `{rule['shipped']}` below, so no other config is shipped for final outputs."
           if rule["shipped"] else f"No shipped config equals it: it is the row `{TUNED_RULE}` below:\n\n```yaml\n"
           f"{rule['yaml']}```"),
        "",
        "## The learned tracker (tuning set: each setting, the best mean AP is chosen)",
        "",
        f"Every setting is `{DENSE_SETTING}` (chosen on dense proposals) with the keys in the first column, "
        "after the heuristics' rows for comparison.",
        "",
        "| setting | " + " | ".join(SCORES) + " | mean |",
        "|---" * (len(SCORES) + 2) + "|",
    ]
    def label(row: str) -> str:
        return (row[len(DENSE_SETTING):].lstrip(",") or "(as on dense proposals)") if row in learned else row

    for row, aps in tuning.items():
        lines.append(f"| {label(row)} | " + " | ".join(f"{100 * aps[k]:.2f}" for k in SCORES) + f" | {100 * mean(aps.values()):.2f} |")
    lines += ["", f"Chosen: `{chosen}`.", "", f"## Held-out sets (mean over the {len(HELD_OUT)})", "",
              "| tracker | " + " | ".join(SCORES) + " | mean | " + " | ".join(f"mean, {name}" for name, _, _ in HELD_OUT) + " |",
              "|---" * (len(SCORES) + 2 + len(HELD_OUT)) + "|"]
    for row in held_out[HELD_OUT[0][0]]:
        aps = {kind: mean(held_out[name][row][kind] for name, _, _ in HELD_OUT) for kind in SCORES}
        per_set = [mean(held_out[name][row].values()) for name, _, _ in HELD_OUT]
        name = ("learned, the chosen setting" if row == chosen else f"learned, {label(row)}" if row in learned else row)
        lines.append(f"| {name} | "
                     + " | ".join(f"{100 * aps[k]:.2f}" for k in SCORES) + f" | {100 * mean(aps.values()):.2f} | "
                     + " | ".join(f"{100 * ap:.2f}" for ap in per_set) + " |")
    return "\n".join(lines) + "\n"


def command_line(args: argparse.Namespace) -> str:
    """The command that makes this run again (options that differ from the defaults only)."""
    parts = ["python experiments/final_outputs.py"]
    if args.work != REPO / "runs" / "learning_proof":
        parts.append(f"--work {args.work}")
    if args.learned != default_learned():
        parts += [f"--learned {spec}" for spec in args.learned]
    if args.out != REPO / "docs" / "results" / "final_outputs.md":
        parts.append(f"--out {args.out}")
    return " ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "learning_proof", help="synthetic sets (made if absent)")
    parser.add_argument("--learned", action="append", metavar="C.pt[:KEY=VALUE,...]",
                        help="learned settings, as experiments/real_data.py takes them (default: the dense setting "
                             "with a 3 x 3 grid of match and start thresholds)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "final_outputs.md")
    args = parser.parse_args()
    args.learned = args.learned or default_learned()
    start = time.perf_counter()
    for name, seed, videos in (TUNING, *HELD_OUT):
        make_set(args.work / name, videos, seed, "hard", "hard")
    rule, config = tune_rule(args.work / TUNING[0])
    tuned_rule_config = None if rule["shipped"] else config
    tuning = score_set(args.work / TUNING[0], args.learned, tuned_rule_config, with_oracle=False)
    chosen = max(args.learned, key=lambda spec: statistics.mean(tuning[spec].values()))  # max keeps the first
    print(f"chosen on the tuning set: {chosen}", flush=True)
    shown = list(dict.fromkeys([chosen, args.learned[0]]))  # the first setting given: what the choice changed
    held_out = {name: score_set(args.work / name, shown, tuned_rule_config, with_oracle=True) for name, _, _ in HELD_OUT}
    text = report(command_line(args), rule, tuning, args.learned, chosen, held_out, time.perf_counter() - start)
    write_json_atomic(args.out.with_suffix(".json"), {"rule": rule, "tuning": tuning, "chosen": chosen,
                                                      "held_out": held_out}, indent=2)
    with atomic_open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
