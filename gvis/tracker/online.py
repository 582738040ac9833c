"""The learned tracker behind the online API shared by every tracker: ``update(detections) -> Tracks``.

- :class:`BatchedLearnedTracker` advances B video slots one frame at a time (training, fast evaluation);
  a slot given ``None`` has no frame now: its tracks are dropped and the next frame starts a new video.
- :class:`LearnedTracker` (``TRACKERS["learned"]``) is the one-video form: ``update``, ``reset``,
  ``from_checkpoint``.

Checkpoints are ``torch.save`` dicts with ``"model"`` (the state dict) and the model config either as
``"model_config"`` or as the ``"model"`` section of ``"config"`` (a training config); ``"categories"``
(``[{"id", "name"}]``, the class columns) is optional. :func:`tracker_checkpoint` makes the minimal one.

What a checkpoint needs of its detections (:class:`CheckpointInputs`): the categories it was trained on,
in order (unless its model is class-free: then any), and the width of the appearance vectors its
appearance model reads (if any). A tracker refuses detections that differ, unless asked to map their
categories onto the checkpoint's (``map_categories``; docs/pipeline.md, "Which checkpoint").
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor

from gvis.baselines.track_book import category_ids
from gvis.config import (
    COMMAND_LINE,
    apply_overrides,
    build_dataclass,
    find_config,
    load_config,
    load_yaml_tree,
    merge_tree,
    to_dict,
)
from gvis.detections.filtering import filter_detections
from gvis.detections.jsonl import normalize_categories
from gvis.detections.structures import Detections, Tracks
from gvis.errors import ConfigError, InputError
from gvis.io import check_finite_tensors, first_line
from gvis.plugins import import_config_modules
from gvis.registry import APPEARANCE_MODELS, TRACKERS
from gvis.tracker.features import FrameDetections, prepare_frame
from gvis.tracker.masks import label_masks, pixel_labels
from gvis.tracker.model import RecurrentGraphTracker, StepOutput, TrackerConfig, is_class_free

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
    """``(column [T], probability [T])`` of each track's best foreground class (docs/model.md §4, as a probability)."""
    probs = class_logits.softmax(-1)[:, 1:]
    score, column = probs.max(-1)
    return column + 1, score


class BatchedLearnedTracker:
    """B videos tracked together by one :class:`RecurrentGraphTracker`, one frame per :meth:`update`.

    ``with_masks=False`` gives no masks (Tracks then carry all-False masks); with masks, a matched track's
    mask is the mask head's or, with ``output_masks: detection``, its detection's (the mask head is then
    skipped). The mask head's masks are computed with :meth:`MaskHead.forward_per_detection` and
    :func:`gvis.tracker.masks.pixel_labels` (docs/tracker.md, "Speed of the full step"); ``reference=True``
    computes them as training does, with ``MaskHead.forward`` and
    :meth:`RecurrentGraphTracker.pixel_assignment` over every track: the same masks except where two
    channels tie to float rounding (for tests and benchmarks).
    """

    def __init__(self, model: RecurrentGraphTracker, categories: Iterable[Any], num_videos: int,
                 with_masks: bool = True, reference: bool = False) -> None:
        self.model = model.eval()
        self.category_ids = category_ids(categories)
        if len(self.category_ids) != model.num_classes:
            raise InputError(f"{len(self.category_ids)} categories for a model of {model.num_classes} classes",
                             field="categories")
        self.label_columns = label_columns(self.category_ids)
        self._category_of_column = torch.tensor([0] + self.category_ids)
        self.num_videos = num_videos
        self.with_masks = with_masks
        self.head_masks = with_masks and model.config.output_masks == "head"
        self.reference = reference
        self.reset()

    def reset(self) -> None:
        """Forget every video."""
        self.state = self.model.initial_state(self.num_videos)
        # (video slot, track id) -> frames in which the track held a detection (``score_prior_frames``).
        self._hits: dict[tuple[int, int], int] = {}

    def prepare(self, frames: list[Detections | None]) -> tuple[FrameDetections, list[tuple[Detections, Tensor] | None]]:
        """Filter the detections (``config.filtering``) and flatten them; also returns, per slot, the kept
        detections and their indices in the slot's detections (``None`` where the slot had no frame)."""
        if len(frames) != self.num_videos:
            raise ValueError(f"expected {self.num_videos} frames (one per video slot), got {len(frames)}")
        config = self.model.config
        kept = [None if det is None else filter_detections(det, config.filtering) for det in frames]
        device = self.state.h.device
        frame = prepare_frame(
            [None if slot is None else slot[0] for slot in kept], self.label_columns, self.model.num_classes,
            config.appearance_dim, self.model.uses_appearance,
            mask_stride=config.mask_stride if self.head_masks else None,
            binary_mask_logit=config.binary_mask_logit, min_prob=config.min_class_prob,
            device=device, dtype=self.state.h.dtype, mask_grid=self.model.inputs.mask_grid,
        )
        return frame, kept

    @torch.no_grad()
    def update(self, frames: list[Detections | None]) -> list[Tracks | None]:
        """Track one frame of every slot; ``Tracks`` per slot (``None`` where the slot had no frame)."""
        frame, kept = self.prepare(frames)
        self.state, output = self.model.step(self.state, frame, with_masks=self.head_masks and self.reference)
        if self.head_masks and not self.reference:
            output.mask_logits = self.model.track_masks(self.state, frame, output.assigned_det, per_detection=True)
        return self.tracks(kept, frame, output)

    def tracks(self, kept: list[tuple[Detections, Tensor] | None], frame: FrameDetections,
               output: StepOutput) -> list[Tracks | None]:
        """Per-slot :class:`Tracks` from a step's output (rows: the video's live tracks, in creation order);
        ``kept``: per slot the filtered detections and their indices, as :meth:`prepare` returns them."""
        column, score = class_scores(output.class_logits.float())
        labels = self._category_of_column.to(column.device)[column]
        # Detection row → row in the video's filtered detections (−1 stays −1 via the appended entry).
        local = _with_missing(frame.index)[output.assigned_det]
        counts = torch.bincount(output.video, minlength=self.num_videos).tolist()
        results: list[Tracks | None] = []
        for b, (slot, rows) in enumerate(zip(kept, _row_slices(counts))):
            if slot is None:
                results.append(None)
                continue
            kept_frame, kept_indices = slot
            image_size = kept_frame.image_size
            det_indices = _with_missing(kept_indices.to(local.device))[local[rows]].cpu()
            track_scores = self.with_score_prior(b, output.track_id[rows].tolist(), local[rows].tolist(),
                                                 score[rows].clamp(0, 1).cpu())
            if output.mask_logits is not None and self.reference:
                masks = self.model.pixel_assignment(output.mask_logits[b].float(), image_size)
            elif output.mask_logits is not None:
                owner = pixel_labels(output.mask_logits[b].float(), self.model.config.background_mask_logit, image_size)
                masks = label_masks(owner, counts[b])
            elif self.with_masks:
                masks = detection_masks(kept_frame, local[rows].cpu(), track_scores)
            else:
                masks = torch.zeros((counts[b], *image_size), dtype=torch.bool)
            results.append(Tracks(
                track_ids=output.track_id[rows].cpu(),
                det_indices=det_indices,
                labels=labels[rows].cpu(),
                scores=track_scores,
                masks=masks.cpu(),
            ))
        return results

    def with_score_prior(self, slot: int, track_ids: list[int], assigned: list[int], scores: Tensor) -> Tensor:
        """``scores [T]`` of one slot's tracks times ``n / (n + score_prior_frames)``, ``n`` counting this frame
        if the track holds a detection (``assigned`` ≥ 0); unchanged with ``score_prior_frames: 0``."""
        prior = self.model.config.score_prior_frames
        if prior == 0:
            return scores
        hits = []
        for track_id, det in zip(track_ids, assigned):
            key = (slot, track_id)
            self._hits[key] = self._hits.get(key, 0) + (det >= 0)
            hits.append(self._hits[key])
        hits_tensor = torch.tensor(hits, dtype=scores.dtype)
        return scores * hits_tensor / (hits_tensor + prior)


def detection_masks(detections: Detections, det_indices: Tensor, scores: Tensor) -> Tensor:
    """``[T, H, W]`` bool: each track's detection's mask (``det_indices [T]``, −1: none); of tracks sharing a
    detection only the highest-scored one shows it (ties: the first), so that no object is reported twice."""
    masks = torch.zeros((det_indices.shape[0], *detections.image_size), dtype=torch.bool)
    matched = (det_indices >= 0).nonzero().flatten()
    if matched.numel() == 0:
        return masks
    order = matched[torch.sort(scores[matched], descending=True, stable=True).indices]
    shown, seen = [], set()
    for row in order.tolist():
        if int(det_indices[row]) not in seen:
            seen.add(int(det_indices[row]))
            shown.append(row)
    shown = torch.tensor(shown, dtype=torch.long)
    masks[shown] = detections.mask_tensor()[det_indices[shown]]
    return masks


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

    ``LearnedTracker(categories, checkpoint=None, config=None, device="cpu", seed=0, map_categories=False,
    overrides=())``: with a checkpoint, its weights and model config; without, ``config`` (a
    :class:`TrackerConfig`, a dict of its fields, or a YAML path / name in ``configs/model``; default ``base``)
    with random weights from ``seed`` and a warning. ``categories`` are the detections' (``[{"id", "name"}]``,
    objects or ids); a class-specific checkpoint trained on other ones is refused (``InputError``) unless
    ``map_categories`` (:func:`category_order`). Output labels are always ids of ``categories``.
    ``inference``: a YAML of :data:`INFERENCE_KEYS` (a name in ``configs/inference/`` or a path; ``gvis track
    --inference``) applied to the model config, then ``overrides``: ``key=value`` strings of them
    (``gvis track --set``).
    """

    def __init__(self, categories: Iterable[Any], checkpoint: str | Path | None = None,
                 config: TrackerConfig | dict | str | Path | None = None, device: str = "cpu", seed: int = 0,
                 map_categories: bool = False, overrides: Sequence[str] = (),
                 inference: str | Path | None = None) -> None:
        categories = _categories(categories)
        ids = category_ids(categories)
        #: Column of ``class_probs`` that feeds each of the model's class columns (``None``: the same one).
        self._probs_columns: Tensor | None = None
        if checkpoint is not None and config is not None:
            raise ConfigError("the learned tracker takes a checkpoint (which holds its config) or a config, not both; "
                              "a checkpoint's inference keys are set with inference=PRESET (--inference) or overrides "
                              "(--set)")
        if checkpoint is not None:
            contents = read_checkpoint(checkpoint, device)
            expected = CheckpointInputs.of(contents, checkpoint)
            problem = expected.category_mismatch(categories)
            if problem is not None and not map_categories:
                hint = " (map_categories / gvis track --map-categories maps them)" if expected.can_map(categories) else ""
                raise InputError(problem + hint, file=checkpoint, field="categories")
            if problem is not None:
                order = category_order(expected.categories, categories, checkpoint)
                ids = [ids[k] for k in order]
                self._probs_columns = torch.tensor([0] + [k + 1 for k in order])
            model = model_from_checkpoint(contents, checkpoint, num_classes=len(ids), device=device)
        else:
            warnings.warn("learned tracker without a checkpoint: random weights (its output is meaningless)",
                          stacklevel=2)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = RecurrentGraphTracker(_resolve_config(config), num_classes=len(ids)).to(device)
        model.config = with_inference_overrides(model.config, overrides, inference)
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
        if self._probs_columns is not None and detections.class_probs is not None:
            detections = dataclasses.replace(detections, class_probs=detections.class_probs[:, self._probs_columns])
        return self.batched.update([detections])[0]


def _categories(categories: Iterable[Any]) -> list[dict]:
    """``[{"id", "name"}]`` of categories given as dicts, objects with ``id`` / ``name`` or plain ids
    (``name`` ``None``)."""
    return [{"id": c, "name": None} if isinstance(c, int) else normalize_categories([c])[0] for c in categories]


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


def read_checkpoint(path: str | Path, device: str = "cpu") -> dict:
    """The dict of a tracker checkpoint; ``InputError`` naming the file if it is missing, unreadable or not
    a gvis checkpoint."""
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise InputError("no such checkpoint", file=path) from None
    except Exception as exc:  # corrupt file, not a torch file, unsafe pickle
        raise InputError(f"cannot read checkpoint: {first_line(exc)}", file=path) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise InputError("not a gvis checkpoint (no 'model' state dict)", file=path)
    check_finite_tensors(checkpoint, path)
    return checkpoint


def checkpoint_config(checkpoint: dict, path: str | Path) -> TrackerConfig:
    """The model config of a checkpoint dict (``model_config`` or ``config.model``), after importing the
    modules its training config lists under ``imports`` (components from outside gvis, :mod:`gvis.plugins`)."""
    if isinstance(checkpoint.get("config"), dict):
        import_config_modules(checkpoint["config"], f"{path}: config")
    if isinstance(checkpoint.get("model_config"), dict):
        tree = checkpoint["model_config"]
    elif isinstance(checkpoint.get("config"), dict) and isinstance(checkpoint["config"].get("model"), dict):
        tree = checkpoint["config"]["model"]
    else:
        raise InputError("checkpoint has no model config ('model_config' or 'config.model')", file=path)
    try:
        return build_dataclass(TrackerConfig, dict(tree))
    except ConfigError as exc:
        raise InputError(f"its model config is invalid: {exc}", file=path, field="config.model") from None


#: Keys of the model config that change only what inference does with trained weights, so that they may be
#: set on a checkpoint (``gvis track --set``; ``filtering`` is a section: ``filtering.top_n=8``).
INFERENCE_KEYS = ("match_threshold", "init_threshold", "assignment", "claimed_start_tracks", "output_masks",
                  "max_tracks", "max_inactive_frames", "score_prior_frames", "filtering")


def with_inference_overrides(config: TrackerConfig, overrides: Sequence[str],
                             preset: str | Path | None = None) -> TrackerConfig:
    """``config`` with the :data:`INFERENCE_KEYS` of ``preset`` (a YAML of them: a name in
    ``configs/inference/`` or a path), then ``key=value`` ``overrides`` of them (``ConfigError`` for any other
    key, naming the file or the command line it came from)."""
    if not overrides and preset is None:
        return config
    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if preset is not None:
        tree, sources = load_yaml_tree(find_config(preset, "inference"))
    command_line: dict[str, Any] = {}
    apply_overrides(command_line, sources, overrides)
    # Section by section, as the keys then merge into the checkpoint's config: a --set of the whole
    # `filtering` section keeps the preset's other filtering keys.
    merge_tree(tree, command_line, COMMAND_LINE, sources)
    return with_inference_keys(config, tree, COMMAND_LINE, sources)


def with_inference_keys(config: TrackerConfig, tree: dict[str, Any], origin: str,
                        sources: dict[str, str] | None = None) -> TrackerConfig:
    """``config`` with the :data:`INFERENCE_KEYS` of ``tree`` (a section's values replace the keys they name
    within the section); any other key is a ``ConfigError`` naming ``origin``."""
    if not tree:
        return config
    for key in tree:
        if key not in INFERENCE_KEYS:
            where = next((sources[k] for k in (sources or {}) if k == key or k.startswith(key + ".")), origin)
            raise ConfigError(f"{where}: key '{key}' is not an inference key of the learned tracker, so it "
                              f"cannot change after training (inference keys: {', '.join(INFERENCE_KEYS)})")
    merged = to_dict(config)
    for key, value in tree.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return build_dataclass(TrackerConfig, merged, sources)


def model_from_checkpoint(checkpoint: dict, path: str | Path, num_classes: int | None = None,
                          device: str = "cpu") -> RecurrentGraphTracker:
    """The model of a checkpoint dict (:func:`read_checkpoint`) for ``num_classes`` categories; a class-free
    model is built for any number, any other must have been trained for that many (``InputError``)."""
    config = checkpoint_config(checkpoint, path)
    if num_classes is not None and config.num_classes not in (None, num_classes) and not is_class_free(config):
        raise InputError(f"checkpoint was trained for {config.num_classes} classes, given {num_classes} categories",
                         file=path, field="categories")
    model = RecurrentGraphTracker(config, num_classes=num_classes or config.num_classes)
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:  # wrong shapes, or not tensors at all
        raise InputError(f"weights do not fit the model config: {str(exc).splitlines()[0]}", file=path,
                         field="model") from None
    return model.to(device).eval()


def load_model(path: str | Path, num_classes: int | None = None, device: str = "cpu") -> RecurrentGraphTracker:
    """A :class:`RecurrentGraphTracker` from a checkpoint file (see the module docstring); ``InputError``
    naming the file if it is missing, unreadable or does not fit ``num_classes``."""
    return model_from_checkpoint(read_checkpoint(path, device), path, num_classes, device)


@dataclass(frozen=True)
class CheckpointInputs:
    """What a checkpoint needs of the detections it tracks.

    - ``categories``: ``[{"id", "name"}]`` its class columns were trained on (``name`` ``None`` where the
      checkpoint records ids only; empty when it records none: then only their number, ``num_classes``,
      is known).
    - ``class_free``: its model tracks any categories (:func:`~gvis.tracker.model.is_class_free`).
    - ``appearance_dim``: width of the appearance vectors its model reads, ``None`` if it reads none.
    """

    categories: list[dict]
    num_classes: int | None
    class_free: bool
    appearance_dim: int | None

    @classmethod
    def of(cls, checkpoint: dict, path: str | Path = "checkpoint") -> "CheckpointInputs":
        """Of a checkpoint dict (:func:`read_checkpoint`)."""
        config = checkpoint_config(checkpoint, path)
        appearance = APPEARANCE_MODELS.get(config.appearance["type"])
        trained = checkpoint.get("categories") or []
        if not isinstance(trained, list) or not all(isinstance(c, dict) and "id" in c for c in trained):
            raise InputError('must be a list of {"id", "name"}', file=path, field="categories")
        return cls(
            categories=_categories(trained),
            num_classes=config.num_classes,
            class_free=is_class_free(config),
            appearance_dim=config.appearance_dim if appearance.needs_appearance else None,
        )

    def describe(self) -> str:
        """E.g. ``"8 categories (disc, square, ...), appearance width 64"``."""
        if self.class_free:
            classes = "any categories"
        else:
            classes = _describe_categories(self.categories) if self.categories else f"{self.num_classes} categories"
        return f"{classes}, {'no appearance' if self.appearance_dim is None else f'appearance width {self.appearance_dim}'}"

    def category_mismatch(self, categories: Iterable[Any]) -> str | None:
        """How ``categories`` (the detections', in order) differ from the checkpoint's, or ``None``."""
        if self.class_free:
            return None
        categories = _categories(categories)
        if not self.categories:  # only the number is known
            if self.num_classes in (None, len(categories)):
                return None
            return f"the detections have {len(categories)} categories, the checkpoint {self.num_classes}"
        if len(categories) != len(self.categories):
            return (f"the detections have {_describe_categories(categories)}, the checkpoint "
                    f"{_describe_categories(self.categories)}")
        for k, (given, trained) in enumerate(zip(categories, self.categories)):
            names = (given["name"], trained["name"])
            if given["id"] != trained["id"] or (None not in names and names[0] != names[1]):
                return (f"category {k + 1} of the detections is {_describe(given)}, the checkpoint's is "
                        f"{_describe(trained)}")
        return None

    def can_map(self, categories: Iterable[Any]) -> bool:
        """Whether :func:`category_order` maps ``categories`` onto the checkpoint's (as many of them)."""
        return len(_categories(categories)) == (len(self.categories) or self.num_classes)

    def appearance_mismatch(self, appearance_dim: int | None) -> str | None:
        """How detections of appearance width ``appearance_dim`` (``None`` or 0: none) differ, or ``None``."""
        if self.appearance_dim is None or appearance_dim == self.appearance_dim:
            return None
        if not appearance_dim:
            return f"the detections have no appearance vectors, the checkpoint reads width {self.appearance_dim}"
        return f"the detections' appearance width is {appearance_dim}, the checkpoint reads {self.appearance_dim}"

    def mismatch(self, categories: Iterable[Any], appearance_dim: int | None) -> str | None:
        """The first way detections of ``categories`` and appearance width ``appearance_dim`` differ from
        what the checkpoint needs, or ``None`` when they fit."""
        return self.category_mismatch(categories) or self.appearance_mismatch(appearance_dim)


def _describe(category: dict) -> str:
    return f"id {category['id']}" + ("" if category["name"] is None else f" '{category['name']}'")


def _describe_categories(categories: list[dict], shown: int = 3) -> str:
    """E.g. ``"40 categories (person, giant_panda, lizard, ...)"``."""
    names = [str(c["name"] if c["name"] is not None else c["id"]) for c in categories]
    listed = ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
    return f"{len(categories)} categor{'y' if len(categories) == 1 else 'ies'} ({listed})"


def category_order(trained: list[dict], categories: Iterable[Any], checkpoint: str | Path = "checkpoint") -> list[int]:
    """For each class column of a checkpoint trained on ``trained``, the index of the detections' category
    that feeds it (``--map-categories``): by name when both lists name the same categories (in any order),
    else by position when they are as many; ``InputError`` otherwise."""
    categories = _categories(categories)
    names = [c["name"] for c in categories]
    trained_names = [c["name"] for c in trained]
    if None not in names and None not in trained_names and sorted(names) == sorted(trained_names) \
            and len(set(names)) == len(names):
        return [names.index(name) for name in trained_names]
    if len(categories) == len(trained):
        return list(range(len(categories)))
    raise InputError(f"cannot map {_describe_categories(categories)} onto the checkpoint's "
                     f"{_describe_categories(trained)}", file=checkpoint, field="categories")
