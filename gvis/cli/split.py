"""``gvis split``: hold out videos of a YouTube-VIS annotation file."""
from __future__ import annotations

import argparse

from gvis.cli._common import print_json

COMMAND = "split"
HELP = "deterministic held-out split of a YouTube-VIS annotation file by videos"
DESCRIPTION = (
    "Validate ANN.json and write DIR/train.json and DIR/holdout.json: --holdout videos chosen at random "
    "with --seed (same file + seed = same split), annotations follow their videos, categories are kept. "
    "A CocoVID file is converted to YouTube-VIS on the way. See docs/data.md."
)

READS = ("annotations",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("annotations", metavar="ANN.json", help="YouTube-VIS / OVIS annotation file")
    parser.add_argument("--holdout", type=int, required=True, metavar="N", help="number of videos to hold out")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    parser.add_argument("--out-dir", required=True, metavar="DIR", help="folder for train.json and holdout.json")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    from gvis.data.split import write_split

    summary = write_split(args.annotations, args.holdout, args.seed, args.out_dir)
    if args.json:
        print_json(summary)
    else:
        for name in ("train", "holdout"):
            part = summary[name]
            print(f"{name}: {part['videos']} videos, {part['annotations']} annotations -> {part['path']}")
    return 0
