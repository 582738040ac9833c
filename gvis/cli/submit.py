"""``gvis submit``: check a results file against the ground truth and zip it for the server."""
from __future__ import annotations

import argparse

COMMAND = "submit"
HELP = "validate a results file against the ground truth and write the submission zip"
DESCRIPTION = (
    "Check RESULTS.json against GT.json (video ids, category ids, one segmentation per frame, RLE sizes "
    "and strings, scores in [0, 1]) and write --out, a zip holding results.json as the YouTube-VIS "
    "server expects. Uncompressed RLE and polygons are converted to compressed RLE. Any problem stops "
    "with one error naming the file, entry and field; nothing is written then."
)

READS = ("gt", "results")
WRITES = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gt", metavar="GT.json", help="ground-truth annotation file of the split (its videos and categories)")
    parser.add_argument("results", metavar="RESULTS.json", help="results file to submit")
    parser.add_argument("--out", required=True, metavar="submission.zip", help="zip to write (atomically)")


def run(args: argparse.Namespace) -> int:
    from gvis.eval.submission import write_submission

    summary = write_submission(args.gt, args.results, args.out)
    print(f"{summary['path']}: {summary['entries']} entries for {summary['videos_with_results']} of "
          f"{summary['videos']} videos, checked ({summary['archive_member']} inside)")
    return 0
