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

Two forms on disk, one in memory. *Embedded* (every training output): ``appearance`` holds the appearance
network. *Split* (``split_appearance=True``, for shipped detectors): ``appearance`` is ``None`` and
``appearance_file`` names a small file in the same folder (``X.pt`` → ``X.appearance.pt``, format
``gvis-appearance-checkpoint`` v1: ``appearance``, ``detection_fingerprint``), so that re-training the
appearance network (stage 2) rewrites that file only. The detector file records the appearance file's name,
not its hash; the appearance file records the :func:`~gvis.provenance.weights_fingerprint` of the detection
weights (``model``) it was trained on, checked on loading. :func:`load_detector_checkpoint` returns both
forms embedded (``appearance_file`` kept as recorded).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gvis.errors import InputError
from gvis.io import check_parts, load_tagged, save_tagged
from gvis.provenance import weights_fingerprint
from gvis.resources import resolve_recorded, shipped_file

FORMAT = "gvis-detector-checkpoint"
VERSION = 1
APPEARANCE_FORMAT = "gvis-appearance-checkpoint"
APPEARANCE_VERSION = 1
#: Keys of the training state, dropped by :func:`export_detector`.
TRAINING_STATE = ("optimizer", "scheduler", "stream", "rng")
#: The detector shipped with gvis (``experiments/detector_proof.py`` makes it; metadata in ``<stem>.json``).
SHIPPED_DETECTOR = shipped_file("checkpoints", "detector-synth-mixed.pt")
WEIGHTS = ("model", "appearance")


def _cast(state: dict | None, dtype: torch.dtype) -> dict | None:
    if state is None:
        return None
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def appearance_path(detector: str | os.PathLike) -> Path:
    """Where the split form keeps a detector file's appearance network: ``X.pt`` → ``X.appearance.pt``."""
    detector = Path(detector)
    return detector.with_name(f"{detector.stem}.appearance.pt")


def detector_fingerprints(model: dict[str, Any], appearance: dict[str, Any] | None) -> dict[str, str | None]:
    """``{"detection", "appearance"}``: :func:`~gvis.provenance.weights_fingerprint` of a detector's detection
    weights (``model`` state dict) and of its appearance network's (``None`` without one)."""
    return {"detection": weights_fingerprint(model),
            "appearance": None if appearance is None else weights_fingerprint(appearance)}


def save_detector_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any], half: bool = False,
                             split_appearance: bool = False) -> Path:
    """Write ``checkpoint`` (``format`` / ``version`` added; weights in float16 if ``half``) atomically.

    ``split_appearance``: the split form — the appearance network goes to :func:`appearance_path` (written
    first, by :func:`save_appearance_checkpoint`) and ``path`` records its name; else the embedded form.
    """
    path = Path(path)
    content = {key: value for key, value in checkpoint.items() if key != "appearance_file"}
    if half:
        content.update({key: _cast(content.get(key), torch.float16) for key in WEIGHTS})
    if split_appearance:
        if content.get("appearance") is None:
            raise InputError("no appearance network to keep in its own file", file=path, field="appearance")
        written = save_appearance_checkpoint(appearance_path(path), content["appearance"],
                                             weights_fingerprint(content["model"]))
        content.update(appearance=None, appearance_file=written.name)
    return save_tagged(path, content, FORMAT, VERSION)


def save_appearance_checkpoint(path: str | os.PathLike, appearance: dict[str, Any], detection_fingerprint: str,
                               half: bool = False) -> Path:
    """Write the appearance file ``path`` of a split-form detector: the ``appearance`` state dict (float16
    if ``half``) and the fingerprint of the detection weights it belongs to."""
    if half:
        appearance = _cast(appearance, torch.float16)
    return save_tagged(path, {"appearance": appearance, "detection_fingerprint": detection_fingerprint},
                       APPEARANCE_FORMAT, APPEARANCE_VERSION)


def load_detector_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a file written by :func:`save_detector_checkpoint`, either form, as the embedded form (weights
    as float32); ``InputError`` naming the file otherwise, and naming both files when a split form's
    appearance file is missing, unreadable or made for other detection weights."""
    checkpoint = load_tagged(path, FORMAT, VERSION, "detector checkpoint", map_location)
    check_parts(checkpoint, {"model": dict, "config": dict, "categories": list}, path, "detector checkpoint")
    if checkpoint.get("appearance_file") is not None:
        checkpoint["appearance"] = _split_appearance(Path(path), checkpoint, map_location)
    checkpoint.update({key: _cast(checkpoint.get(key), torch.float32) for key in WEIGHTS})
    return checkpoint


def _split_appearance(path: Path, checkpoint: dict[str, Any], map_location: str | torch.device) -> dict:
    """The appearance network of the split-form detector file ``path``, checked against its detection weights."""
    appearance_file = path.parent / checkpoint["appearance_file"]
    try:
        content = load_tagged(appearance_file, APPEARANCE_FORMAT, APPEARANCE_VERSION, "appearance file", map_location)
    except InputError as exc:
        raise InputError(f"its appearance network {appearance_file}: {exc.reason}", file=path,
                         field="appearance_file") from None
    if not isinstance(content.get("appearance"), dict):
        raise InputError(f"its appearance network {appearance_file} holds no 'appearance' weights", file=path,
                         field="appearance_file")
    expected = weights_fingerprint(checkpoint["model"])
    if content.get("detection_fingerprint") != expected:
        raise InputError(f"its appearance network {appearance_file} was made for other detection weights (fingerprint "
                         f"{str(content.get('detection_fingerprint'))[:12]}, this file's {expected[:12]})", file=path,
                         field="appearance_file")
    return content["appearance"]


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
    return resolve_recorded(meta["checkpoint"]).resolve() == SHIPPED_DETECTOR.resolve()
