"""Peak memory of ``gvis track VIDEO`` at 100 and 1,000 frames: it must stay flat (docs/pipeline.md).

Makes one synthetic video of 1,000 frames (``gvis synth``, medium preset, 240x320), its simulated detections
(``gvis detect --detector simulated``, medium preset) and MP4s of its first 100 and all 1,000 frames, then
runs, each in a fresh process::

    gvis track clip_T.mp4 --detections dets_T.jsonl --tracker TRACKER \\
        --results r.json --overlay o.mp4 --tracks-csv t.csv

i.e. the whole streamed pipeline (PyAV decoding, the precomputed detections served in order through the
Detector protocol, the tracker, RLE results, the overlay encoded frame by frame, the CSV), and reports the
process's peak resident memory (``ru_maxrss``) and wall time. TRACKER: ``masktrack-rule``, and ``learned``
(with its mask head) when the shipped checkpoint exists (random weights start no tracks). ``--detector
NAME`` runs a real detector instead of the precomputed detections (slow on a CPU: ~0.5 s a frame).

    python experiments/track_memory.py [--frames 100 1000] [--workdir DIR] [--detector maskrcnn]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Run in the child process: gvis track, then its peak RSS (Linux: KiB) on the last line of stdout.
CHILD = """
import resource, sys
from gvis.cli import main
code = main(sys.argv[1:])
print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def gvis(*argv) -> None:
    subprocess.run([sys.executable, "-m", "gvis", *map(str, argv)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def prepare(workdir: Path, longest: int, counts: list[int]) -> None:
    """The dataset, its detections and one MP4 + .jsonl per frame count in ``workdir``."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.viz.writers import write_mp4

    if not (workdir / "data").exists():
        gvis("synth", "--preset", "medium", "--videos", 1, "--seed", 0, "--out", workdir / "data",
             "--set", f"min_frames={longest}", "--set", f"max_frames={longest}", "--set", "empty_video_prob=0")
    if not (workdir / "dets.jsonl").exists():
        gvis("detect", "--detector", "simulated", "--preset", "medium", "--data", workdir / "data",
             "--out", workdir / "dets.jsonl")
    dataset = YTVISDataset.from_json(workdir / "data" / "instances.json")
    video = dataset.videos[0]
    lines = (workdir / "dets.jsonl").read_text().splitlines()
    for count in counts:
        if not (workdir / f"clip_{count}.mp4").exists():
            write_mp4((dataset.frame(video.id, t) for t in range(count)), workdir / f"clip_{count}.mp4", fps=10)
            (workdir / f"dets_{count}.jsonl").write_text("\n".join(lines[:count + 1]) + "\n")


def measure(workdir: Path, count: int, tracker: str, detector: str | None) -> dict:
    out = workdir / f"out_{tracker}_{count}"
    source = ["--detector", detector] if detector else ["--detections", workdir / f"dets_{count}.jsonl"]
    argv = ["track", workdir / f"clip_{count}.mp4", *source, "--tracker", tracker, "--results", out / "r.json",
            "--overlay", out / "o.mp4", "--tracks-csv", out / "t.csv"]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *map(str, argv)], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    code, peak_kib = done.stdout.strip().splitlines()[-1].split()
    assert code == "0", done.stderr
    return {"tracker": tracker, "frames": count, "peak_rss_mib": round(int(peak_kib) / 1024, 1), "seconds": round(seconds, 1),
            "results_kib": round((out / "r.json").stat().st_size / 1024, 1),
            "tracks": len(json.loads((out / "r.json").read_text()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--workdir", type=Path, help="keep the generated data here (default: a temporary folder)")
    parser.add_argument("--detector", help="run this detector on the frames instead of the precomputed detections")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gvis-track-memory-") as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        prepare(workdir, max(args.frames), args.frames)
        from gvis.train.checkpoint import shipped_checkpoint

        trackers = ["masktrack-rule"] + (["learned"] if shipped_checkpoint() is not None else [])
        print("| tracker | frames | peak RSS (MiB) | wall (s) | results JSON (KiB) | tracks |")
        print("|---|---|---|---|---|---|")
        for tracker in trackers:
            for count in args.frames:
                row = measure(workdir, count, tracker, args.detector)
                print(f"| {tracker} | {row['frames']} | {row['peak_rss_mib']} | {row['seconds']} | {row['results_kib']} | "
                      f"{row['tracks']} |", flush=True)


if __name__ == "__main__":
    main()
