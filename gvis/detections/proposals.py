"""Dense class-agnostic proposals: what a proposal method without classes or appearance hands a tracker.

Class-agnostic segmenters (proposal networks, "segment anything" style generators, a detector run without
its per-class NMS) report many overlapping masks per object: the whole object at slightly different extents,
parts of it, looser masks around it, and some background; no class, no appearance vector, scores that are
either all 1.0 or spread with little meaning. This module turns the objects of a frame (ground-truth masks
or another detector's masks) into such proposals, so that trackers can be measured and tuned on them:

* per source object: ``copies`` jittered copies (shifted, eroded / dilated, wobbly boundary: the
  simulator's mask noise), ``parts`` (the pixels on one side of a random line, ``part_min``..``part_max`` of
  the object), ``loose`` copies dilated by ``loose_dilation`` object radii;
* per frame: ``background`` elliptic blobs (area a log-uniform fraction of the frame between
  ``background_area_min`` and ``background_area_max``);
* every proposal gets the single category ``category_id``, no appearance, box = its mask's extent, and a
  score: ``1.0`` (``scores: constant``) or ``sigmoid(kind logit + N(0, score_std²))`` (``scores: spread``:
  whole copies 1, loose copies 0, parts −0.5, background −1.5); ``scores: mixed`` (training data) draws
  per video: constant with probability ``constant_fraction``, else spread;
* the frame's proposals are shuffled, so that their order says nothing about which object they came from.

Draws come from a generator the caller keys (e.g. by seed, video and frame), so proposals are
reproducible and independent of which other frames are built.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np
import torch

from gvis.config import to_dict
from gvis.detections.jsonl import DetectionsWriter
from gvis.detections.simulate import MaskNoiseConfig, _ellipse, _part_of, _perturb_mask, _tight_box
from gvis.detections.structures import Detections, encode_masks

#: Third seed word of a video's own draws (``scores: mixed``): frames use ``[seed, video, t]`` with small
#: ``t``, and numpy pads shorter seeds with zeros, so ``[seed, video]`` would repeat frame 0's stream.
VIDEO_DRAW_KEY = 2**31
#: Score logit of each kind of proposal (``scores: spread``).
_KIND_LOGITS = {"copy": 1.0, "loose": 0.0, "part": -0.5, "background": -1.5}


@dataclass
class DenseProposalConfig:
    """How many proposals of each kind, their noise and their scores (see the module docstring)."""

    copies: int = 4
    parts: int = 3
    part_min: float = 0.3
    part_max: float = 0.8
    loose: int = 1
    loose_dilation: float = 0.3
    background: int = 2
    background_area_min: float = 0.002
    background_area_max: float = 0.03
    mask: MaskNoiseConfig = field(default_factory=lambda: MaskNoiseConfig(shift_std=0.08, morph_std=0.08, boundary_noise=0.05))
    scores: Literal["constant", "spread", "mixed"] = "spread"
    score_std: float = 1.0
    constant_fraction: float = 0.5
    category_id: int = 1

    def validate(self) -> None:
        for key in ("copies", "parts", "loose", "background"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 < self.part_min <= self.part_max < 1.0:
            raise ValueError(f"need 0 < part_min <= part_max < 1, got {self.part_min}, {self.part_max}")
        if not 0.0 < self.background_area_min <= self.background_area_max < 1.0:
            raise ValueError("need 0 < background_area_min <= background_area_max < 1, got "
                             f"{self.background_area_min}, {self.background_area_max}")
        if self.score_std < 0:
            raise ValueError(f"score_std must be >= 0, got {self.score_std}")
        if self.scores not in ("constant", "spread", "mixed"):
            raise ValueError(f"scores must be 'constant', 'spread' or 'mixed', got {self.scores!r}")
        if not 0.0 <= self.constant_fraction <= 1.0:
            raise ValueError(f"constant_fraction must be in [0, 1], got {self.constant_fraction}")

    def for_video(self, seed: int, video_id: int) -> "DenseProposalConfig":
        """The config of one video: ``scores: mixed`` resolved to constant or spread by a draw of
        ``numpy.random.default_rng([seed, video_id, VIDEO_DRAW_KEY])``; any other config as it is."""
        if self.scores != "mixed":
            return self
        constant = np.random.default_rng([seed, video_id, VIDEO_DRAW_KEY]).random() < self.constant_fraction
        return replace(self, scores="constant" if constant else "spread")


@dataclass
class ProposalFrame:
    """The proposals of one frame and where each came from: ``kinds[n]`` (copy, part, loose, background)
    and ``sources[n]`` (row of the source object, ``-1`` for background)."""

    detections: Detections
    kinds: list[str]
    sources: list[int]


def dense_proposals(objects: Sequence[np.ndarray], image_size: tuple[int, int], config: DenseProposalConfig,
                    rng: np.random.Generator) -> ProposalFrame:
    """The proposals of one frame whose objects are the non-empty ``[H, W]`` bool masks ``objects``
    (``config.scores`` constant or spread: resolve ``mixed`` per video first, :meth:`DenseProposalConfig.for_video`)."""
    if config.scores == "mixed":
        raise ValueError("scores 'mixed' is drawn per video: pass config.for_video(seed, video_id)")
    height, width = image_size
    masks: list[np.ndarray] = []
    kinds: list[str] = []
    sources: list[int] = []

    def add(mask: np.ndarray, kind: str, source: int) -> None:
        if mask.any():
            masks.append(mask)
            kinds.append(kind)
            sources.append(source)

    for row, obj in enumerate(objects):
        if not obj.any():
            continue
        for _ in range(config.copies):
            add(_perturb_mask(obj, rng, config.mask), "copy", row)
        for _ in range(config.parts):
            add(_part_of(_perturb_mask(obj, rng, config.mask), rng, rng.uniform(config.part_min, config.part_max)), "part", row)
        for _ in range(config.loose):
            add(_perturb_mask(obj, rng, config.mask, dilation=config.loose_dilation), "loose", row)
    low, high = config.background_area_min, config.background_area_max
    for _ in range(config.background):
        area = math.exp(rng.uniform(math.log(low), math.log(high)))
        center = rng.uniform([0, 0], [height, width])
        aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        add(_ellipse(height, width, area, center, aspect, rng.uniform(0.0, math.pi)), "background", -1)

    order = rng.permutation(len(masks))
    masks = [masks[n] for n in order]
    kinds = [kinds[n] for n in order]
    sources = [sources[n] for n in order]
    if config.scores == "constant":
        scores = [1.0] * len(masks)
    else:
        logits = [_KIND_LOGITS[kind] + rng.normal(0.0, config.score_std) for kind in kinds]
        scores = [1.0 / (1.0 + math.exp(-logit)) for logit in logits]
    count = len(masks)
    detections = Detections(
        boxes=torch.as_tensor(np.array([_tight_box(m) for m in masks]), dtype=torch.float32).reshape(count, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.full((count,), config.category_id, dtype=torch.long),
        masks=encode_masks(torch.from_numpy(np.stack(masks))) if count else [],
        image_size=(height, width),
    )
    return ProposalFrame(detections, kinds, sources)


def ground_truth_objects(dataset: Any, video_id: int) -> Iterable[list[np.ndarray]]:
    """Per frame of a video, the ``[H, W]`` masks of its ground-truth instances (crowd ones left out)."""
    crowd = {inst.id for inst in dataset.instances(video_id) if inst.iscrowd}
    for t in range(dataset.video(video_id).length):
        ids, masks = dataset.frame_masks(video_id, t)
        yield [mask for instance, mask in zip(ids.tolist(), masks) if instance not in crowd]


def write_dense_proposals(path: str | os.PathLike, dataset: Any, config: DenseProposalConfig, seed: int,
                          objects: Callable[[int], Iterable[list[np.ndarray]]] | None = None,
                          meta: dict | None = None) -> dict[str, int]:
    """Write the dense proposals of every frame of ``dataset``'s videos as a ``.jsonl``.

    ``objects(video_id)`` gives each frame's source masks (default: the ground truth,
    :func:`ground_truth_objects`). The draws of frame ``t`` of video ``v`` come from
    ``numpy.random.default_rng([seed, v, t])``. The header lists the one category ``"object"``
    (``config.category_id``), no appearance. With ``scores: mixed`` each video's scores are constant or
    spread (:meth:`DenseProposalConfig.for_video`). Returns ``{"videos", "frames", "detections"}``.
    """
    objects = objects or (lambda video_id: ground_truth_objects(dataset, video_id))
    counts = {"videos": 0, "frames": 0, "detections": 0}
    header_meta = {"detector": "dense-proposals", "seed": seed, "config": to_dict(config), **(meta or {})}
    with DetectionsWriter(path, [{"id": config.category_id, "name": "object"}], None, meta=header_meta) as writer:
        for video in dataset.videos:
            video_config = config.for_video(seed, video.id)
            for t, frame_objects in enumerate(objects(video.id)):
                rng = np.random.default_rng([seed, video.id, t])
                proposals = dense_proposals(frame_objects, (video.height, video.width), video_config, rng)
                writer.write(video.id, t, proposals.detections)
                counts["frames"] += 1
                counts["detections"] += len(proposals.detections)
            counts["videos"] += 1
    return counts
