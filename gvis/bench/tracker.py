"""``gvis bench tracker``: per-frame latency and batched throughput of the learned tracker (docs/tracker.md, "Benchmark").

Rows (``--json``: the rows below, plus ``mask_head`` and ``compile``):

- ``step``: per-frame latency at M tracks × N detections (one video), median over repeats, for
  ``scope = gnn`` (the GNN blocks alone, on ready inputs) and ``scope = step`` (graph inputs + GNN + heads +
  assignment + gates + appearance/class updates, no mask head), each for ``impl = pyg`` (the tracker) and
  ``impl = dense`` (:mod:`gvis.bench.dense_tracker` with the same weights; at scope ``gnn`` the blocks on the
  tracker's own inputs padded), plus ``masktrack-rule`` (the
  heuristic's whole ``update``, its filtering off, at scope ``step``).
- ``mask_head``: the mask head + per-pixel assignment for M matched tracks (working 30×40, frame 240×320).
- ``batched``: frames/s for B videos advanced together, the same 32 videos of mixed sizes every time
  (B = 1 steps them one at a time), ``pyg`` vs ``dense``.
- ``compile``: ``torch.compile(gnn.forward_tensors, dynamic=True, fullgraph=True)`` (fullgraph: fails on a
  graph break), and the step with the compiled GNN vs eager at 10×10.

Random weights and random inputs (seeded); the model is ``configs/model/base.yaml`` with C = 40, or the
``model`` section of any training config (``gvis bench tracker --config C``: components from outside gvis
included). Dense rows appear where the dense reference covers the model: at scope ``gnn`` a dense function
for every block (:func:`gvis.gnn.dense_reference.covers`), for the step and the batched rows its components
too (:func:`gvis.bench.dense_tracker.has_dense_reference`). On a GPU (``device="cuda"``) the inputs are drawn
on the CPU and moved, every timed run ends with a ``torch.cuda.synchronize()``, and the CPU-only
``masktrack-rule`` row is left out.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import time
from typing import Any, Callable, Sequence

import torch

from gvis.bench.dense_tracker import benchmark_config, dense_step, has_dense_reference, padded_gnn_inputs, to_dense
from gvis.detections.structures import Detections
from gvis.gnn.dense_reference import covers, dense_forward
from gvis.runtime import pinned_threads
from gvis.tracker.features import FrameDetections, normalize_boxes
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig
from gvis.tracker.state import MATCHED, TrackState

SIZES = ((5, 5), (10, 10), (30, 30), (100, 100))
BATCHES = (1, 8, 32)
NUM_CLASSES = 40
IMAGE_SIZE = (240, 320)


def time_calls(cases: dict[Any, Callable[[], Any]], repeats: int = 7, min_seconds: float = 0.1) -> dict[Any, float]:
    """Median seconds per call of every case.

    The cases are timed interleaved (one run of each per repeat), so that load from other processes on a
    shared machine hits them alike; a run makes ``k`` calls with ``k`` chosen so that it lasts ≥ min_seconds
    (0.1 s: shorter runs let the machine's own jitter move one run's median by ±10 %).
    """
    calls = {}
    for key, fn in cases.items():
        fn()
        start = time.perf_counter()
        fn()
        calls[key] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-6)))
    samples: dict[Any, list[float]] = {key: [] for key in cases}
    for _ in range(repeats):
        for key, fn in cases.items():
            synchronize()
            start = time.perf_counter()
            for _ in range(calls[key]):
                fn()
            synchronize()
            samples[key].append((time.perf_counter() - start) / calls[key])
    return {key: statistics.median(values) for key, values in samples.items()}


def synchronize() -> None:
    """Wait for queued GPU work (a timer must not stop before the kernels it times have run)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def on_device(value: Any, device: torch.device | str) -> Any:
    """``value`` with every tensor in it (dataclass fields, dicts, lists) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: on_device(getattr(value, f.name), device)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, dict):
        return {key: on_device(item, device) for key, item in value.items()}
    if isinstance(value, list):
        return [on_device(item, device) for item in value]
    return value


def build_model(seed: int = 0, config: TrackerConfig | None = None,
                device: torch.device | str = "cpu") -> RecurrentGraphTracker:
    """The benchmarked tracker on ``device``: ``config`` (default
    :func:`~gvis.bench.dense_tracker.benchmark_config`), random weights of ``seed``."""
    config = benchmark_config() if config is None else config
    torch.manual_seed(seed)
    return RecurrentGraphTracker(config, num_classes=NUM_CLASSES).eval().to(device)


def model_device(model: RecurrentGraphTracker) -> torch.device:
    """Where ``model``'s weights live (its inputs are drawn there)."""
    return next(model.parameters()).device


def random_boxes(count: int, generator: torch.Generator) -> torch.Tensor:
    height, width = IMAGE_SIZE
    xy = torch.rand(count, 2, generator=generator) * torch.tensor([width * 0.8, height * 0.8])
    wh = torch.rand(count, 2, generator=generator) * 40 + 8
    return torch.cat([xy, xy + wh], dim=1)


def random_frame(model: RecurrentGraphTracker, det_counts: list[int], generator: torch.Generator,
                 device: torch.device | str | None = None) -> FrameDetections:
    """A prepared frame of ``len(det_counts)`` videos with random detections, holding what ``model`` reads, on
    ``device`` (default: the model's)."""
    appearance_dim, grid = model.config.appearance_dim, model.inputs.mask_grid
    num_videos, total = len(det_counts), sum(det_counts)
    video = torch.repeat_interleave(torch.arange(num_videos), torch.tensor(det_counts, dtype=torch.long))
    boxes = random_boxes(total, generator)
    image_size = torch.tensor([IMAGE_SIZE] * num_videos)
    return on_device(FrameDetections(
        present=torch.ones(num_videos, dtype=torch.bool),
        image_size=image_size,
        video=video,
        index=torch.cat([torch.arange(n) for n in det_counts]) if total else torch.zeros(0, dtype=torch.long),
        logits=torch.randn(total, NUM_CLASSES + 1, generator=generator),
        boxes=boxes,
        boxes_norm=normalize_boxes(boxes, image_size[video]),
        scores=torch.rand(total, generator=generator),
        appearance=torch.randn(total, appearance_dim, generator=generator) * 0.2,
        frame_appearance=torch.randn(num_videos, appearance_dim, generator=generator) * 0.2,
        mask_grid=None if grid is None else (torch.rand(total, grid * grid, generator=generator) < 0.3).float(),
    ), model_device(model) if device is None else device)


def random_state(model: RecurrentGraphTracker, track_counts: list[int], generator: torch.Generator) -> TrackState:
    """A started state with ``track_counts[b]`` live tracks in video ``b``: random embeddings and boxes; the
    appearance, scorer and detection-inputs states each component starts for a new track (the inputs'
    from a random frame of those tracks' detections, when they keep any); on the model's device."""
    num_videos, total = len(track_counts), sum(track_counts)
    dim, appearance_dim = model.dim, model.config.appearance_dim
    state = model.initial_state(num_videos, "cpu")
    video = torch.repeat_interleave(torch.arange(num_videos), torch.tensor(track_counts, dtype=torch.long))
    h = torch.randn(total, dim, generator=generator) * 0.1
    c = torch.randn(total, dim, generator=generator) * 0.1
    box = random_boxes(total, generator)
    class_logits = torch.randn(total, NUM_CLASSES + 1, generator=generator)
    appearance = model.appearance.new_state(torch.randn(total, appearance_dim, generator=generator) * 0.2, h)
    empty_h = state.empty_h
    empty_appearance = model.appearance.new_empty_state(
        torch.randn(num_videos, appearance_dim, generator=generator) * 0.2, empty_h)
    inputs = state.inputs
    if inputs:  # per-track inputs (e.g. the last matched box and mask): as if started from a frame's detections
        first = random_frame(model, track_counts, generator, "cpu")
        inputs = model.inputs.advance(inputs, first, torch.zeros(0, dtype=torch.long), torch.arange(total))
    return on_device(dataclasses.replace(
        state,
        video=video,
        track_id=torch.cat([torch.arange(n) for n in track_counts]) if total else torch.zeros(0, dtype=torch.long),
        h=h,
        c=c,
        box=box,
        status=torch.full((total,), MATCHED, dtype=torch.int8),
        frames_since_matched=torch.zeros(total, dtype=torch.long),
        class_logits=class_logits,
        appearance=appearance,
        empty_appearance=empty_appearance,
        scorer=model.scorer.new_state(total, h),
        inputs=inputs,
        started=torch.ones(num_videos, dtype=torch.bool),
        next_id=torch.tensor(track_counts, dtype=torch.long),
    ), model_device(model))


def _heuristic_tracker(num_dets: int, generator: torch.Generator):
    """The MaskTrack R-CNN rule with ``num_dets`` live tracks and the frame that keeps them matched."""
    from gvis.baselines.masktrack_rule import MaskTrackRuleTracker

    categories = [{"id": k + 1, "name": f"c{k + 1}"} for k in range(NUM_CLASSES)]
    tracker = MaskTrackRuleTracker(categories, filtering={"score_threshold": 0.0, "nms_iou": None, "top_n": None})
    boxes = random_boxes(num_dets, generator)
    masks = torch.zeros((num_dets, *IMAGE_SIZE), dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):  # fixture setup, not timed
        masks[k, y1:y2, x1:x2] = True
    detections = Detections(boxes=boxes, scores=torch.rand(num_dets, generator=generator) * 0.5 + 0.5,
                            labels=torch.randint(1, NUM_CLASSES + 1, (num_dets,), generator=generator), masks=masks,
                            image_size=IMAGE_SIZE, appearance=torch.randn(num_dets, 64, generator=generator))
    tracker.update(detections)
    return tracker, detections


def _mask_case(model: RecurrentGraphTracker, count: int, generator: torch.Generator):
    device = model_device(model)
    state = random_state(model, [count], generator)
    frame = random_frame(model, [count], generator)
    size = (IMAGE_SIZE[0] // model.config.mask_stride, IMAGE_SIZE[1] // model.config.mask_stride)
    frame.mask_inputs = [torch.randn(count, 2, *size, generator=generator).to(device)]
    assigned = torch.arange(count, device=device)

    def run() -> None:
        logits = model.track_masks(state, frame, assigned)[0]
        model.pixel_assignment(logits, IMAGE_SIZE)

    return run


def latency_rows(model: RecurrentGraphTracker, sizes: Sequence[tuple[int, int]], repeats: int, heuristic: bool,
                 progress: Callable[[str], None]) -> tuple[list, list]:
    rows, mask_rows = [], []
    generator = torch.Generator().manual_seed(1)
    dense_gnn, dense_step_covered = covers(model.gnn), has_dense_reference(model)
    for tracks, dets in sizes:
        state = random_state(model, [tracks], generator)
        frame = random_frame(model, [dets], generator)
        graph = model.graph_inputs(state, frame, state.empty_appearance)
        cases = {("pyg", "gnn"): lambda: model.gnn.forward_tensors(*graph[:7])}
        if dense_gnn:
            padded = padded_gnn_inputs(graph.track_x, graph.det_x, graph.empty_x, graph.track_det_attr,
                                       graph.empty_det_attr, state.video, frame.video, frame.num_videos)
            cases[("dense", "gnn")] = lambda: dense_forward(model.gnn, *padded)
        cases[("pyg", "step")] = lambda: model.step(state, frame)
        if dense_step_covered:
            dense_state, dense_frame = to_dense(state, frame)
            cases[("dense", "step")] = lambda: dense_step(model, dense_state, dense_frame)
        if heuristic and tracks == dets and model_device(model).type == "cpu":
            tracker, detections = _heuristic_tracker(dets, generator)
            cases[("masktrack-rule", "step")] = lambda: tracker.update(detections)
        cases["mask"] = _mask_case(model, tracks, generator)
        for key, seconds in time_calls(cases, repeats).items():
            if key == "mask":
                mask_rows.append({"impl": "pyg", "tracks": tracks, "ms_per_frame": seconds * 1e3})
                progress(f"{'pyg':>14} mask {tracks:>3} tracks {seconds * 1e3:8.3f} ms")
                continue
            impl, scope = key
            rows.append({"impl": impl, "scope": scope, "tracks": tracks, "dets": dets, "ms_per_frame": seconds * 1e3})
            progress(f"{impl:>14} {scope:>4} {tracks:>3}x{dets:<3} {seconds * 1e3:8.3f} ms")
    return rows, mask_rows


def mixed_sizes(count: int, seed: int = 2, low: int = 0, high: int = 30) -> tuple[list[int], list[int]]:
    generator = torch.Generator().manual_seed(seed)
    tracks = torch.randint(low, high + 1, (count,), generator=generator).tolist()
    dets = torch.randint(low, high + 1, (count,), generator=generator).tolist()
    return tracks, dets


def batched_rows(model: RecurrentGraphTracker, batches: Sequence[int], repeats: int, progress: Callable[[str], None],
                 videos: int = 32) -> list:
    """Frames/s over the same ``videos`` mixed-size videos, ``B`` at a time."""
    rows = []
    track_counts, det_counts = mixed_sizes(videos)
    dense = has_dense_reference(model)
    for batch in batches:
        generator = torch.Generator().manual_seed(3)
        chunks = []
        for start in range(0, videos, batch):
            state = random_state(model, track_counts[start:start + batch], generator)
            frame = random_frame(model, det_counts[start:start + batch], generator)
            chunks.append((state, frame, *(to_dense(state, frame) if dense else (None, None))))
        impls = {"pyg": lambda: [model.step(state, frame) for state, frame, _, _ in chunks]}
        if dense:
            impls["dense"] = lambda: [dense_step(model, ds, df) for _, _, ds, df in chunks]
        for impl, seconds in time_calls(impls, repeats).items():
            rows.append({"impl": impl, "batch": batch, "frames_per_s": videos / seconds})
            progress(f"{impl:>14} B={batch:<3} {videos / seconds:10.1f} frames/s")
    return rows


def compile_row(model: RecurrentGraphTracker, repeats: int, progress: Callable[[str], None]) -> dict:
    """Compile the GNN (no graph breaks allowed) and time the 10×10 step with it against eager."""
    generator = torch.Generator().manual_seed(4)
    state = random_state(model, [10], generator)
    frame = random_frame(model, [10], generator)
    eager_forward = model.gnn.forward_tensors
    result: dict[str, Any] = {"tracks": 10, "dets": 10}
    try:
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        compiled = torch.compile(eager_forward, dynamic=True, fullgraph=True)
        model.gnn.forward_tensors = compiled
        start = time.perf_counter()
        # Non-square sizes first: a square first call would let dynamo assume M == N ("duck" sizing) and
        # recompile for the next size. Afterwards every size must reuse the one dynamic graph.
        for tracks, dets in ((3, 7), (12, 5), (10, 10)):
            model.step(random_state(model, [tracks], generator), random_frame(model, [dets], generator))
        result["compile_s"] = time.perf_counter() - start
        # One graph for every size (dynamic shapes), none broken.
        result["graphs"] = int(torch._dynamo.utils.counters["stats"]["unique_graphs"])

        def eager_step() -> None:
            model.gnn.forward_tensors = eager_forward
            model.step(state, frame)

        def compiled_step() -> None:
            model.gnn.forward_tensors = compiled
            model.step(state, frame)

        times = time_calls({"eager": eager_step, "compiled": compiled_step}, repeats)
        result["eager_ms"], result["compiled_ms"] = times["eager"] * 1e3, times["compiled"] * 1e3
        result["ok"] = True
    except Exception as exc:  # report, don't crash the benchmark
        result["ok"] = False
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        model.gnn.forward_tensors = eager_forward
    if result["ok"]:
        progress(f"compiled GNN: step 10x10 {result['compiled_ms']:.3f} ms vs eager {result['eager_ms']:.3f} ms "
                 f"(compile {result['compile_s']:.1f} s, fullgraph, {result['graphs']} graph(s) for 3 sizes)")
    else:
        progress(f"compile failed: {result['error']}")
    return result


def machine(device: torch.device | str = "cpu") -> str:
    """CPU model, core count and torch version; the GPU's name for a CUDA ``device``."""
    if torch.device(device).type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}"


def run_benchmark(sizes: Sequence[tuple[int, int]] = SIZES, batches: Sequence[int] = BATCHES, repeats: int = 7,
                  threads: int = 1, compile: bool = True, heuristic: bool = True,
                  progress: Callable[[str], None] = lambda line: None, config: TrackerConfig | None = None,
                  device: torch.device | str = "cpu") -> dict:
    """All rows as one dict (see the module docstring); ``config``: the model timed (default
    :func:`~gvis.bench.dense_tracker.benchmark_config`); ``device``: where the model and inputs live."""
    with pinned_threads(threads):
        model = build_model(config=config, device=device)
        with torch.no_grad():
            rows, mask_rows = latency_rows(model, sizes, repeats, heuristic, progress)
            batched = batched_rows(model, batches, repeats, progress)
            result = {"threads": threads, "machine": machine(device), "step": rows, "batched": batched,
                      "mask_head": mask_rows}
            if compile:
                result["compile"] = compile_row(model, repeats, progress)
        return result
