"""Where a detector's mask AP goes: class-agnostic recall versus class accuracy on held-out frames.

    python experiments/detector_recall.py --data runs/detector_proof/easy-test [--checkpoint C] [--videos 10] [--stride 6]

For every ground-truth object of the sampled frames: is there a detection whose mask overlaps it with
IoU > 0.5 (class-agnostic recall), and does the best such detection carry the object's class (and is the
object's class among its two most probable)? Also the mean score of detections that match an object
(IoU > 0.5, any class) and of those that match none, and the most frequent confusions.
"""
from __future__ import annotations

import argparse
import statistics
from collections import Counter

import torch

from gvis.data.ytvis import YTVISDataset
from gvis.registry import DETECTORS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="YTVIS dataset folder (instances.json + JPEGImages)")
    parser.add_argument("--checkpoint", help="detector checkpoint (default: the shipped one)")
    parser.add_argument("--videos", type=int, default=10, help="first N videos")
    parser.add_argument("--stride", type=int, default=6, help="every k-th frame")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = YTVISDataset.from_json(f"{args.data}/instances.json")
    detector = DETECTORS.build("yolact", checkpoint=args.checkpoint, device="cpu", overrides=[])
    objects = found = right_class = top2 = 0
    names = {c.id: c.name for c in dataset.categories}
    columns = {c.id: k + 1 for k, c in enumerate(dataset.categories)}
    confusions: Counter = Counter()
    matched_scores, unmatched_scores = [], []
    for video in dataset.videos[: args.videos]:
        category = {inst.id: inst.category_id for inst in dataset.instances(video.id)}
        for t in range(0, video.length, args.stride):
            ids, masks = dataset.frame_masks(video.id, t)
            detections = detector([dataset.frame(video.id, t)])[0]
            objects += len(ids)
            if len(detections) == 0 or len(ids) == 0:
                unmatched_scores += detections.scores.tolist()
                continue
            det_masks, gt_masks = detections.mask_tensor(), torch.as_tensor(masks)
            inter = (det_masks[:, None] & gt_masks[None]).flatten(2).sum(-1).float()
            union = (det_masks[:, None] | gt_masks[None]).flatten(2).sum(-1).float()
            iou = inter / union.clamp_min(1)  # [detections, objects]
            best = iou.max(0)
            for k, object_id in enumerate(ids.tolist()):
                if best.values[k] > 0.5:
                    found += 1
                    row = int(best.indices[k])
                    predicted, truth = int(detections.labels[row]), category[object_id]
                    right_class += int(predicted == truth)
                    if detections.class_probs is not None:
                        top2 += int(columns[truth] in detections.class_probs[row, 1:].topk(2).indices.add(1).tolist())
                    if predicted != truth:
                        confusions[(names[truth], names.get(predicted, str(predicted)))] += 1
            matches = iou.max(1).values > 0.5
            matched_scores += detections.scores[matches].tolist()
            unmatched_scores += detections.scores[~matches].tolist()
    mean = lambda values: statistics.mean(values) if values else float("nan")  # noqa: E731
    print(f"{objects} objects; class-agnostic recall (mask IoU > 0.5): {found / max(objects, 1):.2f}; "
          f"right class among those found: {right_class / max(found, 1):.2f} (in the top 2: {top2 / max(found, 1):.2f})")
    print(f"detection scores: matching an object {mean(matched_scores):.2f} (n {len(matched_scores)}), "
          f"matching none {mean(unmatched_scores):.2f} (n {len(unmatched_scores)})")
    print("most frequent confusions (object -> detected as: count): "
          + ", ".join(f"{truth} -> {predicted}: {count}" for (truth, predicted), count in confusions.most_common(8)))


if __name__ == "__main__":
    main()
