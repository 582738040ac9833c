"""The training loop of ``gvis train``: batches of clips through the tracker, the four losses, Adam.

One step: the next B clips of the stream (:mod:`gvis.train.stream`) → :func:`~gvis.train.objective.collate`
→ :class:`~gvis.train.objective.ClipObjective` (inside ``DistributedDataParallel`` under ``torchrun``) →
finite check → backward → gradient norm (clipped if configured) → Adam → learning-rate schedule.

Around it: a tqdm bar (loss, clips/s) on stderr; ``train_log.csv`` always and TensorBoard scalars when
``tensorboard`` is installed (every loss, lr, gradient norm; validation stats every ``val_every`` steps);
``last.pt`` every ``checkpoint_every`` steps and at the end (:mod:`gvis.train.checkpoint`; atomic);
``best.pt`` and ``model.pt`` (model only) for tracking; SIGINT / SIGTERM stop at the next step boundary
and save; ``resume=True`` continues from ``last.pt`` exactly (same weights as an uninterrupted run on
CPU); a non-finite loss or gradient stops with :class:`TrainingDiverged`, leaving ``last.pt`` as it was.
Only rank 0 writes.

Stage 2 (``detector`` set, :mod:`gvis.train.stage2`): the frozen detector runs on the clips' frames while
batches are prepared, its appearance network trains with the tracker (in the optimiser, with its own
learning rate if ``detector.appearance_lr``; in every checkpoint under ``appearance``, with the fingerprints
of the detection weights and of that appearance network under ``detector_fingerprints``), validation runs the
detector on ``data.val``'s frames, and the end of the run writes ``detector.pt``: the stage-1 detector with
the trained appearance network, for ``gvis detect`` / ``gvis track``.
"""
from __future__ import annotations

import csv
import math
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from gvis import __version__
from gvis.config import dump_yaml, to_dict
from gvis.detectors.yolact.checkpoint import detector_fingerprints
from gvis.errors import ConfigError, GvisError, InputError
from gvis.eval.results import write_results
from gvis.provenance import git_hash
from gvis.io import atomic_open
from gvis.seed import seed_everything
from gvis.tracker.model import RecurrentGraphTracker
from gvis.train.checkpoint import export_model, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from gvis.train.config import OptimConfig, Stage2Config, TrainConfig
from gvis.train.data import TrainingVideos
from gvis.train.distributed import any_process, barrier, init_distributed, shutdown
from gvis.train.evaluation import score_tracker
from gvis.train.objective import LOSS_NAMES, ClipBatch, ClipObjective, collate
from gvis.train.stage2 import detect_videos
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


class TrainingDiverged(GvisError):
    """The loss or the gradient stopped being finite; the weights were not updated."""


@dataclass
class TrainResult:
    """How a run ended: ``step`` reached, ``stopped_by`` (``SIGINT``, ``SIGTERM``, ``time limit`` or
    ``None`` when all steps ran), the ``checkpoint`` written, the last step's ``losses`` and validations."""

    step: int
    stopped_by: str | None
    checkpoint: Path | None
    losses: dict[str, float] = field(default_factory=dict)
    validations: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0


def lr_factor(optim: OptimConfig, total_steps: int) -> Callable[[int], float]:
    """Learning-rate multiplier at a step (warmup, then constant / cosine / step decay)."""

    def factor(step: int) -> float:
        if step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        if optim.schedule == "cosine":
            span = max(1, total_steps - optim.warmup_steps)
            progress = min(1.0, (step - optim.warmup_steps) / span)
            return optim.min_lr_factor + (1 - optim.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress))
        if optim.schedule == "step":
            return optim.gamma ** sum(step >= milestone for milestone in optim.milestones)
        return 1.0

    return factor


class StopOnSignal:
    """Record SIGINT / SIGTERM instead of dying, so the loop can stop at a step boundary and save.

    A second SIGINT raises ``KeyboardInterrupt`` at once. Handlers are installed only in the main thread.
    """

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def config_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two config dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [d for k in keys for d in config_differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when a GPU is available, else ``cpu``; ``cuda`` without a GPU is a ConfigError."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda, but torch sees no CUDA device")
    return name


class Trainer:
    """One training run of ``config`` (see the module docstring).

    Args:
        config: the training config. resume: continue from ``<output_dir>/last.pt``. overwrite: start
            afresh even if ``output_dir`` holds a run.
        progress: show the tqdm bar. on_step: called with the step number after every step (tests,
            experiments). command: the command line, recorded beside results.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, overwrite: bool = False, progress: bool = True,
                 on_step: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.resume = resume
        self.overwrite = overwrite
        self.progress = progress
        self.on_step = on_step
        self.out = Path(config.output_dir)

    # ------------------------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.config
        device_type = resolve_device(cfg.device)
        self.dist = init_distributed(device_type)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if device_type == "cuda" else "cpu")
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
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
        self.objective = ClipObjective(self.model, cfg.loss, cfg.train.bptt_chunk, appearance_net)
        self.wrapped: nn.Module = self.objective
        if self.dist.enabled:
            self.wrapped = nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[self.dist.local_rank] if device_type == "cuda" else None,
                find_unused_parameters=True)  # a frame without tracks leaves some heads unused
        groups = [{"params": list(self.model.parameters())}]
        if self.stage2 is not None:
            groups.append({"params": list(self.stage2.trainable_parameters()),
                           "lr": cfg.detector.appearance_lr or cfg.optim.lr})
        self.optimizer = torch.optim.Adam(groups, lr=cfg.optim.lr, betas=cfg.optim.betas,
                                          weight_decay=cfg.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(cfg.optim, cfg.train.steps))
        self.stream = ClipStream(self.train_videos, cfg.data.clips, cfg.data.batch_size, cfg.data.augment, cfg.seed,
                                 self.dist.rank, self.dist.world_size)
        self.batches: _Batches | None = None
        self.epoch = 0
        self.step = 0
        self.train_seconds = 0.0
        self.cpu_seconds = 0.0
        self.metrics: dict = {}
        self.best_ap = -math.inf
        self.git_hash = git_hash()
        if self.resume:
            self._load(self.out / "last.pt")
        elif (self.out / "last.pt").exists() and not self.overwrite:
            raise ConfigError(f"{self.out} already holds a training run (last.pt): resume it, or choose another "
                              "output_dir, or overwrite it")

    def _stage2(self, config: Stage2Config):
        """The frozen detector with its trainable appearance network; its categories must be the data's."""
        from gvis.train_detector.stage2 import FrozenDetectorAppearance

        module = FrozenDetectorAppearance.from_config(config, device=str(self.device))
        if module.detector.category_ids != self.category_ids:
            raise ConfigError(f"detector.checkpoint {module.detector.meta['checkpoint']}: its categories "
                              f"{module.detector.category_ids} differ from the training data's {self.category_ids}")
        return module

    def _load(self, path: Path) -> None:
        if not path.exists():
            raise InputError("nothing to resume: no last.pt in the output folder", file=path.parent)
        checkpoint = load_checkpoint(path, map_location=self.device, training_state=True)
        for role, digest in checkpoint.get("data", {}).items():  # runs saved before gvis recorded it: not checked
            if digest != self.train_videos.identity.get(role):
                raise InputError(f"cannot resume: the training {role} differ from the ones this run was trained on "
                                 "(sha256); resume with the same files, or start afresh with --overwrite", file=path,
                                 field=f"data.{role}")
        changed = [key for key in config_differences(checkpoint["config"], self.config_dict)
                   if not any(key == allowed or key.startswith(allowed + ".") for allowed in RESUMABLE_CHANGES)]
        if changed:
            raise ConfigError(f"{path}: cannot resume with a different config; changed keys: {', '.join(changed)}")
        self.model.load_state_dict(checkpoint["model"])
        if self.stage2 is not None:
            self.stage2.appearance.load_state_dict(checkpoint["appearance"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.stream.load_state_dict(checkpoint["stream"])
        self.epoch = int(checkpoint["epoch"])
        set_rng_state(checkpoint["rng"])
        self.step = int(checkpoint["step"])
        self.train_seconds = float(checkpoint["train_seconds"])
        self.cpu_seconds = float(checkpoint.get("cpu_seconds", 0.0))
        self.metrics = checkpoint["metrics"]
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
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "stream": self.batches.state if self.batches is not None else self.stream.state_dict(),
            "rng": rng_state(),
            "best_ap": self.best_ap,
        }

    def _save(self) -> Path:
        path = save_checkpoint(self.out / "last.pt", self._checkpoint())
        self.saved_step = self.step
        return path

    def _appearance_state(self) -> dict:
        return {k: v.detach().cpu() for k, v in self.stage2.appearance.state_dict().items()}

    def _save_detector(self) -> Path:
        """``detector.pt``: the stage-1 detector checkpoint with this run's appearance network."""
        from gvis.detectors.yolact.checkpoint import export_detector, load_detector_checkpoint, save_detector_checkpoint

        content = export_detector(load_detector_checkpoint(self.stage2.detector.meta["checkpoint"]))
        content["appearance"] = self._appearance_state()
        content["stage2"] = {"tracker_run": str(self.out), "step": self.step, "git_hash": self.git_hash}
        return save_detector_checkpoint(self.out / "detector.pt", content)

    def _open_logs(self) -> None:
        self.log_file = self.val_file = self.tensorboard = None
        if not self.dist.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.out / "config.yaml", "w", encoding="utf-8") as handle:
            handle.write(dump_yaml(self.config_dict))
        self.log_file = CsvLog(self.out / "train_log.csv", LOG_COLUMNS, self.step)
        self.val_file = CsvLog(self.out / "validation.csv", ("step", *STAT_NAMES, "fps"), self.step)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the optional 'tensorboard' extra
            return
        self.tensorboard = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step)

    def _close_logs(self) -> None:
        for log in (self.log_file, self.val_file, self.tensorboard):
            if log is not None:
                log.close()

    def _log(self, values: dict[str, float]) -> None:
        if self.log_file is None:
            return
        self.log_file.write(values)
        if self.tensorboard is not None:
            for name in (*LOSS_NAMES, "loss", "lr", "grad_norm", "clips_per_s"):
                self.tensorboard.add_scalar(f"train/{name}", values[name], self.step)

    # ------------------------------------------------------------------------------------ validation
    def validate(self) -> dict:
        """Video AP of the current model on ``data.val`` (rank 0); writes ``val_results.json`` + meta."""
        if self.stage2 is not None:
            videos = detect_videos(self.stage2.detector, self.val_videos.dataset, [v.id for v in self.val_videos.videos])
        else:
            videos = [(video.id, self.val_videos.detections(video.id)) for video in self.val_videos.videos]
        score = score_tracker(self.model, self.category_ids, self.val_videos.dataset, videos,
                              slots=self.config.data.batch_size, class_agnostic=self.config.data.class_agnostic)
        record = {"step": self.step, "stats": score.stats, "fps": score.fps}
        self.metrics = record
        write_results(self.out / "val_results.json", score.entries,
                      meta={"config": self.config_dict, "seed": self.config.seed, "step": self.step,
                            "stats": score.stats, "data": to_dict(self.config.data.val)})
        self.val_file.write({"step": self.step, **score.stats, "fps": score.fps})
        if self.tensorboard is not None:
            for name in STAT_NAMES:
                self.tensorboard.add_scalar(f"val/{name}", score.stats[name], self.step)
        if score.stats["AP"] > self.best_ap:
            self.best_ap = score.stats["AP"]
            save_checkpoint(self.out / "best.pt", export_model(self._checkpoint()))
        return record

    # ------------------------------------------------------------------------------------ loop
    def run(self) -> TrainResult:
        from tqdm import tqdm

        try:
            self._setup()
        except BaseException:
            if hasattr(self, "dist"):
                shutdown(self.dist)
            raise
        self._open_logs()
        cfg = self.config
        self.saved_step = self.step if self.resume else -1
        result = TrainResult(self.step, None, None)
        bar = tqdm(total=cfg.train.steps, initial=self.step, desc="train", unit="step", file=sys.stderr,
                   disable=not (self.progress and self.dist.is_main), dynamic_ncols=True)
        clock, cpu_clock = time.perf_counter(), time.process_time()
        time_limit = None if cfg.train.time_limit_minutes is None else cfg.train.time_limit_minutes * 60
        detector = self.stage2.detector if self.stage2 is not None else None
        self.batches = _Batches(self.stream, lambda clips: collate(
            clips, self.model, self.category_ids, cfg.loss, with_masks=self.objective.with_masks, device=self.device,
            detector=detector), cfg.data.prefetch)
        try:
            with StopOnSignal() as signals:
                while self.step < cfg.train.steps:
                    if cfg.train.time_limit_clock == "cpu":
                        elapsed = self.cpu_seconds + time.process_time() - cpu_clock
                    else:
                        elapsed = self.train_seconds + time.perf_counter() - clock
                    stop = any_process(torch.tensor([signals.received is not None,
                                                     time_limit is not None and elapsed >= time_limit]),
                                       self.dist, self.device)
                    if bool(stop.any()):
                        result.stopped_by = signals.received or ("time limit" if bool(stop[1]) else "another process")
                        break
                    result.losses = self._train_step()
                    self.train_seconds += time.perf_counter() - clock
                    self.cpu_seconds += time.process_time() - cpu_clock
                    if cfg.train.val_every and self.val_videos is not None and self.step % cfg.train.val_every == 0:
                        result.validations.append(self.validate())  # not training: outside the time budget
                    clock, cpu_clock = time.perf_counter(), time.process_time()
                    if cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0 and self.dist.is_main:
                        self._save()
                    bar.update(1)
                    bar.set_postfix(loss=f"{result.losses['loss']:.3f}", clips_s=f"{result.losses['clips_per_s']:.2f}")
                    if self.on_step is not None:
                        self.on_step(self.step)
                self.train_seconds += time.perf_counter() - clock
                self.cpu_seconds += time.process_time() - cpu_clock
                validated = self.metrics.get("step") == self.step
                if (result.stopped_by in (None, "time limit") and cfg.train.val_every and self.val_videos is not None
                        and not validated and self.step > 0):
                    result.validations.append(self.validate())
                if self.dist.is_main:
                    result.checkpoint = self._save()
                    save_checkpoint(self.out / "model.pt", export_model(self._checkpoint()))
                    if self.stage2 is not None:
                        self._save_detector()
        finally:
            self.batches.close()
            bar.close()
            self._close_logs()
            barrier(self.dist)
            shutdown(self.dist)
        result.step = self.step
        result.train_seconds = self.train_seconds
        result.cpu_seconds = self.cpu_seconds
        return result

    def _train_step(self) -> dict[str, float]:
        cfg = self.config
        start, cpu_start = time.perf_counter(), time.process_time()
        self.epoch, batch = self.batches.next(more=self.step + 1 < cfg.train.steps)
        terms = self.wrapped(batch)
        values = {name: float(terms[name].detach()) for name in ("loss", *LOSS_NAMES)}
        if bool(any_process(torch.tensor([not all(map(math.isfinite, values.values()))]), self.dist, self.device)):
            raise self._diverged("loss", values)
        lr, grad_norm = descend(terms["loss"], values, self.objective.parameters(), self.optimizer, self.scheduler,
                                cfg.optim.grad_clip, self._diverged)
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

    def _diverged(self, what: str, values: dict[str, float]) -> TrainingDiverged:
        return TrainingDiverged(divergence_message(what, values, self.step, self.out / "last.pt", self.saved_step))


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


class CsvLog:
    """An append-only CSV log that first drops rows past ``step`` (a resumed run repeats them)."""

    def __init__(self, path: Path, columns: tuple[str, ...], step: int) -> None:
        kept: list[list[str]] = []
        if path.exists() and step > 0:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            if rows and tuple(rows[0]) == columns:
                kept = [row for row in rows[1:] if row and int(row[0]) <= step]
        with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([list(columns), *kept])
        self.columns = columns
        self.handle = open(path, "a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)

    def write(self, values: dict[str, Any]) -> None:
        self.writer.writerow([_format(values.get(column, "")) for column in self.columns])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _format(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


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


def descend(loss: torch.Tensor, values: dict[str, float], parameters: Iterable[nn.Parameter],
            optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, grad_clip: float | None,
            diverged: Callable[[str, dict[str, float]], Exception]) -> tuple[float, float]:
    """One update from ``loss``: backward, global gradient-norm clipping (``None``: none), the optimiser and
    the schedule. Returns ``(lr used, gradient norm)``; a non-finite norm raises ``diverged("gradient norm",
    values)`` before any weight changes (the loss itself is the caller's to check)."""
    parameters = list(parameters)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    max_norm = grad_clip if grad_clip is not None else math.inf
    grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))
    if not math.isfinite(grad_norm):
        raise diverged("gradient norm", {**values, "grad_norm": grad_norm})
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    return lr, grad_norm


def divergence_message(what: str, values: dict[str, float], step: int, last: Path, saved_step: int) -> str:
    """Why a run stopped at ``step + 1`` and which checkpoint (``saved_step``, −1: none yet) survives."""
    shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
    kept = f"the last good checkpoint is {last} (step {saved_step})" if saved_step >= 0 else "no checkpoint was written yet"
    return (f"the {what} is not finite at step {step + 1} ({shown}); stopped before updating the weights; {kept}. "
            "Try a lower optim.lr or optim.grad_clip.")


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """``TrainConfig`` from a YAML path or a name in ``configs/train/``, with ``--set`` overrides."""
    from gvis.config import find_config, load_config

    return load_config(TrainConfig, find_config(path, "train"), overrides)


