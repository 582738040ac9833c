"""``gvis oracle``: what a perfect tracker would score with a detector's detections."""
from __future__ import annotations

import argparse

from gvis.cli._common import print_json

COMMAND = "oracle"
HELP = "video AP of oracle linking: the ceiling of any tracker fed these detections"
DESCRIPTION = (
    "Link every detection of DETECTIONS.jsonl to the ground-truth instance of GT.json it matches (mask IoU "
    ">= --iou, greedy by score, each instance once per frame), one track per instance (class by majority, "
    "score the mean), unmatched detections dropped; print the 12 YouTube-VIS stats of that. Ground truth - "
    "oracle is what the detector lost, oracle - a tracker's score what association and scoring lost."
)

READS = ("gt", "detections")
WRITES = ("results",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gt", metavar="GT", help="ground-truth annotation file or dataset folder (instances.json)")
    parser.add_argument("detections", metavar="DETECTIONS.jsonl", help="detections of every frame of GT's videos")
    parser.add_argument("--iou", type=float, default=0.5, help="mask IoU a detection needs to match (default 0.5)")
    parser.add_argument("--results", metavar="R.json", help="also write the oracle's results (YouTube-VIS format)")
    parser.add_argument("--class-agnostic", action="store_true",
                        help="score with all categories as one (gvis eval --class-agnostic): the detector's class errors left out")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the 12 stats")


def run(args: argparse.Namespace) -> int:
    from gvis.data.folders import open_dataset
    from gvis.detections.jsonl import DetectionsReader
    from gvis.errors import InputError
    from gvis.eval.oracle import oracle_link
    from gvis.eval.results import write_results
    from gvis.eval.ytvis_ap import evaluate, format_stats

    if not 0.0 < args.iou <= 1.0:
        raise InputError(f"--iou must lie in (0, 1], got {args.iou}")
    dataset = open_dataset(args.gt)
    entries = oracle_link(dataset, DetectionsReader(args.detections).videos(), args.iou, source=args.detections)
    if args.results:
        write_results(args.results, entries, meta={"oracle": {"detections": args.detections, "iou": args.iou}})
    stats = evaluate(dataset, entries, class_agnostic=args.class_agnostic)
    if args.json:
        print_json(stats)
    else:
        print(format_stats(stats))
    return 0
