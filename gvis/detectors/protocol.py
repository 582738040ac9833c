"""The ``Detector`` and ``Tracker`` protocols: what the tracker needs from an instance segmenter, and what
every tracker offers.

Any object with these members can feed ``gvis track``, ``gvis detect`` and ``gvis bench pipeline``;
nothing has to inherit from a gvis class. Built-in implementations are registered in
:data:`gvis.registry.DETECTORS` (``yolact``, ``maskrcnn``, ``precomputed``).

A detector is called on a batch of frames and returns one :class:`~gvis.detections.structures.Detections`
per frame, in the frame's original pixel coordinates:

- ``boxes [N, 4]``, ``scores [N]``, ``labels [N]`` (ids from ``categories``) and ``masks``
  (``[N, H, W]`` bool or N compressed RLEs) are required;
- ``class_probs [N, C + 1]`` (background first, columns in ``categories`` order) should be filled: the
  learned tracker reads it (docs/model.md §1). Detectors that only have a label and a score can use
  :meth:`Detections.with_class_probs`;
- ``mask_logits [N, h, w]`` (raw, uncropped mask logits) when the detector has them;
- ``appearance [N, Da]`` and ``frame_appearance [Da]`` when the detector has an appearance network
  (``appearance_dim = Da``); otherwise both stay ``None`` and ``appearance_dim = 0``.

Detectors for stage-2 training (docs/model.md §5) also implement :class:`FeatureDetector`.

Building: the command line builds registered detectors with
``DETECTORS.build(name, checkpoint=None | path, device="cpu" | "cuda", overrides=[...])``: every
registered frame detector accepts these three keywords (``checkpoint``: its weights file, ``None`` =
its default / random weights; ``overrides``: ``--set key=value`` items for its config, ``[]`` if none)
and may take more of its own (e.g. ``config`` for a config name or path).

A :class:`Tracker` turns the :class:`Detections` of one video, frame by frame, into
:class:`~gvis.detections.structures.Tracks`. Built-in implementations are registered in
:data:`gvis.registry.TRACKERS` (the learned tracker and the heuristic baselines).
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from gvis.detections.structures import Detections, Tracks


@runtime_checkable
class Detector(Protocol):
    """An instance segmenter the tracker can run behind.

    Attributes:
        categories: the label space, ``[{"id": int, "name": str}, ...]``; ``Detections.labels`` hold
            these ids and column ``k`` of ``class_probs`` belongs to ``categories[k - 1]``.
        appearance_dim: ``Da``, the width of ``Detections.appearance`` (0 when the detector has no
            appearance network).

    Optional, read with ``getattr`` where present: ``meta`` (a JSON-able dict describing the detector,
    stored in the header of ``gvis detect`` output).
    """

    categories: list[dict]
    appearance_dim: int

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect instances in ``frames``.

        Args:
            frames: ``T`` RGB images, each ``[H, W, 3]`` uint8 (frames may differ in size).

        Returns:
            ``T`` :class:`Detections`, one per frame, with ``image_size = (H, W)`` of that frame.
        """
        ...


@runtime_checkable
class FeatureDetector(Detector, Protocol):
    """A :class:`Detector` that also returns the feature maps its appearance network reads.

    Stage-2 training (docs/model.md §5) runs the frozen detector online on each clip and trains the appearance
    network through the tracker: it needs the detections *and* the maps they were pooled from.
    """

    def detect_with_features(self, images: Any) -> tuple[list[Detections], Any]:
        """Detections of ``images`` plus the features the appearance network pools.

        Args:
            images: the frames, either as in :meth:`__call__` or as a ``[B, 3, H, W]`` float tensor already
                resized and normalised for the detector (the implementation documents which it accepts).

        Returns:
            ``(detections, features)``: one :class:`Detections` per image (appearance fields may be left
            ``None``, the caller computes them with its trainable appearance network) and the detector's
            feature maps for those images, in the form that appearance network takes (e.g. a dict of
            backbone stages ``{"C4": [B, 1024, h, w], "C5": [B, 2048, h', w']}`` plus per-detection mask
            scores); the implementation's docstring defines it.
        """
        ...


@runtime_checkable
class Tracker(Protocol):
    """An online tracker: one video at a time, one frame per :meth:`update`.

    Building: ``TRACKERS.build(name, categories=[...], ...)``, ``categories`` the label space of the
    detections it will see; ``Tracks.labels`` are ids of it.
    """

    def update(self, detections: Detections, frame: Any = None) -> Tracks:
        """Track one frame.

        Args:
            detections: the frame's detections (filtered by the tracker itself where it filters).
            frame: the ``[H, W, 3]`` uint8 RGB image, for trackers that look at pixels; ``None`` otherwise.

        Returns:
            One row per track alive in the tracker after this frame, ``det_indices`` into ``detections``
            (``-1`` where a track took no detection).
        """
        ...

    def reset(self) -> None:
        """Forget every track; call between videos."""
        ...


def is_detector(obj: object) -> bool:
    """Whether ``obj`` has the members of :class:`Detector` (``categories``, ``appearance_dim``, ``__call__``)."""
    return isinstance(obj, Detector)


def is_tracker(obj: object) -> bool:
    """Whether ``obj`` has the members of :class:`Tracker` (``update`` and ``reset``)."""
    return isinstance(obj, Tracker)
