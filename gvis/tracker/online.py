"""The learned tracker behind the online API shared by every tracker: ``update(detections) -> Tracks``.

- :class:`BatchedLearnedTracker` advances B video slots one frame at a time (training, fast evaluation);
  a slot given ``None`` has no frame now: its tracks are dropped and the next frame starts a new video.
- :class:`LearnedTracker` (``TRACKERS["learned"]``) is the one-video form: ``update``, ``reset``,
  ``from_checkpoint``.

Checkpoints are ``torch.save`` dicts with ``"model"`` (the state dict) and the model config either as
``"model_config"`` or as the ``"model"`` section of ``"config"`` (a training config); ``"categories"``
(``[{"id", "name"}]``) is optional and only checked. :func:`tracker_checkpoint` makes the minimal one.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor

from gvis.baselines.track_book import category_ids
from gvis.config import build_dataclass, find_config, load_config, to_dict
from gvis.detections.filtering import filter_detections
from gvis.detections.structures import Detections, Tracks
from gvis.errors import ConfigError, InputError
from gvis.io import check_finite_tensors, first_line
from gvis.registry import TRACKERS
from gvis.tracker.features import prepare_frame
from gvis.tracker.model import RecurrentGraphTracker, StepOutput, TrackerConfig

#: Model config used when a tracker is built without a checkpoint or config.
DEFAULT_MODEL_CONFIG = "base"


def default_config() -> TrackerConfig:
    """``configs/model/base.yaml`` (the synthetic-benchmark calibration)."""
    return load_config(TrackerConfig, find_config(DEFAULT_MODEL_CONFIG, "model"))


def label_columns(ids: list[int]) -> Tensor:
    """Lookup ``[max id + 1]`` from category id to class column ``1..C`` (−1 for unknown ids)."""
    table = torch.full((max(ids) + 1,), -1, dtype=torch.long)
    table[torch.tensor(ids)] = torch.arange(1, len(ids) + 1)
    return table


def class_scores(class_logits: Tensor) -> tuple[Tensor, Tensor]:
    """``(column [T], probability [T])`` of each track's best foreground class (spec §4, as a probability)."""
    probs = class_logits.softmax(-1)[:, 1:]
    score, column = probs.max(-1)
    return column + 1, score


class BatchedLearnedTracker:
    """B videos tracked together by one :class:`RecurrentGraphTracker`, one frame per :meth:`update`.

    ``with_masks=False`` skips the mask head (Tracks then carry all-False masks).
    """

    def __init__(self, model: RecurrentGraphTracker, categories: Iterable[Any], num_videos: int,
                 with_masks: bool = True) -> None:
        self.model = model.eval()
        self.category_ids = category_ids(categories)
        if len(self.category_ids) != model.num_classes:
            raise InputError(f"{len(self.category_ids)} categories for a model of {model.num_classes} classes",
                             field="categories")
        self.label_columns = label_columns(self.category_ids)
        self._category_of_column = torch.tensor([0] + self.category_ids)
        self.num_videos = num_videos
        self.with_masks = with_masks
        self.reset()

    def reset(self) -> None:
        """Forget every video."""
        self.state = self.model.initial_state(self.num_videos)

    def prepare(self, frames: list[Detections | None]):
        """Filter the detections (``config.filtering``) and flatten them; also returns the kept indices."""
        if len(frames) != self.num_videos:
            raise ValueError(f"expected {self.num_videos} frames (one per video slot), got {len(frames)}")
        config = self.model.config
        kept, kept_indices = [], []
        for det in frames:
            if det is None:
                kept.append(None)
                kept_indices.append(None)
                continue
            det_kept, indices = filter_detections(det, config.filtering)
            kept.append(det_kept)
            kept_indices.append(indices)
        device = self.state.h.device
        frame = prepare_frame(
            kept, self.label_columns, self.model.num_classes, config.appearance_dim, self.model.uses_appearance,
            mask_stride=config.mask_stride if self.with_masks else None,
            binary_mask_logit=config.binary_mask_logit, min_prob=config.min_class_prob,
            device=device, dtype=self.state.h.dtype,
        )
        return frame, kept_indices

    @torch.no_grad()
    def update(self, frames: list[Detections | None]) -> list[Tracks | None]:
        """Track one frame of every slot; ``Tracks`` per slot (``None`` where the slot had no frame)."""
        frame, kept_indices = self.prepare(frames)
        self.state, output = self.model.step(self.state, frame, with_masks=self.with_masks)
        return self.tracks(frames, frame, kept_indices, output)

    def tracks(self, frames: list[Detections | None], frame, kept_indices: list[Tensor | None],
               output: StepOutput) -> list[Tracks | None]:
        """Per-slot :class:`Tracks` from a step's output (rows: the video's live tracks, in creation order)."""
        column, score = class_scores(output.class_logits.float())
        labels = self._category_of_column.to(column.device)[column]
        # Detection row → row in the video's filtered detections (−1 stays −1 via the appended entry).
        local = _with_missing(frame.index)[output.assigned_det]
        counts = torch.bincount(output.video, minlength=self.num_videos).tolist()
        results: list[Tracks | None] = []
        for b, (det_frame, rows) in enumerate(zip(frames, _row_slices(counts))):
            if det_frame is None:
                results.append(None)
                continue
            image_size = det_frame.image_size
            if output.mask_logits is not None:
                masks = self.model.pixel_assignment(output.mask_logits[b].float(), image_size)
            else:
                masks = torch.zeros((counts[b], *image_size), dtype=torch.bool)
            results.append(Tracks(
                track_ids=output.track_id[rows].cpu(),
                det_indices=_with_missing(kept_indices[b].to(local.device))[local[rows]].cpu(),
                labels=labels[rows].cpu(),
                scores=score[rows].clamp(0, 1).cpu(),
                masks=masks.cpu(),
            ))
        return results


def _with_missing(index: Tensor) -> Tensor:
    """``index`` with −1 appended, so that indexing it with −1 gives −1."""
    return torch.cat([index, index.new_full((1,), -1)])


def _row_slices(counts: list[int]) -> list[slice]:
    """Consecutive row ranges of the given sizes."""
    slices, start = [], 0
    for count in counts:
        slices.append(slice(start, start + count))
        start += count
    return slices


@TRACKERS.register("learned")
class LearnedTracker:
    """The recurrent graph tracker for one video at a time: ``update(detections, frame=None) -> Tracks``.

    ``LearnedTracker(categories, checkpoint=None, config=None, device="cpu", seed=0)``: with a checkpoint,
    its weights and model config; without, ``config`` (a :class:`TrackerConfig`, a dict of its fields, or
    a YAML path / name in ``configs/model``; default ``base``) with random weights from ``seed`` and a
    warning.
    """

    def __init__(self, categories: Iterable[Any], checkpoint: str | Path | None = None,
                 config: TrackerConfig | dict | str | Path | None = None, device: str = "cpu", seed: int = 0) -> None:
        categories = list(categories)
        ids = category_ids(categories)
        if checkpoint is not None and config is not None:
            raise ConfigError("the learned tracker takes a checkpoint (which holds its config) or a config, not both")
        if checkpoint is not None:
            model = load_model(checkpoint, num_classes=len(ids), device=device)
        else:
            warnings.warn("learned tracker without a checkpoint: random weights (its output is meaningless)",
                          stacklevel=2)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = RecurrentGraphTracker(_resolve_config(config), num_classes=len(ids)).to(device)
        self.model = model
        self.batched = BatchedLearnedTracker(model, ids, num_videos=1)

    @property
    def config(self) -> TrackerConfig:
        """The model config (with ``num_classes`` filled in)."""
        return self.model.config

    @classmethod
    def from_checkpoint(cls, path: str | Path, categories: Iterable[Any], device: str = "cpu") -> "LearnedTracker":
        return cls(categories, checkpoint=path, device=device)

    def reset(self) -> None:
        """Forget all tracks; call between videos."""
        self.batched.reset()

    def update(self, detections: Detections, frame: Any = None) -> Tracks:
        """Track one frame; one row per live track (``frame``, the image, is not used)."""
        return self.batched.update([detections])[0]


def _resolve_config(config: TrackerConfig | dict | str | Path | None) -> TrackerConfig:
    if config is None:
        return default_config()
    if isinstance(config, TrackerConfig):
        return config
    if isinstance(config, dict):
        return build_dataclass(TrackerConfig, config)
    return load_config(TrackerConfig, find_config(config, "model"))


def tracker_checkpoint(model: RecurrentGraphTracker, categories: Iterable[Any] | None = None) -> dict:
    """The minimal checkpoint dict :func:`load_model` reads (``torch.save`` it)."""
    checkpoint = {"model": model.state_dict(), "model_config": to_dict(model.config)}
    if categories is not None:
        checkpoint["categories"] = [{"id": i} for i in category_ids(categories)]
    return checkpoint


def load_model(path: str | Path, num_classes: int | None = None, device: str = "cpu") -> RecurrentGraphTracker:
    """A :class:`RecurrentGraphTracker` from a checkpoint (see the module docstring); ``InputError`` naming
    the file if it is missing, unreadable or does not fit ``num_classes``."""
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise InputError("no such checkpoint", file=path) from None
    except Exception as exc:  # corrupt file, not a torch file, unsafe pickle
        raise InputError(f"cannot read checkpoint: {first_line(exc)}", file=path) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise InputError("not a gvis checkpoint (no 'model' state dict)", file=path)
    check_finite_tensors(checkpoint, path)
    if isinstance(checkpoint.get("model_config"), dict):
        tree = checkpoint["model_config"]
    elif isinstance(checkpoint.get("config"), dict) and isinstance(checkpoint["config"].get("model"), dict):
        tree = checkpoint["config"]["model"]
    else:
        raise InputError("checkpoint has no model config ('model_config' or 'config.model')", file=path)
    try:
        config = build_dataclass(TrackerConfig, dict(tree))
    except ConfigError as exc:
        raise InputError(f"its model config is invalid: {exc}", file=path, field="config.model") from None
    if num_classes is not None and config.num_classes not in (None, num_classes):
        raise InputError(f"checkpoint was trained for {config.num_classes} classes, given {num_classes} categories",
                         file=path, field="categories")
    model = RecurrentGraphTracker(config, num_classes=num_classes or config.num_classes)
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:  # wrong shapes, or not tensors at all
        raise InputError(f"weights do not fit the model config: {str(exc).splitlines()[0]}", file=path,
                         field="model") from None
    return model.to(device).eval()
