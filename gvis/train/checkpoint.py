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
  states) and ``best_ap``.

:func:`gvis.tracker.online.load_model` reads both kinds (it needs ``model`` and ``config["model"]``), so
``LearnedTracker(categories, checkpoint=path)`` tracks with any of them.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gvis.io import load_tagged, save_tagged

#: The checkpoint shipped with gvis (``experiments/learning_proof.py`` makes it; metadata in ``<stem>.json``).
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent.parent.parent / "checkpoints" / "learned-synth-hard.pt"
CHECKPOINT_FORMAT = "gvis-tracker-checkpoint"
CHECKPOINT_VERSION = 1
#: Keys of the training state, dropped by :func:`export_model`.
TRAINING_STATE = ("optimizer", "scheduler", "stream", "rng", "best_ap")


def rng_state() -> dict[str, Any]:
    """The Python, NumPy (global) and torch generator states, in ``weights_only``-loadable types."""
    version, keys, gauss = random.getstate()
    name, mt_keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "keys": list(keys), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(mt_keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["keys"]), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` (with ``format`` / ``version`` added) atomically; returns the path."""
    return save_tagged(path, checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``InputError`` naming the file otherwise."""
    return load_tagged(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "checkpoint", map_location)


def export_model(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint without its training state (what tracking needs; about a third of the size)."""
    return {key: value for key, value in checkpoint.items() if key not in TRAINING_STATE}


def checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """What a results ``.meta.json`` records of the checkpoint that made them: its training ``config``,
    ``seed``, ``step``, ``git_hash`` and last validation ``metrics`` (keys it lacks are left out)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return {key: checkpoint[key] for key in ("config", "seed", "step", "git_hash", "metrics") if key in checkpoint}


def shipped_checkpoint() -> Path | None:
    """The shipped checkpoint (trained on the synthetic hard benchmark), or ``None`` if this checkout lacks it."""
    return SHIPPED_CHECKPOINT if SHIPPED_CHECKPOINT.is_file() else None
