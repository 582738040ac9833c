"""Training checkpoints: one ``torch.save`` dict, written atomically (temp file + rename).

Format ``gvis-tracker-checkpoint`` version 1 (``docs/training.md``), readable with
``torch.load(path, weights_only=True)``:

- always: ``format``, ``version``, ``model`` (the tracker's state dict), ``config`` (the whole training
  config as a dict; ``config["model"]`` is the tracker's, with ``num_classes`` filled in), ``categories``
  (``[{"id", "name"}]``, the class columns 1..C), ``step``, ``epoch``, ``seed``, ``git_hash``,
  ``gvis_version``, ``train_seconds`` (training time so far) and ``metrics`` (the last validation:
  ``{"step", "stats": {the 12 YTVIS stats}, "fps"}``, or ``{}``);
- training state (``last.pt``, not in an exported model): ``optimizer``, ``scheduler``, ``stream`` (clip
  sampler position and clips drawn), ``rng`` (``python``, ``numpy``, ``torch`` and ``cuda`` generator
  states) and ``best_ap``;
- stage 2 only: ``appearance`` (the detector's appearance network trained with the tracker) and
  ``detector_fingerprints`` (``{"detection", "appearance"}``, the
  :func:`~gvis.provenance.weights_fingerprint` of the detector's detection weights and of that appearance
  network), which :func:`check_detector_pairing` compares with the detector a tracking run uses.

:func:`gvis.tracker.online.load_model` reads both kinds (it needs ``model`` and ``config["model"]``), so
``LearnedTracker(categories, checkpoint=path)`` tracks with any of them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from gvis.errors import InputError
from gvis.io import check_parts, check_training_state, load_tagged, save_tagged, write_json_atomic
from gvis.resources import recorded_path, repository_relative, shipped_file
from gvis.tracker.online import CheckpointInputs, category_order, read_checkpoint

#: The tracker shipped with gvis, trained on simulated detections of the synthetic hard preset
#: (``experiments/learning_proof.py`` makes it; metadata in ``<stem>.json``).
SHIPPED_CHECKPOINT = shipped_file("checkpoints", "learned-synth-hard.pt")
#: The tracker shipped for the shipped detector, trained behind it with its appearance network (stage 2;
#: ``experiments/pipeline_proof.py --ship`` makes it together with that detector).
SHIPPED_DETECTOR_TRACKER = shipped_file("checkpoints", "learned-synth-hard-yolact.pt")
#: The detector-agnostic tracker (``configs/train/agnostic.yaml``: score, box and mask only; any categories,
#: no appearance), for detections that fit neither of the above (``experiments/agnostic_proof.py`` makes it).
SHIPPED_AGNOSTIC = shipped_file("checkpoints", "learned-agnostic.pt")
CHECKPOINT_FORMAT = "gvis-tracker-checkpoint"
CHECKPOINT_VERSION = 1
#: Keys of the training state, dropped by :func:`export_model`.
TRAINING_STATE = ("optimizer", "scheduler", "stream", "rng", "best_ap")


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` (with ``format`` / ``version`` added) atomically; returns the path."""
    return save_tagged(path, checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    training_state: bool = False) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``InputError`` naming the file otherwise, or
    when ``training_state`` is asked for (to resume) and it has none (an exported model)."""
    checkpoint = load_tagged(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "checkpoint", map_location)
    check_parts(checkpoint, {"model": dict, "config": dict, "categories": list}, path)
    if training_state:
        check_training_state(checkpoint, {"optimizer": dict, "scheduler": dict, "stream": dict, "rng": dict,
                                          "best_ap": (int, float), "step": int, "epoch": int,
                                          "train_seconds": (int, float), "metrics": dict}, path)
    return checkpoint


def export_model(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint without its training state (what tracking needs; about a third of the size)."""
    return {key: value for key, value in checkpoint.items() if key not in TRAINING_STATE}


def checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """What a results ``.meta.json`` records of the checkpoint that made them: its training ``config``,
    ``seed``, ``step``, ``git_hash`` and last validation ``metrics`` (keys it lacks are left out)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return {key: checkpoint[key] for key in ("config", "seed", "step", "git_hash", "metrics") if key in checkpoint}


def shipped_checkpoint(behind_shipped_detector: bool = False) -> Path | None:
    """The shipped tracker checkpoint, or ``None`` if this checkout lacks it.

    ``behind_shipped_detector``: the one trained behind the shipped detector (its appearance embeddings
    are that detector's), falling back to the one trained on simulated detections when it is absent.
    """
    if behind_shipped_detector and SHIPPED_DETECTOR_TRACKER.is_file():
        return SHIPPED_DETECTOR_TRACKER
    return SHIPPED_CHECKPOINT if SHIPPED_CHECKPOINT.is_file() else None


def choose_checkpoint(categories: list, appearance_dim: int | None, detections: str, checkpoint: str | None = None,
                      behind_shipped_detector: bool = False, map_categories: bool = False) -> tuple[str | None, str | None]:
    """The learned tracker's checkpoint for detections of ``categories`` (``[{"id", "name"}]``, in order)
    and appearance width ``appearance_dim`` (``None`` or 0: none); ``detections`` names them in messages.
    The one rule of ``gvis track`` (docs/pipeline.md, "Which checkpoint"):

    - ``checkpoint`` given: it, if it fits the detections; otherwise ``InputError`` naming the checkpoint and
      the detections, unless only the categories differ and ``map_categories`` (then the tracker maps them,
      :func:`~gvis.tracker.online.category_order`).
    - none given: the class-specific shipped checkpoint if the detections' categories (ids and names, in
      order) and appearance width fit it (behind the shipped detector the one trained with it, else the one
      trained on simulated detections), else the detector-agnostic one.

    Returns ``(path, note)``: ``path`` ``None`` when no shipped checkpoint is in this checkout (the tracker
    then has random weights), ``note`` one line saying which checkpoint and why (``None`` for a given one).
    """
    if checkpoint is not None:
        expected = CheckpointInputs.of(read_checkpoint(checkpoint), checkpoint)
        categories_differ = expected.category_mismatch(categories)
        problem = (None if map_categories else categories_differ) or expected.appearance_mismatch(appearance_dim)
        if problem is not None:
            mappable = problem == categories_differ and expected.can_map(categories)
            remedy = "; gvis track --map-categories maps them (by name, else by position)" if mappable else ""
            raise InputError(f"does not fit the detections of {detections}: {problem}{remedy}", file=checkpoint)
        if categories_differ is not None:
            category_order(expected.categories, categories, checkpoint)  # refuses what cannot be mapped
        return checkpoint, None
    reason = None
    for path in ([SHIPPED_DETECTOR_TRACKER] if behind_shipped_detector else []) + [SHIPPED_CHECKPOINT]:
        if not path.is_file():
            continue
        problem = CheckpointInputs.of(read_checkpoint(path), path).mismatch(categories, appearance_dim)
        if problem is None:
            return str(path), f"using {recorded_path(path)} (the detections' categories and appearance width fit it)"
        reason = reason or f"not {path.name}: {problem}"
    if SHIPPED_AGNOSTIC.is_file():
        return str(SHIPPED_AGNOSTIC), (f"using {recorded_path(SHIPPED_AGNOSTIC)} (detector-agnostic; "
                                       f"{reason or 'no other shipped'})")
    return None, "no shipped checkpoint fits these detections: the learned tracker has random weights"


def check_detector_pairing(tracker_checkpoint: str | os.PathLike | None, detector_meta: dict[str, Any] | None,
                           detector_source: str | os.PathLike | None = None) -> None:
    """Refuse a tracker trained behind other detector weights than those it is about to track with.

    ``InputError`` naming both files when ``tracker_checkpoint`` records ``detector_fingerprints`` (stage 2)
    and ``detector_meta`` (``YolactDetector.meta``, or the header ``meta`` of detections it wrote) holds
    ``fingerprints`` that differ from them. Either side without fingerprints (a tracker trained on cached
    detections or before they were recorded, another detector, older detections files) passes.
    ``detector_source``: the file named for the detector side (default: ``detector_meta["checkpoint"]``).
    """
    theirs = (detector_meta or {}).get("fingerprints")
    if tracker_checkpoint is None or not theirs:
        return
    ours = torch.load(tracker_checkpoint, map_location="cpu", weights_only=True).get("detector_fingerprints")
    if not ours:
        return
    labels = {"detection": "detection weights", "appearance": "appearance network"}
    differ = [f"{label} {str(ours.get(part))[:12]} vs {str(theirs.get(part))[:12]}"
              for part, label in labels.items() if ours.get(part) != theirs.get(part)]
    if differ:
        source = detector_source if detector_source is not None else detector_meta.get("checkpoint")
        raise InputError(f"trained behind another detector than {source} ({'; '.join(differ)}): use the detector it "
                         "was trained with, or a tracker trained behind this one", file=tracker_checkpoint,
                         field="detector_fingerprints")


def ship_checkpoint(model: str | os.PathLike, path: str | os.PathLike, held_out: dict[str, dict], made_by: str,
                    what: str, max_bytes: int = 5 * 2**20) -> Path:
    """Ship a run's ``model.pt`` as ``path``: its weights, config and held-out scores, no training state,
    plus ``<stem>.json`` of its metadata (what ``gvis track`` users read; paths inside the checkout written
    relative to it).

    Args:
        held_out: ``{set name: {"stats": {...}, "fps": ..., "frames": ...}}`` (``evaluate_run``'s result).
        made_by: the command that made it. what: how the held-out ``AP`` was measured.
        max_bytes: ``InputError`` (nothing written) above this size.
    """
    path = Path(path)
    held_out = {name: {key: scores[key] for key in ("stats", "fps", "frames")} for name, scores in held_out.items()}
    checkpoint = export_model(load_checkpoint(model))
    mean_ap = sum(s["stats"]["AP"] for s in held_out.values()) / len(held_out)
    checkpoint["metrics"] = {"held_out": held_out, "AP": mean_ap}
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        staged = save_checkpoint(Path(scratch) / path.name, checkpoint)
        size = staged.stat().st_size
        if size > max_bytes:
            raise InputError(f"{size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB budget of a shipped tracker",
                             file=path)
        os.replace(staged, path)
    config = checkpoint["config"]
    meta = {
        "checkpoint": path.name, "bytes": size, "made_by": made_by,
        "seed": checkpoint["seed"], "steps": checkpoint["step"], "train_seconds": checkpoint["train_seconds"],
        "train_cpu_seconds": checkpoint.get("cpu_seconds"),
        "git_hash": checkpoint["git_hash"], "gvis_version": checkpoint["gvis_version"],
        "categories": checkpoint["categories"], "detector_fingerprints": checkpoint.get("detector_fingerprints"),
        "mask_resolution": f"1/{config['model']['mask_stride']} of the frame",
        "validation": {"what": what, "AP": mean_ap, "per_set": held_out},
        "config": config,
    }
    write_json_atomic(path.with_suffix(".json"), repository_relative(meta), indent=2)
    return path
