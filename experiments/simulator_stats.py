"""Measure the simulated detector: miss / false-positive / duplicate rates and appearance-vector scales.

    python experiments/simulator_stats.py --data DIR [--presets easy medium hard] [--seed 0] [--json]

DIR is a YouTube-VIS dataset folder (e.g. made by ``gvis synth``). Prints one markdown table of rates per
preset and one of appearance distances; the figures in ``docs/simulated-detector.md`` come from here.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from gvis.data.ytvis import YTVISDataset
from gvis.detections.simulate import SimulatedDetector

SIZE_BINS = (("small (<0.5% of frame)", 0.0, 0.005), ("medium (0.5-2%)", 0.005, 0.02), ("large (>2%)", 0.02, 1.01))
VISIBILITY_BINS = (("occluded >50%", 0.0, 0.5), ("occluded 10-50%", 0.5, 0.9), ("visible >90%", 0.9, 1.01))


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random true detection > score of a random false one)."""
    if not len(positive) or not len(negative):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([positive, negative]))) + 1
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def rates(dataset: YTVISDataset, preset: str, seed: int) -> dict:
    detector = SimulatedDetector(dataset, preset=preset, seed=seed)
    gt = {(inst.video_id, inst.id): inst for video in dataset.videos for inst in dataset.instances(video.id)}
    visible = missed = 0
    by_size: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_visibility: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    kinds: dict[str, int] = defaultdict(int)
    tp_scores, fp_scores, mask_ious, confused, frames = [], [], [], 0, 0
    for video in dataset.videos:
        for t, frame in enumerate(detector.simulate_video(video.id)):
            frames += 1
            visible += len(frame.visible)
            missed += len(frame.missed)
            for instance_id, (area, visibility) in frame.visible.items():
                is_missed = instance_id in frame.missed
                for bins, value, table in ((SIZE_BINS, area, by_size), (VISIBILITY_BINS, visibility, by_visibility)):
                    name = next(b[0] for b in bins if b[1] <= value < b[2])
                    table[name][0] += 1
                    table[name][1] += is_missed
            scores = frame.detections.scores.tolist()
            rles = frame.detections.mask_rles()
            for n, kind in enumerate(frame.kinds):
                kinds[kind] += 1
                (tp_scores if kind == "tp" else fp_scores).append(scores[n])
                if kind == "tp":
                    confused += int(frame.detections.labels[n]) != frame.true_labels[n]
                    truth = gt[(video.id, frame.instance_ids[n])].segmentations[t]
                    mask_ious.append(float(mask_utils.iou([{**rles[n], "counts": rles[n]["counts"].encode()}], [truth], [0])[0, 0]))
    tp = kinds["tp"]
    detections = sum(kinds.values())
    tp_scores_, fp_scores_ = np.array(tp_scores), np.array(fp_scores)
    return {
        "preset": preset,
        "frames": frames,
        "visible_objects": visible,
        "miss_rate": missed / max(visible, 1),
        "miss_rate_by_size": {k: v[1] / max(v[0], 1) for k, v in by_size.items()},
        "miss_rate_by_visibility": {k: v[1] / max(v[0], 1) for k, v in by_visibility.items()},
        "detections_per_frame": detections / max(frames, 1),
        "false_positive_fraction": (detections - tp) / max(detections, 1),
        "duplicates_per_detected_object": kinds["duplicate"] / max(tp, 1),
        "merges_per_frame": kinds["merge"] / max(frames, 1),
        "background_per_frame": kinds["background"] / max(frames, 1),
        "confusion_rate": confused / max(tp, 1),
        "tp_mask_iou_mean": float(np.mean(mask_ious)) if mask_ious else float("nan"),
        "tp_score_mean": float(tp_scores_.mean()) if tp else float("nan"),
        "fp_score_mean": float(fp_scores_.mean()) if len(fp_scores_) else float("nan"),
        "score_auc_tp_vs_fp": _auc(tp_scores_, fp_scores_),
    }


def appearance_scales(dataset: YTVISDataset, preset: str, seed: int) -> dict:
    """Norms and distances of the appearance vectors of true detections (and of the noise-free latents)."""
    stats: dict[str, list[float]] = defaultdict(list)
    rng = np.random.default_rng(0)
    for noise_free in (False, True):
        detector = SimulatedDetector(dataset, preset=preset, seed=seed, noise_free=noise_free)
        suffix = " (latent)" if noise_free else ""
        for video in dataset.videos:
            group = {}
            for inst in dataset.instances(video.id):
                synth = inst.extra.get("synth") or {}
                group[inst.id] = (inst.category_id, synth.get("look_alike_group", -inst.id))
            group_size = defaultdict(int)
            for key in group.values():
                group_size[key] += 1
            vectors: dict[int, list[np.ndarray]] = defaultdict(list)
            frame_vectors, blobs = [], []
            for frame in detector.simulate_video(video.id):
                appearance = frame.detections.appearance.numpy()
                frame_vectors.append(frame.detections.frame_appearance.numpy())
                for n, kind in enumerate(frame.kinds):
                    if kind == "tp":
                        vectors[frame.instance_ids[n]].append(appearance[n])
                    elif kind == "background":
                        blobs.append(appearance[n])
            ids = sorted(vectors)
            for i in ids:
                stats["norm" + suffix].extend(np.linalg.norm(vectors[i], axis=1))
                if not noise_free and len(vectors[i]) > 1:
                    own = np.stack(vectors[i])
                    stats["same instance, consecutive frames"].extend(np.linalg.norm(own[1:] - own[:-1], axis=1))
                    far = own[rng.permutation(len(own))]
                    stats["same instance, any two frames"].extend(np.linalg.norm(own - far, axis=1))
            for a_index, a in enumerate(ids):
                for b in ids[a_index + 1 :]:
                    if group[a] == group[b] and group_size[group[a]] > 1:
                        name = "look-alikes (same category and group)"
                    elif group[a][0] == group[b][0]:
                        name = "same category, not look-alikes"
                    else:
                        name = "different categories"
                    va, vb = vectors[a][: len(vectors[b])], vectors[b][: len(vectors[a])]
                    stats[name + suffix].extend(np.linalg.norm(np.stack(va) - np.stack(vb), axis=1))
            if not noise_free:
                for blob in blobs:
                    stats["background blob vs frame descriptor"].append(float(np.linalg.norm(blob - frame_vectors[0])))
                stats["frame descriptor norm"].extend(np.linalg.norm(frame_vectors, axis=1))
    return {name: {"mean": float(np.mean(v)), "p10": float(np.percentile(v, 10)), "p90": float(np.percentile(v, 90)), "n": len(v)}
            for name, v in stats.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--presets", nargs="+", default=["easy", "medium", "hard"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    dataset = YTVISDataset.from_json(args.data / "instances.json")
    results = {"rates": [rates(dataset, p, args.seed) for p in args.presets],
               "appearance": {p: appearance_scales(dataset, p, args.seed) for p in args.presets}}
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        return 0
    rows = results["rates"]
    print(f"dataset: {args.data} ({len(dataset.videos)} videos, {rows[0]['frames']} frames, {rows[0]['visible_objects']} visible objects)\n")
    print("| | " + " | ".join(r["preset"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    flat = [(k, [r[k] for r in rows]) for k in rows[0] if k not in ("preset", "frames", "visible_objects") and not isinstance(rows[0][k], dict)]
    for key in ("miss_rate_by_size", "miss_rate_by_visibility"):
        for sub in rows[0][key]:
            flat.append((f"{key.replace('_by_size', '').replace('_by_visibility', '')}: {sub}", [r[key].get(sub, float('nan')) for r in rows]))
    for name, values in flat:
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    for preset, table in results["appearance"].items():
        print(f"\nappearance distances, preset {preset} (mean [p10, p90])\n")
        print("| | mean | p10 | p90 | n |\n|---|---|---|---|---|")
        for name, s in table.items():
            print(f"| {name} | {s['mean']:.3f} | {s['p10']:.3f} | {s['p90']:.3f} | {s['n']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
