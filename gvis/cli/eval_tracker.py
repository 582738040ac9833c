"""``gvis eval-tracker``: track a dataset's detections with a trained checkpoint and score the results."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, print_json

COMMAND = "eval-tracker"
HELP = "track precomputed detections with a learned-tracker checkpoint; print the 12 YTVIS stats and FPS"
DESCRIPTION = (
    "Load a checkpoint of gvis train (last.pt, model.pt, best.pt or the shipped one), track every video of "
    "the detections file, score the results against the dataset's ground truth (video AP) and report the "
    "tracker's speed (frames per second of the tracker alone: filtering, graph, network, masks). "
    "--json prints {\"stats\": {...}, \"fps\": float, \"frames\": int}. The checkpoint must fit the "
    "detections (categories and appearance width, docs/pipeline.md \"Which checkpoint\"). --set changes "
    "the checkpoint's inference keys only (docs/tracker.md), as gvis track --set does."
)

READS = ("checkpoint", "data", "detections", "inference")
WRITES = ("results",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint of a learned tracker")
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder (instances.json) or annotation file")
    parser.add_argument("--detections", required=True, metavar="D.jsonl",
                        help="detections of the dataset's videos (.jsonl, or a cache .pt)")
    parser.add_argument("--results", metavar="R.json", help="also write the YouTube-VIS results (+ R.meta.json)")
    parser.add_argument("--slots", type=int, default=1, metavar="N",
                        help="track N videos at once (faster; FPS becomes a throughput). Default 1")
    parser.add_argument("--max-videos", type=int, metavar="N", help="only the first N videos of the detections")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--class-agnostic", action="store_true",
                        help="score with all categories as one (gvis eval --class-agnostic); the detections may then "
                             "have other categories than the dataset, e.g. class-agnostic proposals")
    parser.add_argument("--category-hypotheses", type=int, default=1, metavar="K",
                        help="results entries per track: its category and up to K-1 others its detections were "
                             "labelled with, scored by their share (default 1; docs/evaluation.md)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads (default: torch's); 1 is fastest on a CPU shared with other jobs")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--inference", metavar="PRESET",
                        help="a YAML of the checkpoint's inference keys, applied before --set (name in "
                             "configs/inference/ or a path)")
    add_set_argument(parser, "gvis.tracker.model:TrackerConfig", "filtering.vote_iou=0.5")


def read_videos(path, dataset, max_videos: int | None = None) -> tuple[list, dict]:
    """``(video_id, frames)`` pairs of a detections file (``.jsonl`` or cache), checked against the dataset,
    and the file's header."""
    from pathlib import Path

    from gvis.detections.cache import DetectionsCache
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detections.structures import check_video_detections
    from gvis.errors import InputError

    path = Path(path)
    if path.suffix == ".pt":
        source = DetectionsCache(path)
        source.check_source()
    else:
        source = DetectionsReader(path)
    known = {video.id for video in dataset.videos}
    videos = []
    for video_id, frames in source.videos():
        if video_id not in known:
            raise InputError("video not in the annotations", file=path, video_id=video_id, field="video_id")
        check_video_detections(frames, dataset.video(video_id), path)
        videos.append((video_id, frames))
        if max_videos is not None and len(videos) == max_videos:
            break
    if not videos:
        raise InputError("no frames in the detections file", file=path)
    return videos, source.header


def run(args: argparse.Namespace) -> int:
    import sys

    from tqdm import tqdm

    from gvis.data.folders import open_dataset
    from gvis.errors import ConfigError, InputError
    from gvis.eval.results import write_results
    from gvis.runtime import pinned_threads
    from gvis.tracker.online import load_model, with_inference_overrides
    from gvis.train.checkpoint import choose_checkpoint
    from gvis.train.evaluation import score_tracker

    given = [args.slots, args.category_hypotheses, args.max_videos, args.threads]
    if any(value is not None and value < 1 for value in given):
        raise ConfigError("--slots, --category-hypotheses, --max-videos and --threads must be at least 1")
    dataset = open_dataset(args.data)
    videos, header = read_videos(args.detections, dataset, args.max_videos)
    category_ids = [int(c["id"]) for c in header["categories"]]
    if category_ids != [c.id for c in dataset.categories] and not args.class_agnostic:
        raise InputError("the detections' categories differ from the dataset's (--class-agnostic scores them "
                         "anyway)", file=args.detections, field="categories")
    choose_checkpoint(header["categories"], header["appearance_dim"], args.detections, args.checkpoint)
    model = load_model(args.checkpoint, num_classes=len(category_ids), device=args.device)
    model.config = with_inference_overrides(model.config, args.overrides, args.inference)
    total = sum(len(frames) for _, frames in videos)
    with pinned_threads(args.threads), tqdm(total=total, desc="eval-tracker", unit="frame", file=sys.stderr) as bar:
        score = score_tracker(model, category_ids, dataset, videos, slots=args.slots, on_frame=bar.update,
                              class_agnostic=args.class_agnostic, category_hypotheses=args.category_hypotheses)
    if args.results:
        from gvis.config import to_dict
        from gvis.resources import recorded_path
        from gvis.train.checkpoint import checkpoint_info

        write_results(args.results, score.entries, meta={
            **checkpoint_info(args.checkpoint), "checkpoint": recorded_path(args.checkpoint),
            "detections": str(args.detections), "model_config": to_dict(model.config),
            "stats": score.stats, "fps": score.fps, "category_hypotheses": args.category_hypotheses,
            "inference": args.inference, "overrides": args.overrides})
    summary = {"stats": score.stats, "fps": round(score.fps, 2), "frames": score.frames}
    if args.json:
        print_json(summary)
    else:
        from gvis.eval.ytvis_ap import format_stats

        print(format_stats(score.stats))
        print(f"{score.frames} frames, tracker {score.fps:.1f} frames/s (slots={args.slots}, {args.device})")
    return 0
