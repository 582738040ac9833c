"""CLEAR MOT metrics (MOTA, MOTP, ...) and IDF1 on masks: the MOTS evaluation of BDD100K (Scalabel).

Bernardin and Stiefelhagen's CLEAR MOT metrics with Ristani et al.'s identity F1, on mask IoU, as
Scalabel's ``mots.py`` evaluates BDD100K MOTS through ``motmetrics``. Per video and per category (or
all categories as one, ``class_agnostic``), frame by frame:

* a ground-truth object and a hypothesis (a track's mask in the frame) *can match* when their mask IoU is
  at least ``iou_threshold`` (0.5); their distance is ``1 − IoU``;
* a pair matched in an earlier frame stays matched while it can match; the other objects and hypotheses
  are paired by a Hungarian matching that takes as many pairs as possible at the least total distance;
* a matched object whose previous match was another hypothesis is an identity switch (IDSw); an unmatched
  object is a miss (FN), an unmatched hypothesis a false positive (FP) — unless it lies in a crowd region
  (intersection over its own area above ``ignore_iof_threshold`` with a crowd ground truth), when it is
  not counted at all.

Over all (video, category) pairs: ``MOTA = 1 − (FN + FP + IDSw) / GT``, ``MOTP`` = mean IoU of the matches,
``IDF1 = 2 IDTP / (GT + hypotheses)`` where IDTP is, per (video, category), the largest number of
frames in which ground-truth tracks and hypothesis tracks paired one to one can match; MT / PT / ML
count ground-truth tracks matched in ≥ 80 %, 20–80 %, < 20 % of their frames, FM the times a track's
matching is interrupted between its first and last matched frame. All rates are fractions (not %).
Unlike Scalabel, overlapping hypotheses are allowed (each pixel may belong to several tracks).
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from scipy.optimize import linear_sum_assignment

from gvis.detections.filtering import mask_ious
from gvis.eval.results import load_results, parse_results

#: The keys of :func:`clear_mot`'s result, in the order reports print them.
MOT_STATS = ("MOTA", "MOTP", "IDF1", "FP", "FN", "IDSw", "MT", "PT", "ML", "FM", "GT")


@dataclass
class MotsFrame:
    """One frame of one video, masks as compressed RLEs (``counts`` bytes).

    ``gt_*``: the ground-truth objects that count (ids unique in the video); ``ignore_masks``: crowd
    regions; ``hyp_*``: the hypotheses (a track id per mask). Classes are any hashable labels.
    """

    gt_ids: list[int]
    gt_classes: list[Any]
    gt_masks: list[dict]
    ignore_masks: list[dict]
    hyp_ids: list[int]
    hyp_classes: list[Any]
    hyp_masks: list[dict]


def _max_matching(distances: np.ndarray) -> list[tuple[int, int]]:
    """As many ``(row, column)`` pairs with finite ``distances [R, C]`` as possible, at the least total."""
    if distances.size == 0:
        return []
    finite = np.isfinite(distances)
    # Any finite distance is at most 1, so an impossible pair costs more than all possible ones together.
    cost = np.where(finite, distances, float(distances.shape[0] + distances.shape[1] + 1))
    rows, columns = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, columns) if finite[r, c]]


@dataclass
class _Accumulator:
    """The events of one (video, category): matches, misses, false positives, switches, and what IDF1
    and the track statistics need."""

    matches: int = 0
    distance_sum: float = 0.0
    false_positives: int = 0
    misses: int = 0
    switches: int = 0
    last_match: dict[int, int] = field(default_factory=dict)  # object -> hypothesis it was last matched to
    tracked: dict[int, list[bool]] = field(default_factory=lambda: defaultdict(list))  # object -> matched per frame present
    hyp_frames: Counter = field(default_factory=Counter)
    can_match: Counter = field(default_factory=Counter)  # (object, hypothesis) -> frames with a finite distance

    def update(self, gt_ids: Sequence[int], hyp_ids: Sequence[int], distances: np.ndarray) -> None:
        """One frame: ``distances [G, H]``, ``nan`` where the pair cannot match."""
        gt_free = np.ones(len(gt_ids), dtype=bool)
        hyp_free = np.ones(len(hyp_ids), dtype=bool)
        column = {h: j for j, h in enumerate(hyp_ids)}
        pairs = []
        for i, o in enumerate(gt_ids):  # continue the previous correspondences
            j = column.get(self.last_match.get(o, -1))
            if j is not None and hyp_free[j] and np.isfinite(distances[i, j]):
                pairs.append((i, j))
                gt_free[i] = hyp_free[j] = False
        rest = np.where(gt_free[:, None] & hyp_free[None, :], distances, np.nan)
        for i, j in _max_matching(rest):
            o, h = gt_ids[i], hyp_ids[j]
            self.switches += int(o in self.last_match and self.last_match[o] != h)
            pairs.append((i, j))
            gt_free[i] = hyp_free[j] = False
        for i, j in pairs:
            self.last_match[gt_ids[i]] = hyp_ids[j]
            self.distance_sum += float(distances[i, j])
        self.matches += len(pairs)
        self.misses += int(gt_free.sum())
        self.false_positives += int(hyp_free.sum())
        for i, o in enumerate(gt_ids):
            self.tracked[o].append(not gt_free[i])
        self.hyp_frames.update(hyp_ids)
        for i, j in zip(*np.nonzero(np.isfinite(distances))):
            self.can_match[gt_ids[i], hyp_ids[j]] += 1

    def identity_true_positives(self) -> int:
        """IDTP: the best one-to-one pairing of object and hypothesis tracks by frames they can match."""
        if not self.can_match:
            return 0
        objects = sorted({o for o, _ in self.can_match})
        hyps = sorted({h for _, h in self.can_match})
        weights = np.zeros((len(objects), len(hyps)))
        for (o, h), frames in self.can_match.items():
            weights[objects.index(o), hyps.index(h)] = frames
        rows, columns = linear_sum_assignment(weights, maximize=True)
        return int(weights[rows, columns].sum())


def clear_mot(videos: Iterable[Iterable[MotsFrame]], iou_threshold: float = 0.5, ignore_iof_threshold: float = 0.5) -> dict:
    """The :data:`MOT_STATS` of every video's frames (module docstring)."""
    accumulators: list[_Accumulator] = []
    for frames in videos:
        per_class: dict[Any, _Accumulator] = defaultdict(_Accumulator)
        for frame in frames:
            for label in sorted(set(frame.gt_classes) | set(frame.hyp_classes), key=repr):
                gt_rows = [i for i, c in enumerate(frame.gt_classes) if c == label]
                hyp_rows = [j for j, c in enumerate(frame.hyp_classes) if c == label]
                hyp_masks = [frame.hyp_masks[j] for j in hyp_rows]
                distances = 1.0 - mask_ious([frame.gt_masks[i] for i in gt_rows], hyp_masks)  # [G, H]
                distances[distances > 1.0 - iou_threshold] = np.nan
                if frame.ignore_masks and hyp_rows:
                    unmatched = np.ones(len(hyp_rows), dtype=bool)
                    unmatched[[j for _, j in _max_matching(distances)]] = False
                    in_crowd = (mask_ious(hyp_masks, frame.ignore_masks, over_first=True) > ignore_iof_threshold).any(axis=1)
                    counted = ~(unmatched & in_crowd)
                    hyp_rows = [j for j, keep in zip(hyp_rows, counted) if keep]
                    distances = distances[:, counted]
                if gt_rows or hyp_rows:
                    per_class[label].update([frame.gt_ids[i] for i in gt_rows], [frame.hyp_ids[j] for j in hyp_rows], distances)
        accumulators.extend(per_class.values())

    totals = {key: sum(getattr(a, key) for a in accumulators)
              for key in ("matches", "distance_sum", "false_positives", "misses", "switches")}
    ratios = [np.mean(frames) for a in accumulators for frames in a.tracked.values()]
    num_gt = sum(len(frames) for a in accumulators for frames in a.tracked.values())
    num_hyp = sum(sum(a.hyp_frames.values()) for a in accumulators)
    idtp = sum(a.identity_true_positives() for a in accumulators)
    fragmentations = 0
    for a in accumulators:
        for frames in a.tracked.values():
            hit = np.flatnonzero(frames)
            if hit.size:
                span = np.asarray(frames[hit[0]: hit[-1] + 1])
                fragmentations += int((span[:-1] & ~span[1:]).sum())
    errors = totals["misses"] + totals["false_positives"] + totals["switches"]
    return {
        "MOTA": 1.0 - errors / num_gt if num_gt else float("nan"),
        "MOTP": 1.0 - totals["distance_sum"] / totals["matches"] if totals["matches"] else float("nan"),
        "IDF1": 2.0 * idtp / (num_gt + num_hyp) if num_gt + num_hyp else float("nan"),
        "FP": totals["false_positives"],
        "FN": totals["misses"],
        "IDSw": totals["switches"],
        "MT": int(sum(r >= 0.8 for r in ratios)),
        "PT": int(sum(0.2 <= r < 0.8 for r in ratios)),
        "ML": int(sum(r < 0.2 for r in ratios)),
        "FM": fragmentations,
        "GT": num_gt,
    }


def mots_frames(dataset: Any, entries: Sequence[dict], source: str | os.PathLike | None = None,
                class_agnostic: bool = False) -> Iterable[list[MotsFrame]]:
    """Per video of ``dataset`` (a ``YTVISDataset``) its :class:`MotsFrame` list: ground-truth instances
    (``iscrowd`` ones as crowd regions) against results ``entries`` (hypothesis id = entry index); empty
    masks are absent. ``class_agnostic``: every category as one."""
    videos = {video.id: video for video in dataset.videos}
    by_video: dict[Any, list] = defaultdict(list)
    for track in parse_results(entries, videos, source):
        by_video[track.video_id].append(track)
    for video in dataset.videos:
        size = [video.height, video.width]
        instances = dataset.instances(video.id)
        frames = []
        for t in range(video.length):
            gt = [(inst, inst.segmentations[t]) for inst in instances if inst.segmentations[t] is not None]
            gt = [(inst, rle) for inst, rle in gt if mask_utils.area(rle) > 0]
            hyps = [(track, {"size": size, "counts": track.counts[t]}) for track in by_video[video.id]
                    if t < len(track.counts) and track.counts[t] is not None]
            hyps = [(track, rle) for track, rle in hyps if mask_utils.area(rle) > 0]
            counted = [(inst, rle) for inst, rle in gt if not inst.iscrowd]
            frames.append(MotsFrame(
                gt_ids=[inst.id for inst, _ in counted],
                gt_classes=[0 if class_agnostic else inst.category_id for inst, _ in counted],
                gt_masks=[rle for _, rle in counted],
                ignore_masks=[rle for inst, rle in gt if inst.iscrowd],
                hyp_ids=[track.index for track, _ in hyps],
                hyp_classes=[0 if class_agnostic else track.category_id for track, _ in hyps],
                hyp_masks=[rle for _, rle in hyps],
            ))
        yield frames


def evaluate_mots(gt: Any, results: str | os.PathLike | Sequence[dict], class_agnostic: bool = False,
                  iou_threshold: float = 0.5) -> dict:
    """:func:`clear_mot` of a YouTube-VIS ground truth (dataset or file) and results (list or file)."""
    from gvis.data.ytvis import YTVISDataset

    dataset = gt if isinstance(gt, YTVISDataset) else YTVISDataset.from_json(gt)
    source = results if isinstance(results, (str, os.PathLike)) else None
    entries = load_results(results) if source is not None else results
    return clear_mot(mots_frames(dataset, entries, source, class_agnostic), iou_threshold)


def format_mot_stats(stats: dict) -> str:
    """One line per stat: rates in %, counts as integers."""
    lines = ["MOTS (CLEAR MOT, IDF1; mask IoU >= 0.5)"]
    for name in MOT_STATS:
        value = stats[name]
        lines.append(f"{name:<5} {100 * value:7.2f}" if name in ("MOTA", "MOTP", "IDF1") else f"{name:<5} {value:7d}")
    return "\n".join(lines)
