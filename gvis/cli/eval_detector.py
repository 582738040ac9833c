"""``gvis eval-detector``: image-level mask AP of a trained detector on the frames of a dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

from gvis.cli._common import add_set_argument, print_json

COMMAND = "eval-detector"
HELP = "image-level mask AP (COCO eval) of a trained detector on the frames of a YouTube-VIS dataset"
DESCRIPTION = (
    "Run the detector on every --frame-stride-th frame of the dataset (at most --max-frames, spread evenly) "
    "and score its masks with pycocotools' COCOeval (iouType segm), every frame an image. --set changes "
    "post-processing keys of the checkpoint's config, e.g. --set postprocess.top_n=100."
)

READS = ("checkpoint", "data")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="detector checkpoint (default: the shipped one)")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder holding instances.json, or an annotation file")
    parser.add_argument("--frame-stride", type=int, default=1, help="every k-th frame of each video (default 1)")
    parser.add_argument("--max-frames", type=int, help="evaluate at most this many frames")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print the stats as one JSON object")
    add_set_argument(parser, "gvis.detectors.yolact.model:DetectorConfig", "postprocess.top_n=100")


def run(args: argparse.Namespace) -> int:
    from gvis.data.folders import open_dataset
    from gvis.detectors.yolact.detector import YolactDetector
    from gvis.errors import ConfigError
    from gvis.train_detector.data import frame_list
    from gvis.train_detector.evaluation import STAT_NAMES, evaluate_detector

    if args.frame_stride < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise ConfigError("--frame-stride and --max-frames must be at least 1")
    dataset = open_dataset(args.data)
    detector = YolactDetector(args.checkpoint, device=args.device, overrides=args.overrides, batch_size=args.batch_size)
    frames = frame_list(dataset, args.frame_stride, max_frames=args.max_frames)
    stats = evaluate_detector(detector, dataset, frames, args.batch_size, progress=True)
    if args.json:
        print_json(stats)
    else:
        print(" ".join(f"{name} {stats[name]:.4f}" for name in STAT_NAMES) + f" | {stats['frames']} frames, {stats['fps']:.1f} FPS")
        classes = stats["classes"]
        print(f"{classes['objects']} objects: found (mask IoU > 0.5) {classes['recall']:.4f}; of those, right class "
              f"{classes['top1']:.4f} (in the top 2: {classes['top2']:.4f})")
    return 0
