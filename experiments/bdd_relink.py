"""Re-link the BDD100K MOTS predictions (real data) with the heuristic trackers.

The fixture ``../shared/data/real/bdd100k_mots_b1c66a42-6f7d68ca`` holds a real tracker's output on one
BDD100K video (100 frames, 1280x720) converted to YouTube-VIS results, with every score 1.0. Its track
ids are dropped: each frame's non-empty masks become detections (no appearance, score 1.0, label = the
entry's category, file order kept for ties), and ``masktrack-rule`` and ``iou`` link them again. The
table compares their video AP with the original tracks' (AP 11.39 by the official YTVOSeval, per
PROVENANCE.md), with the default detection filtering (NMS 0.7, top 16) and with filtering off (this video
has up to 23 objects per frame).

    .venv/bin/python experiments/bdd_relink.py [--shared ../shared] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = "data/real/bdd100k_mots_b1c66a42-6f7d68ca"
STATS = ("AP", "AP50", "AP75", "AR1", "AR10", "AR100")
#: (row name, tracker, settings). "no filter": every detection reaches the tracker.
SETTINGS = [
    ("masktrack-rule", "masktrack-rule", {}),
    ("masktrack-rule, no filter", "masktrack-rule", {"filtering": {"nms_iou": None, "top_n": None}}),
    ("iou", "iou", {}),
    ("iou, no filter", "iou", {"filtering": {"nms_iou": None, "top_n": None}}),
]


def relink(folder: Path) -> list[dict]:
    """One row per setting (plus the original): name, the 12 stats, tracks, seconds."""
    from gvis.baselines.runner import run_tracker, tracker_threads
    from gvis.data.ytvis import YTVISDataset
    from gvis.eval.results_to_detections import check_results, detections_from_results
    from gvis.eval.ytvis_ap import evaluate
    from gvis.registry import TRACKERS

    gt = YTVISDataset.from_json(folder / "ytvis_gt.json")
    results_path = folder / "ytvis_results.json"
    original = json.loads(results_path.read_text())
    rows = [{"name": "original tracks", "stats": evaluate(gt, original), "tracks": len(original), "seconds": None}]
    for name, tracker_name, settings in SETTINGS:
        tracker = TRACKERS.build(tracker_name, categories=gt.categories, **settings)
        start = time.perf_counter()
        frames = [d for _, _, d in detections_from_results(check_results(original, gt, results_path), gt)]
        videos = [(gt.videos[0].id, frames)]
        with tracker_threads(tracker):
            entries = run_tracker(tracker, videos).entries
        seconds = time.perf_counter() - start
        rows.append({"name": name, "stats": evaluate(gt, entries), "tracks": len(entries), "seconds": seconds})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared folder (default: ../shared)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    folder = args.shared / FIXTURE
    if not folder.is_dir():
        print(f"fixture not found: {folder}", file=sys.stderr)
        return 2
    rows = relink(folder)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'BDD100K b1c66a42-6f7d68ca':<28}" + "".join(f"{s:>7}" for s in STATS) + f"{'tracks':>8}{'s':>7}")
    for row in rows:
        seconds = "" if row["seconds"] is None else f"{row['seconds']:7.1f}"
        print(f"{row['name']:<28}" + "".join(f"{100 * row['stats'][s]:7.2f}" for s in STATS) + f"{row['tracks']:8d}{seconds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
