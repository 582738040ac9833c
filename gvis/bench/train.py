"""``gvis bench train``: training throughput (clips/s), native PyG batching vs the dense padded GNN.

One training step = :func:`~gvis.train.objective.collate` + :class:`~gvis.train.objective.ClipObjective`
forward (L frames of B clips, mask head and Lovász loss included) + backward + Adam. Two implementations
with the same weights and the same clips:

- ``pyg``: the tracker as it trains (the GNN on the flat batched graph of the B videos);
- ``dense``: the same step with the GNN evaluated by :func:`gvis.gnn.dense_reference.dense_forward` on
  tensors padded to ``[B, M, N, ·]`` (the authors' layout), padding and unpadding included.

The 16 clips (L = 10 frames, 240×320 by default, C = 40) are random but seeded: 1–30 detections per frame
(mixed sizes), of which up to 6 follow objects (jittered boxes, per-object appearance) and the rest are false
positives. At another frame size (``image_size``, e.g. the paper's 480×864) the same clips are drawn and
their boxes scaled to it, so that only the resolution changes. ``B`` clips per step for B = 1, 4, 16: every
B processes the same 16 clips. Random weights: ``init_threshold`` is set just below the initial init-head
bias so that tracks are started, and ``max_tracks = 30`` keeps graphs within 30 × 30 as the detections are.
The model is
``configs/model/base.yaml`` (D = 128, mask stride 8) with the default loss, or the ``model`` and ``loss``
sections of any training config (``gvis bench train --config C``, with the same two changes); the ``dense``
rows need a dense function for every GNN block (:func:`gvis.gnn.dense_reference.covers`). On a GPU
(``device="cuda"``) the model and the collated clips live there and every timed pass ends with a
``torch.cuda.synchronize()``.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Callable

import torch
from torch import Tensor, nn

from gvis.bench.dense_tracker import benchmark_config, padded_gnn_inputs
from gvis.bench.tracker import synchronize
from gvis.detections.structures import Detections
from gvis.engine.optim import optimizer_step
from gvis.gnn.dense_reference import covers, dense_forward, dense_to_flat
from gvis.gnn.features import FrameFeatures
from gvis.runtime import pin_threads
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig
from gvis.train.config import LossConfig, TrainConfig
from gvis.train.data import TrainingFrame
from gvis.train.objective import ClipObjective, collate

NUM_CLASSES = 40
IMAGE_SIZE = (240, 320)
CLIP_LENGTH = 10
NUM_CLIPS = 16
BATCHES = (1, 4, 16)


class PaddedGNN(nn.Module):
    """A :class:`~gvis.gnn.network.GraphNetwork` evaluated on padded tensors (same weights).

    ``forward_tensors`` has the graph network's signature; the per-track and per-detection video indices it
    needs for padding are set by the owning tracker before each call (:func:`dense_model`).
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.batches: tuple[Tensor, Tensor, int] | None = None

    def forward_tensors(self, track_x: Tensor, det_x: Tensor, empty_x: Tensor, track_det_index: Tensor,
                        track_det_attr: Tensor, empty_det_index: Tensor, empty_det_attr: Tensor) -> FrameFeatures:
        padded = padded_gnn_inputs(track_x, det_x, empty_x, track_det_attr, empty_det_attr, *self.batches)
        out = dense_forward(self.network, *padded)
        return dense_to_flat(out, padded.track_mask, padded.det_mask)


def dense_model(model: RecurrentGraphTracker) -> RecurrentGraphTracker:
    """A copy of ``model`` whose GNN runs padded (:class:`PaddedGNN`); every other part is unchanged."""
    dense = copy.deepcopy(model)
    dense.gnn = PaddedGNN(dense.gnn)
    graph_inputs = dense.graph_inputs

    def recording_graph_inputs(state, frame, empty_appearance):
        dense.gnn.batches = (state.video, frame.video, frame.num_videos)
        return graph_inputs(state, frame, empty_appearance)

    dense.graph_inputs = recording_graph_inputs
    return dense


def random_clips(count: int = NUM_CLIPS, length: int = CLIP_LENGTH, appearance_dim: int = 64,
                 seed: int = 0, image_size: tuple[int, int] = IMAGE_SIZE) -> list[list[TrainingFrame]]:
    """Seeded random clips (see the module docstring), at ``image_size`` (H, W)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = IMAGE_SIZE  # drawn at the default size, then scaled
    scale = torch.tensor([image_size[1] / width, image_size[0] / height] * 2)
    clips = []
    for c in range(count):
        num_objects = int(torch.randint(1, 7, (1,), generator=generator))
        centre = torch.rand(num_objects, 2, generator=generator) * torch.tensor([width * 0.7, height * 0.7]) + 30
        size = torch.rand(num_objects, 2, generator=generator) * 40 + 16
        look = torch.randn(num_objects, appearance_dim, generator=generator)
        classes = torch.randint(1, NUM_CLASSES + 1, (num_objects,), generator=generator)
        ids = torch.arange(num_objects) + 1 + 100 * c
        frames = []
        for _ in range(length):
            centre = centre + torch.randn(num_objects, 2, generator=generator) * 3
            gt_boxes = torch.cat([centre - size / 2, centre + size / 2], 1).clamp(min=0)
            gt_boxes = torch.minimum(gt_boxes, torch.tensor([width, height, width, height], dtype=torch.float32))
            count_dets = int(torch.randint(1, 31, (1,), generator=generator))
            true = min(count_dets, num_objects)
            fp_xy = torch.rand(count_dets - true, 2, generator=generator) * torch.tensor([width - 40.0, height - 40.0])
            boxes = torch.cat([gt_boxes[:true] + torch.randn(true, 4, generator=generator) * 2,
                               torch.cat([fp_xy, fp_xy + 30], 1)]).clamp(min=0)
            boxes = torch.minimum(boxes, torch.tensor([width, height, width, height], dtype=torch.float32))
            appearance = torch.cat([look[:true], torch.randn(count_dets - true, appearance_dim, generator=generator)])
            appearance = appearance + 0.2 * torch.randn(count_dets, appearance_dim, generator=generator)
            probs = torch.rand(count_dets, NUM_CLASSES + 1, generator=generator)
            probs[torch.arange(true), classes[:true]] += 5
            boxes, gt_boxes = boxes * scale, gt_boxes * scale
            frames.append(TrainingFrame(
                Detections(boxes, torch.rand(count_dets, generator=generator), torch.ones(count_dets, dtype=torch.long),
                           _box_masks(boxes, image_size), image_size, class_probs=probs / probs.sum(1, keepdim=True),
                           appearance=appearance),
                ids, classes, gt_boxes, _box_masks(gt_boxes, image_size)))
        clips.append(frames)
    return clips


def _box_masks(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    ys = torch.arange(image_size[0]).view(1, -1, 1) + 0.5
    xs = torch.arange(image_size[1]).view(1, 1, -1) + 0.5
    b = boxes.view(-1, 4, 1, 1)
    return (xs >= b[:, 0]) & (xs < b[:, 2]) & (ys >= b[:, 1]) & (ys < b[:, 3])


def build_model(seed: int = 0, config: TrackerConfig | None = None,
                device: torch.device | str = "cpu") -> RecurrentGraphTracker:
    """The benchmarked model on ``device``: ``config`` (default :func:`~gvis.bench.dense_tracker.benchmark_config`)
    with the init threshold and ``max_tracks`` of the module docstring, random weights of ``seed``."""
    config = benchmark_config() if config is None else config
    config = dataclasses.replace(config, init_threshold=config.head_bias - 0.1, max_tracks=30)
    torch.manual_seed(seed)
    return RecurrentGraphTracker(config, num_classes=NUM_CLASSES).to(device)


def _train_steps(model: RecurrentGraphTracker, clips: list, batch: int,
                 loss: LossConfig) -> Callable[[], dict[str, float]]:
    """One pass over ``clips`` in steps of ``batch`` clips (the optimizer state persists across calls)."""
    objective = ClipObjective(model, loss)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, weight_decay=1e-4)
    category_ids = list(range(1, NUM_CLASSES + 1))
    device = next(model.parameters()).device

    def run() -> dict[str, float]:
        sizes = {"tracks": 0.0}
        for start in range(0, len(clips), batch):
            terms = objective(collate(clips[start:start + batch], model, category_ids, loss, device=device))
            optimizer_step(terms["loss"], {}, model.parameters(), optimizer, scheduler=None)
            sizes["tracks"] += float(terms["tracks"])
        return sizes

    return run


def run_benchmark(batches=BATCHES, repeats: int = 3, threads: int = 1,
                  progress: Callable[[str], None] = lambda line: None,
                  config: TrainConfig | None = None, device: torch.device | str = "cpu",
                  image_size: tuple[int, int] = IMAGE_SIZE) -> dict[str, Any]:
    """``{"threads", "rows": [{"impl", "batch", "clips_per_s"}], "setup": {...}}`` (median of ``repeats``);
    ``config``: the training config whose model and loss are timed (default: see the module docstring);
    ``device``: where the model and the collated clips live; ``image_size``: the frames' (H, W)."""
    pin_threads(threads)
    model_config = benchmark_config() if config is None else config.model
    loss = LossConfig() if config is None else config.loss
    impls = ("pyg", "dense") if covers(build_model(config=model_config).gnn) else ("pyg",)
    clips = random_clips(appearance_dim=model_config.appearance_dim, image_size=image_size)
    frames = sum(len(clip) for clip in clips)
    rows = []
    tracks_per_frame = None
    for batch in batches:
        seconds: dict[str, list[float]] = {impl: [] for impl in impls}
        runs = {}
        for impl in impls:
            model = build_model(config=model_config, device=device)  # the same initial weights for every impl and B
            runs[impl] = _train_steps(model if impl == "pyg" else dense_model(model), clips, batch, loss)
        for _ in range(repeats):
            for impl, run in runs.items():  # interleaved, so machine load hits both alike
                synchronize()
                start = time.perf_counter()
                sizes = run()
                synchronize()
                seconds[impl].append(time.perf_counter() - start)
                if tracks_per_frame is None:
                    tracks_per_frame = sizes["tracks"] / frames
        for impl in impls:
            median = sorted(seconds[impl])[len(seconds[impl]) // 2]
            rows.append({"impl": impl, "batch": batch, "clips_per_s": len(clips) / median})
            progress(f"{impl:>5} B={batch:<3} {len(clips) / median:7.2f} clips/s")
    stride = model_config.mask_stride
    setup = {"clips": len(clips), "clip_length": CLIP_LENGTH, "image_size": list(image_size),
             "mask_size": [-(-image_size[0] // stride), -(-image_size[1] // stride)], "num_classes": NUM_CLASSES,
             "dets_per_frame": sum(len(f.detections) for clip in clips for f in clip) / frames,
             "class_supervised_tracks_per_frame": tracks_per_frame}
    return {"threads": threads, "rows": rows, "setup": setup}


def format_table(result: dict[str, Any]) -> str:
    rates = {(row["impl"], row["batch"]): row["clips_per_s"] for row in result["rows"]}
    setup = result["setup"]
    lines = [f"threads: {result['threads']}; {setup['clips']} clips x {setup['clip_length']} frames of "
             f"{setup['image_size'][0]}x{setup['image_size'][1]}, "
             f"{setup['dets_per_frame']:.1f} detections/frame, mask {setup['mask_size'][0]}x{setup['mask_size'][1]}",
             "", "| B | pyg clips/s | dense clips/s | pyg/dense |", "|---|---|---|---|"]
    for batch in sorted({row["batch"] for row in result["rows"]}):
        pyg, dense = rates[("pyg", batch)], rates.get(("dense", batch))
        versus = "- | -" if dense is None else f"{dense:.2f} | {pyg / dense:.2f}"  # no dense reference for the model
        lines.append(f"| {batch} | {pyg:.2f} | {versus} |")
    return "\n".join(lines)
