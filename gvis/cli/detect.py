"""``gvis detect``: run a detector over a dataset and write precomputed detections (``.jsonl``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from gvis.cli._common import add_set_argument, print_json

COMMAND = "detect"
HELP = "detect instances in every frame of a dataset and write a precomputed-detections .jsonl"
DESCRIPTION = (
    "Run a detector (from the DETECTORS registry: 'simulated' makes noisy detections from the ground "
    "truth; 'yolact' and 'maskrcnn' run on the frames, with --checkpoint their weights; 'precomputed' "
    "re-serves the .jsonl given as --checkpoint) over every video of a YouTube-VIS dataset and write the "
    "detections, with appearance vectors when the detector has them, in the gvis-detections .jsonl format "
    "(docs/formats.md). The output appears only when every frame is done."
)

READS = ("data", "ann", "checkpoint")
WRITES = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector", default="simulated", help="detector name (default: simulated)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="dataset folder holding instances.json (and JPEGImages/)")
    source.add_argument("--ann", type=Path, help="annotation file in the YouTube-VIS layout")
    parser.add_argument("--out", type=Path, required=True, help="output .jsonl")
    parser.add_argument("--preset", help="detector preset, e.g. easy / medium / hard for 'simulated'")
    parser.add_argument("--noise-free", action="store_true", help="perfect detections (simulated detector)")
    parser.add_argument("--device", default="cpu", help="device of a frame detector: cpu (default) or cuda")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--checkpoint", type=Path, help="detector weights (trained detectors; the .jsonl for precomputed)")
    parser.add_argument("--cache", action="store_true", help="also write the binary cache <out>.pt for training")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_set_argument(parser, "gvis.detections.simulate:SimulatorConfig", "miss.base_rate=0.1", "--detector simulated")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gvis.data.folders import annotation_path
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.jsonl import DetectionsWriter
    from gvis.errors import ConfigError
    from gvis.registry import DETECTORS

    if args.detector not in DETECTORS:
        raise ConfigError(f"unknown detector '{args.detector}'; options: {', '.join(DETECTORS.names())}")
    ann = annotation_path(args.ann if args.ann is not None else args.data)
    dataset = YTVISDataset.from_json(ann)
    if args.detector == "simulated":
        detector = _simulated(args, dataset)
        detect_video = detector.detect_video
    else:
        from gvis.detectors import build_detector

        if args.preset is not None or args.noise_free:
            raise ConfigError("--preset and --noise-free are options of the simulated detector")
        detector = build_detector(args.detector, args.checkpoint, args.device, args.overrides)
        detect_video = _frame_detections(detector, dataset)

    meta = {**getattr(detector, "meta", {"detector": args.detector}), "source": str(ann)}
    total_frames = sum(len(v.file_names) for v in dataset.videos)
    counts = {"videos": 0, "frames": 0, "detections": 0}
    with DetectionsWriter(args.out, detector.categories, detector.appearance_dim or None, meta=meta) as writer:
        with tqdm(total=total_frames, desc=f"detect ({args.detector})", unit="frame", leave=False) as bar:
            for video in dataset.videos:
                for frame_index, detections in enumerate(detect_video(video.id)):
                    writer.write(video.id, frame_index, detections)
                    counts["frames"] += 1
                    counts["detections"] += len(detections)
                    bar.update(1)
                counts["videos"] += 1
    summary = {"out": str(args.out), **counts}
    if args.cache:
        from gvis.detections.cache import default_cache_path, write_cache
        from gvis.io import staged_path

        write_cache(staged_path(args.out))  # the .jsonl just written, not yet in place
        summary["cache"] = str(default_cache_path(args.out))
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {counts['detections']} detections in {counts['frames']} frames of {counts['videos']} videos to {args.out}")
    return 0


def _simulated(args: argparse.Namespace, dataset):
    """The simulated detector of ``dataset`` (it reads the ground truth)."""
    from gvis.registry import DETECTORS

    options = {"dataset": dataset, "seed": args.seed}
    if args.preset is not None:
        options["preset"] = args.preset
    if args.overrides:
        options["overrides"] = args.overrides
    if args.noise_free:
        options["noise_free"] = True
    if args.checkpoint is not None:
        options["checkpoint"] = args.checkpoint
    return DETECTORS.build("simulated", **options)


def _frame_detections(detector, dataset, batch: int = 8):
    """``video_id -> iterator of Detections``: precomputed detections looked up by (video, frame), any other
    detector run on the dataset's frames, ``batch`` frames per call."""
    def detect_video(video_id: int):
        length = dataset.video(video_id).length
        if hasattr(detector, "frame"):
            yield from (detector.frame(video_id, t) for t in range(length))
            return
        for start in range(0, length, batch):
            yield from detector([dataset.frame(video_id, t) for t in range(start, min(start + batch, length))])

    return detect_video
