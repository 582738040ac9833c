"""``gvis tune-baseline``: grid-search a heuristic tracker's settings by video AP on training videos."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, print_json

COMMAND = "tune-baseline"
HELP = "grid-search the MaskTrack R-CNN rule's alpha, beta, gamma by video AP; write the best config"
DESCRIPTION = (
    "Track the detections of the training videos in --data once per grid point, score each with the "
    "YouTube-VIS video AP, print the table and write the best config as YAML (usable with gvis track "
    "--config). Default grid: alpha 0,1,2,4,8 x beta 0,10 x gamma 0,1,3; --grid KEY=V1,V2 replaces or "
    "adds one axis (any config key, e.g. --grid appearance_scale=5,10)."
)

READS = ("data", "detections", "config")
WRITES = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR", help="training dataset folder (instances.json) or annotation file")
    parser.add_argument("--detections", required=True, metavar="D.jsonl", help="detections of those videos")
    parser.add_argument("--out", metavar="best.yaml", help="write the best config here")
    parser.add_argument("--tracker", default="masktrack-rule", help="heuristic tracker to tune (default: masktrack-rule)")
    parser.add_argument("--config", metavar="CFG", help="base config (default: configs/baselines/<tracker>.yaml)")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...", help="one grid axis (repeatable)")
    parser.add_argument("--max-videos", type=int, metavar="N", help="use only the first N videos with detections")
    parser.add_argument("--class-agnostic", action="store_true",
                        help="score with every category as one (gvis eval --class-agnostic): for class-agnostic detections")
    parser.add_argument("--show", type=int, default=15, metavar="K", help="rows of the table to print (default: 15)")
    parser.add_argument("--json", action="store_true", help="print the table as one JSON object on stdout")
    add_set_argument(parser, "gvis.baselines.masktrack_rule:MaskTrackRuleConfig", "filtering.top_n=32",
                     "--tracker masktrack-rule")


def run(args: argparse.Namespace) -> int:
    import sys

    from tqdm import tqdm

    from gvis.baselines.runner import group_videos, tracker_threads
    from gvis.baselines.tuning import config_yaml, format_table, grid_search, parse_grid
    from gvis.data.folders import annotation_path, open_dataset
    from gvis.cli.track import build_tracker, tracker_entry
    from gvis.config import to_dict
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detections.structures import check_video_detections
    from gvis.errors import ConfigError, InputError
    from gvis.io import atomic_open
    from gvis.registry import TRACKERS

    dataset = open_dataset(args.data)
    reader = DetectionsReader(args.detections)
    categories = reader.header["categories"]
    if getattr(tracker_entry(args.tracker), "config_class", None) is None:
        raise ConfigError(f"tracker '{args.tracker}' has no config to tune")
    base_tracker = build_tracker(args.tracker, categories, args.config, args.overrides, None)
    base = base_tracker.config
    grid = parse_grid(args.grid)
    if args.max_videos is not None and args.max_videos < 1:
        raise ConfigError("--max-videos must be at least 1")

    known = {video.id for video in dataset.videos}
    videos = []
    for video_id, frames in group_videos(reader.frames(), str(args.detections)):
        if video_id not in known:
            raise InputError("video not in the training annotations", file=args.detections, video_id=video_id)
        frames = list(frames)
        check_video_detections(frames, dataset.video(video_id), args.detections)
        videos.append((video_id, frames))
        if args.max_videos is not None and len(videos) == args.max_videos:
            break
    if not videos:
        raise InputError("no frames in the detections file", file=args.detections)
    # Score only the tracked videos: restrict the ground truth to them.
    from gvis.data.ytvis import YTVISDataset

    chosen = {video_id for video_id, _ in videos}
    raw = dataset.raw
    ground_truth = YTVISDataset.from_dict(
        {**raw, "videos": [v for v in raw["videos"] if v["id"] in chosen],
         "annotations": [a for a in raw.get("annotations", []) if a["video_id"] in chosen]},
        source=str(annotation_path(args.data)),
    )

    total = 1
    for values in grid.values():
        total *= len(values)
    with tracker_threads(base_tracker), tqdm(total=total, desc=f"tune {args.tracker}", unit="setting", file=sys.stderr) as bar:
        points = grid_search(lambda config: TRACKERS.build(args.tracker, categories=categories, config=config),
                             base, grid, videos, ground_truth, progress=bar.update, class_agnostic=args.class_agnostic)
    best = points[0]
    frames = sum(len(f) for _, f in videos)
    if args.out:
        note = (f"gvis tune-baseline: best of {len(points)} settings on {len(videos)} videos ({frames} frames)"
                f"{', class-agnostic AP' if args.class_agnostic else ''}\n"
                f"data {args.data}, detections {args.detections}\n"
                f"AP {100 * best.stats['AP']:.2f} with " + ", ".join(f"{k}={v}" for k, v in best.values.items()))
        with atomic_open(args.out, "w", encoding="utf-8") as handle:
            handle.write(config_yaml(best, note))
    if args.json:
        print_json({"best": {"values": best.values, "stats": best.stats, "config": to_dict(best.config)},
                    "rows": [{"values": p.values, "stats": p.stats} for p in points],
                    "videos": len(videos), "frames": frames, "out": args.out})
    else:
        print(f"{len(points)} settings of {args.tracker} on {len(videos)} videos ({frames} frames), best first:")
        print(format_table(points, args.show))
        print("best: " + ", ".join(f"{k}={v}" for k, v in best.values.items())
              + f" (AP {100 * best.stats['AP']:.2f})" + (f"; wrote {args.out}" if args.out else ""))
    return 0
