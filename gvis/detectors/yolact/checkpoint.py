"""Detector weights files: one ``torch.save`` dict, written atomically.

Format ``gvis-detector-checkpoint`` version 1, readable with ``torch.load(path, weights_only=True)``:

- always: ``format``, ``version``, ``model`` (:class:`~gvis.detectors.yolact.model.YolactModel` state
  dict), ``appearance`` (:class:`~gvis.detectors.appearance.AppearanceNetwork` state dict, or ``None``),
  ``config`` (the :class:`~gvis.detectors.yolact.model.DetectorConfig` as a dict, ``num_classes`` filled),
  ``categories`` (``[{"id", "name"}]``, class columns 1..C), and what produced it: ``train_config``,
  ``step``, ``seed``, ``git_hash``, ``gvis_version``, ``train_seconds``, ``metrics``;
- training state (``last.pt`` of ``gvis train-detector``, dropped by :func:`export_detector`):
  ``optimizer``, ``scheduler``, ``stream`` (frame sampler position) and ``rng``.

Weights may be stored in float16 (``half=True``: the shipped checkpoint); loading returns float32.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gvis.io import check_parts, load_tagged, save_tagged

FORMAT = "gvis-detector-checkpoint"
VERSION = 1
#: Keys of the training state, dropped by :func:`export_detector`.
TRAINING_STATE = ("optimizer", "scheduler", "stream", "rng")
#: The detector shipped with gvis (``experiments/detector_proof.py`` makes it; metadata in ``<stem>.json``).
SHIPPED_DETECTOR = Path(__file__).resolve().parents[3] / "checkpoints" / "detector-synth-small.pt"
WEIGHTS = ("model", "appearance")


def _cast(state: dict | None, dtype: torch.dtype) -> dict | None:
    if state is None:
        return None
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def save_detector_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any], half: bool = False) -> Path:
    """Write ``checkpoint`` (``format`` / ``version`` added; weights in float16 if ``half``) atomically."""
    if half:
        checkpoint = {**checkpoint, **{key: _cast(checkpoint.get(key), torch.float16) for key in WEIGHTS}}
    return save_tagged(path, checkpoint, FORMAT, VERSION)


def load_detector_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_detector_checkpoint` (weights as float32); ``InputError`` naming
    the file otherwise."""
    checkpoint = load_tagged(path, FORMAT, VERSION, "detector checkpoint", map_location)
    check_parts(checkpoint, {"model": dict, "config": dict, "categories": list}, path, "detector checkpoint")
    checkpoint.update({key: _cast(checkpoint.get(key), torch.float32) for key in WEIGHTS})
    return checkpoint


def export_detector(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint without its training state (what detection needs)."""
    return {key: value for key, value in checkpoint.items() if key not in TRAINING_STATE}


def shipped_detector() -> Path | None:
    """The shipped detector checkpoint, or ``None`` if this checkout lacks it."""
    return SHIPPED_DETECTOR if SHIPPED_DETECTOR.is_file() else None


def is_shipped_detector(meta: dict[str, Any] | None) -> bool:
    """Whether detector metadata (``YolactDetector.meta``, a detections file's header ``meta``) names the
    shipped detector checkpoint."""
    if not meta or meta.get("detector") != "yolact" or not meta.get("checkpoint"):
        return False
    return Path(meta["checkpoint"]).resolve() == SHIPPED_DETECTOR.resolve()
