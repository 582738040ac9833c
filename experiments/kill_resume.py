"""Training killed with ``kill -9`` at random moments resumes bit-identically (docs/reliability.md).

Makes a small synthetic set (``gvis synth --preset tiny``) and its simulated detections, then trains the tiny
tracker config twice in fresh processes, writing ``last.pt`` after every step:

1. **reference**: ``gvis train tiny ... --set train.steps=S`` without interruption;
2. **killed**: the same command, sent SIGKILL ``--kills`` times at a random moment (0 to ``--window``
   seconds after the process has saved its first checkpoint, so kills land anywhere in a step, inside
   checkpoint writes too), each time restarted with ``--resume``, then left to finish.

It compares the two final ``last.pt`` (every tensor of the weights, the optimiser and the sampler state,
and the step), counts the kills that left a half-written checkpoint behind (a ``.last.pt.*.tmp`` file) and
checks that none is left at the end, and writes ``docs/results/kill_resume.md``.

    python experiments/kill_resume.py [--steps 150] [--kills 5] [--window 2] [--seed 0] [--work runs/kill_resume]
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps of both runs (default 150)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs sent to the killed run (default 5)")
    parser.add_argument("--window", type=float, default=2.0,
                        help="a kill lands up to this many seconds after the process's first save (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "kill_resume", help="work folder")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results" / "kill_resume.md")
    return parser.parse_args()


def gvis_argv(*argv) -> list[str]:
    return [sys.executable, "-m", "gvis", *map(str, argv)]


def train_argv(args: argparse.Namespace, run: Path, resume: bool) -> list[str]:
    data = args.work / "data"
    options = [f"data.train.annotations={data}", f"data.train.detections={args.work / 'dets.jsonl'}",
               f"output_dir={run}", f"train.steps={args.steps}", "train.checkpoint_every=1", "threads=1"]
    return gvis_argv("train", "tiny", *(item for option in options for item in ("--set", option)), "--no-progress",
                     "--resume" if resume else "--overwrite")


def saved_step(run: Path) -> int | None:
    path = run / "last.pt"
    return int(torch.load(path, weights_only=True)["step"]) if path.exists() else None


def half_written(run: Path) -> list[Path]:
    return sorted(run.glob(".last.pt.*.tmp"))


def killed_run(args: argparse.Namespace, run: Path) -> list[dict]:
    """Train into ``run``, killing the process ``args.kills`` times; one record per kill."""
    rng = random.Random(args.seed)
    kills = []
    for kill in range(args.kills + 1):
        resume = (run / "last.pt").exists()
        started = time.time()
        process = subprocess.Popen(train_argv(args, run, resume), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if kill == args.kills:
            if process.wait() != 0:
                sys.exit(f"the last resume failed (exit {process.returncode})")
            break
        while (not (run / "last.pt").exists() or (run / "last.pt").stat().st_mtime < started) and process.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, args.window))
        if process.poll() is not None:
            sys.exit("the run finished before it was killed: give more --steps or a shorter --window")
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills.append({"after_s": round(time.time() - started, 2), "resumed_from": saved_step(run),
                      "half_written": bool(half_written(run))})
    return kills


def same_state(a: object, b: object) -> bool:
    """Bitwise equality of nested dicts / lists of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same_state, a, b))
    return a == b


def main() -> None:
    args = parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    if not (args.work / "dets.jsonl").exists():
        subprocess.run(gvis_argv("synth", "--preset", "tiny", "--videos", 12, "--seed", 0, "--out", args.work / "data",
                                 "--overwrite"), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(gvis_argv("detect", "--detector", "simulated", "--preset", "medium", "--data",
                                 args.work / "data", "--out", args.work / "dets.jsonl", "--cache"), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reference, killed = args.work / "reference", args.work / "killed"
    started = time.time()
    subprocess.run(train_argv(args, reference, resume=False), check=True, cwd=REPO, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if (killed / "last.pt").exists():
        (killed / "last.pt").unlink()
    kills = killed_run(args, killed)
    ref = torch.load(reference / "last.pt", weights_only=True)
    out = torch.load(killed / "last.pt", weights_only=True)
    parts = {name: same_state(ref[name], out[name]) for name in ("model", "optimizer", "scheduler", "stream", "step")}
    leftovers = half_written(killed)
    command = "python experiments/kill_resume.py " + " ".join(
        f"--{k} {v}" for k, v in (("steps", args.steps), ("kills", args.kills), ("window", args.window),
                                  ("seed", args.seed)))
    rows = "\n".join(f"| {k + 1} | {kill['after_s']} | {kill['resumed_from']} | {'yes' if kill['half_written'] else 'no'} |"
                     for k, kill in enumerate(kills))
    verdict = "bit-identical" if all(parts.values()) else "DIFFERENT: " + ", ".join(k for k, v in parts.items() if not v)
    text = f"""# Kill -9 and resume

Generated by `{command}` ({time.time() - started:.0f} s on {os.cpu_count()} cores); what it does is in
the script's docstring and [docs/reliability.md](../reliability.md).

The tiny tracker config trained for {args.steps} steps (a checkpoint after every step) without interruption,
and the same run sent SIGKILL {len(kills)} times at random moments, each time resumed with `gvis train
--resume`:

| kill | seconds after start | resumed from step | left a half-written checkpoint |
|---:|---:|---:|---|
{rows}

Final `last.pt` of the killed run against the uninterrupted one (weights, optimiser, scheduler, clip sampler,
step): **{verdict}**. Half-written checkpoints left at the end: {len(leftovers)} (each is removed by the next
checkpoint write of a later process).
"""
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text)
    print(text)
    if not all(parts.values()) or leftovers:
        sys.exit(1)


if __name__ == "__main__":
    main()
