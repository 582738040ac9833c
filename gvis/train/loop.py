"""The training loop of ``gvis train``: batches of clips through the tracker, the four losses, Adam.

One step: the next B clips of the stream (:mod:`gvis.train.stream`) → :func:`~gvis.train.objective.collate`
→ :class:`~gvis.train.objective.ClipObjective` (inside ``DistributedDataParallel`` under ``torchrun``) →
finite check → backward → gradient norm (clipped if configured) → Adam → learning-rate schedule.

Around it, :class:`~gvis.engine.trainer.TrainingEngine` (shared with ``gvis train-detector``): a tqdm bar
(loss, clips/s) on stderr; ``train_log.csv`` always and TensorBoard scalars when ``tensorboard`` is
installed (every loss, lr, gradient norm; validation stats every ``val_every`` steps); ``last.pt`` every
``checkpoint_every`` steps and at the end (:mod:`gvis.train.checkpoint`; atomic); ``best.pt`` and
``model.pt`` (model only) for tracking; SIGINT / SIGTERM stop at the next step boundary and save;
``resume=True`` continues from ``last.pt`` exactly (same weights as an uninterrupted run on CPU); a
non-finite loss or gradient stops with :class:`~gvis.engine.optim.TrainingDiverged`, leaving ``last.pt`` as
it was, and so does a validation whose track scores are not finite (finite weights that overflow on whole
videos). Only rank 0 writes.

Stage 2 (``detector`` set, :mod:`gvis.train.stage2`): the frozen detector runs on the clips' frames while
batches are prepared, its appearance network trains with the tracker (in the optimiser, with its own
learning rate if ``detector.appearance_lr``; in every checkpoint under ``appearance``, with the fingerprints
of the detection weights and of that appearance network under ``detector_fingerprints``), validation runs the
detector on ``data.val``'s frames, and the end of the run writes ``detector.pt``: the stage-1 detector with
the trained appearance network, for ``gvis detect`` / ``gvis track``.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gvis import __version__
from gvis.config import to_dict
from gvis.detectors.yolact.checkpoint import detector_fingerprints
from gvis.engine.optim import TrainingDiverged, kept_checkpoint
from gvis.engine.trainer import TrainingEngine
from gvis.errors import ConfigError, InputError
from gvis.eval.results import write_results
from gvis.tracker.model import RecurrentGraphTracker
from gvis.train.checkpoint import export_model, load_checkpoint, save_checkpoint
from gvis.train.config import Stage2Config, TrainConfig
from gvis.train.data import TrainingVideos
from gvis.train.evaluation import NonFiniteScores, score_tracker
from gvis.train.objective import LOSS_NAMES, ClipBatch, ClipObjective, collate
from gvis.train.stage2 import FrozenDetectorAppearance, detect_videos
from gvis.train.stream import ClipStream

#: Columns of ``train_log.csv`` (one row per logged step).
LOG_COLUMNS = ("step", "epoch", "loss", *LOSS_NAMES, "lr", "grad_norm", "tracks", "positives", "assignment_accuracy",
               "clips_per_s",
               "train_seconds", "cpu_seconds")
#: The 12 YouTube-VIS stats, in ``validation.csv`` order.
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
#: Config keys that may differ between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = ("train.steps", "train.time_limit_minutes", "train.time_limit_clock", "train.val_every", "train.checkpoint_every",
                     "train.log_every", "data.val", "data.prefetch", "output_dir", "device", "threads",
                     "imports")


class Trainer(TrainingEngine):
    """One training run of ``config`` (see the module docstring; the loop is
    :class:`~gvis.engine.trainer.TrainingEngine`'s).

    Args:
        config: the training config. resume: continue from ``<output_dir>/last.pt``. overwrite: start
            afresh even if ``output_dir`` holds a run.
        progress: show the tqdm bar. on_step: called with the step number and its values after every step
            (tests, experiments).
    """

    name = "train"
    log_columns = LOG_COLUMNS
    val_columns = ("step", *STAT_NAMES, "fps")
    tensorboard_scalars = (*LOSS_NAMES, "loss", "lr", "grad_norm", "clips_per_s")
    tensorboard_val_scalars = STAT_NAMES
    rate = ("clips_per_s", "clips_s")
    resumable_changes = RESUMABLE_CHANGES
    distributed = True

    # ------------------------------------------------------------------------------------ setup
    def _build(self) -> None:
        cfg = self.config
        _check_sources(cfg)
        self.train_videos = TrainingVideos.from_config(cfg.data.train, cfg.model.filtering, cfg.data.class_agnostic)
        self.categories = self.train_videos.categories
        self.category_ids = [c["id"] for c in self.categories]
        num_classes = len(self.categories)
        if cfg.model.num_classes not in (None, num_classes):
            raise ConfigError(f"model.num_classes is {cfg.model.num_classes}, the training data has {num_classes} categories")
        self.model = RecurrentGraphTracker(cfg.model, num_classes=num_classes).to(self.device)
        self.stage2 = self._stage2(cfg.detector) if cfg.detector is not None else None
        appearance_dim = self.stage2.appearance.dim if self.stage2 is not None else self.train_videos.appearance_dim
        if self.model.uses_appearance and appearance_dim != cfg.model.appearance_dim:
            raise ConfigError(f"model.appearance_dim is {cfg.model.appearance_dim}, the detections' appearance "
                              f"vectors have {appearance_dim} (set model.appearance_dim)")
        self.config_dict = {**to_dict(cfg), "model": to_dict(self.model.config)}
        self.val_videos = None
        if cfg.data.val.given and cfg.train.val_every > 0 and self.dist.is_main:
            self.val_videos = TrainingVideos.from_config(cfg.data.val, cfg.model.filtering, cfg.data.class_agnostic)
            if [c["id"] for c in self.val_videos.categories] != self.category_ids:
                raise InputError("the validation categories differ from the training ones", file=cfg.data.val.annotations)
        appearance_net = self.stage2.appearance if self.stage2 is not None else None
        rules = cfg.rollout_model if cfg.rollout else None  # checkpoints keep cfg.model's for inference
        self.objective = ClipObjective(self.model, cfg.loss, cfg.train.bptt_chunk, appearance_net, rules)
        self.wrapped: nn.Module = self.objective
        if self.dist.enabled:
            self.wrapped = nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None,
                find_unused_parameters=True)  # a frame without tracks leaves some heads unused
        groups = [{"params": list(self.model.parameters())}]
        if self.stage2 is not None:
            groups.append({"params": list(self.stage2.trainable_parameters()),
                           "lr": cfg.detector.appearance_lr or cfg.optim.lr})
        self.optimizer = torch.optim.Adam(groups, lr=cfg.optim.lr, betas=cfg.optim.betas,
                                          weight_decay=cfg.optim.weight_decay)
        self.stream = ClipStream(self.train_videos, cfg.data.clips, cfg.data.batch_size, cfg.data.augment, cfg.seed,
                                 self.dist.rank, self.dist.world_size)
        self.batches: _Batches | None = None
        self.epoch = 0
        self.best_ap = -math.inf

    def _stage2(self, config: Stage2Config) -> FrozenDetectorAppearance:
        """The frozen detector with its trainable appearance network; its categories must be the data's."""
        module = FrozenDetectorAppearance.from_config(config, device=str(self.device))
        if module.detector.category_ids != self.category_ids:
            raise ConfigError(f"detector.checkpoint {module.detector.meta['checkpoint']}: its categories "
                              f"{module.detector.category_ids} differ from the training data's {self.category_ids}")
        return module

    def _read_checkpoint(self, path: Path) -> dict:
        return load_checkpoint(path, map_location=self.device, training_state=True)

    def _check_same_run(self, checkpoint: dict, path: Path) -> None:
        for role, digest in checkpoint.get("data", {}).items():  # runs saved before gvis recorded it: not checked
            if digest != self.train_videos.identity.get(role):
                raise InputError(f"cannot resume: the training {role} differ from the ones this run was trained on "
                                 "(sha256); resume with the same files, or start afresh with --overwrite", file=path,
                                 field=f"data.{role}")

    def _restore(self, checkpoint: dict) -> None:
        if self.stage2 is not None:
            self.stage2.appearance.load_state_dict(checkpoint["appearance"])
        self.epoch = int(checkpoint["epoch"])
        self.best_ap = float(checkpoint["best_ap"])

    # ------------------------------------------------------------------------------------ files
    def _checkpoint(self) -> dict:
        stage2 = {}
        if self.stage2 is not None:  # the appearance network and what pairs the tracker with its detector
            appearance = self._appearance_state()
            stage2 = {"appearance": appearance,
                      "detector_fingerprints": detector_fingerprints(self.stage2.frozen.state_dict(), appearance)}
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            **stage2,
            "config": self.config_dict,
            "data": self.train_videos.identity,
            "categories": self.categories,
            "step": self.step,
            "epoch": self.epoch,
            "seed": self.config.seed,
            "git_hash": self.git_hash,
            "gvis_version": __version__,
            "train_seconds": self.train_seconds,
            "cpu_seconds": self.cpu_seconds,
            "metrics": self.metrics,
            **self._training_state(),
            "best_ap": self.best_ap,
        }

    def _stream_state(self) -> dict:
        return self.batches.state if self.batches is not None else self.stream.state_dict()

    def _write_checkpoint(self, path: Path, content: dict) -> Path:
        return save_checkpoint(path, content)

    def _write_outputs(self) -> None:
        save_checkpoint(self.out / "model.pt", export_model(self._checkpoint()))
        if self.stage2 is not None:
            self._save_detector()

    def _appearance_state(self) -> dict:
        return {k: v.detach().cpu() for k, v in self.stage2.appearance.state_dict().items()}

    def _save_detector(self) -> Path:
        """``detector.pt``: the stage-1 detector checkpoint with this run's appearance network."""
        from gvis.detectors.yolact.checkpoint import export_detector, load_detector_checkpoint, save_detector_checkpoint
        from gvis.resources import resolve_recorded

        content = export_detector(load_detector_checkpoint(resolve_recorded(self.stage2.detector.meta["checkpoint"])))
        content["appearance"] = self._appearance_state()
        content["stage2"] = {"tracker_run": str(self.out), "step": self.step, "git_hash": self.git_hash}
        return save_detector_checkpoint(self.out / "detector.pt", content)

    # ------------------------------------------------------------------------------------ validation
    def _validation_set(self) -> TrainingVideos | None:
        return self.val_videos

    def validate(self) -> dict:
        """Video AP of the current model on ``data.val`` (rank 0); writes ``val_results.json`` + meta."""
        if self.stage2 is not None:
            videos = detect_videos(self.stage2.detector, self.val_videos.dataset, [v.id for v in self.val_videos.videos])
        else:
            videos = [(video.id, self.val_videos.detections(video.id)) for video in self.val_videos.videos]
        try:
            score = score_tracker(self.model, self.category_ids, self.val_videos.dataset, videos,
                                  slots=self.config.data.batch_size, class_agnostic=self.config.data.class_agnostic)
        except NonFiniteScores as error:  # the run has diverged, at inference on whole videos
            raise TrainingDiverged(f"the validation output is not finite at step {self.step}: {error}; "
                                   f"{kept_checkpoint(self.out / 'last.pt', self.saved_step)}") from None
        record = {"step": self.step, "stats": score.stats, "fps": score.fps}
        self.metrics = record
        write_results(self.out / "val_results.json", score.entries,
                      meta={"config": self.config_dict, "seed": self.config.seed, "step": self.step,
                            "stats": score.stats, "data": to_dict(self.config.data.val)})
        self._log_validation({**score.stats, "fps": score.fps})
        if score.stats["AP"] > self.best_ap:
            self.best_ap = score.stats["AP"]
            save_checkpoint(self.out / "best.pt", export_model(self._checkpoint()))
        return record

    # ------------------------------------------------------------------------------------ loop
    def _time_limit_clock(self) -> str:
        return self.config.train.time_limit_clock

    def _start(self) -> None:
        cfg = self.config
        detector = self.stage2.detector if self.stage2 is not None else None
        self.batches = _Batches(self.stream, lambda clips: collate(
            clips, self.model, self.category_ids, cfg.loss, with_masks=self.objective.with_masks, device=self.device,
            detector=detector), cfg.data.prefetch)

    def _stop(self) -> None:
        if self.batches is not None:
            self.batches.close()

    def _train_step(self) -> dict[str, float]:
        cfg = self.config
        start, cpu_start = time.perf_counter(), time.process_time()
        self.epoch, batch = self.batches.next(more=self.step + 1 < cfg.train.steps)
        terms = self.wrapped(batch)
        values = {name: float(terms[name].detach()) for name in ("loss", *LOSS_NAMES)}
        lr, grad_norm = self._update(terms["loss"], values, self.objective.parameters(), cfg.optim.grad_clip)
        self.step += 1
        seconds = time.perf_counter() - start
        positives = float(terms["positives"])
        values.update(lr=lr, grad_norm=grad_norm, tracks=float(terms["tracks"]), positives=positives,
                      assignment_accuracy=float(terms["assigned_right"]) / positives if positives else float("nan"),
                      clips_per_s=cfg.data.batch_size * self.dist.world_size / seconds)
        if self.step % cfg.train.log_every == 0:
            self._log({"step": self.step, "epoch": self.epoch, **values,
                       "train_seconds": self.train_seconds + seconds,
                       "cpu_seconds": self.cpu_seconds + time.process_time() - cpu_start})
        return values


class _Batches:
    """Prepared batches in stream order; with ``prefetch`` the next one is made in a background thread while
    the current step runs. ``state`` is the stream state before the first batch not yet handed out: what a
    checkpoint records, so a resumed run makes that batch again."""

    def __init__(self, stream: ClipStream, prepare: Callable[[list], ClipBatch], prefetch: bool) -> None:
        self.stream = stream
        self.prepare = prepare
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gvis-data") if prefetch else None
        self.pending = None
        self.state = stream.state_dict()

    def _make(self) -> tuple[int, ClipBatch]:
        clips = self.stream.next_batch()
        return self.stream.epoch, self.prepare(clips)

    def next(self, more: bool) -> tuple[int, ClipBatch]:
        """``(epoch, batch)``; ``more``: another batch will be asked for (start making it now)."""
        result = self.pending.result() if self.pending is not None else self._make()
        self.state = self.stream.state_dict()
        self.pending = self.pool.submit(self._make) if self.pool is not None and more else None
        return result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _check_sources(cfg: TrainConfig) -> None:
    """Cached detections for a normal run; frames only (no ``detections``) for stage 2."""
    if cfg.data.train.annotations is None:
        raise ConfigError("data.train.annotations: give the training videos' ground truth")
    for name, source in (("train", cfg.data.train), ("val", cfg.data.val)):
        if cfg.detector is None and source.annotations is not None and source.detections is None:
            raise ConfigError(f"data.{name}.detections: give the detections to train on (or a 'detector' "
                              "section for stage 2)")
        if cfg.detector is not None and source.detections is not None:
            raise ConfigError(f"data.{name}.detections: stage 2 runs the detector on the frames itself; "
                              "remove the cached detections")
    if cfg.detector is not None and cfg.data.class_agnostic:
        raise ConfigError("data.class_agnostic: stage 2 trains behind its detector's own categories")


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """``TrainConfig`` from a YAML path or a name in ``configs/train/``, with ``--set`` overrides."""
    from gvis.config import find_config, load_config

    return load_config(TrainConfig, find_config(path, "train"), overrides)


