"""``gvis eval``: the 12 YouTube-VIS stats of a results file."""
from __future__ import annotations

import argparse

from gvis.cli._common import print_json

COMMAND = "eval"
HELP = "YouTube-VIS video mAP of a results file (the official evaluator's 12 stats)"
DESCRIPTION = (
    "Score RESULTS.json (official YouTube-VIS results list) against GT.json exactly as the official "
    "youtube-vis evaluator (youtubevos/cocoapi ytvoseval.py): video IoU over frames, IoU 0.50:0.95, "
    "101 recall points, area ranges from the ground truth's 'areas', 1/10/100 detections per video "
    "and category. See docs/evaluation.md."
)

READS = ("gt", "results")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gt", metavar="GT.json", help="YouTube-VIS / OVIS ground-truth annotation file")
    parser.add_argument("results", metavar="RESULTS.json", help="results file (list of video_id, category_id, score, segmentations)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the 12 stats (fractions, -1 where undefined)")
    parser.add_argument("--per-category", action="store_true", help="also report AP per category")
    parser.add_argument("--class-agnostic", action="store_true",
                        help="treat all categories as one (not the official metric): the masks and their linking alone")
    parser.add_argument("--tie-orders", type=int, default=0, metavar="K",
                        help="also report the AP with the results' equal scores in K random orders (seeded): its mean, "
                             "lowest and highest; the official order ranks ties by video id, then by results-file order")
    parser.add_argument("--mots", action="store_true",
                        help="also report the CLEAR MOT metrics and IDF1 on masks (BDD100K MOTS / Scalabel rules: "
                             "mask IoU >= 0.5, crowd regions ignored); per category unless --class-agnostic")


def run(args: argparse.Namespace) -> int:
    from gvis.eval.ytvis_ap import evaluate, format_stats, has_equal_scores, random_tie_aps

    from gvis.errors import InputError

    if args.per_category and args.class_agnostic:
        raise InputError("--per-category and --class-agnostic exclude each other")
    if args.tie_orders < 0:
        raise InputError(f"--tie-orders must be >= 0, got {args.tie_orders}")
    stats = evaluate(args.gt, args.results, per_category=args.per_category, class_agnostic=args.class_agnostic)
    if args.tie_orders:
        from gvis.eval.results import load_results

        results = load_results(args.results)
        aps = (random_tie_aps(args.gt, results, args.tie_orders, args.class_agnostic) if has_equal_scores(results)
               else [stats["AP"]] * args.tie_orders)
        stats["random_ties"] = {"orders": args.tie_orders, "AP": sum(aps) / len(aps), "lowest": min(aps), "highest": max(aps)}
    if args.mots:
        from gvis.eval.clear_mot import evaluate_mots

        stats["mots"] = evaluate_mots(args.gt, args.results, class_agnostic=args.class_agnostic)
    if args.json:
        print_json(stats)
    else:
        print(format_stats(stats))
        if args.tie_orders:
            ties = stats["random_ties"]
            print(f"AP with equal scores in {ties['orders']} random orders: mean {ties['AP']:.4f} "
                  f"(lowest {ties['lowest']:.4f}, highest {ties['highest']:.4f})")
        if args.mots:
            from gvis.eval.clear_mot import format_mot_stats

            print(format_mot_stats(stats["mots"]))
    return 0
