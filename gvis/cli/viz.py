"""``gvis viz``: draw tracking results over a dataset's frames (MP4, GIF, frame-strip PNG)."""
from __future__ import annotations

import argparse

from gvis.cli._common import print_json

COMMAND = "viz"
HELP = "overlay tracking results on the frames: MP4 video, GIF, frame strip"
DESCRIPTION = (
    "Draw each result's mask (a colour per track), track id, class name and score over the frames of a "
    "YouTube-VIS dataset folder (DIR/instances.json + DIR/JPEGImages). Track ids are the results' order "
    "within each video. See docs/visualisation.md."
)

READS = ("data", "results")
WRITES = ("out", "gif", "strip")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="dataset folder with instances.json and JPEGImages/, or an annotation JSON file")
    parser.add_argument("--results", required=True, metavar="R.json", help="YouTube-VIS results file")
    parser.add_argument("--out", required=True, metavar="O.mp4", help="the MP4 to write")
    parser.add_argument("--gif", metavar="O.gif", help="also write an animated GIF of the same frames")
    parser.add_argument("--strip", metavar="S.png", help="also write a strip of 6 frames of the first video (PNG)")
    parser.add_argument("--video-id", dest="video_ids", type=int, action="append", metavar="ID",
                        help="video to draw (repeatable; default: the first video with a shown result)")
    parser.add_argument("--all-videos", action="store_true", help="draw every video of the dataset, one after the other")
    parser.add_argument("--min-score", type=float, default=0.3, help="hide results scoring less (default: 0.3)")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second (default: 10)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    from gvis.data.folders import open_dataset
    from gvis.errors import InputError
    from gvis.eval.results import load_results
    from gvis.viz.overlay import write_overlay

    if args.video_ids and args.all_videos:
        raise InputError("give either --video-id or --all-videos")
    dataset = open_dataset(args.data)
    video_ids = [v.id for v in dataset.videos] if args.all_videos else args.video_ids
    written = write_overlay(dataset, load_results(args.results), args.out, gif=args.gif, strip=args.strip,
                            video_ids=video_ids, min_score=args.min_score, fps=args.fps, source=args.results)
    summary = {"mp4": str(written.mp4), "gif": None if written.gif is None else str(written.gif),
               "strip": None if written.strip is None else str(written.strip),
               "video_ids": written.video_ids, "frames": written.frames}
    if args.json:
        print_json(summary)
    else:
        extra = "".join(f", {path}" for path in (written.gif, written.strip) if path is not None)
        print(f"wrote {written.mp4}{extra} ({written.frames} frames of video(s) {written.video_ids})")
    return 0
