"""The YouTube-VIS video mAP: the 12 stats of the official evaluator, computed the same way.

The reference is ``ytvoseval.py`` of the YouTube-VIS fork of the COCO API (``youtubevos/cocoapi``),
the code behind the challenge server. This is an independent implementation of its definition:

- **Video IoU** of a predicted track ``d`` and a ground-truth instance ``g``:
  ``sum_t |d_t & g_t| / sum_t |d_t | g_t|`` over the frames both lists cover (0 when the union is
  empty). Crowd instances use the same IoU.
- Per video and category, predictions are ordered by descending score (stable: file order breaks
  ties) and the first 100 are kept.
- **Area ranges** ``all [0, 1e10]``, ``small [0, 128^2]``, ``medium [128^2, 256^2]``,
  ``large [256^2, 1e10]`` (bounds inclusive) apply to the *average area* of a track: the mean of its
  non-zero, non-null per-frame areas, taken from the ground truth's ``areas`` field for instances and
  from the masks for predictions. Crowd instances and instances outside the range are "ignored".
- **Matching**, per IoU threshold ``0.50:0.05:0.95``, video and category: each prediction in score
  order takes the still-free ground truth with the highest IoU ``>= threshold`` (later instances
  win ties; crowd instances stay free); it looks at ignored instances only when no regular one
  matched. A prediction matched to an ignored instance, or unmatched with an average area outside
  the range, is ignored.
- **Accumulation** per category, area range and ``maxDets`` (1, 10, 100 per video): the kept
  predictions of all videos (in increasing video id) are stably sorted by score; precision is made
  monotone and read at 101 recall points; recall is the final recall. A category without
  non-ignored ground truth gets -1 and is left out of the means; so are categories with neither
  ground truth nor predictions.
- The stats are means over IoU thresholds, recall points and categories, as ``COCOeval.summarize``.

Where the official code crashes, gvis returns what the metric implies: an empty results list scores
0 (-1 where there is no ground truth); uncompressed RLE and polygons in results are rasterised.
Where it does not crash, gvis does what it does, including that predictions of categories absent
from the ground truth are ignored, that a results entry with fewer (or more) frames than the video
is compared over the frames both lists have, and that a match with a ground-truth annotation whose
id is 0 counts as no match (the official code records matches by annotation id). See
``docs/evaluation.md``.
"""
from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from gvis.errors import InputError
from gvis.eval.results import ResultTrack, decode_tracks, load_results, parse_results
from gvis.eval.video_rle import MAX_VOLUME, FrameRuns, decode_counts, string_table, video_rles

# Built exactly as the official Params, so that comparisons such as ``iou == 0.75`` behave the same.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETECTIONS = (1, 10, 100)
AREA_RANGES = (("all", 0, 1e5**2), ("small", 0, 128**2), ("medium", 128**2, 256**2), ("large", 256**2, 1e5**2))
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
#: (is AP, IoU threshold or None for all, area range, maxDets) of each stat, in STAT_NAMES order.
_STAT_DEFINITIONS = (
    (True, None, "all", 100), (True, 0.5, "all", 100), (True, 0.75, "all", 100),
    (True, None, "small", 100), (True, None, "medium", 100), (True, None, "large", 100),
    (False, None, "all", 1), (False, None, "all", 10), (False, None, "all", 100),
    (False, None, "small", 100), (False, None, "medium", 100), (False, None, "large", 100),
)
_AREA_INDEX = {name: a for a, (name, _, _) in enumerate(AREA_RANGES)}


def _average_area(areas: Sequence[Any]) -> float:
    """Mean of the non-zero, non-null per-frame areas (0 without any), as the official code takes it."""
    present = [area for area in areas if area]
    return float(np.array(present).mean()) if present else 0.0


class _Accumulator:
    """Per (category, area range): the matched predictions of every video, and the ground-truth count."""

    def __init__(self, num_categories: int) -> None:
        self.videos = [[[] for _ in AREA_RANGES] for _ in range(num_categories)]
        self.num_gt = np.zeros((num_categories, len(AREA_RANGES)), np.int64)

    def add(self, k: int, a: int, video: int, scores: np.ndarray, matched: np.ndarray, ignored: np.ndarray,
            num_gt: int) -> None:
        """One video (its position in evaluation order): ``scores [D]`` sorted, ``matched``/``ignored`` ``[T, D]``."""
        self.videos[k][a].append((video, scores, matched, ignored, num_gt))
        self.num_gt[k, a] += num_gt

    def ranked(self, k: int, a: int, max_dets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept predictions of every video in the evaluator's global score order: ``(video [D],
        true_positive [T, D], false_positive [T, D])`` (ignored predictions are neither)."""
        videos = self.videos[k][a]
        scores = np.concatenate([s[:max_dets] for _, s, _, _, _ in videos])
        order = np.argsort(-scores, kind="mergesort")
        video = np.concatenate([np.full(min(len(s), max_dets), v) for v, s, _, _, _ in videos])[order]
        matched = np.concatenate([mt[:, :max_dets] for _, _, mt, _, _ in videos], axis=1)[:, order]
        ignored = np.concatenate([ig[:, :max_dets] for _, _, _, ig, _ in videos], axis=1)[:, order]
        return video, matched & ~ignored, ~matched & ~ignored

    def precision_recall(self) -> tuple[np.ndarray, np.ndarray]:
        """``precision [T, R, K, A, M]`` and ``recall [T, K, A, M]``, -1 where undefined."""
        num_t, num_r, num_k = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(self.videos)
        precision = -np.ones((num_t, num_r, num_k, len(AREA_RANGES), len(MAX_DETECTIONS)))
        recall = -np.ones((num_t, num_k, len(AREA_RANGES), len(MAX_DETECTIONS)))
        for k, per_area in enumerate(self.videos):
            for a, videos in enumerate(per_area):
                num_gt = int(self.num_gt[k, a])
                if not videos or num_gt == 0:
                    continue
                for m, max_dets in enumerate(MAX_DETECTIONS):
                    _, true_positive, false_positive = self.ranked(k, a, max_dets)
                    precision[:, :, k, a, m], recall[:, k, a, m] = _precision_recall(
                        true_positive.astype(np.float64), false_positive.astype(np.float64), np.float64(num_gt))
        return precision, recall


def _precision_recall(true_positive: np.ndarray, false_positive: np.ndarray,
                      num_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The curve of predictions in score order, each counted with its weight (1 in the evaluation itself).

    ``true_positive``, ``false_positive``: ``[..., T, D]`` weights; ``num_gt``: ``[...]`` (> 0). Returns
    ``precision [..., T, R]`` (the monotone envelope read at the 101 recall points, 0 past the last recall
    reached) and ``recall [..., T]`` (the final recall).
    """
    num_dets = true_positive.shape[-1]
    if num_dets == 0:
        zeros = np.zeros(true_positive.shape[:-1])
        return np.zeros((*zeros.shape, len(RECALL_THRESHOLDS))), zeros
    tp_sum = np.cumsum(true_positive, axis=-1)
    fp_sum = np.cumsum(false_positive, axis=-1)
    rc = tp_sum / np.asarray(num_gt)[..., None, None]
    pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    envelope = np.maximum.accumulate(pr[..., ::-1], axis=-1)[..., ::-1]  # monotone precision envelope
    # The first prediction reaching recall point r is preceded by those below r; rc is sorted, so count them
    # per curve with one bincount of each prediction's bucket (the number of recall points at or below it).
    buckets = len(RECALL_THRESHOLDS) + 1
    bucket = np.searchsorted(RECALL_THRESHOLDS, rc, side="right").reshape(-1, num_dets)
    curves = bucket.shape[0]
    counts = np.bincount((bucket + buckets * np.arange(curves)[:, None]).ravel(), minlength=curves * buckets)
    first = np.cumsum(counts.reshape(curves, buckets), axis=1)[:, :-1].reshape(*rc.shape[:-1], -1)
    reached = first < num_dets
    precision = np.where(reached, np.take_along_axis(envelope, np.minimum(first, num_dets - 1), axis=-1), 0.0)
    return precision, rc[..., -1]


def _summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    stats = {}
    for name, (is_ap, iou, area, max_dets) in zip(STAT_NAMES, _STAT_DEFINITIONS):
        a, m = _AREA_INDEX[area], MAX_DETECTIONS.index(max_dets)
        values = precision[..., a, m] if is_ap else recall[..., a, m]
        if iou is not None:
            values = values[np.where(iou == IOU_THRESHOLDS)[0]]
        valid = values[values > -1]
        stats[name] = float(np.mean(valid)) if valid.size else -1.0
    return stats


def _greedy_match(
    ious: Sequence[Sequence[float]], gt_ignored: Sequence[bool], gt_crowd: Sequence[bool], gt_counts: Sequence[bool],
) -> tuple[np.ndarray, np.ndarray]:
    """Match predictions (rows of ``ious``, in score order) to ground truth (columns, regular first).

    ``gt_counts[g]`` is False for an annotation with id 0: the official code stores a match as the
    annotation id, so such a match later reads as "unmatched". Returns ``matched [T, D]`` (matched to
    a ground truth that counts) and ``ignored [T, D]`` (matched to an ignored ground truth).
    """
    num_dets, num_gts = len(ious), len(gt_ignored)
    matched = np.zeros((len(IOU_THRESHOLDS), num_dets), bool)
    ignored = np.zeros((len(IOU_THRESHOLDS), num_dets), bool)
    if num_dets == 0 or num_gts == 0:
        return matched, ignored
    for t, threshold in enumerate(IOU_THRESHOLDS.tolist()):
        taken = [False] * num_gts
        for d, row in enumerate(ious):
            best, match = min(threshold, 1 - 1e-10), -1
            for g in range(num_gts):
                if taken[g] and not gt_crowd[g]:
                    continue
                if match > -1 and not gt_ignored[match] and gt_ignored[g]:
                    break  # matched a regular instance: ignored ones come after and cannot win
                if row[g] < best:
                    continue
                best, match = row[g], g
            if match > -1:
                taken[match] = True
                matched[t, d] = gt_counts[match]
                ignored[t, d] = gt_ignored[match]
    return matched, ignored


class _VideoMasks:
    """Video RLEs of some tracks over a video's first ``num_frames`` frames, for pycocotools' ``iou``.

    Split into frame chunks small enough for pycocotools' 32-bit pixel counters (one chunk unless
    the video is huge). ``chunks`` holds ``(rles, areas [N])`` per chunk.
    """

    def __init__(self, decoded: FrameRuns, frames: np.ndarray, num_frames: int, height: int, width: int) -> None:
        frames = frames[:, :num_frames]
        if frames.shape[1] < num_frames:  # a track shorter than the span has no mask in the rest
            frames = np.pad(frames, ((0, 0), (0, num_frames - frames.shape[1])), constant_values=-1)
        areas = decoded.frame_areas(frames)
        step = max(1, MAX_VOLUME // (height * width))
        self.chunks = [
            (video_rles(decoded, frames[:, start:start + step], height, width), areas[:, start:start + step].sum(1))
            for start in range(0, num_frames, step)
        ]


def _video_ious(dts: _VideoMasks, dt_rows: Sequence[int], gts: _VideoMasks, gt_rows: Sequence[int]) -> np.ndarray:
    """``[len(dt_rows), len(gt_rows)]`` video IoU from exact pixel counts, divided once as the official
    code divides its (exact) float sums; 0 where the union is empty."""
    intersection = np.zeros((len(dt_rows), len(gt_rows)), np.int64)
    dt_area = np.zeros(len(dt_rows), np.int64)
    gt_area = np.zeros(len(gt_rows), np.int64)
    if len(dt_rows) == 0 or len(gt_rows) == 0:
        return intersection.astype(np.float64)
    for (d_rles, d_areas), (g_rles, g_areas) in zip(dts.chunks, gts.chunks):
        d_area = d_areas[list(dt_rows)]
        # With the crowd flag pycocotools gives |d & g| / |d|; times |d|, rounded, is the exact count.
        crowd_iou = np.asarray(mask_utils.iou([d_rles[i] for i in dt_rows], [g_rles[j] for j in gt_rows], [1] * len(gt_rows)))
        intersection += np.rint(crowd_iou.reshape(intersection.shape) * d_area[:, None]).astype(np.int64)
        dt_area += d_area
        gt_area += g_areas[list(gt_rows)]
    union = dt_area[:, None] + gt_area[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros(union.shape), where=union > 0)


def _evaluate_video(
    position: int, video: Any, instances: Sequence[Any], predictions: list[ResultTrack], category_index: dict[int, int],
    accumulator: _Accumulator, gt_file: Any, results_file: Any,
) -> None:
    """Match one video's predictions (``position`` in evaluation order) to its instances for every category and
    area range."""
    # Ground truth: all frame strings of the video in one batch (the loader checked them already).
    gt_blobs, gt_frames = string_table(
        [[None if rle is None else rle["counts"] for rle in instance.segmentations] for instance in instances]
    )
    if gt_frames.shape[1] < video.length:  # a video without instances gives a [0, 0] table
        gt_frames = np.full((len(instances), video.length), -1, np.int64)
    gt_runs = decode_counts(gt_blobs, video.height * video.width)
    if gt_runs.problems:
        string, reason = gt_runs.problems[0]
        row, t = (int(v[0]) for v in np.nonzero(gt_frames == string))
        raise InputError(f"annotation {instances[row].id}: {reason}", file=gt_file, video_id=video.id,
                         field=f"segmentations[{t}]")
    # Predictions: every entry's strings are checked, also those the evaluation then leaves out.
    dt_runs, dt_frames = decode_tracks(predictions, video, results_file)

    # Rows by category index (class-agnostic evaluation maps every category to one index).
    gt_rows: dict[int, list[int]] = {}
    for row, instance in enumerate(instances):
        if instance.category_id in category_index:
            gt_rows.setdefault(category_index[instance.category_id], []).append(row)
    dt_rows: dict[int, list[int]] = {}
    for row, prediction in enumerate(predictions):
        if prediction.category_id in category_index:
            dt_rows.setdefault(category_index[prediction.category_id], []).append(row)
    for k, rows in dt_rows.items():  # score order, ties in file order; 100 at most
        order = np.argsort([-predictions[row].score for row in rows], kind="mergesort")[: MAX_DETECTIONS[-1]]
        dt_rows[k] = [rows[i] for i in order.tolist()]

    # Video RLEs of every instance and every prediction (all of them: then the frames' runs are already
    # in order, which is cheaper than picking out the ones compared).
    size = (video.height, video.width)
    gt_masks = _VideoMasks(gt_runs, gt_frames, video.length, *size)
    dt_masks = _VideoMasks(dt_runs, dt_frames, video.length, *size)

    for k in sorted(set(gt_rows) | set(dt_rows)):
        gts = [instances[row] for row in gt_rows.get(k, [])]
        dts = dt_rows.get(k, [])
        if gts:
            ious = _video_ious(dt_masks, dts, gt_masks, gt_rows[k])
        else:
            ious = np.zeros((len(dts), 0))
        for i, row in enumerate(dts):
            num_frames = len(predictions[row].counts)
            if gts and num_frames < video.length:  # the official code compares over the frames both lists have
                short = _VideoMasks(dt_runs, dt_frames[[row]], num_frames, *size)
                ious[i] = _video_ious(short, [0], _VideoMasks(gt_runs, gt_frames[gt_rows[k]], num_frames, *size),
                                      range(len(gts)))[0]
        scores = np.array([predictions[row].score for row in dts], np.float64)
        dt_area = np.array([_average_area(dt_runs.frame_areas(dt_frames[row, : len(predictions[row].counts)]).tolist())
                            for row in dts], np.float64)
        gt_area = [_average_area(instance.areas) for instance in gts]  # from the file's "areas", as the official code
        for a, (_, low, high) in enumerate(AREA_RANGES):
            gt_ignored = [bool(g.iscrowd) or area < low or area > high for g, area in zip(gts, gt_area)]
            gt_order = np.argsort(np.array(gt_ignored, np.int64), kind="mergesort").tolist()
            matched, ignored = _greedy_match(
                ious[:, gt_order].tolist(), [gt_ignored[j] for j in gt_order],
                [bool(gts[j].iscrowd) for j in gt_order], [gts[j].id != 0 for j in gt_order],
            )
            ignored |= ~matched & ((dt_area < low) | (dt_area > high))[None, :]
            accumulator.add(k, a, position, scores, matched, ignored, num_gt=gt_ignored.count(False))


def evaluate(gt: Any, results: str | os.PathLike | Sequence[dict], per_category: bool = False,
             class_agnostic: bool = False) -> dict:
    """The 12 YouTube-VIS stats of ``results`` against ``gt``.

    Args:
        gt: a ground-truth JSON path or a :class:`gvis.data.ytvis.YTVISDataset`.
        results: a results JSON path or the list of results entries.
        per_category: also return ``"per_category": {category name: AP}`` (area all, 100 detections;
            -1 for a category without ground truth).
        class_agnostic: treat every category as one (a track may match any instance; 100 tracks per
            video in all): what the masks and their linking are worth when classes are ignored. Every
            result counts, also one whose category the ground truth does not list (a class-agnostic
            proposal method's single "object"). Not the official metric; excludes ``per_category``.

    Returns:
        ``{"AP": ..., "AP50": ..., ..., "ARl": ...}`` as fractions, -1 where the official code gives -1.

    Raises:
        InputError: unreadable or malformed files, naming the file, video and field.
    """
    if per_category and class_agnostic:
        raise ValueError("per_category and class_agnostic exclude each other")
    with _cycle_collection_paused():
        return _evaluate(gt, results, per_category, class_agnostic)


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: it would walk the millions of parsed JSON objects
    again and again (a tenth of the time here), and nothing here makes reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _evaluate(gt: Any, results: str | os.PathLike | Sequence[dict], per_category: bool, class_agnostic: bool) -> dict:
    accumulator, categories, _ = _match(gt, results, class_agnostic)
    precision, recall = accumulator.precision_recall()
    stats: dict[str, Any] = _summarize(precision, recall)
    if per_category:
        per_class = precision[:, :, :, _AREA_INDEX["all"], MAX_DETECTIONS.index(100)]
        stats["per_category"] = {}
        for k, category in enumerate(categories):
            values = per_class[:, :, k]
            valid = values[values > -1]
            stats["per_category"][category.name] = float(np.mean(valid)) if valid.size else -1.0
    return stats


def _match(gt: Any, results: str | os.PathLike | Sequence[dict],
           class_agnostic: bool) -> tuple[_Accumulator, list[Any], list[Any]]:
    """Every video matched: the accumulator, the categories (by id) and the video ids in evaluation order."""
    from gvis.data.ytvis import YTVISDataset

    dataset = gt if isinstance(gt, YTVISDataset) else YTVISDataset.from_json(gt)
    gt_file = dataset.path if dataset.path is not None else "<ground truth>"
    if isinstance(results, (str, os.PathLike)):
        results_file, entries = results, load_results(results)
    else:
        results_file, entries = None, results
    videos = {video.id: video for video in dataset.videos}
    predictions = parse_results(entries, videos, results_file)

    categories = sorted(dataset.categories, key=lambda c: c.id)
    category_index = {category.id: 0 if class_agnostic else k for k, category in enumerate(categories)}
    if class_agnostic:  # every prediction counts, also of categories the ground truth lacks (a proposal method's "object")
        category_index.update({prediction.category_id: 0 for prediction in predictions})
    by_video: dict[Any, list[ResultTrack]] = {}
    for prediction in predictions:
        by_video.setdefault(prediction.video_id, []).append(prediction)
    accumulator = _Accumulator(1 if class_agnostic else len(categories))
    order = sorted(videos)
    for position, video_id in enumerate(order):
        _evaluate_video(position, videos[video_id], dataset.instances(video_id), by_video.get(video_id, []),
                        category_index, accumulator, gt_file, results_file)
    return accumulator, categories, order


@dataclass(frozen=True)
class VideoMatches:
    """The matching of one results set with its ground truth, kept per video for the AP stat (IoU 0.50:0.95,
    area all, 100 tracks per video): enough to score any multiset of the videos (a bootstrap resample)
    without matching again.

    ``video_ids [V]`` in evaluation order; per evaluated category, in the evaluator's global score order:
    ``video [D]`` (position of the prediction's video), ``true_positive`` and ``false_positive [T, D]``
    (bool; ignored predictions are neither), and ``num_gt [V]`` (the category's instances per video).
    """

    video_ids: list[Any]
    video: list[np.ndarray]
    true_positive: list[np.ndarray]
    false_positive: list[np.ndarray]
    num_gt: list[np.ndarray]

    def ap(self, weights: np.ndarray) -> np.ndarray:
        """``[B]`` AP of ``B`` weightings of the videos, ``weights [B, V]`` (how many times each video
        counts; all ones gives :func:`evaluate`'s AP); -1 where no counted video has ground truth."""
        per_threshold = self.ap_per_threshold(weights)
        return np.where(per_threshold[:, 0] >= 0, per_threshold.mean(axis=-1), -1.0)

    def ap_per_threshold(self, weights: np.ndarray | None = None) -> np.ndarray:
        """``[B, T]`` AP at each IoU threshold of :data:`IOU_THRESHOLDS` (their mean is :meth:`ap`): where a
        results set gains or loses AP. ``weights`` as for :meth:`ap`; default one weighting of all ones."""
        weights = np.ones((1, len(self.video_ids))) if weights is None else np.asarray(weights, np.float64)
        if weights.shape[0] > _WEIGHTINGS_AT_ONCE:  # bounds the [B, T, D] curves in memory
            return np.concatenate([self.ap_per_threshold(weights[start:start + _WEIGHTINGS_AT_ONCE])
                                   for start in range(0, weights.shape[0], _WEIGHTINGS_AT_ONCE)])
        total = np.zeros((weights.shape[0], len(IOU_THRESHOLDS)))
        counted = np.zeros(weights.shape[0])
        for video, true_positive, false_positive, num_gt in zip(self.video, self.true_positive,
                                                                 self.false_positive, self.num_gt):
            gt = weights @ num_gt
            present = gt > 0
            if not present.any():
                continue
            weight = weights[present][:, None, video]  # [B', 1, D]
            precision, _ = _precision_recall(true_positive * weight, false_positive * weight, gt[present])
            total[present] += precision.mean(axis=-1)
            counted += present
        return np.where(counted[:, None] > 0, total / np.maximum(counted, 1)[:, None], -1.0)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez`` (:meth:`from_arrays` reads them back)."""
        arrays = {"video_ids": np.asarray(self.video_ids)}
        for k, fields in enumerate(zip(self.video, self.true_positive, self.false_positive, self.num_gt)):
            arrays.update({f"{name}_{k}": value for name, value in zip(_MATCH_FIELDS, fields)})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any) -> "VideoMatches":
        count = sum(1 for name in arrays if name.startswith("video_") and name != "video_ids")
        fields = [[np.asarray(arrays[f"{name}_{k}"]) for k in range(count)] for name in _MATCH_FIELDS]
        return cls(np.asarray(arrays["video_ids"]).tolist(), *fields)


_MATCH_FIELDS = ("video", "true_positive", "false_positive", "num_gt")
_WEIGHTINGS_AT_ONCE = 256


def match_videos(gt: Any, results: str | os.PathLike | Sequence[dict], class_agnostic: bool = False) -> VideoMatches:
    """The :class:`VideoMatches` of ``results`` against ``gt`` (arguments as :func:`evaluate`).

    Video AP is a dataset-level metric: no video has an AP of its own. Resampling videos and recomputing AP
    on each resample (:meth:`VideoMatches.ap`) is how its uncertainty over videos is measured.
    """
    with _cycle_collection_paused():
        accumulator, _, video_ids = _match(gt, results, class_agnostic)
    area, max_dets = _AREA_INDEX["all"], MAX_DETECTIONS[-1]
    fields: tuple[list, ...] = ([], [], [], [])
    for k, per_area in enumerate(accumulator.videos):
        if accumulator.num_gt[k, area] == 0:
            continue  # -1 in every weighting: left out of the mean, as in the evaluation
        num_gt = np.zeros(len(video_ids), np.int64)
        for position, _, _, _, count in per_area[area]:
            num_gt[position] = count
        for field, value in zip(fields, (*accumulator.ranked(k, area, max_dets), num_gt)):
            field.append(value)
    return VideoMatches(video_ids, *fields)


def ties_in_random_order(results: Sequence[dict], rng: np.random.Generator) -> list[dict]:
    """``results`` with their equal scores put in a random order: each entry's score replaced by its rank
    (``[N, ..., 1] / (N + 1)``) in descending score order with ties drawn by ``rng``; the inputs are not changed.

    The evaluator, like the official one, orders equal scores by video id and then by results-file order,
    which is arbitrary for a tracker that reports ties (every track of a constant-score detector, say); the
    mean AP over such orders is what the tracker's ranking itself is worth.
    """
    keys = rng.random(len(results))
    order = sorted(range(len(results)), key=lambda n: (-results[n]["score"], keys[n]))
    position = {n: rank for rank, n in enumerate(order)}
    return [{**entry, "score": (len(results) - position[n]) / (len(results) + 1)} for n, entry in enumerate(results)]


def has_equal_scores(results: Sequence[dict]) -> bool:
    """Whether two entries of ``results`` share a score (else every order of ties is the results' own)."""
    return len({entry["score"] for entry in results}) < len(results)


def random_tie_aps(gt: Any, results: Sequence[dict], orders: int, class_agnostic: bool = False,
                   seed: int = 0) -> list[float]:
    """The AP (IoU 0.50:0.95) of ``results`` with their equal scores in each of ``orders`` random orders
    (:func:`ties_in_random_order`, drawn from ``seed``); ``gt`` as for :func:`evaluate`, read once. Callers
    that hold the results' AP already skip this without ties (:func:`has_equal_scores`)."""
    from gvis.data.ytvis import YTVISDataset

    dataset = gt if isinstance(gt, YTVISDataset) else YTVISDataset.from_json(gt)
    rng = np.random.default_rng(seed)
    return [evaluate(dataset, ties_in_random_order(results, rng), class_agnostic=class_agnostic)["AP"]
            for _ in range(orders)]


def format_stats(stats: dict) -> str:
    """A readable table of the 12 stats (and of ``per_category`` when present)."""
    lines = ["stat    value  what"]
    for name, (is_ap, iou, area, max_dets) in zip(STAT_NAMES, _STAT_DEFINITIONS):
        value = stats[name]
        shown = f"{value:6.4f}" if value > -1 else "    -1"
        iou_text = "0.50:0.95" if iou is None else f"{iou:.2f}"
        lines.append(f"{name:<6} {shown}  {'precision' if is_ap else 'recall':<9}  IoU {iou_text:<9}  "
                     f"area {area:<6}  maxDets {max_dets}")
    if "per_category" in stats:
        width = max([len(name) for name in stats["per_category"]] + [8])
        lines += ["", f"{'category':<{width}}  AP"]
        lines += [f"{name:<{width}}  {ap:6.4f}" if ap > -1 else f"{name:<{width}}      -1"
                  for name, ap in stats["per_category"].items()]
    lines.append("(-1: no ground truth in that range, as the official evaluator reports)")
    return "\n".join(lines)
