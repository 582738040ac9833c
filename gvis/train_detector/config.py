"""The config of ``gvis train-detector`` (stage 1, docs/model.md §5): one root schema whose ``model`` section is the
detector's :class:`~gvis.detectors.yolact.model.DetectorConfig`.

Defaults follow the paper where it has numbers (Adam, batch 8, 120 epochs of 933 iterations, learning
rate ÷5 after epochs 60 and 90) and YOLACT's published defaults where it has none (learning rate 1e−3,
weight decay 5e−4, 500 warm-up iterations, loss weights); ``configs/detector/*.yaml`` hold what differs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gvis.detectors.yolact.losses import LossConfig
from gvis.detectors.yolact.model import DetectorConfig


@dataclass
class FrameDataConfig:
    """Where the frames come from: YouTube-VIS dataset folders (or annotation files).

    - ``train``: training frames (every ``frame_stride``-th frame of the first ``max_videos`` videos): one
      folder, or a list of folders sharing one category list (e.g. several synthetic presets), whose frames
      are mixed; ``max_videos`` applies to each.
    - ``val``: held-out frames for the mask AP logged every ``train.val_every`` steps
      (every ``val_frame_stride``-th frame, at most ``val_max_frames``).
    """

    train: str | list[str] | None = None
    max_videos: int | None = None
    frame_stride: int = 1
    val: str | None = None
    val_frame_stride: int = 5
    val_max_frames: int = 500

    def validate(self) -> None:
        if self.frame_stride < 1 or self.val_frame_stride < 1 or self.val_max_frames < 1:
            raise ValueError("data.frame_stride, val_frame_stride and val_max_frames must be at least 1")
        if self.max_videos is not None and self.max_videos < 1:
            raise ValueError(f"data.max_videos must be at least 1, got {self.max_videos}")
        if isinstance(self.train, list) and not self.train:
            raise ValueError("data.train: the list of training folders is empty")

    def train_folders(self) -> list[str]:
        """``train`` as a list of folders (one, or several whose frames are mixed)."""
        return [self.train] if isinstance(self.train, str) else list(self.train or [])


@dataclass
class ImageAugmentConfig:
    """One random transform per training image (YOLACT-style, simplified).

    The frame is resized to the network input times ``s ~ U[scale]`` (aspect kept relative to the input),
    then randomly cropped or zero-padded (at the mean colour) back to the input size, flipped horizontally
    with probability ``flip``, and jittered in brightness (± ``brightness``), contrast and saturation
    (× ``1 ± contrast`` / ``1 ± saturation``). Objects left with fewer than ``min_pixels`` pixels are dropped.
    """

    enabled: bool = True
    scale: tuple[float, float] = (0.75, 1.25)
    flip: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    min_pixels: int = 4

    def validate(self) -> None:
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"augment.scale must be 0 < low <= high, got {list(self.scale)}")
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f"augment.flip must be a probability, got {self.flip}")
        if min(self.brightness, self.contrast, self.saturation) < 0 or max(self.contrast, self.saturation) >= 1:
            raise ValueError("augment.brightness must be >= 0, contrast and saturation in [0, 1)")


@dataclass
class DetectorOptimConfig:
    """Optimizer (``adam`` as the paper, or ``sgd`` with ``momentum`` as YOLACT) and learning-rate schedule
    (the keys of ``gvis train``'s schedule: ``constant`` / ``cosine`` / ``step``, ``warmup_steps``,
    ``milestones`` × ``gamma``, ``min_lr_factor``). ``grad_clip``: clip the global gradient norm (``null``: no)."""

    name: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 5e-4
    schedule: Literal["constant", "cosine", "step"] = "step"
    warmup_steps: int = 500
    min_lr_factor: float = 0.0
    milestones: list[int] = field(default_factory=lambda: [55980, 83970])
    gamma: float = 0.2
    grad_clip: float | None = None

    def validate(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise ValueError("optim.lr must be positive, weight_decay and warmup_steps >= 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"optim.grad_clip must be positive or null, got {self.grad_clip}")


@dataclass
class DetectorScheduleConfig:
    """How long to train and when to validate, log and save.

    ``steps`` of ``batch_size`` images; ``val_every``: image-level mask AP on ``data.val`` every K steps
    and at the end (0: never); ``time_limit_minutes``: stop (and save) at the first step after this much
    training time.
    """

    steps: int = 111960
    batch_size: int = 8
    checkpoint_every: int = 1000
    log_every: int = 10
    val_every: int = 0
    time_limit_minutes: float | None = None

    def validate(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.checkpoint_every < 0 or self.log_every < 1 or self.val_every < 0:
            raise ValueError("train.steps, checkpoint_every, val_every must be >= 0, batch_size and log_every >= 1")


@dataclass
class DetectorTrainConfig:
    """Root schema of ``gvis train-detector`` (sections model, loss, data, augment, optim, train).

    ``backbone_weights``: a local state dict of the torchvision backbone to start from (``null``: random
    initialisation; nothing is downloaded). ``output_dir``: checkpoints and logs (``--resume`` continues from
    ``<output_dir>/last.pt``). ``device``: ``cpu``, ``cuda`` or ``auto``; ``threads``: torch CPU threads.
    """

    model: DetectorConfig = field(default_factory=DetectorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: FrameDataConfig = field(default_factory=FrameDataConfig)
    augment: ImageAugmentConfig = field(default_factory=ImageAugmentConfig)
    optim: DetectorOptimConfig = field(default_factory=DetectorOptimConfig)
    train: DetectorScheduleConfig = field(default_factory=DetectorScheduleConfig)
    backbone_weights: str | None = None
    seed: int = 0
    output_dir: str = "runs/detector"
    device: Literal["cpu", "cuda", "auto"] = "auto"
    threads: int | None = None


def load_detector_train_config(path: str, overrides: list[str] = ()) -> DetectorTrainConfig:
    """``DetectorTrainConfig`` from a YAML path or a name in ``configs/detector/``, with ``--set`` overrides."""
    from gvis.config import find_config, load_config

    return load_config(DetectorTrainConfig, find_config(path, "detector"), overrides)
