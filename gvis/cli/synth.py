"""``gvis synth``: write a synthetic VIS dataset in the YouTube-VIS layout."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, print_json

COMMAND = "synth"
HELP = "generate a synthetic VIS benchmark (YouTube-VIS layout)"
DESCRIPTION = (
    "Write DIR/JPEGImages/<video>/<frame>.jpg and DIR/instances.json. The same preset, --set keys and "
    "seed give the same bytes. Knobs: docs/synthetic.md (all keys are top level, e.g. --set max_objects=8)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="medium",
                        help="configs/synth/<name>.yaml (easy, medium, hard, tiny) or a YAML path (default: medium)")
    parser.add_argument("--videos", type=int, required=True, metavar="N", help="number of videos")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically)")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_set_argument(parser, "gvis.data.synth.config:SynthConfig", "max_objects=8")


def run(args: argparse.Namespace) -> int:
    from gvis.config import find_config, load_config
    from gvis.data.synth import SynthConfig, generate_dataset

    path = find_config(args.preset, "synth")
    cfg = load_config(SynthConfig, path, args.overrides)
    summary = generate_dataset(cfg, args.videos, args.seed, args.out, preset=path.stem, overwrite=args.overwrite)
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['videos']} videos ({summary['frames']} frames, {summary['instances']} instances, "
              f"{summary['empty_videos']} without objects) to {summary['out']}")
    return 0
