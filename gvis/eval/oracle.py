"""Oracle linking: what a perfect tracker would score with a detector's detections.

It separates a pipeline's errors into the detector's and the tracker's: the video AP of the oracle is the
ceiling of any tracker fed these detections, so (oracle − tracker) is what association and scoring lost
and (ground truth − oracle) is what the detector lost.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np
import torch
from pycocotools import mask as mask_utils

from gvis.data.ytvis import YTVISDataset
from gvis.detections.structures import Detections, Tracks, check_video_detections, pycoco_rle
from gvis.eval.results import VideoResults


def match_to_instances(detections: Detections, instance_masks: np.ndarray, iou_threshold: float = 0.5) -> list[int]:
    """Greedy one-to-one matching of a frame's detections to its ground-truth instances.

    In descending score order, each detection takes the still-free instance it overlaps most, if that
    mask IoU reaches ``iou_threshold`` (COCO's matching rule).

    Args:
        detections: ``N`` detections of the frame.
        instance_masks: ``[K, H, W]`` bool, the instances present in the frame.

    Returns:
        ``[N]`` the matched instance's row in ``instance_masks``, ``-1`` for an unmatched detection.
    """
    matched = [-1] * len(detections)
    if len(detections) == 0 or len(instance_masks) == 0:
        return matched
    det_rles = [pycoco_rle(rle) for rle in detections.mask_rles()]
    gt_rles = mask_utils.encode(np.asfortranarray(instance_masks.transpose(1, 2, 0).astype(np.uint8)))
    iou = np.asarray(mask_utils.iou(det_rles, gt_rles, [0] * len(gt_rles))).reshape(len(det_rles), len(gt_rles))
    free = np.ones(len(gt_rles), dtype=bool)
    for n in np.argsort(-detections.scores.numpy(), kind="stable"):
        overlaps = np.where(free, iou[n], -1.0)
        best = int(overlaps.argmax())
        if overlaps[best] >= iou_threshold:
            matched[n], free[best] = best, False
    return matched


def _majority(labels: list[int]) -> int:
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], label))


def instance_tracks(video_id: int, image_size: tuple[int, int],
                    per_frame: list[dict[int, tuple[int, float, torch.Tensor]]]) -> list[dict]:
    """Results entries of one video with one track per ground-truth instance.

    Args:
        per_frame: for each frame, ``{instance id: (label, score, mask [H, W] bool)}`` of the detection
            linked to that instance (instances without one have no mask in that frame).

    Returns:
        One entry per instance linked at least once: class the majority of its labels (ties: the smallest
        category id), score their mean score.
    """
    hits: dict[int, list[tuple[int, float]]] = {}
    for matches in per_frame:
        for instance, (label, score, _) in matches.items():
            hits.setdefault(instance, []).append((label, score))
    ids = sorted(hits)
    labels = torch.tensor([_majority([label for label, _ in hits[i]]) for i in ids], dtype=torch.long)
    scores = torch.tensor([sum(score for _, score in hits[i]) / len(hits[i]) for i in ids])
    results = VideoResults(video_id)
    empty = torch.zeros(image_size, dtype=torch.bool)
    for matches in per_frame:
        masks = torch.stack([matches[i][2] if i in matches else empty for i in ids]) if ids else empty[None][:0]
        results.add_frame(Tracks(torch.tensor(ids, dtype=torch.long), torch.full((len(ids),), -1), labels, scores, masks))
    return results.entries()


def oracle_link(dataset: YTVISDataset, videos: Iterable[tuple[int, list[Detections]]],
                iou_threshold: float = 0.5, source: str | None = None) -> list[dict]:
    """YouTube-VIS results that link every detection to the ground-truth instance it matches
    (:func:`match_to_instances`), one track per instance (:func:`instance_tracks`).

    Unmatched detections are dropped, so the oracle has no false-positive tracks either.

    Args:
        dataset: the ground truth.
        videos: ``(video_id, [Detections of frame 0, 1, ...])``, e.g. ``DetectionsReader.videos()``.
        iou_threshold: the mask IoU a detection needs to match an instance.
        source: the detections' file, named in errors.
    """
    entries = []
    for video_id, frames in videos:
        video = dataset.video(video_id)
        check_video_detections(frames, video, source)
        per_frame = []
        for frame_index, detections in enumerate(frames):
            instance_ids, instance_masks = dataset.frame_masks(video_id, frame_index)
            rows = match_to_instances(detections, instance_masks, iou_threshold)
            masks = detections.mask_tensor() if any(row >= 0 for row in rows) else None
            per_frame.append({int(instance_ids[row]): (int(detections.labels[n]), float(detections.scores[n]), masks[n])
                              for n, row in enumerate(rows) if row >= 0})
        entries += instance_tracks(video_id, (video.height, video.width), per_frame)
    return entries
