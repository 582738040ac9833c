"""Image-level mask AP of a detector (pycocotools ``COCOeval``, ``iouType="segm"``).

Every evaluated frame is one COCO image; every object visible in it (its per-frame mask) one ground-truth
annotation; every detection (binary mask, label, score) one result. The stats are COCO's 12 (AP over IoU
0.50:0.95, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l) as fractions, −1 where COCO gives −1. Detections are
what the detector outputs after its own post-processing (at most ``postprocess.top_n`` per frame, 16 by
default), so the figure measures the detections the tracker sees.

:func:`class_accuracy` separates finding objects from naming them: of the objects that some detection
covers (mask IoU > 0.5), how often the best-overlapping detection carries the object's class.
"""
from __future__ import annotations

import contextlib
import io
import time
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from gvis.data.ytvis import YTVISDataset
from gvis.detections.structures import Detections

#: COCOeval.stats in order.
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def coco_ground_truth(dataset: YTVISDataset, frames: Sequence[tuple[int, int]]) -> dict:
    """A COCO instances dict: image ``i + 1`` is ``frames[i]``, one annotation per visible object."""
    images, annotations = [], []
    for image_id, (video_id, t) in enumerate(frames, start=1):
        video = dataset.video(video_id)
        images.append({"id": image_id, "height": video.height, "width": video.width})
        for inst in dataset.instances(video_id):
            rle = inst.segmentations[t]
            if rle is None:
                continue
            counts = rle["counts"]
            rle = {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": int(inst.category_id),
                "segmentation": rle, "area": float(mask_utils.area(rle)), "bbox": mask_utils.toBbox(rle).tolist(),
                "iscrowd": int(inst.iscrowd),
            })
    categories = [{"id": int(c.id), "name": str(c.name)} for c in dataset.categories]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_results(detections: Sequence[Detections]) -> list[dict]:
    """COCO result entries of ``detections[i]`` (image ``i + 1``)."""
    results = []
    for image_id, det in enumerate(detections, start=1):
        for rle, label, score in zip(det.mask_rles(), det.labels.tolist(), det.scores.tolist()):
            results.append({"image_id": image_id, "category_id": int(label), "segmentation": rle, "score": float(score)})
    return results


def mask_ap(ground_truth: dict, results: list[dict]) -> dict[str, float]:
    """The 12 COCO stats of ``results`` against ``ground_truth`` (both COCO dicts/lists)."""
    if not results or not ground_truth["annotations"]:
        return {name: (0.0 if ground_truth["annotations"] else -1.0) for name in STAT_NAMES}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        dt = gt.loadRes([dict(r) for r in results])  # loadRes adds keys to the entries
        evaluator = COCOeval(gt, dt, iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(STAT_NAMES, evaluator.stats)}


def evaluate_detector(detector: Callable[[list[np.ndarray]], list[Detections]], dataset: YTVISDataset,
                      frames: Sequence[tuple[int, int]], batch_size: int = 8, progress: bool = False) -> dict[str, Any]:
    """Mask AP of ``detector`` (any :class:`~gvis.detectors.protocol.Detector`) on ``frames`` of ``dataset``.

    Returns the 12 stats plus ``frames`` (how many), ``fps`` (detector frames per second, I/O excluded) and
    ``classes``: :func:`class_accuracy` of the same detections.
    """
    from tqdm import tqdm

    detections: list[Detections] = []
    seconds = 0.0
    with tqdm(total=len(frames), desc="eval-detector", unit="frame", disable=not progress, leave=False) as bar:
        for start in range(0, len(frames), batch_size):
            images = [dataset.frame(v, t) for v, t in frames[start:start + batch_size]]
            clock = time.perf_counter()
            detections += detector(images)
            seconds += time.perf_counter() - clock
            bar.update(len(images))
    stats = mask_ap(coco_ground_truth(dataset, frames), coco_results(detections))
    return {**stats, "frames": len(frames), "fps": len(frames) / seconds if seconds > 0 else 0.0,
            "classes": class_accuracy(dataset, frames, detections)}


def class_accuracy(dataset: YTVISDataset, frames: Sequence[tuple[int, int]], detections: Sequence[Detections],
                   iou_threshold: float = 0.5) -> dict[str, Any]:
    """Class-agnostic recall and class accuracy of ``detections[i]`` (the output on ``frames[i]``).

    An object is *found* when some detection's mask overlaps it with IoU > ``iou_threshold``; the detection
    of highest IoU is its match. Returns ``objects``, ``recall`` (found / objects), ``top1`` (matches whose
    label is the object's category / found), ``top2`` (the category among the match's two most probable
    foreground classes; needs ``class_probs``, else −1) and ``confusions``: ``[[true name, detected name,
    count], ...]``, most frequent first. Fractions; 0 found gives −1 accuracies.
    """
    names = {c.id: c.name for c in dataset.categories}
    columns = {c.id: k + 1 for k, c in enumerate(dataset.categories)}
    objects = found = top1 = top2 = 0
    has_probs = True
    confusions: Counter = Counter()
    categories: dict[int, dict[int, int]] = {}
    for (video_id, t), det in zip(frames, detections, strict=True):
        if video_id not in categories:
            categories[video_id] = {inst.id: inst.category_id for inst in dataset.instances(video_id)}
        ids, masks = dataset.frame_masks(video_id, t)
        objects += len(ids)
        if len(det) == 0 or len(ids) == 0:
            continue
        det_masks, gt_masks = det.mask_tensor(), torch.as_tensor(masks)
        inter = (det_masks[:, None] & gt_masks[None]).flatten(2).sum(-1).float()
        union = (det_masks[:, None] | gt_masks[None]).flatten(2).sum(-1).float()
        best = (inter / union.clamp_min(1)).max(0)  # best detection per object
        for k, object_id in enumerate(ids.tolist()):
            if best.values[k] <= iou_threshold:
                continue
            found += 1
            row, truth = int(best.indices[k]), categories[video_id][object_id]
            predicted = int(det.labels[row])
            top1 += int(predicted == truth)
            if det.class_probs is None:
                has_probs = False
            else:
                top2 += int(columns[truth] in (det.class_probs[row, 1:].topk(min(2, len(columns))).indices + 1).tolist())
            if predicted != truth:
                confusions[(names[truth], names.get(predicted, str(predicted)))] += 1
    return {
        "objects": objects, "recall": found / objects if objects else -1.0,
        "top1": top1 / found if found else -1.0, "top2": top2 / found if found and has_probs else -1.0,
        "confusions": [[truth, detected, count] for (truth, detected), count in confusions.most_common()],
    }
