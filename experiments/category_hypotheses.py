"""Category hypotheses per track (``gvis track --category-hypotheses K``), chosen and measured on synthetic data
only: writes docs/results/category_hypotheses.md (+ .json).

A track whose detections were labelled with several categories is reported once per category, up to ``K``
entries (:class:`gvis.eval.results.VideoResults`). Whether that helps, and which ``K``, is decided here on the
learning proof's synthetic ``hard`` videos, whose simulated detector confuses classes (``confusion`` in
``configs/simulator/hard.yaml``):

1. The tuning set (20 videos of generator seed 100, the comparison's validation videos) and the held-out
   sets (50 videos of each of the generator seeds 1, 2, 3), with the hard preset's detections; made with
   ``gvis synth`` + ``gvis detect`` where absent (``--work``, default the learning proof's folder).
2. Every tracker (the heuristics with their default configs and the synthetic-tuned dense rule, and each
   ``--learned`` setting) tracks each set once; its results are written with every ``K`` of ``--k``.
3. On the tuning set, the ``K`` of the best mean video AP over all trackers (ties: the smaller ``K``) is
   chosen, one ``K`` for every tracker; the held-out sets then give each tracker's AP with ``K = 1`` and with
   the chosen ``K``.

    .venv/bin/python experiments/category_hypotheses.py [--work runs/learning_proof] [--k 1 2 3 5]
        [--learned C.pt[:KEY=VALUE,...] ...]   # about 10 minutes on the 2-core CPU

Nothing here reads the real fixtures.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from gvis.compare.benchmark import make_set
from gvis.io import atomic_open, write_json_atomic
from gvis.provenance import git_hash
from real_data import HEURISTICS, heuristic, learned_rows

REPO = Path(__file__).resolve().parent.parent
#: The detector-agnostic checkpoint's setting chosen on dense proposals (docs/results/dense_proposals.md), and
#: the one chosen on a segmenter's final output (docs/results/final_outputs.md), the kind of input these sets are.
AGNOSTIC_SETTING = ("checkpoints/learned-agnostic.pt:output_masks=detection,assignment=exclusive,claimed_start_tracks=false,"
                    "filtering.nms_overlap=mask,filtering.nms_rank=support,filtering.nms_iou=0.3,score_prior_frames=1,"
                    "filtering.vote_iou=0.5")
AGNOSTIC_FINAL_SETTING = f"{AGNOSTIC_SETTING},match_threshold=-3,init_threshold=-3"
LEARNED = ["checkpoints/learned-synth-hard.pt", AGNOSTIC_SETTING, AGNOSTIC_FINAL_SETTING]
#: (name, generator seed, videos) of the tuning set and the held-out sets.
TUNING = ("val", 100, 20)
HELD_OUT = [(f"test_seed{seed}", seed, 50) for seed in (1, 2, 3)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "learning_proof", help="synthetic sets (made if absent)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 5], help="the K compared (1 must be one)")
    parser.add_argument("--learned", action="append", metavar="C.pt[:KEY=VALUE,...]",
                        help=f"learned settings, as experiments/real_data.py takes them (default: {', '.join(LEARNED)})")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "category_hypotheses.md")
    args = parser.parse_args()
    if 1 not in args.k or min(args.k) < 1:
        parser.error("--k: values of at least 1, including 1")
    args.k = sorted(set(args.k))
    args.learned = args.learned or LEARNED
    return args


def entries_by_k(tracker, videos: list, ks: list[int]) -> dict[int, list[dict]]:
    """One tracking pass over ``videos`` (``(video_id, frames)``), its results entries written with each ``K``."""
    from gvis.baselines.runner import tracker_threads
    from gvis.eval.results import VideoResults

    out: dict[int, list[dict]] = {k: [] for k in ks}
    with tracker_threads(tracker):
        for video_id, frames in videos:
            tracker.reset()
            results = [VideoResults(video_id, k) for k in ks]
            for detections in frames:
                tracks = tracker.update(detections)
                for video_results in results:
                    video_results.add_frame(tracks, detections)
            for k, video_results in zip(ks, results):
                out[k].extend(video_results.entries())
    return out


def score_set(folder: Path, ks: list[int], learned: list[str]) -> dict[str, dict[int, float]]:
    """``{tracker row: {K: video AP}}`` on one set."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.jsonl import DetectionsReader
    from gvis.eval.ytvis_ap import evaluate

    dataset = YTVISDataset.from_json(folder / "instances.json")
    reader = DetectionsReader(folder / "dets.jsonl")
    videos = list(reader.videos())
    categories = reader.categories
    trackers = [(name, heuristic(tracker, config, categories)) for name, tracker, config in HEURISTICS]
    scores = {}
    for name, tracker in trackers + learned_rows(learned, categories):
        start = time.perf_counter()
        by_k = entries_by_k(tracker, videos, ks)
        scores[name] = {k: evaluate(dataset, entries)["AP"] for k, entries in by_k.items()}
        print(f"{folder.name:12s} {name:60s} " + "  ".join(f"K={k} {100 * ap:5.2f}" for k, ap in scores[name].items())
              + f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    return scores


def choose_k(tuning: dict[str, dict[int, float]], ks: list[int]) -> int:
    """The ``K`` of the best mean AP over the trackers (ties: the smaller)."""
    means = {k: statistics.mean(row[k] for row in tuning.values()) for k in ks}
    return max(ks, key=lambda k: (round(means[k], 6), -k))


def report(args: argparse.Namespace, tuning: dict, held_out: dict, chosen: int, seconds: float) -> str:
    ks = args.k
    rows = list(tuning)
    tuning_means = {k: statistics.mean(tuning[row][k] for row in rows) for k in ks}
    lines = [
        "# Category hypotheses per track (synthetic data)",
        "",
        f"Generated by `python experiments/category_hypotheses.py {' '.join(_quoted_args(args))}` (git {git_hash()}; "
        f"{seconds / 60:.0f} min on this machine: {platform.machine()}, {platform.system()}). Do not edit by hand.",
        "",
        "`gvis track --category-hypotheses K` reports a track once for its own category (score *s*) and once for "
        "each of up to K − 1 other categories its assigned detections were labelled with (score *s* · n_c / n, "
        "the share of its detections with that label); docs/evaluation.md, \"Category hypotheses\". The data: the "
        "learning proof's synthetic `hard` videos with the hard simulated detector's detections (8 categories, "
        "class confusion). Video AP (YouTube-VIS 2019), %. Heuristics with their default configs and the dense "
        "rule tuned on synthetic proposals; no real fixture was read.",
        "",
        f"**Tuning set** ({TUNING[2]} videos, generator seed {TUNING[1]}): K chosen by the mean AP over every "
        f"tracker (ties: the smaller K): **K = {chosen}**.",
        "",
        "| tracker | " + " | ".join(f"K = {k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(f"{100 * tuning[row][k]:.2f}" for k in ks) + " |")
    lines.append("| mean | " + " | ".join(f"{100 * tuning_means[k]:.2f}" for k in ks) + " |")
    sets = [name for name, _, _ in HELD_OUT]
    lines += [
        "",
        f"**Held-out sets** ({', '.join(f'{n} videos of seed {s}' for _, s, n in HELD_OUT)}): AP with K = 1 and "
        f"with the chosen K = {chosen}, mean over the sets, and the difference per set.",
        "",
        f"| tracker | AP, K = 1 | AP, K = {chosen} | Δ | " + " | ".join(f"Δ {name}" for name in sets) + " |",
        "|---|---|---|---|" + "---|" * len(sets),
    ]
    for row in rows:
        base = statistics.mean(held_out[name][row][1] for name in sets)
        new = statistics.mean(held_out[name][row][chosen] for name in sets)
        deltas = [held_out[name][row][chosen] - held_out[name][row][1] for name in sets]
        lines.append(f"| {row} | {100 * base:.2f} | {100 * new:.2f} | {100 * (new - base):+.2f} | "
                     + " | ".join(f"{100 * d:+.2f}" for d in deltas) + " |")
    return "\n".join(lines) + "\n"


def _quoted_args(args: argparse.Namespace) -> list[str]:
    out = ["--k", *map(str, args.k)]
    if args.learned != LEARNED:
        for spec in args.learned:
            out += ["--learned", spec]
    return out


def main() -> int:
    args = parse_args()
    start = time.perf_counter()
    for name, seed, videos in (TUNING, *HELD_OUT):
        make_set(args.work / name, videos, seed, "hard", "hard")
    tuning = score_set(args.work / TUNING[0], args.k, args.learned)
    chosen = choose_k(tuning, args.k)
    print(f"chosen on the tuning set: K = {chosen}", flush=True)
    held_out = {name: score_set(args.work / name, args.k, args.learned) for name, _, _ in HELD_OUT}
    text = report(args, tuning, held_out, chosen, time.perf_counter() - start)
    write_json_atomic(args.out.with_suffix(".json"), {"k": args.k, "chosen": chosen, "tuning": tuning, "held_out": held_out},
                      indent=2)
    with atomic_open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
