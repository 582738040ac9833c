"""``make demo``: the whole gvis pipeline on a small synthetic set, in a few minutes on a laptop CPU.

1. ``gvis synth``   a small synthetic VIS set (medium preset)           → demo_out/data/
2. ``gvis detect``  simulated noisy detections (medium preset)          → demo_out/detections.jsonl
3. ``gvis track``   every tracker of TRACKERS_SHOWN                      → demo_out/results-<tracker>.json
4. evaluate         the 12 YouTube-VIS stats, printed as one table
5. ``gvis viz``     overlay of the first tracker's results              → demo_out/overlay.{mp4,gif,png}

The tracker the demo shows first is one switch (``TRACKERS_SHOWN`` below, or ``--tracker``): the learned
tracker with its shipped checkpoint (``checkpoints/learned-synth-hard.pt``, trained on the hard preset by
``experiments/learning_proof.py``); ``gvis track`` gets ``--checkpoint`` from ``CHECKPOINTS`` (no entry:
the tracker's shipped default).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Trackers run by the demo; the first one is drawn in the overlay. Switch: ["learned", "masktrack-rule", "iou"].
TRACKERS_SHOWN = ["learned", "masktrack-rule", "iou"]
#: ``--checkpoint`` per tracker, where one is needed.
CHECKPOINTS: dict[str, str] = {}
STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def cli(*argv: str) -> None:
    """Run one gvis command in this process (no interpreter start-up per step); stop the demo on failure."""
    from gvis.cli import main

    code = main([str(a) for a in argv])
    if code:
        sys.exit(f"demo: 'gvis {' '.join(map(str, argv))}' failed with exit code {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "demo_out", help="output folder (default: demo_out/)")
    parser.add_argument("--videos", type=int, default=16, help="synthetic videos (default: 16)")
    parser.add_argument("--preset", default="medium", help="synthetic and simulator preset (default: medium)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tracker", action="append", help="tracker(s) to run instead of TRACKERS_SHOWN (repeatable)")
    args = parser.parse_args()
    trackers = args.tracker or TRACKERS_SHOWN
    out: Path = args.out
    data, detections = out / "data", out / "detections.jsonl"
    started = time.perf_counter()

    step(f"1/5 synthetic dataset: {args.videos} videos, preset {args.preset}")
    cli("synth", "--preset", args.preset, "--videos", args.videos, "--seed", args.seed, "--out", data, "--overwrite")
    step("2/5 simulated detections")
    cli("detect", "--detector", "simulated", "--preset", args.preset, "--data", data, "--out", detections)

    step(f"3/5 tracking with {', '.join(trackers)}")
    results = {}
    for name in trackers:
        results[name] = out / f"results-{name}.json"
        extra = ["--checkpoint", CHECKPOINTS[name]] if name in CHECKPOINTS else []
        csv = ["--tracks-csv", out / f"tracks-{name}.csv"] if name == trackers[0] else []
        cli("track", data, "--tracker", name, "--detections", detections, "--results", results[name], *csv, *extra)

    step("4/5 evaluation (YouTube-VIS video AP, %)")
    from gvis.eval.ytvis_ap import evaluate

    print(f"{'tracker':<16}" + "".join(f"{s:>7}" for s in STATS))
    for name, path in results.items():
        stats = evaluate(data / "instances.json", path)
        print(f"{name:<16}" + "".join(f"{100 * stats[s]:7.1f}" if stats[s] >= 0 else f"{'-':>7}" for s in STATS))

    step(f"5/5 overlay of {trackers[0]}")
    overlay = out / "overlay.mp4"
    cli("viz", "--data", data, "--results", results[trackers[0]], "--out", overlay,
        "--gif", out / "overlay.gif", "--strip", out / "overlay.png")

    step(f"done in {time.perf_counter() - started:.0f} s; everything is in {out}/")
    rows = [
        ("dataset (YouTube-VIS layout)", data / "instances.json"),
        ("simulated detections (.jsonl)", detections),
        *((f"results of {name} (+ .meta.json)", path) for name, path in results.items()),
        (f"per-frame tracks of {trackers[0]} (CSV)", out / f"tracks-{trackers[0]}.csv"),
        ("overlay video / GIF / frame strip", f"{overlay}, overlay.gif, overlay.png"),
    ]
    for what, where in rows:
        print(f"  {what:<42} {where}")
    print("next: gvis eval GT RESULTS --per-category; gvis viz --all-videos; gvis tune-baseline (docs/baselines.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
