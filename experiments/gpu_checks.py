"""The GPU checks, in one run of at most 8 minutes on a machine with CUDA; writes docs/results/gpu.md.

    python experiments/gpu_checks.py            # needs CUDA; without it: one line on stderr, exit code 1

1. **Parity**: the learned tracker's frame step (the paper's model settings: C = 40, Da = 512, masks at 1/4
   of 480×864, random weights) on CUDA against the CPU, same weights and inputs, at 1×1, 10×10 and 24×16
   tracks × detections and a batch of 3 videos: association and initialisation logits, the hard decisions
   (assigned detections, track ids), the new state (h, c, class logits), the mask logits and the per-pixel
   assignment at frame size; then the exported step (``gvis export``, docs/export.md) on CUDA against the
   eager step on CUDA. TF32 is off while it runs, so that float32 means float32 on both sides.
2. ``gvis bench tracker --device cuda`` (latency, batched throughput, torch.compile).
3. ``gvis bench train --device cuda`` (training clips/s).
4. Pipeline FPS, R50 and R101 at 480×864 (``experiments/pipeline_speed.py --device cuda``, which writes
   the GPU section of docs/results/pipeline.md).

Parts 2–4 run as subprocesses with their own time limits (``LIMITS``); one that fails or runs out of time is
reported on the page and makes the exit code 1, the others still run. The page is written even then.
"""
from __future__ import annotations

import argparse
import copy
import shlex
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

# torch_geometric touches TorchScript, which this torch deprecates (silenced as gvis/cli does): without CUDA the
# script's whole output is its one line.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

from gvis.bench.tracker import NUM_CLASSES, machine, on_device, random_frame, random_state  # noqa: E402
from gvis.provenance import git_hash  # noqa: E402
from gvis.tracker.export import StepCore, export_step, step_inputs  # noqa: E402
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "results" / "gpu.md"
#: The paper's frame size and its working mask size (mask stride 4).
FRAME_SIZE = (480, 864)
#: (tracks per video, detections per video, videos) of the parity cases.
PARITY_CASES = ((1, 1, 1), (10, 10, 1), (24, 16, 1), (24, 16, 3))
#: Largest absolute difference accepted between devices (float32 reductions run in another order on a GPU).
TOLERANCE = 1e-4
#: Largest fraction of frame pixels whose owner may differ (a pixel within float error of a tie).
PIXEL_TOLERANCE = 1e-4
#: Wall-clock seconds allowed to each subprocess (8 minutes in all with the parity check).
LIMITS = {"tracker": 170, "train": 150, "pipeline": 130}
#: The subprocess of each part, run from the repository root.
COMMANDS = {
    "tracker": [sys.executable, "-m", "gvis", "bench", "tracker", "--device", "cuda"],
    "train": [sys.executable, "-m", "gvis", "bench", "train", "--device", "cuda"],
    "pipeline": [sys.executable, "experiments/pipeline_speed.py", "--device", "cuda", "--backbones", "resnet50",
                 "resnet101", "--sizes", "480x864", "--frames", "50"],
}


def paper_model(seed: int = 0) -> RecurrentGraphTracker:
    """The paper's model settings (TrackerConfig defaults) with C = 40 and random weights, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return RecurrentGraphTracker(TrackerConfig(), num_classes=NUM_CLASSES).eval()


def parity_inputs(model: RecurrentGraphTracker, tracks: int, dets: int, videos: int, seed: int):
    """A random state, a frame with mask inputs at the working size of :data:`FRAME_SIZE`, on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    state = random_state(model, [tracks] * videos, generator)
    frame = random_frame(model, [dets] * videos, generator)
    size = tuple(-(-side // model.config.mask_stride) for side in FRAME_SIZE)
    frame.mask_inputs = [torch.randn(dets, 2, *size, generator=generator) for _ in range(videos)]
    return state, frame


def step_outputs(model: RecurrentGraphTracker, state, frame) -> dict[str, Any]:
    """What the parity compares of one step (tensors on the CPU): logits, decisions, new state, masks."""
    with torch.no_grad():
        next_state, out = model.step(state, frame, with_masks=True)
        masks = [model.pixel_assignment(logits, FRAME_SIZE) for logits in out.mask_logits]
    values = {"association": out.association_logits, "initialisation": out.init_logits, "h": next_state.h,
              "c": next_state.c, "class_logits": next_state.class_logits,
              "mask_logits": torch.cat([logits.flatten() for logits in out.mask_logits]),
              "assigned": out.assigned_det, "track_id": out.track_id, "pixels": torch.cat([m.flatten() for m in masks])}
    return {key: value.cpu() for key, value in values.items()}


def compare(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Per key the largest absolute difference (floats), whether they are equal (integers), the fraction of
    pixels that differ (bool masks); ``ok`` when all are within :data:`TOLERANCE` / :data:`PIXEL_TOLERANCE`."""
    row: dict[str, Any] = {"ok": True}
    for key, reference in expected.items():
        value = got[key]
        if value.shape != reference.shape:
            row[key], row["ok"] = f"shape {tuple(value.shape)} vs {tuple(reference.shape)}", False
        elif reference.dtype == torch.bool:
            row[key] = float((value != reference).float().mean()) if reference.numel() else 0.0
            row["ok"] &= row[key] <= PIXEL_TOLERANCE
        elif reference.is_floating_point():
            row[key] = float((value.double() - reference.double()).abs().max()) if reference.numel() else 0.0
            row["ok"] &= row[key] <= TOLERANCE
        else:
            row[key] = bool(torch.equal(value, reference))
            row["ok"] &= row[key]
    return row


def exported_parity(model: RecurrentGraphTracker, state, frame) -> float:
    """Largest absolute difference between the exported step and the eager :class:`StepCore` on the model's
    device (state and frame on it too)."""
    inputs = step_inputs(model, state, frame)
    with torch.no_grad():
        expected = torch.utils._pytree.tree_leaves(StepCore(model)(*inputs))
        got = torch.utils._pytree.tree_leaves(export_step(model).module()(*inputs))
    return max(float((a.double() - b.double()).abs().max()) for a, b in zip(got, expected) if a.numel())


def step_parity(device: str, reference: str = "cpu", cases: Sequence[tuple[int, int, int]] = PARITY_CASES) -> dict:
    """The parity check of the module docstring between ``device`` and ``reference``: one row per case."""
    model = paper_model()
    models = {reference: copy.deepcopy(model).to(reference), device: copy.deepcopy(model).to(device)}
    rows = []
    for seed, (tracks, dets, videos) in enumerate(cases):
        state, frame = parity_inputs(model, tracks, dets, videos, seed)
        outputs = {name: step_outputs(m, on_device(state, name), on_device(frame, name)) for name, m in models.items()}
        row = {"tracks": tracks, "dets": dets, "videos": videos, **compare(outputs[device], outputs[reference])}
        row["exported"] = exported_parity(models[device], on_device(state, device), on_device(frame, device))
        row["ok"] &= row["exported"] <= TOLERANCE
        rows.append(row)
    return {"device": machine(device), "reference": machine(reference), "tolerance": TOLERANCE,
            "pixel_tolerance": PIXEL_TOLERANCE, "rows": rows, "ok": all(row["ok"] for row in rows)}


def run_part(name: str, runner: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> dict:
    """Run one part's command (:data:`COMMANDS`) within its limit; its stdout, or why it has none."""
    command = COMMANDS[name]
    start = time.perf_counter()
    try:
        done = runner(command, cwd=ROOT, capture_output=True, text=True, timeout=LIMITS[name])
    except subprocess.TimeoutExpired:
        return {"ok": False, "command": command, "error": f"did not finish in {LIMITS[name]} s"}
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "command": command, "seconds": seconds, "error": f"exit {done.returncode}: {reason}"}
    return {"ok": True, "command": command, "seconds": seconds, "output": done.stdout.strip()}


def _display(command: list[str]) -> str:
    """A command as a reader would type it (``python`` for this interpreter)."""
    return shlex.join(["python", *command[1:]])


def parity_section(parity: dict) -> str:
    head = ("| tracks x dets x videos | association | initialisation | h | c | class logits | mask logits | "
            "pixels differing | decisions equal | exported vs eager | ok |")
    lines = [f"{parity['device']} against {parity['reference']}; largest absolute differences (tolerance "
             f"{parity['tolerance']:g}; pixels: fraction, tolerance {parity['pixel_tolerance']:g}).", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    for row in parity["rows"]:
        decisions = row["assigned"] is True and row["track_id"] is True
        cells = [f"{row['tracks']}x{row['dets']}x{row['videos']}",
                 *(_figure(row[key]) for key in ("association", "initialisation", "h", "c", "class_logits",
                                                 "mask_logits", "pixels")),
                 "yes" if decisions else "**no**", _figure(row["exported"]), "yes" if row["ok"] else "**no**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figure(value: Any) -> str:
    return f"{value:.2g}" if isinstance(value, float) else str(value)


def part_section(title: str, part: dict) -> str:
    command = f"`{_display(part['command'])}`"
    if not part["ok"]:
        return f"## {title}\n\n{command}: **failed**, {part['error']}.\n"
    return f"## {title}\n\n{command} ({part['seconds']:.0f} s)\n\n{part['output']}\n"


def render_page(parity: dict, parts: dict[str, dict], when: str, commit: str) -> str:
    """docs/results/gpu.md from the parity result and the parts' results."""
    verdict = "passed" if parity["ok"] else "**failed**"
    return "\n".join([
        "# GPU checks (`experiments/gpu_checks.py`)", "",
        f"{parity['device']}; {when}, git {commit}. Generated by `python experiments/gpu_checks.py` (≤ 8 minutes). "
        "What each part measures: the script's docstring; the CPU figures are in [../tracker.md](../tracker.md), "
        "[../training.md](../training.md) and [pipeline.md](pipeline.md).", "",
        f"## Parity of the tracker step, CUDA against CPU: {verdict}", "",
        parity_section(parity), "",
        part_section("`gvis bench tracker`", parts["tracker"]),
        part_section("`gvis bench train`", parts["train"]),
        part_section("Pipeline FPS, R50 and R101 at 480×864", {
            **parts["pipeline"], "output": "Written to the GPU section of [pipeline.md](pipeline.md).\n\n"
            + parts["pipeline"].get("output", "")}),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PAGE, help=f"the page to write (default {PAGE.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_checks: no CUDA device (torch.cuda.is_available() is False); nothing was run", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    parity = step_parity("cuda")
    print(f"parity: {'ok' if parity['ok'] else 'FAILED'}", file=sys.stderr)
    parts = {}
    for name in COMMANDS:
        parts[name] = run_part(name)
        print(f"{name}: {'ok' if parts[name]['ok'] else parts[name]['error']}", file=sys.stderr)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    page = render_page(parity, parts, when, git_hash() or "unknown")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if parity["ok"] and all(part["ok"] for part in parts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
