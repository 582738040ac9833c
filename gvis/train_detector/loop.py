"""The stage-1 training loop of ``gvis train-detector``.

One step: the next ``batch_size`` augmented frames (:class:`~gvis.train_detector.data.FrameStream`) →
:class:`~gvis.detectors.yolact.model.YolactModel` → :class:`~gvis.detectors.yolact.losses.YolactLoss` →
finite check → backward → (clipped) gradient → Adam/SGD → learning-rate schedule (warm-up, step decay).

Around it: a tqdm bar on stderr; ``train_log.csv`` (every ``log_every`` steps); ``validation.csv`` and
``val_metrics.json`` (image-level mask AP on ``data.val`` every ``val_every`` steps and at the end);
``last.pt`` every ``checkpoint_every`` steps and at the end (atomic, with optimizer, scheduler, stream and
RNG state), ``model.pt`` (weights only, what ``--checkpoint`` takes); SIGINT / SIGTERM / the time limit stop
at a step boundary and save; ``resume=True`` continues from ``last.pt`` exactly.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from gvis import __version__
from gvis.config import dump_yaml, to_dict
from gvis.data.ytvis import YTVISDataset
from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.backbone import load_backbone_weights
from gvis.detectors.yolact.checkpoint import export_detector, load_detector_checkpoint, save_detector_checkpoint
from gvis.detectors.yolact.detector import YolactDetector
from gvis.detectors.yolact.losses import YolactLoss
from gvis.detectors.yolact.model import YolactModel
from gvis.errors import ConfigError, GvisError, InputError
from gvis.io import check_training_state, write_json_atomic
from gvis.provenance import git_hash
from gvis.seed import seed_everything
from gvis.train.checkpoint import rng_state, set_rng_state
from gvis.train.loop import CsvLog, StopOnSignal, config_differences, descend, divergence_message, lr_factor, resolve_device
from gvis.train_detector.config import DetectorTrainConfig
from gvis.train_detector.data import FrameSource, FrameStream, frame_list
from gvis.train_detector.evaluation import STAT_NAMES, evaluate_detector

LOSS_NAMES = ("box", "class", "mask", "semantic")
LOG_COLUMNS = ("step", "epoch", "loss", *LOSS_NAMES, "positives", "lr", "grad_norm", "images_per_s", "train_seconds")
#: Config keys that may differ between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = ("train.steps", "train.time_limit_minutes", "train.val_every", "train.checkpoint_every",
                     "train.log_every", "data.val", "data.val_frame_stride", "data.val_max_frames", "output_dir",
                     "device", "threads")


class DetectorTrainingDiverged(GvisError):
    """The loss or the gradient stopped being finite; the weights were not updated."""


@dataclass
class DetectorTrainResult:
    """How a run ended (see :class:`gvis.train.loop.TrainResult`)."""

    step: int
    stopped_by: str | None
    checkpoint: Path | None
    losses: dict[str, float] = field(default_factory=dict)
    validations: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0


class DetectorTrainer:
    """One stage-1 training run of ``config``.

    Args:
        config: the training config. resume: continue from ``<output_dir>/last.pt``. overwrite: start afresh
            even if ``output_dir`` holds a run. progress: show the tqdm bar. on_step: called after every step.
    """

    def __init__(self, config: DetectorTrainConfig, resume: bool = False, overwrite: bool = False,
                 progress: bool = True, on_step: Callable[[int, dict], None] | None = None) -> None:
        self.config = config
        self.resume = resume
        self.overwrite = overwrite
        self.progress = progress
        self.on_step = on_step
        self.out = Path(config.output_dir)

    # ------------------------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.config
        self.device = torch.device(resolve_device(cfg.device))
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        if cfg.data.train is None:
            raise ConfigError("data.train: give a dataset folder (or annotation file) to train on")
        from gvis.data.folders import open_dataset

        train_sets = [open_dataset(folder) for folder in cfg.data.train_folders()]
        self.source = FrameSource([(dataset, frame_list(dataset, cfg.data.frame_stride, cfg.data.max_videos))
                                   for dataset in train_sets])
        self.categories = self.source.categories
        num_classes = len(self.categories)
        if cfg.model.num_classes not in (None, num_classes):
            raise ConfigError(f"model.num_classes is {cfg.model.num_classes}, the training data has {num_classes} categories")
        cfg.model.num_classes = num_classes
        self.model = YolactModel(cfg.model).to(self.device)
        if cfg.backbone_weights is not None and not self.resume:
            load_backbone_weights(self.model.backbone, cfg.backbone_weights)
        # Stage 1 does not train the appearance network; it is saved (randomly initialised) with the
        # detector so that the detector reports appearance vectors out of the box (stage 2 trains it).
        self.appearance = (AppearanceNetwork(self.model.backbone.channels[1:], cfg.model.appearance)
                           if cfg.model.appearance.enabled else None)
        self.loss = YolactLoss(cfg.loss, cfg.model.box_variances)
        self.config_dict = to_dict(cfg)
        params = self.model.parameters()
        if cfg.optim.name == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                             weight_decay=cfg.optim.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.optim.lr, betas=cfg.optim.betas,
                                              weight_decay=cfg.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(cfg.optim, cfg.train.steps))
        self.stream = FrameStream(self.source, cfg.train.batch_size, cfg.model.input_size, cfg.augment, cfg.seed)
        self.val_set: YTVISDataset | None = None
        if cfg.data.val is not None and cfg.train.val_every > 0:
            self.val_set = open_dataset(cfg.data.val)
            self.val_frames = frame_list(self.val_set, cfg.data.val_frame_stride, max_frames=cfg.data.val_max_frames)
        self.step = 0
        self.train_seconds = 0.0
        self.metrics: dict = {}
        self.git_hash = git_hash()
        if self.resume:
            self._load(self.out / "last.pt")
        elif (self.out / "last.pt").exists() and not self.overwrite:
            raise ConfigError(f"{self.out} already holds a detector training run (last.pt): resume it, or choose "
                              "another output_dir, or overwrite it")

    def _load(self, path: Path) -> None:
        if not path.exists():
            raise InputError("nothing to resume: no last.pt in the output folder", file=path.parent)
        checkpoint = load_detector_checkpoint(path, map_location=self.device)
        check_training_state(checkpoint, {"optimizer": dict, "scheduler": dict, "stream": dict, "rng": dict,
                                          "train_config": dict, "step": int, "train_seconds": (int, float),
                                          "metrics": dict}, path)
        changed = [key for key in config_differences(checkpoint["train_config"], self.config_dict)
                   if not any(key == allowed or key.startswith(allowed + ".") for allowed in RESUMABLE_CHANGES)]
        if changed:
            raise ConfigError(f"{path}: cannot resume with a different config; changed keys: {', '.join(changed)}")
        self.model.load_state_dict(checkpoint["model"])
        if self.appearance is not None:
            self.appearance.load_state_dict(checkpoint["appearance"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.stream.load_state_dict(checkpoint["stream"])
        set_rng_state(checkpoint["rng"])
        self.step = int(checkpoint["step"])
        self.train_seconds = float(checkpoint["train_seconds"])
        self.metrics = checkpoint["metrics"]

    # ------------------------------------------------------------------------------------ files
    def _checkpoint(self) -> dict:
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "appearance": ({k: v.detach().cpu() for k, v in self.appearance.state_dict().items()}
                           if self.appearance is not None else None),
            "config": self.config_dict["model"],
            "categories": self.categories,
            "train_config": self.config_dict,
            "step": self.step,
            "seed": self.config.seed,
            "git_hash": self.git_hash,
            "gvis_version": __version__,
            "train_seconds": self.train_seconds,
            "metrics": self.metrics,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "stream": self.stream.state_dict(),
            "rng": rng_state(),
        }

    def _save(self) -> Path:
        path = save_detector_checkpoint(self.out / "last.pt", self._checkpoint())
        self.saved_step = self.step
        return path

    def detector(self) -> YolactDetector:
        """The current weights as a :class:`YolactDetector` (shares the modules; call ``train()`` after)."""
        return YolactDetector.from_modules(self.model, self.categories, self.appearance, device=self.device,
                                           batch_size=self.config.train.batch_size)

    def validate(self) -> dict:
        """Image-level mask AP of the current weights on ``data.val`` (written to ``val_metrics.json``)."""
        stats = evaluate_detector(self.detector(), self.val_set, self.val_frames, self.config.train.batch_size)
        self.model.train()
        record = {"step": self.step, "stats": {name: stats[name] for name in STAT_NAMES}, "frames": stats["frames"]}
        self.metrics = record
        self.val_log.write({"step": self.step, **record["stats"]})
        write_json_atomic(self.out / "val_metrics.json", record, indent=1)
        return record

    # ------------------------------------------------------------------------------------ loop
    def run(self) -> DetectorTrainResult:
        from tqdm import tqdm

        from gvis.io import atomic_open

        self._setup()
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.out / "config.yaml", "w", encoding="utf-8") as handle:
            handle.write(dump_yaml(self.config_dict))
        self.train_log = CsvLog(self.out / "train_log.csv", LOG_COLUMNS, self.step)
        self.val_log = CsvLog(self.out / "validation.csv", ("step", *STAT_NAMES), self.step)
        self.saved_step = self.step if self.resume else -1
        result = DetectorTrainResult(self.step, None, None)
        bar = tqdm(total=cfg.train.steps, initial=self.step, desc="train-detector", unit="step", file=sys.stderr,
                   disable=not self.progress, dynamic_ncols=True)
        time_limit = None if cfg.train.time_limit_minutes is None else cfg.train.time_limit_minutes * 60
        self.model.train()
        clock = time.perf_counter()
        try:
            with StopOnSignal() as signals:
                while self.step < cfg.train.steps:
                    elapsed = self.train_seconds + time.perf_counter() - clock
                    if signals.received is not None or (time_limit is not None and elapsed >= time_limit):
                        result.stopped_by = signals.received or "time limit"
                        break
                    result.losses = self._train_step()
                    if cfg.train.val_every and self.val_set is not None and self.step % cfg.train.val_every == 0:
                        result.validations.append(self.validate())
                    self.train_seconds += time.perf_counter() - clock
                    clock = time.perf_counter()
                    if cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0:
                        self._save()
                    bar.update(1)
                    bar.set_postfix(loss=f"{result.losses['loss']:.3f}", img_s=f"{result.losses['images_per_s']:.1f}")
                    if self.on_step is not None:
                        self.on_step(self.step, result.losses)
                self.train_seconds += time.perf_counter() - clock
                if (cfg.train.val_every and self.val_set is not None and self.step > 0
                        and self.metrics.get("step") != self.step):
                    result.validations.append(self.validate())
                result.checkpoint = self._save()
                save_detector_checkpoint(self.out / "model.pt", export_detector(self._checkpoint()))
        finally:
            bar.close()
            self.train_log.close()
            self.val_log.close()
        result.step = self.step
        result.train_seconds = self.train_seconds
        return result

    def _train_step(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        batch = self.stream.next_batch()
        images = torch.stack([item.image for item in batch]).to(self.device)
        output = self.model(images)
        terms = self.loss(output, [item.targets.to(self.device) for item in batch])
        values = {name: float(terms[name].detach()) for name in ("loss", *LOSS_NAMES)}
        if not all(map(math.isfinite, values.values())):
            raise self._diverged("loss", values)
        lr, grad_norm = descend(terms["loss"], values, self.model.parameters(), self.optimizer, self.scheduler,
                                cfg.optim.grad_clip, self._diverged)
        self.step += 1
        seconds = time.perf_counter() - start
        values.update(positives=float(terms["positives"]), lr=lr, grad_norm=grad_norm,
                      images_per_s=cfg.train.batch_size / seconds)
        if self.step % cfg.train.log_every == 0:
            self.train_log.write({"step": self.step, "epoch": self.stream.epoch, **values,
                                  "train_seconds": self.train_seconds + seconds})
        return values

    def _diverged(self, what: str, values: dict[str, float]) -> DetectorTrainingDiverged:
        return DetectorTrainingDiverged(divergence_message(what, values, self.step, self.out / "last.pt", self.saved_step))
