"""Training targets (docs/model.md §5): which detection is which object, and what each track should do.

All functions are vectorised over a batch of videos and take the flat (PyG) layout used by the tracker:
tracks and detections of every video in one tensor, pairs as ``[2, E]`` index tensors.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou


def assign_detections_to_objects(det_boxes: Tensor, gt_boxes: Tensor, gt_ids: Tensor, iou_threshold: float = 0.5,
                                 det_scores: Tensor | None = None) -> Tensor:
    """Ground-truth identity of each detection of one frame; 0 for none.

    A detection takes object ``k`` when their box IoU exceeds ``iou_threshold`` and ``k`` is its best
    object. Of the detections taking the same object only one (the *primary*) keeps the id: the
    best-overlapping one, or with ``det_scores`` the highest-scoring one; the others become negatives (0).
    Ties keep the lower detection index.

    Args:
        det_boxes: ``[N, 4]`` xyxy. gt_boxes: ``[K, 4]`` xyxy. gt_ids: ``[K]`` positive object ids.
        det_scores: ``[N]`` detector scores ranking the candidates of an object (``None``: rank by IoU).

    Returns:
        ``[N]`` int64 object id of each detection (0 = background or secondary).
    """
    num_dets = det_boxes.shape[0]
    assigned = torch.zeros(num_dets, dtype=torch.long, device=det_boxes.device)
    if num_dets == 0 or gt_boxes.shape[0] == 0:
        return assigned
    iou = box_iou(det_boxes.float(), gt_boxes.float())  # [N, K]
    best_iou, best_object = iou.max(dim=1)
    candidate = best_iou > iou_threshold
    # Primary detection per object: highest IoU (or detector score) among the candidates that chose it.
    rank = best_iou if det_scores is None else det_scores.float()
    score = torch.where(candidate, rank, torch.full_like(rank, -1.0))
    primary_score = torch.full((gt_boxes.shape[0],), -1.0, device=det_boxes.device)
    primary_score.scatter_reduce_(0, best_object, score, reduce="amax")
    is_best = candidate & (score == primary_score[best_object])
    # Among equally ranked duplicates keep the first detection.
    first_index = torch.full((gt_boxes.shape[0],), num_dets, dtype=torch.long, device=det_boxes.device)
    det_index = torch.arange(num_dets, device=det_boxes.device)
    first_index.scatter_reduce_(0, best_object[is_best], det_index[is_best], reduce="amin")
    primary = is_best & (first_index[best_object] == det_index)
    assigned[primary] = gt_ids[best_object[primary]].long()
    return assigned


def overlapped_objects(det_boxes: Tensor, gt_boxes: Tensor, gt_ids: Tensor, iou_threshold: float) -> Tensor:
    """``[N]`` id of the object each detection overlaps most, where that box IoU exceeds ``iou_threshold``
    (0 elsewhere): unlike :func:`assign_detections_to_objects`, every duplicate keeps its object."""
    if det_boxes.shape[0] == 0 or gt_boxes.shape[0] == 0:
        return torch.zeros(det_boxes.shape[0], dtype=torch.long, device=det_boxes.device)
    best_iou, best_object = box_iou(det_boxes.float(), gt_boxes.float()).max(dim=1)
    return torch.where(best_iou > iou_threshold, gt_ids[best_object].long(), 0)


def first_track_of_object(track_object_ids: Tensor, track_video: Tensor, track_order: Tensor) -> Tensor:
    """``[T]`` bool: is this track the earliest one of its video following its object?

    Several tracks may be started on the same object (duplicates); only the first is the right one to
    associate, the others should die. Tracks of object 0 (started by false positives) are never first.

    Args:
        track_object_ids: ``[T]`` object id per track (0 = none).
        track_video: ``[T]`` video index per track.
        track_order: ``[T]`` creation order (e.g. the global track index; lower = earlier).
    """
    if track_object_ids.numel() == 0:
        return torch.zeros(0, dtype=torch.bool, device=track_object_ids.device)
    key = torch.stack([track_video, track_object_ids], dim=1)
    _, group = torch.unique(key, dim=0, return_inverse=True)
    earliest = torch.full((int(group.max()) + 1,), torch.iinfo(torch.long).max, dtype=torch.long, device=group.device)
    earliest.scatter_reduce_(0, group, track_order.long(), reduce="amin")
    return (track_object_ids > 0) & (earliest[group] == track_order)


def association_targets(
    track_det_pairs: Tensor, track_object_ids: Tensor, track_is_first: Tensor, det_object_ids: Tensor
) -> Tensor:
    """``[E]`` 0/1 target of each track–detection edge.

    1 iff the detection is the primary detection of an object (id > 0) and the track is the first track
    following that object.

    Args:
        track_det_pairs: ``[2, E]`` (track index, detection index).
        track_object_ids: ``[T]``; track_is_first: ``[T]`` from :func:`first_track_of_object`.
        det_object_ids: ``[N]`` from :func:`assign_detections_to_objects`.
    """
    track_index, det_index = track_det_pairs
    det_ids = det_object_ids[det_index]
    return ((det_ids > 0) & (track_object_ids[track_index] == det_ids) & track_is_first[track_index]).float()


def init_targets(det_object_ids: Tensor, det_video: Tensor, track_object_ids: Tensor, track_video: Tensor) -> Tensor:
    """``[N]`` 0/1 target of each empty–detection edge: should this detection start a new track?

    1 iff the detection is the primary detection of an object that no track alive before this frame
    (in the same video) follows.

    Args:
        det_object_ids: ``[N]``; det_video: ``[N]`` video index per detection.
        track_object_ids: ``[T]`` object ids of the tracks alive before this frame; track_video: ``[T]``.
    """
    if det_object_ids.numel() == 0:
        return torch.zeros(0, device=det_object_ids.device)
    followed = (
        (det_video[:, None] == track_video[None, :])
        & (det_object_ids[:, None] == track_object_ids[None, :])
    ).any(dim=1)
    return ((det_object_ids > 0) & ~followed).float()


def association_edges_kept(track_det_pairs: Tensor, track_object_ids: Tensor, edge_targets: Tensor,
                           det_overlap_ids: Tensor) -> Tensor:
    """``[E]`` bool: the edges the association loss counts. Left out: negatives between a track and a
    detection overlapping the track's own object (``det_overlap_ids`` from :func:`overlapped_objects`),
    i.e. duplicates and partial detections of the object the track follows.
    """
    track_index, det_index = track_det_pairs
    objects = track_object_ids[track_index]
    own_object = (objects > 0) & (det_overlap_ids[det_index] == objects)
    return (edge_targets > 0) | ~own_object


def best_mask_fit(det_masks: Tensor, gt_masks: Tensor, gt_ids: Tensor) -> tuple[Tensor, Tensor]:
    """The object whose mask each detection's mask overlaps most, and that mask IoU.

    Args:
        det_masks: ``[N, H, W]`` bool. gt_masks: ``[K, H, W]`` bool. gt_ids: ``[K]`` positive object ids.

    Returns:
        ``[N]`` int64 object id (0 where the detection overlaps no object) and ``[N]`` float mask IoU.
    """
    num_dets = det_masks.shape[0]
    if num_dets == 0 or gt_masks.shape[0] == 0:
        return torch.zeros(num_dets, dtype=torch.long), torch.zeros(num_dets)
    det_flat = det_masks.reshape(num_dets, -1).float()
    gt_flat = gt_masks.reshape(gt_masks.shape[0], -1).float()
    intersection = det_flat @ gt_flat.T  # [N, K]
    union = det_flat.sum(1, keepdim=True) + gt_flat.sum(1)[None, :] - intersection
    iou = intersection / union.clamp_min(1.0)
    best_iou, best_object = iou.max(dim=1)
    return torch.where(best_iou > 0, gt_ids[best_object].long(), 0), best_iou


def fit_class_targets(class_targets: Tensor, track_object_ids: Tensor, assigned_det: Tensor, det_fit_ids: Tensor,
                      det_fit_iou: Tensor, num_classes: int) -> Tensor:
    """``[T, C+1]`` soft class targets (``loss.class_target: quality``): a track of an object that took a
    detection this frame gets its class with probability ``q``, the mask IoU of that detection with the
    object (0 when the detection fits another object or none), and background with ``1 − q``; the other
    tracks keep their one-hot target.

    Args:
        class_targets: ``[T]`` class index of each track's object (0: background).
        track_object_ids: ``[T]`` object id per track (0 = none). assigned_det: ``[T]`` detection row (−1: none).
        det_fit_ids / det_fit_iou: ``[N]`` from :func:`best_mask_fit`.
    """
    one_hot = torch.nn.functional.one_hot(class_targets, num_classes + 1).float()
    took = (assigned_det >= 0) & (track_object_ids > 0)
    if not bool(took.any()):
        return one_hot
    rows = assigned_det.clamp_min(0)
    fit = torch.where(det_fit_ids[rows] == track_object_ids, det_fit_iou[rows], 0.0)
    quality = torch.where(took, fit, 1.0).unsqueeze(-1)
    background = one_hot.new_zeros(one_hot.shape)
    background[:, 0] = 1.0
    return quality * one_hot + (1 - quality) * background
