"""The simulated detector: realistic noisy detections made from ground truth.

It stands in for a trained segmenter on the synthetic benchmark (and on any YouTube-VIS dataset), so that
trackers can be trained and compared on a CPU. Its noise model (``docs/simulated-detector.md``) has the
failure modes that make VIS tracking hard:

* **misses**, more likely for small and occluded objects (visible area / unoccluded area), and sticky in
  time (a missed object tends to stay missed for a few frames);
* **false positives**: duplicate detections of one object (a part of it, a loose copy, or one detection
  covering two touching objects) and background blobs that persist for a few frames;
* **class confusion** biased to similar categories (a similarity matrix from per-category latents) and
  persistent per instance;
* **box and mask jitter**: shifts, erosion/dilation and a wobbly boundary, from a signed distance field;
* **mis-calibrated scores**: true and false detections overlap in score; hard objects score lower;
  ``class_probs [N, C+1]`` agree with label and score (``class_probs[label] = score``, the largest
  foreground entry);
* **appearance vectors** ``[N, Da]`` = per-instance latent + slow drift + per-frame noise; instances that
  look alike (same category, same look-alike group, similar colour) have nearby latents; plus a frame
  descriptor ``[Da]``.

Settings make it look like other segmenters too (``configs/simulator/agnostic.yaml``): class-agnostic
proposals (``class_agnostic``: one category, ``object``), no appearance vectors (``with_appearance``), scores
from a constant 1.0 (``score.constant_fraction`` of the videos) to widely spread (``score.temperature``) and
several overlapping proposals per object (``duplicates.count``).

Everything is drawn from random streams keyed by ``(seed, video_id, ...)``, so a video's detections do
not depend on which other videos are simulated or in what order. Category structure (similarity,
appearance prototypes) is keyed by ``detector_seed`` and the category *name*: the same "detector" confuses
the same classes on every dataset and split.

Ground truth comes from a ``YTVISDataset``. Annotations from the synthetic generator carry
``extra["synth"] = {"color", "look_alike_group", "full_areas"}``; without it (real datasets) every object
counts as unoccluded, colours are not used and every instance is its own look-alike group.
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from scipy import ndimage

from gvis.config import find_config, load_config, to_dict
from gvis.data.ytvis import _per_chunk
from gvis.detections.structures import Detections, encode_masks, pycoco_rle
from gvis.registry import DETECTORS

# Stream tags: independent random streams for the different kinds of draws.
_STREAM_FRAMES, _STREAM_INSTANCE, _STREAM_CATEGORY, _STREAM_COLOR, _STREAM_GROUP, _STREAM_VIDEO, _STREAM_SCORES = range(7)
#: The one category of class-agnostic proposals (``class_agnostic: true``).
AGNOSTIC_CATEGORY = {"id": 1, "name": "object"}


# ------------------------------------------------------------------------------------------ config
@dataclass
class MissConfig:
    """P(detect) = (1 − base_rate) · a / (a + small_area) · visibility^visibility_power.

    ``a`` = visible area / frame area; ``visibility`` = visible / unoccluded area. A miss at ``t−1``
    raises the miss probability at ``t`` to at least ``persistence``.
    """

    base_rate: float = 0.03
    small_area: float = 0.001
    visibility_power: float = 0.7
    persistence: float = 0.3


@dataclass
class BoxNoiseConfig:
    """Per-coordinate Gaussian jitter of the box (around the noisy mask's tight box)."""

    std: float = 0.04  # fraction of the box's width (x) / height (y)


@dataclass
class MaskNoiseConfig:
    """Mask noise on the signed distance field. Lengths are fractions of the object's radius sqrt(area/π)."""

    shift_std: float = 0.05  # translation
    morph_std: float = 0.06  # erosion (< 0) / dilation (> 0) of the whole boundary
    boundary_noise: float = 0.06  # std of a smooth, spatially varying boundary displacement
    boundary_scale: float = 0.6  # correlation length of that displacement


@dataclass
class ConfusionConfig:
    """Wrong classes: P(confused) = rate + hard_boost · (1 − quality), quality = size term · visibility term.

    The wrong class is drawn ∝ exp(−‖z_c − z_d‖² / temperature) over per-category latents ``z`` (dimension
    ``latent_dim``, drawn from ``detector_seed`` and the category name). With probability
    ``persistence`` a confused instance takes its own fixed wrong class (a detector that mistakes this
    cat for a dog does so again).
    """

    rate: float = 0.05
    hard_boost: float = 0.2
    latent_dim: int = 4
    temperature: float = 2.0
    persistence: float = 0.7


@dataclass
class ScoreConfig:
    """Scores are sigmoid(logit); logits of true and false detections overlap (mis-calibration).

    True detection: ``tp_mean + quality_weight · (quality − 1) + tp_std · ε`` (+ ``confused_shift`` when
    the class is wrong); duplicates and merges add ``duplicate_shift``; background blobs:
    ``fp_mean + fp_std · ε``. Detections below ``min_score`` are dropped, at most ``max_detections`` kept.
    ``class_spread``: up to this fraction of ``1 − score`` goes to other (similar) classes, the rest to
    background.

    Per video (a stream of its own, so the other draws do not change): with probability
    ``constant_fraction`` every detection scores exactly 1.0 (a segmenter without confidences; the
    detections are then reported in random order); otherwise scores are ``sigmoid(logit / τ)`` with τ
    log-uniform in ``temperature`` (τ < 1 spreads scores towards 0 and 1, τ > 1 squeezes them to 0.5).
    """

    tp_mean: float = 2.0
    tp_std: float = 1.0
    quality_weight: float = 2.0
    confused_shift: float = -1.0
    duplicate_shift: float = -1.5
    fp_mean: float = -1.0
    fp_std: float = 1.0
    min_score: float = 0.05
    max_detections: int = 100
    class_spread: float = 0.6
    constant_fraction: float = 0.0
    temperature: tuple[float, float] = (1.0, 1.0)


@dataclass
class DuplicateConfig:
    """Extra detections of a detected object: ``count`` draws per object and frame, each made with
    probability ``rate`` (a part of it with ``part_min..part_max`` of its pixels, or a loose copy dilated by
    ``loose_dilation`` radii), and ``merge_rate`` per pair of touching objects (one detection covering both)."""

    rate: float = 0.08
    count: int = 1
    part_min: float = 0.35
    part_max: float = 0.8
    loose_dilation: float = 0.25
    merge_rate: float = 0.15


@dataclass
class BackgroundConfig:
    """Background blobs (elliptic false positives): ``birth_rate`` new ones per frame (Poisson), each
    surviving to the next frame with probability ``keep``; area a log-uniform fraction of the frame in
    ``[area_min, area_max]``; appearance = the video's background latent + an offset of norm ``offset``."""

    birth_rate: float = 0.15
    keep: float = 0.6
    area_min: float = 0.001
    area_max: float = 0.02
    offset: float = 0.5


@dataclass
class AppearanceConfig:
    """Appearance vectors. Every random vector below is N(0, scale²/dim · I), so its norm is ≈ scale.

    Instance latent = ``category`` · prototype(category) + ``color`` · W(colour) + ``group`` · g(look-alike
    group) + own offset (``instance``, or ``look_alike_instance`` for members of a look-alike group of two
    or more). Observation = latent + drift (AR(1), stationary norm ``drift``, correlation ``drift_rho``
    between frames) + noise (``noise`` · (1 + ``occlusion_noise`` · (1 − visibility))). The frame
    descriptor is the area-weighted mix of the video's background latent (norm ``background``) and the
    visible objects' vectors, plus noise.
    """

    dim: int = 64
    category: float = 1.0
    color: float = 0.5
    group: float = 0.4
    instance: float = 0.5
    look_alike_instance: float = 0.12
    drift: float = 0.15
    drift_rho: float = 0.95
    noise: float = 0.15
    occlusion_noise: float = 1.0
    background: float = 1.0


@dataclass
class SimulatorConfig:
    """Settings of the simulated detector. Defaults are the ``medium`` preset.

    ``class_agnostic``: every detection is labelled with the one category ``object`` (``class_probs``
    ``[1 − score, score]``), as from a class-agnostic proposal method. ``with_appearance``: false gives
    detections without appearance vectors or frame descriptors (``appearance_dim`` null in the ``.jsonl``).
    """

    noise_free: bool = False
    detector_seed: int = 0
    class_agnostic: bool = False
    with_appearance: bool = True
    miss: MissConfig = field(default_factory=MissConfig)
    box: BoxNoiseConfig = field(default_factory=BoxNoiseConfig)
    mask: MaskNoiseConfig = field(default_factory=MaskNoiseConfig)
    confusion: ConfusionConfig = field(default_factory=ConfusionConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    duplicates: DuplicateConfig = field(default_factory=DuplicateConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)

    def validate(self) -> None:
        probabilities = {
            "miss.base_rate": self.miss.base_rate, "miss.persistence": self.miss.persistence,
            "confusion.rate": self.confusion.rate, "confusion.persistence": self.confusion.persistence,
            "score.min_score": self.score.min_score, "score.class_spread": self.score.class_spread,
            "duplicates.rate": self.duplicates.rate, "duplicates.merge_rate": self.duplicates.merge_rate,
            "duplicates.part_min": self.duplicates.part_min, "duplicates.part_max": self.duplicates.part_max,
            "background.keep": self.background.keep, "appearance.drift_rho": self.appearance.drift_rho,
            "score.constant_fraction": self.score.constant_fraction,
        }
        for key, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"key '{key}' must be in [0, 1], got {value}")
        if self.background.keep >= 1.0:
            raise ValueError("key 'background.keep' must be < 1 (blobs would never disappear)")
        non_negative = {
            "miss.small_area": self.miss.small_area, "miss.visibility_power": self.miss.visibility_power,
            "box.std": self.box.std, "mask.shift_std": self.mask.shift_std, "mask.morph_std": self.mask.morph_std,
            "mask.boundary_noise": self.mask.boundary_noise, "confusion.hard_boost": self.confusion.hard_boost,
            "score.tp_std": self.score.tp_std, "score.fp_std": self.score.fp_std,
            "score.quality_weight": self.score.quality_weight, "duplicates.loose_dilation": self.duplicates.loose_dilation,
            "background.birth_rate": self.background.birth_rate, "background.offset": self.background.offset,
            **{f"appearance.{f.name}": getattr(self.appearance, f.name)
               for f in dataclasses.fields(AppearanceConfig) if f.name not in ("dim", "drift_rho")},
        }
        for key, value in non_negative.items():
            if value < 0:
                raise ValueError(f"key '{key}' must be >= 0, got {value}")
        positive = {
            "appearance.dim": self.appearance.dim, "confusion.latent_dim": self.confusion.latent_dim,
            "confusion.temperature": self.confusion.temperature, "mask.boundary_scale": self.mask.boundary_scale,
            "score.max_detections": self.score.max_detections, "duplicates.count": self.duplicates.count,
            "score.temperature[0]": self.score.temperature[0],
        }
        for key, value in positive.items():
            if value <= 0:
                raise ValueError(f"key '{key}' must be > 0, got {value}")
        if self.score.temperature[0] > self.score.temperature[1]:
            raise ValueError("key 'score.temperature' must be [low, high] with low <= high")
        if self.duplicates.part_min > self.duplicates.part_max:
            raise ValueError("key 'duplicates.part_min' must be <= 'duplicates.part_max'")
        if not 0 < self.background.area_min <= self.background.area_max <= 1:
            raise ValueError("keys 'background.area_min' <= 'background.area_max' must lie in (0, 1]")


def load_simulator_config(preset: str | Path | None = None, overrides: Sequence[str] = ()) -> SimulatorConfig:
    """The config of a preset (``configs/simulator/<preset>.yaml`` or a YAML path) with ``--set`` overrides."""
    path = find_config(preset, "simulator") if preset is not None else None
    return load_config(SimulatorConfig, path, overrides)


# ------------------------------------------------------------------------------ random helpers
def _rng(*keys: int) -> np.random.Generator:
    """A generator for one independent stream, keyed by non-negative integers."""
    return np.random.default_rng(np.random.SeedSequence([k & 0xFFFFFFFF for k in keys]))


def _vector(rng: np.random.Generator, dim: int, scale: float) -> np.ndarray:
    """N(0, scale²/dim · I): norm ≈ scale."""
    return rng.normal(0.0, scale / math.sqrt(dim), size=dim)


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ----------------------------------------------------------------------------- ground-truth view
@dataclass
class _Instance:
    """What the simulator needs of one ground-truth instance."""

    id: int
    category_id: int
    rles: list[dict | None]  # per frame, pycocotools-ready (counts bytes)
    areas: np.ndarray  # [T] visible area in pixels (0 where invisible)
    visibility: np.ndarray  # [T] visible / unoccluded area in [0, 1]
    color: np.ndarray | None
    group: tuple[int, int] | None  # (category id, look-alike group id), None when it has none
    latent: np.ndarray = field(default=None)  # [Da]
    drift: np.ndarray = field(default=None)  # [T, Da]
    confusion_target: int = -1  # column of its persistent wrong class


def _ground_truth(dataset: Any, video: Any) -> list[_Instance]:
    instances = []
    length = int(video.length)
    for inst in sorted(dataset.instances(video.id), key=lambda i: i.id):
        if inst.iscrowd:  # crowd regions are not objects to detect (the evaluator ignores them)
            continue
        rles = [None if s is None else pycoco_rle(s) for s in inst.segmentations][:length]
        rles += [None] * (length - len(rles))
        present = [i for i, r in enumerate(rles) if r is not None]
        areas = np.zeros(length)
        if present:
            areas[present] = _per_chunk(mask_utils.area, [rles[i] for i in present])  # > 255 frames
        synth = (inst.extra or {}).get("synth") or {}
        visibility = np.ones(length)
        full_areas = synth.get("full_areas") or []
        for t, full in enumerate(full_areas[:length]):
            if full:
                visibility[t] = min(1.0, areas[t] / float(full))
        color = synth.get("color")
        group = synth.get("look_alike_group")
        instances.append(_Instance(
            id=int(inst.id),
            category_id=int(inst.category_id),
            rles=rles,
            areas=areas,
            visibility=visibility,
            color=None if color is None else np.asarray(color, dtype=np.float64),
            group=None if group is None or group < 0 else (int(inst.category_id), int(group)),
        ))
    return instances


# --------------------------------------------------------------------------------- mask noise
def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Positive inside (distance to the outside), negative outside; boundary pixels at ±1."""
    return ndimage.distance_transform_edt(mask) - ndimage.distance_transform_edt(~mask)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A smooth random field of std ≈ 1 with correlation length ``cell`` pixels."""
    coarse = (max(2, int(math.ceil(shape[0] / cell)) + 1), max(2, int(math.ceil(shape[1] / cell)) + 1))
    grid = rng.normal(size=coarse)
    field_ = ndimage.zoom(grid, (shape[0] / coarse[0], shape[1] / coarse[1]), order=1, grid_mode=True, mode="nearest")
    field_ = field_[: shape[0], : shape[1]]
    if field_.shape != shape:
        field_ = np.pad(field_, ((0, shape[0] - field_.shape[0]), (0, shape[1] - field_.shape[1])), mode="edge")
    return field_ / 0.7  # bilinear interpolation shrinks the std to ~0.7


def _perturb_mask(
    mask: np.ndarray, rng: np.random.Generator, cfg: MaskNoiseConfig, dilation: float = 0.0, shift: float = 0.0
) -> np.ndarray:
    """A noisy copy of ``mask [H, W]``: shifted, eroded/dilated and with a wobbly boundary.

    ``dilation`` and ``shift`` (in object radii) are added to the random ones (for loose duplicates).
    Works on a padded crop around the object.
    """
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    radius = math.sqrt(len(ys) / math.pi)
    grow = (rng.normal(0.0, cfg.morph_std) + dilation) * radius
    wobble = cfg.boundary_noise * radius
    offset = rng.normal(0.0, cfg.shift_std + shift, size=2) * radius
    dy, dx = int(round(offset[0])), int(round(offset[1]))
    pad = int(math.ceil(max(grow, 0.0) + 3 * wobble)) + 2
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, height)
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, width)
    crop = mask[y0:y1, x0:x1]
    level = _signed_distance(crop) + grow
    if wobble > 0:
        level = level + wobble * _smooth_noise(rng, crop.shape, max(2.0, cfg.boundary_scale * radius))
    noisy_crop = level > 0
    out = np.zeros_like(mask)
    ty0, tx0 = y0 + dy, x0 + dx
    sy0, sx0 = max(0, -ty0), max(0, -tx0)
    sy1 = min(noisy_crop.shape[0], height - ty0)
    sx1 = min(noisy_crop.shape[1], width - tx0)
    if sy1 > sy0 and sx1 > sx0:
        out[ty0 + sy0 : ty0 + sy1, tx0 + sx0 : tx0 + sx1] = noisy_crop[sy0:sy1, sx0:sx1]
    return out


def _part_of(mask: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """The ``fraction`` of ``mask``'s pixels on one side of a random line (a partial detection)."""
    ys, xs = np.nonzero(mask)
    angle = rng.uniform(0.0, 2 * math.pi)
    projection = ys * math.sin(angle) + xs * math.cos(angle)
    keep = projection <= np.quantile(projection, fraction)
    part = np.zeros_like(mask)
    part[ys[keep], xs[keep]] = True
    return part


def _ellipse(height: int, width: int, area_fraction: float, center: np.ndarray, aspect: float,
             angle: float) -> np.ndarray:
    """``[H, W]`` bool ellipse of the given area (fraction of the frame), aspect ratio and angle."""
    area = area_fraction * height * width
    semi_a = math.sqrt(area * aspect / math.pi)
    semi_b = area / (math.pi * semi_a)
    reach = max(semi_a, semi_b) + 1
    y0, y1 = max(int(center[0] - reach), 0), min(int(center[0] + reach) + 1, height)
    x0, x1 = max(int(center[1] - reach), 0), min(int(center[1] + reach) + 1, width)
    mask = np.zeros((height, width), dtype=bool)
    if y1 <= y0 or x1 <= x0:
        return mask
    yy, xx = np.mgrid[y0:y1, x0:x1]
    u = (xx - center[1]) * math.cos(angle) + (yy - center[0]) * math.sin(angle)
    v = -(xx - center[1]) * math.sin(angle) + (yy - center[0]) * math.cos(angle)
    mask[y0:y1, x0:x1] = (u / semi_a) ** 2 + (v / semi_b) ** 2 <= 1.0
    return mask


def _tight_box(mask: np.ndarray) -> np.ndarray:
    """``[x1, y1, x2, y2]`` of a non-empty mask, pixel edges (as COCO bboxes: x2 = last column + 1)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def _touching(first: np.ndarray, second: np.ndarray, gap: int = 2) -> bool:
    """Whether two masks come within about ``gap`` pixels of each other (checked near their boxes' overlap)."""
    a, b = _tight_box(first).astype(int), _tight_box(second).astype(int)
    x0, y0 = max(a[0], b[0]) - 2 * gap, max(a[1], b[1]) - 2 * gap
    x1, y1 = min(a[2], b[2]) + 2 * gap, min(a[3], b[3]) + 2 * gap
    if x1 <= x0 or y1 <= y0:
        return False
    y0, x0 = max(y0, 0), max(x0, 0)
    near = ndimage.binary_dilation(first[y0:y1, x0:x1], iterations=gap)
    return bool((near & second[y0:y1, x0:x1]).any())


# ------------------------------------------------------------------------------------ detector
@dataclass
class SimulatedFrame:
    """One simulated frame with where each detection came from (for tests and statistics).

    ``kinds[n]``: ``"tp"`` (the detection of an object), ``"duplicate"`` (an extra detection of one
    object), ``"merge"`` (one detection over two objects) or ``"background"``. ``instance_ids[n]``: the
    ground-truth instance (the first of a merge), ``-1`` for background. ``missed``: visible instances
    without a ``"tp"`` detection. ``visible``: visible instance id → (area fraction, visibility).
    """

    detections: Detections
    kinds: list[str]
    instance_ids: list[int]
    true_labels: list[int]
    missed: list[int]
    visible: dict[int, tuple[float, float]]


@dataclass
class _Candidate:
    mask: np.ndarray | None  # [H, W] bool (None: use ``rle``)
    label: int
    logit: float
    appearance: np.ndarray
    kind: str
    instance_id: int
    true_label: int
    rle: dict | None = None  # exact mask (noise-free)
    box: np.ndarray | None = None


@DETECTORS.register("simulated")
class SimulatedDetector:
    """Simulated detections of the videos of a ``YTVISDataset``.

    Args:
        dataset: ground truth (``.categories``, ``.videos``, ``.video(id)``, ``.instances(id)``).
        preset: ``configs/simulator/<preset>.yaml`` name or a YAML path; ``None`` = defaults (medium).
        overrides: ``key=value`` strings (``--set``).
        noise_free: perfect detections (every visible instance, exact mask and box, true class, score 1,
            one-hot ``class_probs``, appearance = the instance latent).
        seed: noise seed; same seed and config give the same detections.
        config: a ready :class:`SimulatorConfig` (instead of ``preset`` + ``overrides``).
    """

    def __init__(
        self,
        dataset: Any,
        preset: str | Path | None = None,
        overrides: Sequence[str] = (),
        noise_free: bool = False,
        seed: int = 0,
        config: SimulatorConfig | None = None,
    ) -> None:
        self.dataset = dataset
        self.config = config if config is not None else load_simulator_config(preset, overrides)
        if noise_free:
            self.config = dataclasses.replace(self.config, noise_free=True)
        self.seed = int(seed)
        self.preset = None if preset is None else str(preset)
        # The ground truth's categories drive confusions and appearance; ``categories`` are the output's.
        self._dataset_categories = [{"id": int(c.id), "name": str(c.name)} for c in dataset.categories]
        self.category_ids = [c["id"] for c in self._dataset_categories]
        self._column = {cid: k for k, cid in enumerate(self.category_ids)}  # foreground index 0..C-1
        self.categories = [dict(AGNOSTIC_CATEGORY)] if self.config.class_agnostic else self._dataset_categories
        self._build_category_structure()

    @property
    def appearance_dim(self) -> int:
        """``Da`` of the detections' appearance vectors, 0 without them (``with_appearance: false``)."""
        return self.config.appearance.dim if self.config.with_appearance else 0

    @property
    def meta(self) -> dict:
        """Provenance for the ``.jsonl`` header."""
        return {"detector": "simulated", "preset": self.preset, "seed": self.seed, "config": to_dict(self.config)}

    # -- category structure: similarity for confusions, appearance prototypes
    def _build_category_structure(self) -> None:
        cfg = self.config
        dim = cfg.appearance.dim
        latents, prototypes = [], []
        for category in self._dataset_categories:
            rng = _rng(cfg.detector_seed, _STREAM_CATEGORY, _name_key(category["name"]))
            latents.append(rng.normal(size=cfg.confusion.latent_dim))
            prototypes.append(_vector(rng, dim, 1.0))
        latents_ = np.stack(latents)
        # Similar categories (close latents) also get closer appearance prototypes.
        mixing = _rng(cfg.detector_seed, _STREAM_CATEGORY).normal(0.0, 1.0 / math.sqrt(dim), size=(cfg.confusion.latent_dim, dim))
        shared = latents_ @ mixing / math.sqrt(cfg.confusion.latent_dim)
        mixed = (shared + np.stack(prototypes)) / math.sqrt(2.0)
        self._prototypes = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
        distance = ((latents_[:, None, :] - latents_[None, :, :]) ** 2).sum(-1)
        weight = np.exp(-distance / cfg.confusion.temperature)
        np.fill_diagonal(weight, 0.0)
        total = weight.sum(axis=1, keepdims=True)
        #: [C, C] P(wrong class d | true class c); rows sum to 1 (0 for a single category).
        self.confusion_matrix = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
        self._color_matrix = _rng(cfg.detector_seed, _STREAM_COLOR).normal(0.0, 1.0 / math.sqrt(dim), size=(dim, 3))

    # -- per-video latents
    def _video_latents(self, video_id: int, instances: list[_Instance], length: int) -> np.ndarray:
        """Fill each instance's latent, drift and confusion target; returns the background latent."""
        cfg = self.config.appearance
        dim = cfg.dim
        key = video_id & 0xFFFFFFFF
        group_sizes: dict[tuple[int, int], int] = {}
        for inst in instances:
            if inst.group is not None:
                group_sizes[inst.group] = group_sizes.get(inst.group, 0) + 1
        for inst in instances:
            rng = _rng(self.seed, _STREAM_INSTANCE, key, inst.id)
            column = self._column[inst.category_id]
            latent = cfg.category * self._prototypes[column]
            if inst.color is not None:
                centred = (inst.color - 0.5) / (0.2887 * math.sqrt(3.0))  # uniform colour → norm ≈ 1
                latent = latent + cfg.color * (self._color_matrix @ centred)
            in_group = inst.group is not None and group_sizes[inst.group] > 1
            if in_group:
                group_rng = _rng(self.seed, _STREAM_GROUP, key, inst.group[0], inst.group[1])
                latent = latent + _vector(group_rng, dim, cfg.group) + _vector(rng, dim, cfg.look_alike_instance)
            else:
                latent = latent + _vector(rng, dim, math.hypot(cfg.group, cfg.instance))
            inst.latent = latent
            drift = np.zeros((length, dim))
            innovation = math.sqrt(max(1.0 - cfg.drift_rho**2, 0.0))
            state = _vector(rng, dim, cfg.drift)
            for t in range(length):
                drift[t] = state
                state = cfg.drift_rho * state + innovation * _vector(rng, dim, cfg.drift)
            inst.drift = drift
            row = self.confusion_matrix[column]
            inst.confusion_target = int(rng.choice(len(row), p=row)) if row.sum() > 0 else column
        return _vector(_rng(self.seed, _STREAM_VIDEO, key), dim, cfg.background)

    # -- public API
    def detect_video(self, video_id: int) -> Iterator[Detections]:
        """The detections of every frame of one video, in frame order."""
        for frame in self.simulate_video(video_id):
            yield frame.detections

    def simulate_video(self, video_id: int) -> Iterator[SimulatedFrame]:
        """Like :meth:`detect_video`, with where each detection came from."""
        video = self.dataset.video(video_id)
        height, width = int(video.height), int(video.width)
        length = int(video.length)
        instances = _ground_truth(self.dataset, video)
        background_latent = self._video_latents(video_id, instances, length)
        rng = _rng(self.seed, _STREAM_FRAMES, video_id & 0xFFFFFFFF)
        temperature = self._score_temperature(video_id)
        missed_before: set[int] = set()
        blobs: list[dict] = []
        for t in range(length):
            if self.config.noise_free:
                yield self._noise_free_frame(instances, t, height, width, background_latent)
            else:
                yield self._noisy_frame(instances, t, height, width, background_latent, rng, missed_before, blobs,
                                        temperature)

    def _score_temperature(self, video_id: int) -> float | None:
        """The video's score temperature τ (``None``: every detection scores 1.0), from its own stream."""
        cfg = self.config.score
        rng = _rng(self.seed, _STREAM_SCORES, video_id & 0xFFFFFFFF)
        if rng.random() < cfg.constant_fraction:
            return None
        low, high = cfg.temperature
        return math.exp(rng.uniform(math.log(low), math.log(high))) if low < high else low

    # -- noise-free
    def _noise_free_frame(self, instances: list[_Instance], t: int, height: int, width: int,
                          background_latent: np.ndarray) -> SimulatedFrame:
        visible = [inst for inst in instances if inst.rles[t] is not None and inst.areas[t] > 0]
        candidates = []
        for inst in visible:
            box_xywh = mask_utils.toBbox(inst.rles[t])
            box = np.array([box_xywh[0], box_xywh[1], box_xywh[0] + box_xywh[2], box_xywh[1] + box_xywh[3]])
            counts = inst.rles[t]["counts"]
            candidates.append(_Candidate(
                mask=None, rle={"size": [height, width], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts},
                box=box, label=inst.category_id, logit=math.inf, appearance=inst.latent, kind="tp",
                instance_id=inst.id, true_label=inst.category_id,
            ))
        frame_vector = self._frame_descriptor(background_latent, [(c.appearance, inst.areas[t]) for c, inst in zip(candidates, visible)],
                                              height * width, None)
        visible_info = {inst.id: (inst.areas[t] / (height * width), float(inst.visibility[t])) for inst in visible}
        return self._assemble(candidates, height, width, frame_vector, [], visible_info, noise_free=True)

    # -- noisy
    def _quality(self, area_fraction: float, visibility: float) -> float:
        miss = self.config.miss
        size_term = area_fraction / (area_fraction + miss.small_area) if miss.small_area > 0 else 1.0
        return size_term * visibility**miss.visibility_power

    def _noisy_frame(self, instances: list[_Instance], t: int, height: int, width: int,
                     background_latent: np.ndarray, rng: np.random.Generator, missed_before: set[int],
                     blobs: list[dict], temperature: float | None = 1.0) -> SimulatedFrame:
        cfg = self.config
        app = cfg.appearance
        frame_area = height * width
        visible = [inst for inst in instances if inst.rles[t] is not None and inst.areas[t] > 0]
        visible_info = {inst.id: (inst.areas[t] / frame_area, float(inst.visibility[t])) for inst in visible}
        candidates: list[_Candidate] = []
        observed: list[tuple[np.ndarray, float]] = []  # (appearance, area) of visible objects, for the frame descriptor
        missed: list[int] = []
        gt_masks: dict[int, np.ndarray] = {}
        for inst in visible:
            area_fraction, visibility = visible_info[inst.id]
            quality = self._quality(area_fraction, visibility)
            noise_scale = app.noise * (1.0 + app.occlusion_noise * (1.0 - visibility))
            vector = inst.latent + inst.drift[t] + _vector(rng, app.dim, noise_scale)
            observed.append((vector, inst.areas[t]))
            p_miss = 1.0 - (1.0 - cfg.miss.base_rate) * quality
            if inst.id in missed_before:
                p_miss = max(p_miss, cfg.miss.persistence)
            if rng.random() < p_miss:
                missed.append(inst.id)
                continue
            gt_mask = mask_utils.decode(inst.rles[t]).astype(bool)
            gt_masks[inst.id] = gt_mask
            noisy = _perturb_mask(gt_mask, rng, cfg.mask)
            if not noisy.any():
                missed.append(inst.id)
                continue
            label = inst.category_id
            logit = cfg.score.tp_mean + cfg.score.quality_weight * (quality - 1.0) + rng.normal(0.0, cfg.score.tp_std)
            if rng.random() < cfg.confusion.rate + cfg.confusion.hard_boost * (1.0 - quality):
                label = self._wrong_class(inst, rng)
                if label != inst.category_id:
                    logit += cfg.score.confused_shift
            candidates.append(_Candidate(noisy, label, logit, vector, "tp", inst.id, inst.category_id))
            for _ in range(cfg.duplicates.count):
                if rng.random() < cfg.duplicates.rate:
                    candidates.append(self._duplicate(gt_mask, inst, label, logit, vector, rng))
        missed_before.clear()
        missed_before.update(missed)
        candidates.extend(self._merges(visible, gt_masks, candidates, rng))
        candidates.extend(self._background_blobs(blobs, height, width, background_latent, rng))
        frame_vector = self._frame_descriptor(background_latent, observed, frame_area, rng)
        return self._assemble(candidates, height, width, frame_vector, missed, visible_info, noise_free=False, rng=rng,
                              temperature=temperature)

    def _wrong_class(self, inst: _Instance, rng: np.random.Generator) -> int:
        row = self.confusion_matrix[self._column[inst.category_id]]
        if row.sum() == 0:
            return inst.category_id
        if rng.random() < self.config.confusion.persistence:
            return self.category_ids[inst.confusion_target]
        return self.category_ids[int(rng.choice(len(row), p=row))]

    def _duplicate(self, gt_mask: np.ndarray, inst: _Instance, label: int, logit: float, vector: np.ndarray,
                   rng: np.random.Generator) -> _Candidate:
        cfg = self.config
        if rng.random() < 0.5:
            mask = _part_of(_perturb_mask(gt_mask, rng, cfg.mask), rng,
                            rng.uniform(cfg.duplicates.part_min, cfg.duplicates.part_max))
        else:
            mask = _perturb_mask(gt_mask, rng, cfg.mask, dilation=cfg.duplicates.loose_dilation, shift=cfg.mask.shift_std)
        appearance = vector + _vector(rng, cfg.appearance.dim, cfg.appearance.noise)
        logit = logit + cfg.score.duplicate_shift + rng.normal(0.0, cfg.score.tp_std * 0.5)
        return _Candidate(mask, label, logit, appearance, "duplicate", inst.id, inst.category_id)

    def _merges(self, visible: list[_Instance], gt_masks: dict[int, np.ndarray], candidates: list[_Candidate],
                rng: np.random.Generator) -> list[_Candidate]:
        """One detection covering two touching objects (both detected this frame)."""
        cfg = self.config
        if cfg.duplicates.merge_rate <= 0:
            return []
        detected = {c.instance_id: c for c in candidates if c.kind == "tp"}
        ids = [inst.id for inst in visible if inst.id in detected]
        merges = []
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                if _touching(gt_masks[first], gt_masks[second]) and rng.random() < cfg.duplicates.merge_rate:
                    union = _perturb_mask(gt_masks[first] | gt_masks[second], rng, cfg.mask)
                    a, b = detected[first], detected[second]
                    keep = a if a.logit >= b.logit else b
                    logit = keep.logit + cfg.score.duplicate_shift + rng.normal(0.0, cfg.score.tp_std * 0.5)
                    merges.append(_Candidate(union, keep.label, logit, (a.appearance + b.appearance) / 2,
                                             "merge", keep.instance_id, keep.true_label))
        return merges

    def _background_blobs(self, blobs: list[dict], height: int, width: int, background_latent: np.ndarray,
                          rng: np.random.Generator) -> list[_Candidate]:
        cfg = self.config.background
        dim = self.config.appearance.dim
        blobs[:] = [b for b in blobs if rng.random() < cfg.keep]
        for _ in range(rng.poisson(cfg.birth_rate)):
            blobs.append({
                "area": math.exp(rng.uniform(math.log(cfg.area_min), math.log(cfg.area_max))),
                "center": rng.uniform([0, 0], [height, width]),
                "velocity": rng.normal(0.0, 0.01 * min(height, width), size=2),
                "aspect": math.exp(rng.uniform(math.log(0.5), math.log(2.0))),
                "angle": rng.uniform(0.0, math.pi),
                "label": self.category_ids[int(rng.integers(len(self.category_ids)))],
                "logit": self.config.score.fp_mean + rng.normal(0.0, self.config.score.fp_std),
                "appearance": background_latent + _vector(rng, dim, cfg.offset),
            })
        candidates = []
        for blob in blobs:
            blob["center"] = blob["center"] + blob["velocity"]
            mask = _ellipse(height, width, blob["area"], blob["center"], blob["aspect"], blob["angle"])
            if not mask.any():
                continue
            logit = blob["logit"] + rng.normal(0.0, 0.3)
            appearance = blob["appearance"] + _vector(rng, dim, self.config.appearance.noise)
            candidates.append(_Candidate(mask, blob["label"], logit, appearance, "background", -1, -1))
        return candidates

    def _frame_descriptor(self, background_latent: np.ndarray, observed: list[tuple[np.ndarray, float]],
                          frame_area: float, rng: np.random.Generator | None) -> np.ndarray:
        """Area-weighted mix of the background latent and the visible objects' appearance (+ noise)."""
        vector = background_latent.copy()
        for appearance, area in observed:
            vector += (area / frame_area) * (appearance - background_latent)
        if rng is not None:
            vector += _vector(rng, self.config.appearance.dim, self.config.appearance.noise)
        return vector

    def _class_probs(self, label: int, score: float, rng: np.random.Generator | None) -> np.ndarray:
        """``[C+1]`` probabilities: ``score`` on the label, the rest on background and similar classes."""
        num = len(self.category_ids)
        probs = np.zeros(num + 1)
        column = self._column[label]
        probs[column + 1] = score
        rest = 1.0 - score
        if rng is not None and num > 1 and self.config.score.class_spread > 0:
            spread = rest * rng.uniform(0.0, self.config.score.class_spread)
            weight = self.confusion_matrix[column] + 0.1 / num
            weight[column] = 0.0
            others = np.minimum(spread * weight / weight.sum(), 0.9 * score)
            others[column] = 0.0
            probs[1:] += others
            rest -= others.sum()
        probs[0] = rest
        return probs

    def _assemble(self, candidates: list[_Candidate], height: int, width: int, frame_vector: np.ndarray,
                  missed: list[int], visible: dict, noise_free: bool, rng: np.random.Generator | None = None,
                  temperature: float | None = 1.0) -> SimulatedFrame:
        """The frame's :class:`Detections`; ``temperature``: scores are ``sigmoid(logit / temperature)``, all 1.0
        when ``None`` (or noise-free)."""
        cfg = self.config
        scores = []
        kept: list[_Candidate] = []
        dropped: list[_Candidate] = []
        constant = noise_free or temperature is None
        for candidate in candidates:
            score = 1.0 if constant else _sigmoid(candidate.logit / temperature)
            if score < cfg.score.min_score:
                dropped.append(candidate)
                continue
            if candidate.box is None:
                box = _tight_box(candidate.mask)
                size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
                box = box + rng.normal(0.0, cfg.box.std, size=4) * size
                box[[0, 2]] = np.clip(box[[0, 2]], 0, width)
                box[[1, 3]] = np.clip(box[[1, 3]], 0, height)
                box = np.concatenate([np.minimum(box[:2], box[2:]), np.maximum(box[:2], box[2:])])
                candidate.box = box
            kept.append(candidate)
            scores.append(score)
        if not noise_free:  # a detector reports its detections by decreasing score
            # With constant scores, in an order that says nothing about what they are.
            order = rng.permutation(len(kept)).tolist() if temperature is None else range(len(kept))
            order = sorted(order, key=lambda n: -scores[n])
            dropped += [kept[n] for n in order[cfg.score.max_detections :]]
            order = order[: cfg.score.max_detections]
            kept = [kept[n] for n in order]
            scores = [scores[n] for n in order]
        # An object whose true detection scored too low to be reported is missed too (the generator's miss
        # persistence only follows the misses it drew itself, so this does not change any detection).
        missed = missed + [c.instance_id for c in dropped if c.kind == "tp"]
        new_masks = [c.mask for c in kept if c.rle is None]  # [H, W] each
        encoded = iter(encode_masks(torch.from_numpy(np.stack(new_masks))) if new_masks else [])
        masks = [c.rle if c.rle is not None else next(encoded) for c in kept]
        num = len(self.category_ids)
        labels = [c.label for c in kept]
        if kept:
            boxes_t = torch.as_tensor(np.stack([c.box for c in kept]), dtype=torch.float32)
            probs = np.stack([self._class_probs(c.label, s, None if noise_free else rng) for c, s in zip(kept, scores)])
            appearance = torch.as_tensor(np.stack([c.appearance for c in kept]), dtype=torch.float32)
        else:
            boxes_t = torch.zeros((0, 4))
            probs = np.zeros((0, num + 1))
            appearance = torch.zeros((0, cfg.appearance.dim))
        if cfg.class_agnostic:  # the same draws, relabelled: one category, score on it, the rest background
            labels = [AGNOSTIC_CATEGORY["id"]] * len(kept)
            probs = np.array([[1.0 - s, s] for s in scores]).reshape(len(kept), 2)
        detections = Detections(
            boxes=boxes_t,
            scores=torch.as_tensor(scores, dtype=torch.float32).reshape(len(kept)),
            labels=torch.as_tensor(labels, dtype=torch.long).reshape(len(kept)),
            masks=masks,
            image_size=(height, width),
            class_probs=torch.as_tensor(probs, dtype=torch.float32),
            appearance=appearance if cfg.with_appearance else None,
            frame_appearance=torch.as_tensor(frame_vector, dtype=torch.float32) if cfg.with_appearance else None,
        )
        return SimulatedFrame(
            detections=detections,
            kinds=[c.kind for c in kept],
            instance_ids=[c.instance_id for c in kept],
            true_labels=[c.true_label for c in kept],
            missed=missed,
            visible=visible,
        )
