"""``gvis track``: run a tracker over per-frame detections; write results, an overlay and a track table."""
from __future__ import annotations

import argparse
from pathlib import Path

from gvis.cli._common import add_set_argument, print_json

COMMAND = "track"
HELP = "track detections (a .jsonl) with a learned or heuristic tracker; write YTVIS results"
DESCRIPTION = (
    "Stream the precomputed detections video by video through the tracker and write the YouTube-VIS "
    "results (plus <name>.meta.json), an overlay video and/or a CSV of per-frame track rows. INPUT, a "
    "YouTube-VIS dataset folder, supplies the frames for --overlay and is checked against the detections. "
    "Running a detector on a video file or a frame folder is not supported yet: make a .jsonl first "
    "(gvis detect). Heuristic trackers read configs/baselines/<tracker>.yaml unless --config is given."
)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", metavar="INPUT",
                        help="YouTube-VIS dataset folder (instances.json + JPEGImages/); frames for --overlay")
    parser.add_argument("--tracker", default="learned", metavar="NAME",
                        help="learned (default), masktrack-rule or iou")
    parser.add_argument("--checkpoint", metavar="C",
                        help="checkpoint of a learned tracker (default: the shipped checkpoints/learned-synth-hard.pt)")
    parser.add_argument("--config", metavar="CFG", help="tracker config YAML (name in configs/baselines/ or a path)")
    parser.add_argument("--detections", metavar="D.jsonl", help="precomputed detections (gvis detect, or any segmenter)")
    parser.add_argument("--results", metavar="R.json", help="write YouTube-VIS results here")
    parser.add_argument("--overlay", metavar="O.mp4", help="write an overlay video of the first tracked video (needs INPUT)")
    parser.add_argument("--overlay-all", action="store_true", help="put every tracked video in the overlay")
    parser.add_argument("--tracks-csv", metavar="T.csv", help="write one row per track and frame with a detection")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_set_argument(parser)


def _check_input(args: argparse.Namespace):
    """The dataset of INPUT (or None); clear errors for inputs that later issues will support."""
    from gvis.cli._dataset import open_dataset
    from gvis.errors import InputError

    if args.input is None:
        if args.detections is None:
            raise InputError("give --detections D.jsonl (and optionally INPUT, a dataset folder)")
        if args.overlay:
            raise InputError("--overlay needs INPUT, the dataset folder holding the frames")
        return None
    path = Path(args.input)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        raise InputError("tracking a video file is not supported yet: run a detector on its frames "
                         "and pass --detections D.jsonl", file=path)
    if path.is_dir() and not (path / "instances.json").is_file():
        raise InputError("a frame folder without instances.json is not supported yet: INPUT must be a "
                         "YouTube-VIS dataset folder", file=path)
    if args.detections is None:
        raise InputError("running a detector on INPUT is not supported yet: pass --detections D.jsonl "
                         "(e.g. from gvis detect)", file=path)
    return open_dataset(path)


def tracker_entry(name: str):
    """The TRACKERS entry (class) called ``name``; ``ConfigError`` listing the options if there is none."""
    from gvis.errors import ConfigError
    from gvis.registry import TRACKERS

    if name not in TRACKERS:
        raise ConfigError(f"unknown tracker '{name}'; options: {', '.join(TRACKERS.names())}")
    return TRACKERS.get(name)


def build_tracker(name: str, categories: list, config: str | None, overrides: list[str], checkpoint: str | None):
    """``TRACKERS.build(name, categories=..., [config=...], [checkpoint=...])``.

    A tracker class that has a ``config_class`` gets a config loaded from ``config`` (default:
    ``configs/baselines/<name>.yaml`` when it exists) with ``overrides``; any other tracker gets the
    ``config`` path as is (and no overrides). ``checkpoint`` is passed only when given.
    """
    from gvis.config import CONFIG_DIR, find_config, load_config
    from gvis.errors import ConfigError
    from gvis.registry import TRACKERS

    entry = tracker_entry(name)
    kwargs = {"categories": categories}
    schema = getattr(entry, "config_class", None)
    if schema is not None:
        default = CONFIG_DIR / "baselines" / f"{name}.yaml"
        path = find_config(config, "baselines") if config is not None else (default if default.exists() else None)
        kwargs["config"] = load_config(schema, path, overrides)
    else:
        if overrides:
            raise ConfigError(f"tracker '{name}' takes no --set (it has no config_class); use --config")
        if config is not None:
            kwargs["config"] = config
    if checkpoint is not None:
        kwargs["checkpoint"] = checkpoint
    return TRACKERS.build(name, **kwargs)


def _checked_lengths(videos, dataset, source: str):
    """Pass ``(video_id, frames)`` through, checking each video against INPUT's (when there is one)."""
    from gvis.errors import InputError

    for video_id, frames in videos:
        if dataset is None:
            yield video_id, frames
            continue
        video = dataset.video(video_id)
        counted = _Counted(frames)
        yield video_id, counted
        if counted.count != video.length:
            raise InputError(f"the detections have {counted.count} frames, the video has {video.length}",
                             file=source, video_id=video_id, field="frame_index")


class _Counted:
    """An iterable that counts what was taken from it."""

    def __init__(self, items) -> None:
        self.items, self.count = items, 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from tqdm import tqdm

    from gvis.baselines.runner import group_videos, run_tracker, tracker_threads, write_tracks_csv
    from gvis.config import to_dict
    from gvis.detections.jsonl import DetectionsReader
    from gvis.errors import InputError

    dataset = _check_input(args)
    if not (args.results or args.overlay or args.tracks_csv or args.json):
        raise InputError("nothing to write: give --results, --overlay, --tracks-csv or --json")
    reader = DetectionsReader(args.detections)
    if args.tracker == "learned" and args.checkpoint is None:
        from gvis.train.checkpoint import shipped_checkpoint

        shipped = shipped_checkpoint()  # None: random weights, with a warning
        args.checkpoint = None if shipped is None else str(shipped)
    tracker = build_tracker(args.tracker, reader.header["categories"], args.config, args.overrides, args.checkpoint)

    videos = _checked_lengths(group_videos(reader.frames(), str(args.detections)), dataset, str(args.detections))
    start = time.perf_counter()
    with tracker_threads(tracker), tqdm(desc=f"track ({args.tracker})", unit="frame", file=sys.stderr) as bar:
        tracked = run_tracker(tracker, videos, with_rows=args.tracks_csv is not None, on_frame=bar.update)
    seconds = time.perf_counter() - start

    if args.results:
        from gvis.eval.results import write_results

        config = getattr(tracker, "config", None)
        meta = {"tracker": args.tracker, "detections": str(args.detections), "checkpoint": args.checkpoint,
                "config": to_dict(config) if config is not None else None,
                "detections_meta": reader.header.get("meta")}
        write_results(args.results, tracked.entries, meta=meta)
    if args.tracks_csv:
        write_tracks_csv(args.tracks_csv, tracked.rows)
    if args.overlay:
        from gvis.viz.overlay import write_overlay

        video_ids = tracked.video_ids if args.overlay_all else None
        write_overlay(dataset, tracked.entries, args.overlay, video_ids=video_ids, source=str(args.detections))
    summary = {"videos": len(tracked.video_ids), "frames": tracked.frames, "tracks": len(tracked.entries),
               "frames_per_s": round(tracked.frames / seconds, 2) if seconds > 0 else None,
               "results": args.results, "overlay": args.overlay, "tracks_csv": args.tracks_csv}
    if args.json:
        print_json(summary)
    else:
        written = ", ".join(p for p in (args.results, args.overlay, args.tracks_csv) if p) or "nothing"
        print(f"tracked {len(tracked.video_ids)} videos ({tracked.frames} frames, {len(tracked.entries)} tracks, "
              f"{summary['frames_per_s']} frames/s) with {args.tracker}; wrote {written}")
    return 0
