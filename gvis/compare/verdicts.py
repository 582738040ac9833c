"""Verdicts of ``gvis compare``: each row against a reference config, paired over training seeds and held-out
videos, and the check that a row has learned at all within its budget (docs/ablations.md, "Verdicts").

**Paired bootstrap.** Video AP is a dataset-level metric (precision is accumulated over the videos of a set
before it is averaged), so no video has an AP of its own. The unit resampled is the video: a resample draws
each held-out set's videos with replacement (the same draw for every row and every seed, so rows are paired
on the videos) and the training seeds with replacement (among the seeds both rows finished, paired by seed),
and recomputes every AP on it (:meth:`gvis.eval.ytvis_ap.VideoMatches.ap`). A resample's difference is the
mean over its drawn seeds of (row's AP − reference's AP), each AP the mean over the held-out sets as in the
table. The 95 % interval is the 2.5 and 97.5 percentiles of :data:`RESAMPLES` resampled differences (fixed
generator seed :data:`BOOTSTRAP_SEED`): **better** when it lies above 0, **worse** below 0, **undecided**
otherwise. With N seeds there are only a few distinct seed draws; below 3 the seed-to-seed spread is barely
measured and the report says so.

**Learned at this budget?** A run is validated on a fixed small validation set at :data:`VALIDATIONS` points
of its budget. A row is *not learned at this budget* when its validation AP (mean over seeds) at the point
nearest 80 % of the steps reached and at the end differ by more than :data:`CURVE_TOLERANCE` AP, or when a
run ends inside the learning-rate warm-up. Such a row keeps its numbers and gets no verdict.

Differences and curves are in AP points here and in the report's tables; ``to_json`` gives them as fractions
(:func:`ap_fraction`), the unit of every JSON output of gvis (docs/evaluation.md, "Units").
"""
from __future__ import annotations

import csv
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np

from gvis.eval.ytvis_ap import VideoMatches
from gvis.io import atomic_open

#: Bootstrap resamples and the seed of their generator (fixed: the same report every time).
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: Two-sided level of the intervals.
LEVEL = 0.95
#: Validation points per run (every ``ceil(steps / VALIDATIONS)`` steps, and the end).
VALIDATIONS = 5
#: Where the "late" point of a learning curve is, as a fraction of the steps the run reached.
LATE_FRACTION = 0.8
#: Largest change of validation AP (AP points) between the late point and the end of a learned row.
CURVE_TOLERANCE = 1.0
#: Fewer training seeds than this get a warning.
MIN_SEEDS = 3

Outcome = Literal["better", "worse", "undecided"]


def validation_interval(steps: int) -> int:
    """``train.val_every`` that validates a ``steps``-step run :data:`VALIDATIONS` times (the last at the end)."""
    return max(1, math.ceil(steps / VALIDATIONS))


@dataclass
class Verdict:
    """A row against the reference: ``difference`` (AP points, mean over the paired ``seeds`` of row − reference),
    its interval ``[low, high]`` at ``level``, the ``outcome``; ``per_seed`` and ``per_set`` differences (AP
    points; per set: mean over the paired seeds) and ``family_outcome``, the outcome at the Bonferroni level
    for ``family`` rows compared at once."""

    difference: float
    low: float
    high: float
    outcome: Outcome
    seeds: list[int]
    per_seed: dict[int, float]
    per_set: dict[str, float]
    level: float = LEVEL
    family: int = 1
    family_outcome: Outcome | None = None

    def to_json(self, verdict: bool = True) -> dict:
        """The verdict with its AP differences as fractions (``verdict=False``: the paired difference only, for
        a row that gets no verdict)."""
        paired = {"difference": ap_fraction(self.difference), "interval": [ap_fraction(self.low), ap_fraction(self.high)],
                  "level": self.level, "paired_seeds": self.seeds,
                  "per_seed": {str(k): ap_fraction(v) for k, v in self.per_seed.items()},
                  "per_set": {k: ap_fraction(v) for k, v in self.per_set.items()}}
        if verdict:
            paired.update({"verdict": self.outcome, "family": self.family, "verdict_at_family_level": self.family_outcome})
        return paired


def ap_fraction(points: float | None) -> float | None:
    """An AP in points (0–100, the unit of tables) as a fraction (0–1, the unit of JSON); ``None`` stays."""
    return None if points is None else points / 100


def outcome(low: float, high: float) -> Outcome:
    """better / worse / undecided from an interval of differences."""
    return "better" if low > 0 else "worse" if high < 0 else "undecided"


@dataclass(frozen=True)
class RunScores:
    """One run's AP points per held-out set on all its videos (``per_set``) and, per resample, the mean over
    the sets (``resampled [resamples]``)."""

    per_set: dict[str, float]
    resampled: np.ndarray


class PairedBootstrap:
    """Resampled APs of runs and the paired verdicts between them (see the module docstring).

    ``video_counts``: held-out set → its number of videos. The video draws of a set depend only on the
    generator seed, the set's name and its size, and are shared by every run scored: every comparison is
    paired on the same resampled videos, and a run's resampled APs can be cached beside its results.
    """

    def __init__(self, video_counts: Mapping[str, int], resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> None:
        self.resamples, self.seed = resamples, seed
        self.weights = {}
        for name, count in sorted(video_counts.items()):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), count])
            self.weights[name] = rng.multinomial(count, np.full(count, 1 / count), size=resamples)

    def score(self, results: Mapping[str, Path], gts: Mapping[str, Path]) -> RunScores:
        """The :class:`RunScores` of one run from its results file per held-out set (``gts``: the sets'
        ground truths). Each set's APs (all videos, then every resample) are cached beside its results file
        (``<results>.bootstrap<seed>-<resamples>.npy``, remade when the results file is newer)."""
        per_set, resampled = {}, []
        for name, weights in self.weights.items():
            path = results[name]
            cache = path.with_suffix(f".bootstrap{self.seed}-{self.resamples}.npy")
            if _fresh(cache, path):
                values = np.load(cache)
            else:
                ones = np.ones((1, weights.shape[1]), weights.dtype)
                values = 100 * load_matches(path, gts[name]).ap(np.concatenate([ones, weights]))
                with atomic_open(cache, "wb") as handle:
                    np.save(handle, values)
            per_set[name] = float(values[0])
            resampled.append(values[1:])
        return RunScores(per_set, np.mean(resampled, axis=0))

    def compare(self, row: Mapping[int, RunScores], reference: Mapping[int, RunScores],
                family: int = 1) -> Verdict | None:
        """The row's :class:`Verdict` on the training seeds both have (``None`` without any); ``family``: how
        many rows are compared at once (for the Bonferroni outcome)."""
        seeds = sorted(set(row) & set(reference))
        if not seeds:
            return None
        per_seed = {seed: _mean(row[seed].per_set) - _mean(reference[seed].per_set) for seed in seeds}
        per_set = {name: float(np.mean([row[s].per_set[name] - reference[s].per_set[name] for s in seeds]))
                   for name in self.weights}
        resampled = np.stack([row[s].resampled - reference[s].resampled for s in seeds], axis=1)  # [resamples, S]
        draws = np.random.default_rng([self.seed, len(seeds)]).integers(0, len(seeds), size=resampled.shape)
        differences = np.take_along_axis(resampled, draws, axis=1).mean(axis=1)
        alpha = 1 - LEVEL
        low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
        family_low, family_high = np.quantile(differences, [alpha / (2 * family), 1 - alpha / (2 * family)])
        return Verdict(float(np.mean(list(per_seed.values()))), float(low), float(high), outcome(low, high), seeds,
                       per_seed, per_set, family=family, family_outcome=outcome(family_low, family_high))


def _mean(values: Mapping[str, float]) -> float:
    return float(np.mean(list(values.values())))


# ------------------------------------------------------------------------------------------ learning curves
@dataclass
class LearningCheck:
    """Whether a row learned within its budget: ``flagged`` True (not learned: no verdict), False, or None (not
    checked: no validation curve); ``reasons`` say why; ``curves``: seed → ``[(step, validation AP points)]``."""

    flagged: bool | None
    reasons: list[str] = field(default_factory=list)
    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    late_change: float | None = None

    def to_json(self) -> dict:
        """The check with its validation APs as fractions."""
        return {"not_learned": self.flagged, "reasons": self.reasons, "late_change": ap_fraction(self.late_change),
                "curves": {str(seed): [[step, ap_fraction(ap)] for step, ap in curve] for seed, curve in self.curves.items()}}


def read_curve(folder: Path) -> list[tuple[int, float]]:
    """``[(step, AP points)]`` of a run's ``validation.csv`` (empty without one)."""
    path = folder / "validation.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [(int(row["step"]), 100 * float(row["AP"])) for row in csv.DictReader(handle)]


def late_point(curve: Sequence[tuple[int, float]]) -> tuple[int, float]:
    """The validation nearest :data:`LATE_FRACTION` of the last step, among those before it (ties: earlier)."""
    end = curve[-1][0]
    return min(curve[:-1], key=lambda point: (abs(point[0] - LATE_FRACTION * end), point[0]))


def check_learning(curves: Mapping[int, Sequence[tuple[int, float]]], final_steps: Mapping[int, int],
                   warmup_steps: int) -> LearningCheck:
    """The :class:`LearningCheck` of one row from its runs' curves, steps reached and warm-up length."""
    check = LearningCheck(None, curves={seed: list(curve) for seed, curve in curves.items()})
    in_warmup = sorted(seed for seed, step in final_steps.items() if step <= warmup_steps)
    if in_warmup:
        check.flagged = True
        check.reasons.append(f"the budget ends inside the {warmup_steps}-step warm-up (seed"
                             f"{'s' if len(in_warmup) > 1 else ''} {', '.join(map(str, in_warmup))} stopped at step "
                             f"{', '.join(str(final_steps[s]) for s in in_warmup)})")
    unchecked = sorted(seed for seed, step in final_steps.items()
                       if len(curves.get(seed, ())) < 2 or curves[seed][-1][0] != step)
    if unchecked or not final_steps:
        check.reasons.append(f"learning curve not checked: no validation curve ending at the last step for seed"
                             f"{'s' if len(unchecked) > 1 else ''} {', '.join(map(str, unchecked))}")
        return check
    late = [late_point(curves[seed]) for seed in final_steps]
    end = [curves[seed][-1] for seed in final_steps]
    check.late_change = float(np.mean([point[1] for point in end]) - np.mean([point[1] for point in late]))
    if abs(check.late_change) > CURVE_TOLERANCE:
        check.flagged = True
        check.reasons.append(f"validation AP still moving: {check.late_change:+.1f} AP from step "
                             f"{round(np.mean([p[0] for p in late]))} to {round(np.mean([p[0] for p in end]))} "
                             f"(more than ±{CURVE_TOLERANCE:g})")
    elif check.flagged is None:
        check.flagged = False
    return check


def load_matches(results: Path, gt: Path) -> VideoMatches:
    """:func:`~gvis.eval.ytvis_ap.match_videos` of a results file, cached beside it (``<results>.matches.npz``,
    remade when the results file is newer)."""
    from gvis.eval.ytvis_ap import match_videos

    cache = results.with_suffix(".matches.npz")
    if _fresh(cache, results):
        with np.load(cache) as arrays:
            return VideoMatches.from_arrays(arrays)
    matches = match_videos(gt, results)
    with atomic_open(cache, "wb") as handle:
        np.savez(handle, **matches.to_arrays())
    return matches


def _fresh(cache: Path, source: Path) -> bool:
    return cache.exists() and cache.stat().st_mtime_ns >= source.stat().st_mtime_ns
