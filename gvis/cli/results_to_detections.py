"""``gvis results-to-detections``: another method's YouTube-VIS results as per-frame detections."""
from __future__ import annotations

import argparse

from gvis.cli._common import print_json

COMMAND = "results-to-detections"
HELP = "turn a YouTube-VIS results file (tracks) into per-frame .jsonl detections, identities removed"
DESCRIPTION = (
    "Read RESULTS.json (the official YouTube-VIS results list: video_id, category_id, score, one "
    "segmentation per frame) of the videos of GT and write, for every frame of every video of GT, one "
    "detection per entry whose mask is non-empty there (box = the mask's extent, label = the entry's "
    "category, score = the entry's score or --score; no appearance). Track identities are dropped, so "
    "`gvis track --detections OUT` links the masks again. The whole file is checked first: a malformed "
    "entry is one error line naming the file and field, and nothing is written. See docs/formats.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS.json", help="YouTube-VIS results file (a JSON list of tracks)")
    parser.add_argument("--gt", required=True, metavar="GT",
                        help="annotation file or dataset folder of the videos (ids, sizes, frame counts, categories); "
                             "annotations are not needed")
    parser.add_argument("--out", required=True, metavar="D.jsonl", help="detections file to write")
    parser.add_argument("--score", type=float, metavar="S",
                        help="give every detection this score instead of its entry's (e.g. 1.0 for score-less sources)")
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON object")


def run(args: argparse.Namespace) -> int:
    from gvis.data.folders import open_dataset
    from gvis.eval.results_to_detections import convert_results

    counts = convert_results(args.results, open_dataset(args.gt), args.out, score=args.score)
    if args.json:
        print_json(counts)
    else:
        print(f"wrote {args.out}: {counts['detections']} detections in {counts['frames']} frames of "
              f"{counts['videos']} videos (identities removed)")
    return 0
