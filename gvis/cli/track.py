"""``gvis track``: detector + tracker over a video, a frame folder or a dataset (or precomputed detections);
write results, an overlay and a track table."""
from __future__ import annotations

import argparse
from pathlib import Path

from gvis.cli._common import add_set_argument, print_json

COMMAND = "track"
HELP = "track a video, a frame folder or a dataset (detector + tracker), or precomputed detections"
DESCRIPTION = (
    "Run a detector and a tracker frame by frame over INPUT (a video file, a folder of frame images or a "
    "YouTube-VIS dataset folder) and write the YouTube-VIS results (plus <name>.meta.json), an overlay "
    "video with every frame and/or a CSV of per-frame track rows, all streamed (memory stays flat on long "
    "videos). The detector is --detector (default: yolact with the shipped checkpoints/detector-synth-mixed.pt). "
    "With --detections D.jsonl no detector runs: the precomputed detections are tracked (INPUT, when given, "
    "supplies the frames for --overlay and is checked against them). Heuristic trackers read "
    "configs/baselines/<tracker>.yaml unless --config is given. With the learned tracker, --inference PRESET "
    "and --set set the checkpoint's inference keys (output_masks, assignment, thresholds, ...: docs/tracker.md). See docs/pipeline.md."
)

READS = ("input", "detections", "checkpoint", "config", "inference", "detector_checkpoint")
WRITES = ("results", "overlay", "tracks_csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", metavar="INPUT",
                        help="a video file, a folder of frame images, or a YouTube-VIS dataset folder "
                             "(instances.json + JPEGImages/)")
    parser.add_argument("--tracker", default="learned", metavar="NAME",
                        help="learned (default), masktrack-rule, iou, deepsort, ... (TRACKERS)")
    parser.add_argument("--checkpoint", metavar="C",
                        help="checkpoint of a learned tracker (default: a shipped one that fits the detections: "
                             "checkpoints/learned-synth-hard-yolact.pt behind the shipped detector, "
                             "checkpoints/learned-synth-hard.pt for its categories and appearance width, else the "
                             "detector-agnostic checkpoints/learned-agnostic.pt; see docs/pipeline.md)")
    parser.add_argument("--map-categories", action="store_true",
                        help="track with a --checkpoint trained on other categories: map the detections' categories "
                             "onto its own by name, else by position")
    parser.add_argument("--config", metavar="CFG", help="heuristic tracker's config YAML (name in configs/baselines/ or a "
                        "path); a learned tracker's checkpoint holds its config (see --inference)")
    parser.add_argument("--inference", metavar="PRESET",
                        help="learned tracker: a YAML of the checkpoint's inference keys, applied before --set (name "
                             "in configs/inference/, e.g. dense-proposals or final-output, or a path)")
    parser.add_argument("--detections", metavar="D.jsonl", help="precomputed detections (gvis detect, or any segmenter); "
                        "no detector runs")
    parser.add_argument("--detector", default="yolact", metavar="NAME",
                        help="detector run on INPUT's frames: yolact (default), maskrcnn, ... (DETECTORS)")
    parser.add_argument("--detector-checkpoint", metavar="C",
                        help="detector weights (default for yolact: the shipped checkpoints/detector-synth-mixed.pt)")
    parser.add_argument("--detector-set", action="append", default=[], metavar="KEY=VALUE", dest="detector_overrides",
                        help="override a detector config key (repeatable), e.g. min_size=480")
    parser.add_argument("--device", default="cpu", help="device of the detector: cpu (default) or cuda")
    parser.add_argument("--min-score", type=float, default=0.3, help="tracks scoring less are not drawn (default 0.3)")
    parser.add_argument("--results", metavar="R.json", help="write YouTube-VIS results here")
    parser.add_argument("--overlay", metavar="O.mp4", help="write an overlay video, every frame of the first video (needs INPUT)")
    parser.add_argument("--overlay-all", action="store_true", help="put every tracked video in the overlay")
    parser.add_argument("--category-hypotheses", type=int, default=1, metavar="K",
                        help="results entries per track: its category and up to K-1 others its detections were "
                             "labelled with, scored by their share (default 1; docs/evaluation.md)")
    parser.add_argument("--tracks-csv", metavar="T.csv", help="write one row per track and frame with a detection")
    parser.add_argument("--allow-truncated", action="store_true",
                        help="track a video file that ends early or fails to decode up to where it breaks, with a "
                             "warning (default: an error)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads of the run (default: torch's, but 1 for a heuristic tracker on "
                             "--detections); 1 is fastest on a CPU shared with other jobs")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_set_argument(parser, "gvis.baselines.masktrack_rule:MaskTrackRuleConfig", "filtering.top_n=32",
                     "--tracker masktrack-rule")


def _is_dataset(path: Path) -> bool:
    return path.is_dir() and (path / "instances.json").is_file()


def _check_input(args: argparse.Namespace):
    """The dataset of INPUT for tracking precomputed detections of a dataset (or None without INPUT)."""
    from gvis.data.folders import open_dataset
    from gvis.errors import InputError

    if args.input is None:
        if args.overlay:
            raise InputError("--overlay needs INPUT, the video, frame folder or dataset folder holding the frames")
        return None
    return open_dataset(args.input)


def tracker_entry(name: str):
    """The TRACKERS entry (class) called ``name``; ``ConfigError`` listing the options if there is none."""
    from gvis.errors import ConfigError
    from gvis.registry import TRACKERS

    if name not in TRACKERS:
        raise ConfigError(f"unknown tracker '{name}'; options: {', '.join(TRACKERS.names())}")
    return TRACKERS.get(name)


def build_tracker(name: str, categories: list, config: str | None, overrides: list[str], checkpoint: str | None,
                  map_categories: bool = False, inference: str | None = None):
    """``TRACKERS.build(name, categories=..., [config=...], [checkpoint=...], [map_categories=True])``.

    A tracker class that has a ``config_class`` gets a config loaded from ``config`` (default:
    ``configs/baselines/<name>.yaml`` when it exists) with ``overrides``; a tracker that takes ``overrides``
    itself (the learned tracker: its inference keys) gets them and the ``config`` path as is; any other gets
    the ``config`` path as is (and no overrides). ``checkpoint``, ``map_categories`` and ``inference`` (a
    preset of inference keys; only for a tracker that takes one) are passed only when given.
    """
    import inspect

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
    elif "overrides" in inspect.signature(entry).parameters:
        kwargs["overrides"] = overrides
        if config is not None:
            kwargs["config"] = config
    else:
        if overrides:
            raise ConfigError(f"tracker '{name}' takes no --set (it has no config_class); use --config")
        if config is not None:
            kwargs["config"] = config
    if inference is not None:
        if "inference" not in inspect.signature(entry).parameters:
            raise ConfigError(f"tracker '{name}' takes no --inference (a preset of the learned tracker's inference "
                              "keys); use --config")
        kwargs["inference"] = inference
    if checkpoint is not None:
        kwargs["checkpoint"] = checkpoint
    if map_categories:
        kwargs["map_categories"] = True
    return TRACKERS.build(name, **kwargs)


def _checked_lengths(videos, dataset, source: str):
    """Pass ``(video_id, frames)`` through, checking each video against INPUT's (when there is one)."""
    from gvis.errors import InputError

    for video_id, frames in videos:
        if dataset is None:
            yield video_id, frames
            continue
        video = dataset.video(video_id)
        counted = _Counted(frames, video, source)
        yield video_id, counted
        if counted.count != video.length:
            raise InputError(f"the detections have {counted.count} frames, the video has {video.length}",
                             file=source, video_id=video_id, field="frame_index")


class _Counted:
    """The detections of one video's frames, counted and checked to be of the video's size as they are taken."""

    def __init__(self, items, video, source: str) -> None:
        self.items, self.video, self.source, self.count = items, video, source, 0

    def __iter__(self):
        from gvis.detections.structures import check_frame_size

        for item in self.items:
            check_frame_size(item, self.video, self.count, self.source)
            self.count += 1
            yield item


def _learned_default(args: argparse.Namespace, detector_meta: dict | None, categories: list,
                     appearance_dim: int | None, source: str) -> None:
    """The learned tracker's checkpoint by the rule of :func:`gvis.train.checkpoint.choose_checkpoint` for the
    detections of ``source`` (``detector_meta``: the detector that made them); the choice on stderr."""
    if args.tracker == "learned":
        import sys

        from gvis.detectors.yolact.checkpoint import is_shipped_detector
        from gvis.train.checkpoint import choose_checkpoint

        args.checkpoint, note = choose_checkpoint(categories, appearance_dim, source, args.checkpoint,
                                                  is_shipped_detector(detector_meta), args.map_categories)
        if note is not None:
            print(f"gvis track: {note}", file=sys.stderr)


def _recorded(checkpoint: str | None) -> str | None:
    """The tracker checkpoint as results metadata names it (a shipped one by its repository-relative name)."""
    from gvis.resources import recorded_path

    return None if checkpoint is None else recorded_path(checkpoint)


def _names_a_checkpoint(args: argparse.Namespace) -> bool:
    """Whether the tracker checkpoint, the detector's or the detections were named: then the pair is checked
    (``check_detector_pairing``); the defaults are not."""
    return any(given is not None for given in (args.checkpoint, args.detector_checkpoint, args.detections))


def run(args: argparse.Namespace) -> int:
    from gvis.errors import InputError

    if not (args.results or args.overlay or args.tracks_csv or args.json):
        raise InputError("nothing to write: give --results, --overlay, --tracks-csv or --json")
    if args.input is None and args.detections is None:
        raise InputError("give INPUT (a video file, a frame folder or a dataset folder) or --detections D.jsonl")
    if args.category_hypotheses < 1:
        raise InputError(f"--category-hypotheses must be at least 1, got {args.category_hypotheses}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be at least 1, got {args.threads}")
    if args.detections is not None and (args.input is None or _is_dataset(Path(args.input))):
        return _track_detections(args)
    return _track_frames(args)


def _track_frames(args: argparse.Namespace) -> int:
    """Detector (or precomputed detections served in order) + tracker over INPUT's frames."""
    import contextlib
    import sys
    import time

    from tqdm import tqdm

    from gvis.baselines.runner import write_tracks_csv
    from gvis.config import to_dict
    from gvis.detectors import build_detector
    from gvis.errors import InputError
    from gvis.pipeline.sources import open_input
    from gvis.pipeline.track import track_inputs
    from gvis.runtime import pinned_threads
    from gvis.train.checkpoint import check_detector_pairing
    from gvis.viz.writers import Mp4Writer

    videos, _ = open_input(args.input, args.allow_truncated)
    if args.detections is not None:
        from gvis.detectors.precomputed import PrecomputedDetector

        detector = PrecomputedDetector(args.detections)
        detector_meta = detector.meta["source_meta"]  # the detector that made the file
    else:
        detector = build_detector(args.detector, args.detector_checkpoint, args.device, args.detector_overrides)
        detector_meta = getattr(detector, "meta", None)
    named = _names_a_checkpoint(args)
    _learned_default(args, detector_meta, detector.categories, detector.appearance_dim,
                     args.detections or f"the {args.detector} detector")
    tracker = build_tracker(args.tracker, detector.categories, args.config, args.overrides, args.checkpoint,
                            args.map_categories, args.inference)
    if named:
        check_detector_pairing(args.checkpoint, detector_meta, args.detections)
    overlay_videos = [v.video_id for v in videos] if args.overlay_all else [videos[0].video_id]
    fps = videos[0].fps or 10.0
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(pinned_threads(args.threads))
        overlay = stack.enter_context(Mp4Writer(args.overlay, fps)) if args.overlay else None
        bar = stack.enter_context(tqdm(desc=f"track ({getattr(detector, 'meta', {}).get('detector', args.detector)} + "
                                            f"{args.tracker})", unit="frame", file=sys.stderr))
        tracked = track_inputs(detector, tracker, videos, with_rows=args.tracks_csv is not None, overlay=overlay,
                               overlay_videos=overlay_videos, min_score=args.min_score, on_frame=bar.update,
                               category_hypotheses=args.category_hypotheses)
        if args.detections is not None and not detector.finished():
            raise InputError(f"the detections have more frames than INPUT ({tracked.frames})", file=args.detections)
    seconds = time.perf_counter() - start

    if args.results:
        from gvis.eval.results import write_results

        config = getattr(tracker, "config", None)
        meta = {"tracker": args.tracker, "input": str(args.input), "detector": getattr(detector, "meta", None),
                "checkpoint": _recorded(args.checkpoint), "config": to_dict(config) if config is not None else None,
                "category_hypotheses": args.category_hypotheses}
        write_results(args.results, tracked.entries, meta=meta)
    if args.tracks_csv:
        write_tracks_csv(args.tracks_csv, tracked.rows)
    return _report(args, tracked, seconds)


def _track_detections(args: argparse.Namespace) -> int:
    """Precomputed detections of a dataset (or of no INPUT) through the tracker, video by video."""
    import sys
    import time

    from tqdm import tqdm

    from gvis.baselines.runner import group_videos, run_tracker, tracker_threads, write_tracks_csv
    from gvis.config import to_dict
    from gvis.detections.jsonl import DetectionsReader
    from gvis.train.checkpoint import check_detector_pairing

    dataset = _check_input(args)
    reader = DetectionsReader(args.detections)
    _learned_default(args, reader.header.get("meta"), reader.header["categories"], reader.appearance_dim, args.detections)
    tracker = build_tracker(args.tracker, reader.header["categories"], args.config, args.overrides, args.checkpoint,
                            args.map_categories, args.inference)
    check_detector_pairing(args.checkpoint, reader.header.get("meta"), args.detections)

    videos = _checked_lengths(group_videos(reader.frames(), str(args.detections)), dataset, str(args.detections))
    start = time.perf_counter()
    with tracker_threads(tracker, args.threads), tqdm(desc=f"track ({args.tracker})", unit="frame", file=sys.stderr) as bar:
        tracked = run_tracker(tracker, videos, with_rows=args.tracks_csv is not None, on_frame=bar.update,
                              category_hypotheses=args.category_hypotheses)
    seconds = time.perf_counter() - start

    if args.results:
        from gvis.eval.results import write_results

        config = getattr(tracker, "config", None)
        meta = {"tracker": args.tracker, "detections": str(args.detections), "checkpoint": _recorded(args.checkpoint),
                "config": to_dict(config) if config is not None else None,
                "detections_meta": reader.header.get("meta"), "category_hypotheses": args.category_hypotheses}
        write_results(args.results, tracked.entries, meta=meta)
    if args.tracks_csv:
        write_tracks_csv(args.tracks_csv, tracked.rows)
    if args.overlay:
        from gvis.viz.overlay import write_overlay

        video_ids = tracked.video_ids if args.overlay_all else None
        write_overlay(dataset, tracked.track_entries, args.overlay, video_ids=video_ids, min_score=args.min_score,
                      source=str(args.detections))
    return _report(args, tracked, seconds)


def _report(args: argparse.Namespace, tracked, seconds: float) -> int:
    summary = {"videos": len(tracked.video_ids), "frames": tracked.frames, "tracks": len(tracked.track_entries),
               "entries": len(tracked.entries),
               "frames_per_s": round(tracked.frames / seconds, 2) if seconds > 0 else None,
               "results": args.results, "overlay": args.overlay, "tracks_csv": args.tracks_csv}
    if args.json:
        print_json(summary)
    else:
        written = ", ".join(p for p in (args.results, args.overlay, args.tracks_csv) if p) or "nothing"
        print(f"tracked {len(tracked.video_ids)} videos ({tracked.frames} frames, {len(tracked.track_entries)} tracks, "
              f"{summary['frames_per_s']} frames/s) with {args.tracker}; wrote {written}")
    return 0
