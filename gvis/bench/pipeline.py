"""``gvis bench pipeline``: frames per second of detector + appearance + tracker, end to end (docs/pipeline.md).

One row per backbone and input size. Every frame goes through the stages of ``gvis track``, timed apart
(with ``torch.cuda.synchronize()`` around each stage on a GPU):

- ``io``: decoding the frame from an MP4 with PyAV (the only I/O; excluded from ``fps_end_to_end``, as
  the paper measured, and included in ``fps_with_io``);
- ``detector``: resize + normalise, backbone, FPN, head, protonet, Fast NMS, mask assembly and crop
  (:meth:`YolactDetector.detect_with_features`; a detector without that method is timed whole here);
- ``appearance``: the appearance network on the backbone maps (:func:`attach_appearance`; 0 for a
  detector without one);
- ``tracker``: ``LearnedTracker.update`` (filtering, graph, GNN, heads, recurrence, mask head and the
  per-pixel assignment at frame size);
- ``post``: the tracker's masks RLE-encoded into YouTube-VIS results entries (:class:`VideoResults`).

Weights are random (timing does not depend on them; BatchNorm statistics are set from one frame so that
activations keep a trained network's scale): YOLACT with the paper's config (docs/model.md §6) on each backbone,
``input_size`` = the frame size, C = 40 classes and ``score_threshold = 0`` so that every frame
has ``top_n = 16`` detections (the most the tracker ever sees, as with a trained detector on a busy
frame); the learned tracker has the paper's model config with its 24 track slots kept full
(:func:`random_tracker`). Frames are a synthetic video (``gvis synth``
medium preset) rendered at the row's size. The first ``warmup`` frames are not timed.
"""
from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from gvis.detections.structures import Detections
from gvis.runtime import pin_threads

#: The paper's input (480×864) and the small size the synthetic detector is trained at.
SIZES = ((480, 864), (240, 320))
#: Backbones of the YOLACT-style detector; ``maskrcnn`` is torchvision's Mask R-CNN R50-FPN (adapter).
BACKBONES = ("resnet50", "resnet101", "resnet18", "mobilenet_v3_large")
NUM_CLASSES = 40
STAGES = ("detector", "appearance", "tracker", "post")


def device_name(device: str) -> str:
    """The GPU's name for ``cuda``, else the CPU model (:func:`gvis.bench.tracker.machine`)."""
    from gvis.bench.tracker import machine

    return machine(device)


def synthetic_frames(size: tuple[int, int], count: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` frames ``[H, W, 3]`` uint8 of one synthetic video (medium preset) rendered at ``size``."""
    from gvis.config import find_config, load_config
    from gvis.data.synth.config import SynthConfig
    from gvis.data.synth.render import render_video
    from gvis.data.synth.scene import plan_video
    from gvis.data.synth.writer import video_generators

    height, width = size
    config = load_config(SynthConfig, find_config("medium", "synth"),
                         [f"height={height}", f"width={width}", f"min_frames={count}", f"max_frames={count}",
                          "empty_video_prob=0.0"])
    plan_rng, render_rng = video_generators(seed, 0)
    for frame in render_video(config, plan_video(config, plan_rng), render_rng):
        yield frame.image


def random_detector(backbone: str, size: tuple[int, int], device: str):
    """A random-weight detector for ``backbone`` at input ``size`` that reports ``top_n`` detections a frame."""
    categories = [{"id": k, "name": f"class{k}"} for k in range(1, NUM_CLASSES + 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if backbone == "maskrcnn":
            from gvis.detectors.maskrcnn import MaskRCNNConfig, MaskRCNNDetector

            config = MaskRCNNConfig(min_size=min(size), max_size=max(size), score_threshold=0.0, max_detections=16)
            return MaskRCNNDetector(device=device, config=config)
        from gvis.config import build_dataclass
        from gvis.detectors.appearance import AppearanceNetwork
        from gvis.detectors.yolact.detector import YolactDetector
        from gvis.detectors.yolact.model import DetectorConfig, YolactModel

        config = build_dataclass(DetectorConfig, {"backbone": backbone, "input_size": list(size),
                                                  "num_classes": NUM_CLASSES, "postprocess": {"score_threshold": 0.0}})
        torch.manual_seed(0)
        model = YolactModel(config)
        appearance = AppearanceNetwork(model.backbone.channels[1:], config.appearance)
        detector = YolactDetector.from_modules(model, categories, appearance, device=device, batch_size=1)
        calibrate_batch_norm(model, detector.preprocess([next(synthetic_frames(size, 1, seed=1))]))
        return detector


def calibrate_batch_norm(model: torch.nn.Module, images: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics from one forward pass over ``images``, then eval mode.

    Random weights with BatchNorm's initial statistics (mean 0, variance 1) let activations grow layer
    after layer (appearance vectors ~3e4 through ResNet-101), which overflows the tracker's likelihoods and
    changes what it does; normalised activations keep a trained network's scale.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one pass sets the statistics
    model.train()
    with torch.no_grad():
        model(images)
    model.eval()


def random_tracker(categories: list[dict], appearance_dim: int, device: str):
    """The learned tracker with the paper's model config (Da = 512, masks at 1/4 of the frame, 24 track
    slots) and random weights, thresholds opened so that it keeps every detection and every detection starts
    or continues a track (a busy scene: 24 tracks against 16 detections once the slots fill). Without
    detector appearance vectors its appearance model is ``none``."""
    from gvis.detections.filtering import FilterConfig
    from gvis.tracker.model import TrackerConfig
    from gvis.tracker.online import LearnedTracker

    config = TrackerConfig(appearance_dim=appearance_dim or 512, max_tracks=24, init_threshold=-1e4,
                           match_threshold=-1e4, appearance={"type": "gaussian" if appearance_dim else "none"},
                           filtering=FilterConfig(score_threshold=0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights, on purpose
        return LearnedTracker(categories, config=config, device=device)


class StageTimer:
    """Accumulates seconds per stage; on a GPU each stage ends with ``torch.cuda.synchronize()``."""

    def __init__(self, device: str) -> None:
        self.sync: Callable[[], None] = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        self.seconds: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def stage(self, name: str, record: bool = True) -> Iterator[None]:
        self.sync()
        start = time.perf_counter()
        yield
        self.sync()
        if record:
            self.seconds.setdefault(name, []).append(time.perf_counter() - start)

    def total_ms(self, name: str) -> float:
        """Mean milliseconds per frame of a stage (0 if it never ran)."""
        values = self.seconds.get(name, [])
        return 1000 * statistics.fmean(values) if values else 0.0


def _detect(detector, frame: np.ndarray, timer: StageTimer, record: bool) -> Detections:
    """The detector and appearance stages for one frame (split when the detector exposes its features)."""
    if not hasattr(detector, "detect_with_features"):
        with timer.stage("detector", record):
            return detector([frame])[0]
    from gvis.detectors.yolact.detector import attach_appearance

    with timer.stage("detector", record), torch.no_grad():
        detections, features = detector.detect_with_features([frame])
    if detector.appearance is None:
        return detections[0]
    with timer.stage("appearance", record), torch.no_grad():
        return attach_appearance(detector.appearance, features, detections)[0]


def bench_row(backbone: str, size: tuple[int, int], frames: int, warmup: int, device: str, video: Path) -> dict:
    """Time ``frames`` frames (after ``warmup``) of ``video`` through the whole pipeline."""
    from gvis.eval.results import VideoResults
    from gvis.pipeline.sources import video_frames

    detector = random_detector(backbone, size, device)
    tracker = random_tracker(detector.categories, detector.appearance_dim, device)
    results = VideoResults(0)
    timer = StageTimer(device)
    decoded = video_frames(video)
    detections_seen = tracks_seen = 0
    for index in range(warmup + frames):
        record = index >= warmup
        with timer.stage("io", record):
            frame = next(decoded)
        detections = _detect(detector, frame, timer, record)
        with timer.stage("tracker", record):
            tracks = tracker.update(detections, frame=frame)
        with timer.stage("post", record):
            results.add_frame(tracks)
        if record:
            detections_seen += len(detections)
            tracks_seen += len(tracks)
    decoded.close()
    ms = {stage: round(timer.total_ms(stage), 3) for stage in (*STAGES, "io")}
    compute_ms = sum(ms[stage] for stage in STAGES)
    return {
        "backbone": backbone,
        "size": list(size),
        "fps_end_to_end": round(1000 / compute_ms, 3),
        "fps_with_io": round(1000 / (compute_ms + ms["io"]), 3),
        "ms": ms,
        "frames": frames,
        "detections_per_frame": round(detections_seen / frames, 2),
        "tracks_per_frame": round(tracks_seen / frames, 2),
    }


def run_benchmark(backbones: Sequence[str] = BACKBONES, sizes: Sequence[tuple[int, int]] = SIZES, frames: int = 20,
                  warmup: int = 3, device: str = "cpu", threads: int | None = None,
                  progress: Callable[[str], None] = lambda line: None) -> dict:
    """Rows for every backbone × size; ``{"device", "threads", "rows": [...]}`` (docs/pipeline.md)."""
    from gvis.viz.writers import write_mp4

    pin_threads(threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gvis-bench-pipeline-") as folder:
        for size in sizes:
            video = Path(folder) / f"{size[0]}x{size[1]}.mp4"
            write_mp4(synthetic_frames(size, warmup + frames), video)
            for backbone in backbones:
                progress(f"{backbone} {size[0]}x{size[1]}: {warmup} + {frames} frames on {device}")
                rows.append(bench_row(backbone, size, frames, warmup, device, video))
    return {"device": device_name(device), "threads": torch.get_num_threads(), "rows": rows}


def format_table(result: dict) -> str:
    lines = [f"device: {result['device']}  threads: {result['threads']}", "",
             "| backbone | size | FPS (no I/O) | FPS (with decode) | detector ms | appearance ms | tracker ms | post ms | "
             "decode ms | dets/frame | tracks/frame |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        ms = row["ms"]
        lines.append(f"| {row['backbone']} | {row['size'][0]}x{row['size'][1]} | {row['fps_end_to_end']:.2f} | "
                     f"{row['fps_with_io']:.2f} | {ms['detector']:.1f} | {ms['appearance']:.1f} | {ms['tracker']:.1f} | "
                     f"{ms['post']:.1f} | {ms['io']:.1f} | {row['detections_per_frame']:.1f} | {row['tracks_per_frame']:.1f} |")
    return "\n".join(lines)
