"""``gvis bench step``: the learned tracker's full step per frame at the paper's resolution.

The full step is what ``gvis track`` pays per frame after the detector: detection filtering, graph inputs,
GNN, heads, assignment, recurrence, the mask head, the per-pixel assignment at frame size and the masks
RLE-encoded into YouTube-VIS results entries (``LearnedTracker.update`` + ``VideoResults.add_frame``).

Setting (the paper's model: ``TrackerConfig`` defaults, masks at 1/4 of the frame): a 480×864 frame,
16 detections whose boxes cover at least 40 % of it, 24 live tracks (:func:`random_tracker`: random
weights, thresholds opened so that every detection starts or continues a track; once the 24 slots fill,
tracks share detections). Detections look like the built-in detector's: uncropped mask logits at 1/4
resolution (smooth random fields), binary masks = those logits > 0 inside the box, class probabilities over
C = 40 classes, 512-wide appearance vectors.

Rows: ``impl`` = ``inference`` (what ``gvis track`` runs) or ``reference`` (the training computation of
the masks: ``MaskHead.forward`` on stacked inputs and ``pixel_assignment`` over every track), per thread
count. Each frame is timed once per implementation, interleaved, so that load from other processes hits
both alike; the median and the minimum over the frames are reported (on a shared machine the minimum is
the better estimate; every figure is an upper bound of an idle machine's). Peak memory: the peak resident set of
a fresh process that builds the setting and runs the frames with one implementation (its peak reset after
the setup, on Linux), and its growth over the resident set before the first step.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import resource
import statistics
import sys
import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from gvis.detections.structures import Detections
from gvis.runtime import pin_threads, pinned_threads

SIZE = (480, 864)
NUM_DETECTIONS = 16
NUM_TRACKS = 24
NUM_CLASSES = 40
APPEARANCE_DIM = 512
#: Warm-up frames: the first fills 16 track slots, the second the remaining 8.
WARMUP = 3
IMPLS = ("inference", "reference")


def random_detections(size: tuple[int, int], generator: torch.Generator) -> Detections:
    """16 detections on a 4×4 grid of cells, each box covering 65–100 % of its cell's height and width
    (so their union covers ≥ 0.65² ≈ 42 % of the frame), with smooth uncropped mask logits at 1/4
    resolution, binary masks (logits > 0 inside the box), class probabilities and appearance vectors."""
    height, width = size
    grid = 4
    cell = torch.tensor([width / grid, height / grid])
    corners = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="xy"), -1).reshape(-1, 2)
    extent = (0.65 + 0.35 * torch.rand(NUM_DETECTIONS, 2, generator=generator)) * cell
    start = corners * cell + torch.rand(NUM_DETECTIONS, 2, generator=generator) * (cell - extent)
    boxes = torch.cat([start, start + extent], dim=1)
    low = (height + 3) // 4, (width + 3) // 4
    coarse = torch.randn(NUM_DETECTIONS, 1, 6, 10, generator=generator) * 4
    mask_logits = F.interpolate(coarse, size=low, mode="bilinear", align_corners=False)[:, 0]
    full = F.interpolate(mask_logits[:, None], size=size, mode="bilinear", align_corners=False)[:, 0] > 0
    ys, xs = torch.arange(height)[:, None] + 0.5, torch.arange(width)[None] + 0.5
    inside = ((ys >= boxes[:, 1, None, None]) & (ys < boxes[:, 3, None, None])
              & (xs >= boxes[:, 0, None, None]) & (xs < boxes[:, 2, None, None]))
    probs = (3 * torch.randn(NUM_DETECTIONS, NUM_CLASSES + 1, generator=generator)).softmax(-1)
    return Detections(
        boxes=boxes, scores=0.1 + 0.9 * torch.rand(NUM_DETECTIONS, generator=generator),
        labels=probs[:, 1:].argmax(1) + 1, masks=full & inside, image_size=size, class_probs=probs,
        appearance=torch.randn(NUM_DETECTIONS, APPEARANCE_DIM, generator=generator), mask_logits=mask_logits,
    )


def box_coverage(detections: Detections) -> float:
    """Fraction of the frame inside at least one detection box."""
    height, width = detections.image_size
    covered = torch.zeros(height, width, dtype=torch.bool)
    for x1, y1, x2, y2 in detections.boxes.round().long().tolist():
        covered[max(y1, 0):y2, max(x1, 0):x2] = True
    return covered.float().mean().item()


def trackers(size: tuple[int, int] = SIZE):
    """``{impl: BatchedLearnedTracker}`` sharing one random model with the paper's config and 24 slots."""
    from gvis.bench.pipeline import random_tracker
    from gvis.tracker.online import BatchedLearnedTracker

    categories = [{"id": k, "name": f"class{k}"} for k in range(1, NUM_CLASSES + 1)]
    inference = random_tracker(categories, APPEARANCE_DIM, "cpu").batched
    reference = BatchedLearnedTracker(inference.model, inference.category_ids, 1, reference=True)
    return {"inference": inference, "reference": reference}


def full_step(tracker, results, detections: Detections):
    """One frame of ``gvis track`` after the detector: the tracker's update and the results encoding; the
    frame's ``Tracks``."""
    tracks = tracker.update([detections])[0]
    results.add_frame(tracks)
    return tracks


def scenario_frames(count: int, size: tuple[int, int] = SIZE, seed: int = 0) -> list[Detections]:
    generator = torch.Generator().manual_seed(seed)
    return [random_detections(size, generator) for _ in range(count)]


def time_frames(frames: int, threads: int, size: tuple[int, int] = SIZE, seed: int = 0) -> dict:
    """Per-frame milliseconds of both implementations, interleaved frame by frame, after the warm-up; also
    how many mask pixels and scores differ between them over the timed frames."""
    from gvis.eval.results import VideoResults

    pin_threads(threads)
    stepped = trackers(size)
    results = {impl: VideoResults(0) for impl in IMPLS}
    samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    differing_pixels, differing_scores, tracks = 0, 0, []
    for index, detections in enumerate(scenario_frames(WARMUP + frames, size, seed)):
        out = {}
        for impl in IMPLS:
            start = time.perf_counter()
            out[impl] = full_step(stepped[impl], results[impl], detections)
            if index >= WARMUP:
                samples[impl].append(time.perf_counter() - start)
        if index >= WARMUP:
            differing_pixels += int((out["inference"].masks != out["reference"].masks).sum())
            differing_scores += int((out["inference"].scores != out["reference"].scores).sum())
            tracks.append(len(out["inference"]))
    rows = [{"impl": impl, "threads": threads, "ms_median": round(1000 * statistics.median(values), 2),
             "ms_min": round(1000 * min(values), 2)} for impl, values in samples.items()]
    return {"rows": rows, "differing_mask_pixels": differing_pixels, "differing_scores": differing_scores,
            "tracks_per_frame": statistics.fmean(tracks)}


def _peak_memory(impl: str, frames: int, size: tuple[int, int], seed: int) -> dict:
    """Run in a fresh process: its peak resident set while stepping ``frames`` frames, and the growth over
    its resident set before the first step (Linux: the peak is reset after the setup; elsewhere the
    process's peak since start)."""
    from gvis.eval.results import VideoResults

    pin_threads(1)
    tracker = trackers(size)[impl]
    inputs = scenario_frames(WARMUP + frames, size, seed)
    results = VideoResults(0)
    before = _memory_mib("VmRSS")
    _reset_peak()
    for detections in inputs:
        full_step(tracker, results, detections)
    peak = _memory_mib("VmHWM")
    return {"impl": impl, "peak_rss_mib": round(peak, 1), "step_rss_growth_mib": round(peak - before, 1)}


def _memory_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MiB from /proc, else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux


def _reset_peak() -> None:
    """Reset this process's peak resident set (Linux ≥ 4.0; a no-op elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def peak_memory(impl: str, frames: int, size: tuple[int, int] = SIZE, seed: int = 0) -> dict:
    """:func:`_peak_memory` in a fresh (spawned) process, so that each implementation has its own peak."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_peak_memory, impl, frames, size, seed).result()


def run_benchmark(frames: int = 20, threads: Sequence[int] = (1, 2), size: tuple[int, int] = SIZE, seed: int = 0,
                  memory: bool = True, progress: Callable[[str], None] = lambda line: None) -> dict:
    """``{"machine", "size", "frames", "rows": [...], "memory": [...], "differing_mask_pixels", ...}``."""
    from gvis.bench.tracker import machine

    rows, differing_pixels, differing_scores, tracks = [], 0, 0, 0.0
    coverage = min(box_coverage(d) for d in scenario_frames(WARMUP + frames, size, seed))
    with pinned_threads(None):
        for count in threads:
            progress(f"{size[0]}x{size[1]}, {count} thread(s): {WARMUP} + {frames} frames per implementation")
            timed = time_frames(frames, count, size, seed)
            rows += timed["rows"]
            differing_pixels += timed["differing_mask_pixels"]
            differing_scores += timed["differing_scores"]
            tracks = timed["tracks_per_frame"]
    result = {
        "machine": machine(), "size": list(size), "frames": frames, "detections": NUM_DETECTIONS,
        "tracks_per_frame": tracks, "min_box_coverage": round(coverage, 3), "rows": rows,
        "differing_mask_pixels": differing_pixels, "differing_scores": differing_scores,
        "pixels_compared": frames * len(threads) * NUM_TRACKS * size[0] * size[1],
    }
    if memory:
        progress("peak memory: one fresh process per implementation")
        result["memory"] = [peak_memory(impl, frames, size, seed) for impl in IMPLS]
    return result


def format_table(result: dict) -> str:
    lines = [f"machine: {result['machine']}  frame: {result['size'][0]}x{result['size'][1]}, "
             f"{result['detections']} detections (boxes cover >= {100 * result['min_box_coverage']:.0f} %), "
             f"{result['tracks_per_frame']:.0f} tracks, {result['frames']} timed frames", "",
             "| impl | threads | ms/frame median | ms/frame min |", "|---|---|---|---|"]
    lines += [f"| {row['impl']} | {row['threads']} | {row['ms_median']:.1f} | {row['ms_min']:.1f} |"
              for row in result["rows"]]
    if "memory" in result:
        lines += ["", "| impl | peak RSS MiB | growth over setup MiB |", "|---|---|---|"]
        lines += [f"| {row['impl']} | {row['peak_rss_mib']:.0f} | {row['step_rss_growth_mib']:.0f} |"
                  for row in result["memory"]]
    lines.append(f"\ninference vs reference: {result['differing_mask_pixels']} of {result['pixels_compared']} "
                 f"track-mask pixels and {result['differing_scores']} scores differ")
    return "\n".join(lines)
