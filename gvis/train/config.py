"""The training config (``gvis train CONFIG``): one root schema whose ``model`` section is the tracker's.

Defaults are the paper's stage-2 settings (``docs/model.md`` §5): clips of 4 × 10 frames, Adam with
lr 2e−4 and weight decay 1e−4, constant learning rate, no gradient clipping, full back-propagation through
the clip, loss weights class 1 / mask 1 / association 4 / init 1. ``configs/train/*.yaml`` hold only what
differs (``docs/training.md`` lists every key).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gvis.data.clips import ClipSamplerConfig
from gvis.tracker.model import TrackerConfig
from gvis.tracker.online import with_inference_keys


@dataclass
class SourceConfig:
    """One set of videos: ground truth and the detections of a segmenter on them.

    - ``annotations``: a YouTube-VIS dataset folder (``instances.json``) or annotation file.
    - ``detections``: the detections as a ``.jsonl`` (its binary cache ``<stem>.pt`` is made and reused
      beside it) or directly a cache ``.pt`` from ``gvis detect --cache``.
    - ``max_videos``: use only the first N videos (``null``: all).

    A stage-2 run (``detector`` set in :class:`TrainConfig`) gives ``annotations`` only: the frozen detector
    runs on the dataset's frames instead.
    """

    annotations: str | None = None
    detections: str | None = None
    max_videos: int | None = None

    def validate(self) -> None:
        if self.detections is not None and self.annotations is None:
            raise ValueError("'detections' without 'annotations': give the ground truth they belong to")
        if self.max_videos is not None and self.max_videos < 1:
            raise ValueError(f"max_videos must be at least 1, got {self.max_videos}")

    @property
    def given(self) -> bool:
        return self.annotations is not None


@dataclass
class AugmentConfig:
    """One random geometric transform per clip, applied to every frame's detections *and* ground truth.

    The frame is scaled by ``s ~ U[scale]`` (aspect kept), zero-padded (centred) to at least
    ``crop_size`` and cropped at a uniformly random position to ``crop_size`` (``null``: the frame's own
    size), then flipped horizontally with probability ``flip``. Boxes are clamped to the crop; detections
    left with an empty box and objects whose box centre leaves the crop are removed from that frame.
    The paper scales its 720p frames by U[0.475, 1] and crops 480×864, i.e. zooms of about 0.7–1.5 of its
    working size; synthetic configs use that range relative to the frame (``configs/train/base.yaml``).
    """

    enabled: bool = True
    scale: tuple[float, float] = (0.475, 1.0)
    crop_size: tuple[int, int] | None = None
    flip: float = 0.5

    def validate(self) -> None:
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"augment.scale must be 0 < low <= high, got {list(self.scale)}")
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f"augment.flip must be a probability, got {self.flip}")
        if self.crop_size is not None and min(self.crop_size) < 1:
            raise ValueError(f"augment.crop_size must be positive, got {list(self.crop_size)}")


@dataclass
class DataConfig:
    """What the network is trained on. ``batch_size`` is B clips per step *per process*.

    ``prefetch``: prepare the next batch in a background thread while the current step runs (the same
    batches in the same order; decoding and augmenting masks is mostly NumPy / pycocotools / torch work,
    which runs beside the step on a second core).

    ``class_agnostic``: the detections are class-agnostic proposals (one category, e.g. the simulator's
    ``class_agnostic``): every ground-truth object counts as of that category, and validation scores
    class-agnostic video AP.
    """

    train: SourceConfig = field(default_factory=SourceConfig)
    val: SourceConfig = field(default_factory=SourceConfig)
    clips: ClipSamplerConfig = field(default_factory=ClipSamplerConfig)
    batch_size: int = 4
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    prefetch: bool = True
    class_agnostic: bool = False

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"data.batch_size must be at least 1, got {self.batch_size}")


@dataclass
class OptimConfig:
    """Adam (PyTorch's, weight decay as L2 as in the authors' code) and the learning-rate schedule.

    ``schedule``: ``constant`` (paper), ``cosine`` (to ``min_lr_factor · lr`` at ``train.steps``) or
    ``step`` (× ``gamma`` at each of ``milestones``); ``warmup_steps`` ramps linearly from 0 first.
    ``grad_clip``: clip the global gradient norm to this (``null``: no clipping, as the paper).
    """

    lr: float = 2e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "cosine", "step"] = "constant"
    warmup_steps: int = 0
    min_lr_factor: float = 0.0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    grad_clip: float | None = None

    def validate(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be positive, got {self.lr}")
        if self.weight_decay < 0 or self.warmup_steps < 0:
            raise ValueError("optim.weight_decay and optim.warmup_steps must be >= 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"optim.grad_clip must be positive or null, got {self.grad_clip}")


@dataclass
class LossConfig:
    """Weights of the four losses (docs/model.md §5) and the decay of the temporal class weights."""

    class_weight: float = 1.0
    mask_weight: float = 1.0
    association_weight: float = 4.0
    init_weight: float = 1.0
    class_decay: float = 0.8
    """w_t ∝ class_decay^(L−1−t): later frames of a clip weigh more."""
    iou_threshold: float = 0.5
    """A detection takes an object when their box IoU exceeds this (docs/model.md §5)."""
    primary: Literal["iou", "score"] = "iou"
    """Which of the detections taking one object is its *primary* (the one the association and init targets
    name; the others are negatives): ``iou``, the best-overlapping (the authors'), or ``score``, the one the
    detector scores highest, which the tracker can tell apart from its duplicates (docs/training.md)."""
    duplicate_iou: float | None = None
    """Leave out of the association loss the edges between a track and a detection that is not its object's
    primary but overlaps that object at box IoU above this (duplicates and partial detections of the
    track's own object: linking one is no mistake). ``null``: every such edge is a negative (the authors')."""
    class_target: Literal["object", "quality"] = "object"
    """What a track's class loss asks for. ``object``: its object's class (background for a track started by a
    false positive), the paper's. ``quality``: a track that took a detection this frame gets that class with
    probability ``q``, the detection's mask IoU with the track's object (0 for a detection of another object or
    of none), and background with ``1 − q``, so that the score would rank tracks by how well their masks fit,
    which the video AP's higher IoU thresholds reward; on the dense proposals it did not (docs/training.md,
    "Quality-aware scores")."""


@dataclass
class ScheduleConfig:
    """How long to train and when to validate, log and save.

    ``bptt_chunk``: cut the gradient path through the track state every this many frames (``null``:
    full back-propagation through the clip, as the paper). The losses of the whole clip are still
    summed into one backward pass, so this shortens the gradient path, not the memory.
    ``val_every``: validate (video AP on ``data.val``) every K steps and at the end (0: never).
    ``time_limit_minutes``: stop (and save) at the first step boundary after this much training time,
    measured by ``time_limit_clock``: ``wall`` (elapsed time) or ``cpu`` (the process's CPU time, every
    thread counted: what a budget on a shared machine should count, since other jobs stretch wall time).
    """

    steps: int = 1000
    bptt_chunk: int | None = None
    val_every: int = 0
    checkpoint_every: int = 100
    log_every: int = 1
    time_limit_minutes: float | None = None
    time_limit_clock: Literal["wall", "cpu"] = "wall"

    def validate(self) -> None:
        if self.steps < 0 or self.val_every < 0 or self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("train.steps, val_every, checkpoint_every must be >= 0 and log_every >= 1")
        if self.bptt_chunk is not None and self.bptt_chunk < 1:
            raise ValueError(f"train.bptt_chunk must be at least 1 or null, got {self.bptt_chunk}")


@dataclass
class Stage2Config:
    """The ``detector`` section of a stage-2 run (docs/model.md §5): the tracker trained on the frames of its clips
    behind the frozen detector, whose appearance network trains with it through the likelihood edges.

    - ``checkpoint``: the stage-1 detector (``gvis train-detector`` output; ``null``: the shipped
      ``checkpoints/detector-synth-mixed.pt``); its appearance network is the starting point (stage 1 saves
      it randomly initialised).
    - ``reset_appearance``: re-initialise the appearance network before training.
    - ``appearance_lr``: learning rate of the appearance network (``null``: the tracker's, ``optim.lr``).
    """

    checkpoint: str | None = None
    reset_appearance: bool = False
    appearance_lr: float | None = None

    def validate(self) -> None:
        if self.appearance_lr is not None and self.appearance_lr <= 0:
            raise ValueError(f"appearance_lr must be positive or null, got {self.appearance_lr}")


@dataclass
class TrainConfig:
    """Root schema of ``gvis train`` (sections: model, data, optim, loss, train, detector; seed; output_dir;
    device).

    ``detector``: ``null`` trains on cached detections (``data.train.detections``); a :class:`Stage2Config`
    runs stage 2 instead (``docs/training.md``, "Stage 2").

    ``imports``: modules registering components from outside gvis (:mod:`gvis.plugins`), imported before the
    config is checked; checkpoints record them, so that loading one imports them again.
    ``output_dir``: where checkpoints and logs go (``--resume`` continues from ``<output_dir>/last.pt``).
    ``device``: ``cpu``, ``cuda`` or ``auto`` (cuda when available). ``threads``: torch CPU threads per
    process (``null``: torch's default).
    ``rollout``: inference keys of the model (``assignment``, ``claimed_start_tracks``, thresholds, ...:
    :data:`~gvis.tracker.online.INFERENCE_KEYS`) that the training rollouts follow in place of ``model``'s;
    checkpoints keep ``model``'s for inference and validation (docs/training.md, "Rollout rules").
    """

    model: TrackerConfig = field(default_factory=TrackerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: ScheduleConfig = field(default_factory=ScheduleConfig)
    detector: Stage2Config | None = None
    seed: int = 0
    output_dir: str = "runs/train"
    device: Literal["cpu", "cuda", "auto"] = "auto"
    threads: int | None = None
    imports: list[str] = field(default_factory=list)
    rollout: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        with_inference_keys(self.model, self.rollout, "rollout")  # refuses keys that are not inference keys

    @property
    def rollout_model(self) -> TrackerConfig:
        """The model config that the training rollouts follow: ``model`` with ``rollout``'s keys."""
        return with_inference_keys(self.model, self.rollout, "rollout")
