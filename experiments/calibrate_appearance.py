"""Calibrate the appearance-likelihood constants of the learned tracker for a detector's appearance vectors.

    python experiments/calibrate_appearance.py --data DIR [--presets easy medium hard] [--seed 0]
        [--init-var-logit V --loglik-scale S --loglik-offset O] [--json]

DIR is a YouTube-VIS dataset folder (e.g. made by ``gvis synth``); the simulated detector runs on it with each
preset. The paper's constants (``−4 + 0.01·ℓ``, ``σ₀² = softplus(−7)``) were set for 512-d YOLACT features;
this script measures what the likelihood edge features look like for *these* vectors and proposes
constants (the method is in ``docs/tracker.md``):

1. ``σ₀²`` = mean per-channel squared difference between an object's appearance in consecutive frames
   (true detections only), i.e. the spread a freshly started track should expect;
2. with that ``σ₀²`` and a track's mean = the object's appearance in the previous frame, the
   log-likelihood ``ℓ`` of every detection of the next frame is computed against every object of the
   video: same object, a look-alike (same category and look-alike group), other objects;
3. ``scale`` maps the gap between the medians of "same" and "other" to 4 units, ``offset`` puts the
   median "same" at +1.

It prints the feature ``offset + scale·ℓ`` per pair kind (median and 5–95 % range) under the proposed
constants and under the ones given on the command line (default: the paper's), and the empty-track
feature (detections against the previous frame's descriptor).
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict

import numpy as np

from gvis.data.ytvis import YTVISDataset
from gvis.detections.simulate import SimulatedDetector


def log_likelihood(x: np.ndarray, mean: np.ndarray, var: float) -> np.ndarray:
    """``log N(x; mean, var·I)`` row by row (``x``, ``mean``: ``[K, Da]``)."""
    dim = x.shape[-1]
    return -0.5 * (dim * math.log(2 * math.pi) + dim * math.log(var) + ((x - mean) ** 2).sum(-1) / var)


def collect(dataset: YTVISDataset, preset: str, seed: int) -> dict:
    """Consecutive-frame appearance pairs of one preset: squared differences and the pairs' vectors."""
    detector = SimulatedDetector(dataset, preset=preset, seed=seed)
    group = {}
    for video in dataset.videos:
        for inst in dataset.instances(video.id):
            synth = inst.extra.get("synth", {})
            group[(video.id, inst.id)] = (inst.category_id, synth.get("look_alike_group", inst.id))
    same_sq, pairs, empty_pairs = [], defaultdict(list), []
    for video in dataset.videos:
        previous, previous_frame = {}, None
        for frame in detector.simulate_video(video.id):
            det = frame.detections
            appearance = det.appearance.numpy() if det.appearance is not None else np.zeros((0, detector.appearance_dim))
            current = {}
            for n, kind in enumerate(frame.kinds):
                if kind == "tp":
                    current[frame.instance_ids[n]] = appearance[n]
            for n in range(len(det)):
                instance = frame.instance_ids[n] if frame.kinds[n] == "tp" else None
                for track_instance, mean in previous.items():
                    if instance == track_instance:
                        kind = "same"
                        same_sq.append((appearance[n] - mean) ** 2)
                    elif instance is not None and group[(video.id, instance)] == group[(video.id, track_instance)]:
                        kind = "look-alike"
                    else:
                        kind = "other"
                    pairs[kind].append((appearance[n], mean))
                if previous_frame is not None:
                    empty_pairs.append((appearance[n], previous_frame))
            previous = current
            previous_frame = det.frame_appearance.numpy() if det.frame_appearance is not None else None
    return {"same_sq": np.array(same_sq), "pairs": pairs, "empty": empty_pairs, "dim": detector.appearance_dim}


def summarise(data: dict, init_var: float, scale: float, offset: float) -> dict:
    rows = {}
    for kind, items in list(data["pairs"].items()) + [("empty track", data["empty"])]:
        if not items:
            continue
        x = np.stack([a for a, _ in items])
        mean = np.stack([b for _, b in items])
        feature = offset + scale * log_likelihood(x, mean, init_var)
        rows[kind] = {
            "pairs": len(items),
            "median": float(np.median(feature)),
            "p05": float(np.percentile(feature, 5)),
            "p95": float(np.percentile(feature, 95)),
        }
    return rows


def propose(data: dict) -> dict:
    init_var = float(data["same_sq"].mean())
    same = np.stack([a for a, _ in data["pairs"]["same"]]), np.stack([b for _, b in data["pairs"]["same"]])
    other = np.stack([a for a, _ in data["pairs"]["other"]]), np.stack([b for _, b in data["pairs"]["other"]])
    same_ll = float(np.median(log_likelihood(*same, init_var)))
    other_ll = float(np.median(log_likelihood(*other, init_var)))
    scale = 4.0 / (same_ll - other_ll)
    return {
        "init_var": init_var,
        "init_var_logit": math.log(math.expm1(init_var)),
        "loglik_scale": scale,
        "loglik_offset": 1.0 - scale * same_ll,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--presets", nargs="+", default=["easy", "medium", "hard"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-var-logit", type=float, default=-7.0)
    parser.add_argument("--loglik-scale", type=float, default=0.01)
    parser.add_argument("--loglik-offset", type=float, default=-4.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    dataset = YTVISDataset.from_json(f"{args.data}/instances.json")
    given_var = math.log1p(math.exp(args.init_var_logit))
    report = {}
    for preset in args.presets:
        data = collect(dataset, preset, args.seed)
        proposal = propose(data)
        report[preset] = {
            "dim": data["dim"],
            "proposal": proposal,
            "with_proposal": summarise(data, proposal["init_var"], proposal["loglik_scale"], proposal["loglik_offset"]),
            "with_given": summarise(data, given_var, args.loglik_scale, args.loglik_offset),
        }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"given constants: init_var_logit {args.init_var_logit} (σ₀² = {given_var:.3g}), "
          f"scale {args.loglik_scale}, offset {args.loglik_offset}\n")
    for preset, entry in report.items():
        p = entry["proposal"]
        print(f"## {preset} (Da = {entry['dim']}): proposed σ₀² = {p['init_var']:.3g} "
              f"(init_var_logit {p['init_var_logit']:.2f}), scale {p['loglik_scale']:.4g}, offset {p['loglik_offset']:.3g}")
        print("| pair | count | feature, proposed: median [5%, 95%] | feature, given: median [5%, 95%] |")
        print("|---|---|---|---|")
        for kind, row in entry["with_proposal"].items():
            given = entry["with_given"][kind]
            print(f"| {kind} | {row['pairs']} | {row['median']:.2f} [{row['p05']:.2f}, {row['p95']:.2f}] "
                  f"| {given['median']:.1f} [{given['p05']:.1f}, {given['p95']:.1f}] |")
        print()


if __name__ == "__main__":
    main()
