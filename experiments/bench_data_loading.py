"""Speed of loading YouTube-VIS ground truth (``YTVISDataset.from_json``) on the evaluator's case.

300 videos x 36 frames of 240x320 with 5 annotated tracks per video (compressed RLE, present on about
90% of frames, as a YouTube-VIS sized case). The script writes the file to a temporary folder and prints,
best of ``--repeats``:

* ``json``: ``json.load`` alone;
* ``from_json``: parsing plus full validation (every compressed string decoded to run lengths and
  checked, sizes, ids, areas, boxes);
* ``check_compressed_counts``: the bulk RLE check alone;
* ``frame_masks``: decoding every frame's masks once (what lazy loading defers).

Usage::

    python experiments/bench_data_loading.py [--videos 300] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from gvis.data.rle import check_compressed_counts
from gvis.data.ytvis import YTVISDataset

FRAMES, TRACKS, HEIGHT, WIDTH = 36, 5, 240, 320


def make_ground_truth(videos: int, seed: int = 0) -> dict:
    """Moving ellipses: one compressed RLE per (track, frame), ``null`` on ~10% of frames."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    annotations, video_entries = [], []
    for video_id in range(1, videos + 1):
        video_entries.append({"id": video_id, "width": WIDTH, "height": HEIGHT, "length": FRAMES,
                              "file_names": [f"{video_id:04d}/{t:05d}.jpg" for t in range(FRAMES)]})
        for _ in range(TRACKS):
            centre = rng.uniform([40, 40], [HEIGHT - 40, WIDTH - 40])
            velocity = rng.normal(0, 1.5, 2)
            radii = rng.uniform(5, 40, 2)
            segmentations, areas, boxes = [], [], []
            for t in range(FRAMES):
                if rng.random() < 0.1:
                    segmentations.append(None), areas.append(None), boxes.append(None)
                    continue
                cy, cx = centre + velocity * t
                mask = ((rows - cy) / radii[0]) ** 2 + ((cols - cx) / radii[1]) ** 2 <= 1
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                segmentations.append({"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode()})
                areas.append(int(mask_utils.area(rle)))
                boxes.append(mask_utils.toBbox(rle).tolist())
            annotations.append({"id": len(annotations) + 1, "video_id": video_id,
                                "category_id": int(rng.integers(1, 5)), "iscrowd": 0,
                                "segmentations": segmentations, "areas": areas, "bboxes": boxes})
    categories = [{"id": k, "name": f"class{k}"} for k in range(1, 5)]
    return {"videos": video_entries, "categories": categories, "annotations": annotations}


def best_of(repeats: int, function) -> tuple[float, float]:
    """Lowest wall-clock and CPU seconds over ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    raw = make_ground_truth(args.videos)
    strings = [s["counts"] for a in raw["annotations"] for s in a["segmentations"] if s is not None]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gt.json"
        path.write_text(json.dumps(raw))
        print(f"{args.videos} videos x {FRAMES} frames x {TRACKS} tracks, {HEIGHT}x{WIDTH}: {len(strings)} RLE strings "
              f"({np.mean([len(s) for s in strings]):.0f} characters on average), {path.stat().st_size / 1e6:.1f} MB")

        def load_json() -> None:
            with open(path, "rb") as handle:
                json.load(handle)

        dataset = YTVISDataset.from_json(path)

        def decode_all() -> None:
            for video in dataset.videos:
                for t in range(video.length):
                    dataset.frame_masks(video.id, t)

        for name, function in [
            ("json", load_json),
            ("from_json", lambda: YTVISDataset.from_json(path)),
            ("check_compressed_counts", lambda: check_compressed_counts(strings, [HEIGHT * WIDTH] * len(strings))),
            ("frame_masks (all frames)", decode_all),
        ]:
            wall, cpu = best_of(args.repeats, function)
            print(f"{name:>26}: {wall:6.3f} s wall, {cpu:6.3f} s CPU")


if __name__ == "__main__":
    main()
