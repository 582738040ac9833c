"""Instance segmenters behind the tracker: the :class:`Detector` protocol and its implementations (and the
:class:`Tracker` protocol of what consumes them).

Each implementation lives in its own module and registers itself in :data:`gvis.registry.DETECTORS`;
the registry imports those modules on first lookup, so ``import gvis.detectors`` stays light.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

from gvis.detectors.protocol import Detector, FeatureDetector, Tracker, is_detector, is_tracker
from gvis.errors import ConfigError

#: The detector ``gvis track`` runs when none is named (without a checkpoint: its shipped, synthetic-trained one).
DEFAULT_DETECTOR = "yolact"


def build_detector(name: str = DEFAULT_DETECTOR, checkpoint: str | Path | None = None, device: str = "cpu",
                   overrides: Sequence[str] = ()) -> Detector:
    """``DETECTORS.build(name, checkpoint=..., device=..., overrides=...)``, checked to be a :class:`Detector`
    (``ConfigError`` for an unknown name or a detector that cannot run on frames)."""
    from gvis.registry import DETECTORS

    if name not in DETECTORS:
        raise ConfigError(f"unknown detector '{name}'; options: {', '.join(DETECTORS.names())}")
    # A class without its own ``__call__`` (the simulator) detects from ground truth, not from frames.
    if not inspect.isfunction(getattr(DETECTORS.get(name), "__call__", None)):
        raise ConfigError(f"detector '{name}' needs a dataset's ground truth and cannot run on frames; make a "
                          f".jsonl with gvis detect --detector {name} and pass --detections")
    detector = DETECTORS.build(name, checkpoint=checkpoint, device=device, overrides=list(overrides))
    if not is_detector(detector):
        raise ConfigError(f"detector '{name}' does not implement the Detector protocol (gvis/detectors/protocol.py)")
    return detector


__all__ = ["DEFAULT_DETECTOR", "Detector", "FeatureDetector", "Tracker", "build_detector", "is_detector", "is_tracker"]
