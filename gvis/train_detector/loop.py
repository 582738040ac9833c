"""The stage-1 training loop of ``gvis train-detector``.

One step: the next ``batch_size`` augmented frames (:class:`~gvis.train_detector.data.FrameStream`) →
:class:`~gvis.detectors.yolact.model.YolactModel` → :class:`~gvis.detectors.yolact.losses.YolactLoss` →
finite check → backward → (clipped) gradient → Adam/SGD → learning-rate schedule (warm-up, step decay).

Around it: a tqdm bar on stderr; ``train_log.csv`` (every ``log_every`` steps); ``validation.csv`` and
``val_metrics.json`` (image-level mask AP on ``data.val`` every ``val_every`` steps and at the end);
``last.pt`` every ``checkpoint_every`` steps and at the end (atomic, with optimizer, scheduler, stream and
RNG state), ``model.pt`` (weights only, what ``--checkpoint`` takes); SIGINT / SIGTERM / the time limit stop
at a step boundary and save; ``resume=True`` continues from ``last.pt`` exactly. All of that is
:class:`~gvis.engine.trainer.TrainingEngine`'s, shared with ``gvis train``.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from gvis import __version__
from gvis.config import to_dict
from gvis.data.ytvis import YTVISDataset
from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.backbone import load_backbone_weights
from gvis.detectors.yolact.checkpoint import export_detector, load_detector_checkpoint, save_detector_checkpoint
from gvis.detectors.yolact.detector import YolactDetector
from gvis.detectors.yolact.losses import YolactLoss
from gvis.detectors.yolact.model import YolactModel
from gvis.engine.trainer import TrainingEngine
from gvis.errors import ConfigError
from gvis.io import check_training_state, write_json_atomic
from gvis.train_detector.data import FrameSource, FrameStream, frame_list
from gvis.train_detector.evaluation import STAT_NAMES, evaluate_detector

LOSS_NAMES = ("box", "class", "mask", "semantic")
LOG_COLUMNS = ("step", "epoch", "loss", *LOSS_NAMES, "positives", "lr", "grad_norm", "images_per_s", "train_seconds")
#: Config keys that may differ between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = ("train.steps", "train.time_limit_minutes", "train.val_every", "train.checkpoint_every",
                     "train.log_every", "data.val", "data.val_frame_stride", "data.val_max_frames", "output_dir",
                     "device", "threads")


class DetectorTrainer(TrainingEngine):
    """One stage-1 training run of ``config`` (the loop is :class:`~gvis.engine.trainer.TrainingEngine`'s).

    Args:
        config: the training config. resume: continue from ``<output_dir>/last.pt``. overwrite: start afresh
            even if ``output_dir`` holds a run. progress: show the tqdm bar. on_step: called with the step
            number and its values after every step.
    """

    name = "train-detector"
    run_noun = "detector training run"
    log_columns = LOG_COLUMNS
    val_columns = ("step", *STAT_NAMES)
    rate = ("images_per_s", "img_s")
    resumable_changes = RESUMABLE_CHANGES
    config_key = "train_config"

    # ------------------------------------------------------------------------------------ setup
    def _build(self) -> None:
        cfg = self.config
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
        self.stream = FrameStream(self.source, cfg.train.batch_size, cfg.model.input_size, cfg.augment, cfg.seed)
        self.val_set: YTVISDataset | None = None
        if cfg.data.val is not None and cfg.train.val_every > 0:
            self.val_set = open_dataset(cfg.data.val)
            self.val_frames = frame_list(self.val_set, cfg.data.val_frame_stride, max_frames=cfg.data.val_max_frames)

    def _read_checkpoint(self, path: Path) -> dict:
        checkpoint = load_detector_checkpoint(path, map_location=self.device)
        check_training_state(checkpoint, {"optimizer": dict, "scheduler": dict, "stream": dict, "rng": dict,
                                          "train_config": dict, "step": int, "train_seconds": (int, float),
                                          "metrics": dict}, path)
        return checkpoint

    def _restore(self, checkpoint: dict) -> None:
        if self.appearance is not None:
            self.appearance.load_state_dict(checkpoint["appearance"])

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
            **self._training_state(),
        }

    def _write_checkpoint(self, path: Path, content: dict) -> Path:
        return save_detector_checkpoint(path, content)

    def _write_outputs(self) -> None:
        save_detector_checkpoint(self.out / "model.pt", export_detector(self._checkpoint()))

    def detector(self) -> YolactDetector:
        """The current weights as a :class:`YolactDetector` (shares the modules; call ``train()`` after)."""
        return YolactDetector.from_modules(self.model, self.categories, self.appearance, device=self.device,
                                           batch_size=self.config.train.batch_size)

    # ------------------------------------------------------------------------------------ validation
    def _validation_set(self) -> YTVISDataset | None:
        return self.val_set

    def validate(self) -> dict:
        """Image-level mask AP of the current weights on ``data.val`` (written to ``val_metrics.json``)."""
        stats = evaluate_detector(self.detector(), self.val_set, self.val_frames, self.config.train.batch_size)
        self.model.train()
        record = {"step": self.step, "stats": {name: stats[name] for name in STAT_NAMES}, "frames": stats["frames"]}
        self.metrics = record
        self._log_validation(record["stats"])
        write_json_atomic(self.out / "val_metrics.json", record, indent=1)
        return record

    # ------------------------------------------------------------------------------------ loop
    def _start(self) -> None:
        self.model.train()

    def _train_step(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        batch = self.stream.next_batch()
        images = torch.stack([item.image for item in batch]).to(self.device)
        output = self.model(images)
        terms = self.loss(output, [item.targets.to(self.device) for item in batch])
        values = {name: float(terms[name].detach()) for name in ("loss", *LOSS_NAMES)}
        lr, grad_norm = self._update(terms["loss"], values, self.model.parameters(), cfg.optim.grad_clip)
        self.step += 1
        seconds = time.perf_counter() - start
        values.update(positives=float(terms["positives"]), lr=lr, grad_norm=grad_norm,
                      images_per_s=cfg.train.batch_size / seconds)
        if self.step % cfg.train.log_every == 0:
            self._log({"step": self.step, "epoch": self.stream.epoch, **values,
                       "train_seconds": self.train_seconds + seconds})
        return values
