"""Speed of ``gvis eval`` on the YouTube-VIS sized case of docs/evaluation.md.

300 videos x 36 frames of 240x320, 5 ground-truth tracks and 10 predicted tracks per video, 4
classes. Masks are jittered polygons (rasterised by pycocotools, so generating the case takes
seconds); predictions are shifted/rescaled copies of ground-truth tracks, some with the wrong class,
plus pure false positives, with random scores. The script writes ``gt.json`` and ``results.json``
to ``--out`` (a temporary folder by default; files already there are reused, e.g. to time another
evaluator on the same files), then times

* ``evaluate()`` in this process (JSON parsing included), and
* the whole ``gvis eval GT RESULTS --json`` command (interpreter start-up included),

and prints the figures (wall and CPU seconds). Usage::

    python experiments/bench_eval.py [--videos 300] [--repeats 3] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from gvis.eval.ytvis_ap import evaluate


def _polygon_track(rng: np.random.Generator, frames: int, height: int, width: int) -> list[list[float] | None]:
    """One moving, deforming blob: a 12-gon per frame, ``None`` where the track is absent."""
    start = int(rng.integers(0, frames // 3)) if rng.random() < 0.3 else 0
    stop = frames - int(rng.integers(0, frames // 3)) if rng.random() < 0.3 else frames
    centre = rng.uniform([0.2 * width, 0.2 * height], [0.8 * width, 0.8 * height])
    velocity = rng.normal(0.0, 2.0, size=2)
    radius = rng.uniform(8, 100)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    polygons: list[list[float] | None] = []
    for t in range(frames):
        if not start <= t < stop:
            polygons.append(None)
            continue
        radii = radius * rng.uniform(0.8, 1.2, size=angles.size)
        x = np.clip(centre[0] + velocity[0] * t + radii * np.cos(angles), 0, width)
        y = np.clip(centre[1] + velocity[1] * t + radii * np.sin(angles), 0, height)
        polygons.append(np.stack([x, y], 1).ravel().tolist())
    return polygons


def _perturb(rng: np.random.Generator, polygons: list, height: int, width: int) -> list:
    """A prediction of a track: shifted and rescaled, missing on a few frames."""
    shift = rng.normal(0.0, 6.0, size=2)
    scale = rng.uniform(0.8, 1.2)
    out = []
    for polygon in polygons:
        if polygon is None or rng.random() < 0.1:
            out.append(None)
            continue
        points = np.asarray(polygon).reshape(-1, 2)
        centre = points.mean(0)
        points = (points - centre) * scale + centre + shift + rng.normal(0.0, 1.5, size=points.shape)
        points[:, 0] = points[:, 0].clip(0, width)
        points[:, 1] = points[:, 1].clip(0, height)
        out.append(points.ravel().tolist())
    return out


def _encode(polygons: list, height: int, width: int) -> list[dict | None]:
    present = [i for i, p in enumerate(polygons) if p is not None]
    rles = mask_utils.frPyObjects([polygons[i] for i in present], height, width) if present else []
    out: list[dict | None] = [None] * len(polygons)
    for i, rle in zip(present, rles):
        out[i] = {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    return out


def make_case(
    out_dir: Path, videos: int = 300, frames: int = 36, height: int = 240, width: int = 320,
    gt_tracks: int = 5, predictions: int = 10, classes: int = 4, seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``gt.json`` and ``results.json`` of the benchmark case to ``out_dir``."""
    rng = np.random.default_rng(seed)
    categories = [{"id": k + 1, "name": f"class{k + 1}"} for k in range(classes)]
    gt = {"videos": [], "annotations": [], "categories": categories}
    results = []
    for video_id in range(1, videos + 1):
        gt["videos"].append({
            "id": video_id, "width": width, "height": height, "length": frames,
            "file_names": [f"video{video_id:04d}/{t:05d}.jpg" for t in range(frames)],
        })
        tracks = [_polygon_track(rng, frames, height, width) for _ in range(gt_tracks)]
        labels = rng.integers(1, classes + 1, size=gt_tracks)
        for polygons, label in zip(tracks, labels):
            segmentations = _encode(polygons, height, width)
            areas = [None if s is None else int(mask_utils.area(s)) for s in segmentations]
            bboxes = [None if s is None else mask_utils.toBbox(s).tolist() for s in segmentations]
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "video_id": video_id, "category_id": int(label),
                "iscrowd": 0, "segmentations": segmentations, "areas": areas, "bboxes": bboxes,
                "width": width, "height": height,
            })
        for k in range(predictions):
            if k < gt_tracks:
                polygons = _perturb(rng, tracks[k], height, width)
                label = labels[k] if rng.random() < 0.8 else rng.integers(1, classes + 1)
            else:
                polygons = _polygon_track(rng, frames, height, width)
                label = rng.integers(1, classes + 1)
            results.append({
                "video_id": video_id, "category_id": int(label), "score": round(float(rng.random()), 3),
                "segmentations": _encode(polygons, height, width),
            })
    out_dir.mkdir(parents=True, exist_ok=True)
    gt_path, results_path = out_dir / "gt.json", out_dir / "results.json"
    gt_path.write_text(json.dumps(gt))
    results_path.write_text(json.dumps(results))
    return gt_path, results_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each measurement (best is printed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for gt.json / results.json, reused when both exist (default: temporary)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out or Path(tmp)
        gt_path, results_path = out_dir / "gt.json", out_dir / "results.json"
        if gt_path.exists() and results_path.exists():
            print(f"case: reusing {gt_path} and {results_path}")
        else:
            tic = time.perf_counter()
            make_case(out_dir, videos=args.videos, seed=args.seed)
            print(f"case: {args.videos} videos x 36 frames 240x320, 5 GT + 10 predicted tracks, 4 classes "
                  f"(generated in {time.perf_counter() - tic:.1f} s)")

        in_process, in_process_cpu = [], []
        for _ in range(args.repeats):
            tic, cpu = time.perf_counter(), time.process_time()
            stats = evaluate(gt_path, results_path)
            in_process.append(time.perf_counter() - tic)
            in_process_cpu.append(time.process_time() - cpu)
        command = [sys.executable, "-m", "gvis", "eval", str(gt_path), str(results_path), "--json"]
        whole_command, whole_command_cpu = [], []
        for _ in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            tic = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            whole_command.append(time.perf_counter() - tic)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            whole_command_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(f"AP {stats['AP']:.4f}  AP50 {stats['AP50']:.4f}  AR100 {stats['AR100']:.4f}")
    # On a shared machine wall time varies with other jobs; CPU seconds are the steadier figure.
    print(f"evaluate() in process (JSON parsing included): best {min(in_process):.2f} s wall, "
          f"{min(in_process_cpu):.2f} s CPU, of {args.repeats}")
    print(f"gvis eval --json (whole command, start-up included): best {min(whole_command):.2f} s wall, "
          f"{min(whole_command_cpu):.2f} s CPU, of {args.repeats}")


if __name__ == "__main__":
    main()
