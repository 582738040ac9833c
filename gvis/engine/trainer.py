"""The loop every gvis training runs, and what it does around the steps: set-up, resume, logs, checkpoints.

A trainer subclasses :class:`TrainingEngine` and fills in its hooks (``_build``, ``_train_step``,
``_checkpoint``, ...); the engine owns the rest, once for both:

- set-up: device, CPU threads, ``torchrun`` process group and seeds (:meth:`TrainingEngine._setup`, in
  this order, before the subclass builds data and model, so that random draws come in the same order on
  every run); the learning-rate schedule on the subclass's optimiser;
- resume from ``last.pt`` (only the keys of ``resumable_changes`` may differ from the saved config; weights,
  optimiser, schedule, data stream and random generators continue exactly), or a refusal to overwrite a run;
- the loop: stop at a step boundary on SIGINT / SIGTERM (the same decision on every process), on the time
  limit (``train.time_limit_minutes`` on the wall clock, or the CPU clock where the config says so;
  validation does not count), validation every ``train.val_every`` steps and at the end, ``last.pt`` every
  ``train.checkpoint_every`` steps and at the end; a tqdm bar on stderr;
- the step's update (:meth:`TrainingEngine._update`): a finite loss, then :func:`~gvis.engine.optim.optimizer_step`;
  a non-finite loss or gradient raises :class:`~gvis.engine.optim.TrainingDiverged`, leaving ``last.pt`` as
  it was;
- files: ``config.yaml``, ``train_log.csv``, ``validation.csv`` (:class:`~gvis.engine.logs.CsvLog`),
  TensorBoard scalars when the subclass names some and ``tensorboard`` is installed; only rank 0 writes.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from gvis.config import dump_yaml
from gvis.engine.distributed import DistInfo, any_process, barrier, init_distributed, shutdown
from gvis.engine.logs import CsvLog
from gvis.engine.optim import TrainingDiverged, divergence_message, lr_factor, optimizer_step
from gvis.engine.signals import StopOnSignal
from gvis.engine.state import rng_state, set_rng_state, unresumable_changes
from gvis.errors import ConfigError, InputError
from gvis.io import atomic_open
from gvis.provenance import git_hash
from gvis.runtime import pin_threads, resolve_device
from gvis.seed import seed_everything


@dataclass
class TrainResult:
    """How a run ended: ``step`` reached, ``stopped_by`` (``SIGINT``, ``SIGTERM``, ``time limit``,
    ``another process`` or ``None`` when all steps ran), the ``checkpoint`` written, the last step's
    ``losses``, the validations of this run, and the training time so far (wall and CPU seconds)."""

    step: int
    stopped_by: str | None
    checkpoint: Path | None
    losses: dict[str, float] = field(default_factory=dict)
    validations: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    cpu_seconds: float = 0.0


def setup_runtime(device: str, threads: int | None, seed: int, distributed: bool) -> tuple[torch.device, DistInfo]:
    """The device (``auto`` resolved; under ``torchrun`` this process's GPU), the process group when
    ``distributed`` and started by ``torchrun``, ``threads`` CPU threads, then every generator seeded."""
    device_type = resolve_device(device)
    dist = init_distributed(device_type) if distributed else DistInfo()
    pin_threads(threads)
    seed_everything(seed)
    return torch.device(f"cuda:{dist.local_rank}" if device_type == "cuda" else "cpu"), dist


class TrainingEngine:
    """One training run of ``config`` (see the module docstring).

    The config has ``device``, ``threads``, ``seed``, ``output_dir``, ``optim`` (with the
    :class:`~gvis.engine.optim.ScheduleSettings` keys) and ``train`` (``steps``, ``val_every``,
    ``checkpoint_every``, ``log_every``, ``time_limit_minutes``).

    Args:
        config: the training config. resume: continue from ``<output_dir>/last.pt``. overwrite: start
            afresh even if ``output_dir`` holds a run.
        progress: show the tqdm bar. on_step: called with the step number and that step's values after every
            step (tests, experiments).

    A subclass sets the class attributes below (``name``, ``log_columns``, ``val_columns`` and ``rate``
    have no default) and implements ``_build``, ``_train_step``, ``_read_checkpoint``, ``_write_checkpoint``,
    ``_checkpoint``, ``_write_outputs`` and, when it validates, ``validate`` and ``_validation_set``; the other
    ``_`` methods are hooks with a default.
    """

    #: The progress bar's label.
    name: str
    #: What ``output_dir`` holds, for the refusal to overwrite it.
    run_noun = "training run"
    #: Columns of ``train_log.csv`` and ``validation.csv`` (both start with ``step``).
    log_columns: tuple[str, ...]
    val_columns: tuple[str, ...]
    #: ``train_log.csv`` and ``validation.csv`` values also written as TensorBoard scalars (none: no TensorBoard).
    tensorboard_scalars: tuple[str, ...] = ()
    tensorboard_val_scalars: tuple[str, ...] = ()
    #: The throughput in a step's values, and its label on the progress bar.
    rate: tuple[str, str]
    #: Config keys that may differ between a checkpoint and the run resuming it.
    resumable_changes: tuple[str, ...] = ()
    #: Where a checkpoint keeps the training config.
    config_key = "config"
    #: Whether ``torchrun`` runs it as one data-parallel run (otherwise every process runs alone).
    distributed = False

    def __init__(self, config: Any, resume: bool = False, overwrite: bool = False, progress: bool = True,
                 on_step: Callable[[int, dict[str, float]], None] | None = None) -> None:
        self.config = config
        self.resume = resume
        self.overwrite = overwrite
        self.progress = progress
        self.on_step = on_step
        self.out = Path(config.output_dir)

    # ------------------------------------------------------------------------------------ hooks
    def _build(self) -> None:
        """Data, model, ``self.optimizer``, ``self.stream`` and ``self.config_dict`` (after the runtime set-up)."""
        raise NotImplementedError

    def _train_step(self) -> dict[str, float]:
        """One step (ending in :meth:`_update`, ``self.step`` advanced, ``train_log.csv`` written every
        ``train.log_every`` steps); its values, with ``loss`` and the :attr:`rate`."""
        raise NotImplementedError

    def _read_checkpoint(self, path: Path) -> dict:
        """``path`` read for resuming (``InputError`` when it lacks the training state)."""
        raise NotImplementedError

    def _write_checkpoint(self, path: Path, content: dict) -> Path:
        """``content`` written atomically to ``path`` in this trainer's checkpoint format."""
        raise NotImplementedError

    def _checkpoint(self) -> dict:
        """The whole state: what the subclass records, with :meth:`_training_state`."""
        raise NotImplementedError

    def _write_outputs(self) -> None:
        """What the end of the run writes besides ``last.pt`` (the exported model)."""
        raise NotImplementedError

    def _validation_set(self) -> Any:
        """The validation data (``None``: the run does not validate)."""
        return None

    def validate(self) -> dict:
        """Validate the current weights; the record (``{"step", "stats", ...}``) kept as ``self.metrics``."""
        raise NotImplementedError

    def _check_same_run(self, checkpoint: dict, path: Path) -> None:
        """Refuse to resume ``checkpoint`` on other inputs than those it was trained on (default: no check)."""

    def _restore(self, checkpoint: dict) -> None:
        """What the subclass keeps in a checkpoint besides the weights and the engine's state."""

    def _start(self) -> None:
        """Before the first step of this process (e.g. start preparing batches)."""

    def _stop(self) -> None:
        """After the last step, also after an error (e.g. stop preparing batches)."""

    def _stream_state(self) -> dict:
        """The data stream's state as a checkpoint records it."""
        return self.stream.state_dict()

    def _time_limit_clock(self) -> str:
        """``wall`` or ``cpu``: the clock ``train.time_limit_minutes`` is measured on."""
        return "wall"

    # ------------------------------------------------------------------------------------ set-up
    def _setup(self) -> None:
        cfg = self.config
        self.device, self.dist = setup_runtime(cfg.device, cfg.threads, cfg.seed, self.distributed)
        self._build()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_factor(cfg.optim, cfg.train.steps))
        self.step = 0
        self.train_seconds = 0.0
        self.cpu_seconds = 0.0
        self.metrics: dict = {}
        self.git_hash = git_hash()
        if self.resume:
            self._resume(self.out / "last.pt")
        elif (self.out / "last.pt").exists() and not self.overwrite:
            raise ConfigError(f"{self.out} already holds a {self.run_noun} (last.pt): resume it, or choose another "
                              "output_dir, or overwrite it")

    def _resume(self, path: Path) -> None:
        if not path.exists():
            raise InputError("nothing to resume: no last.pt in the output folder", file=path.parent)
        checkpoint = self._read_checkpoint(path)
        self._check_same_run(checkpoint, path)
        changed = unresumable_changes(checkpoint[self.config_key], self.config_dict, self.resumable_changes)
        if changed:
            raise ConfigError(f"{path}: cannot resume with a different config; changed keys: {', '.join(changed)}")
        self.model.load_state_dict(checkpoint["model"])
        self._restore(checkpoint)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.stream.load_state_dict(checkpoint["stream"])
        set_rng_state(checkpoint["rng"])
        self.step = int(checkpoint["step"])
        self.train_seconds = float(checkpoint["train_seconds"])
        self.cpu_seconds = float(checkpoint.get("cpu_seconds", 0.0))
        self.metrics = checkpoint["metrics"]

    # ------------------------------------------------------------------------------------ files
    def _training_state(self) -> dict:
        """What only resuming needs: optimiser, schedule, data stream and random generators."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "stream": self._stream_state(), "rng": rng_state()}

    def _save(self) -> Path:
        path = self._write_checkpoint(self.out / "last.pt", self._checkpoint())
        self.saved_step = self.step
        return path

    def _open_logs(self) -> None:
        self.train_log = self.val_log = self.tensorboard = None
        if not self.dist.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.out / "config.yaml", "w", encoding="utf-8") as handle:
            handle.write(dump_yaml(self.config_dict))
        self.train_log = CsvLog(self.out / "train_log.csv", self.log_columns, self.step)
        self.val_log = CsvLog(self.out / "validation.csv", self.val_columns, self.step)
        if not self.tensorboard_scalars:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the optional 'tensorboard' extra
            return
        self.tensorboard = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step)

    def _close_logs(self) -> None:
        for log in (self.train_log, self.val_log, self.tensorboard):
            if log is not None:
                log.close()

    def _log(self, values: dict[str, Any]) -> None:
        """One ``train_log.csv`` row (and its TensorBoard scalars) at ``self.step``."""
        if self.train_log is None:
            return
        self.train_log.write(values)
        if self.tensorboard is not None:
            for name in self.tensorboard_scalars:
                self.tensorboard.add_scalar(f"train/{name}", values[name], self.step)

    def _log_validation(self, values: dict[str, Any]) -> None:
        """One ``validation.csv`` row (and its TensorBoard scalars) at ``self.step``."""
        self.val_log.write({"step": self.step, **values})
        if self.tensorboard is not None:
            for name in self.tensorboard_val_scalars:
                self.tensorboard.add_scalar(f"val/{name}", values[name], self.step)

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
        bar = tqdm(total=cfg.train.steps, initial=self.step, desc=self.name, unit="step", file=sys.stderr,
                   disable=not (self.progress and self.dist.is_main), dynamic_ncols=True)
        clock, cpu_clock = time.perf_counter(), time.process_time()
        time_limit = None if cfg.train.time_limit_minutes is None else cfg.train.time_limit_minutes * 60
        validates = bool(cfg.train.val_every) and self._validation_set() is not None
        rate, rate_label = self.rate
        try:
            self._start()
            with StopOnSignal() as signals:
                while self.step < cfg.train.steps:
                    if self._time_limit_clock() == "cpu":
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
                    if validates and self.step % cfg.train.val_every == 0:
                        result.validations.append(self.validate())  # not training: outside the time budget
                    clock, cpu_clock = time.perf_counter(), time.process_time()
                    if cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0 and self.dist.is_main:
                        self._save()
                    bar.update(1)
                    bar.set_postfix({"loss": f"{result.losses['loss']:.3f}", rate_label: f"{result.losses[rate]:.2f}"})
                    if self.on_step is not None:
                        self.on_step(self.step, result.losses)
                self.train_seconds += time.perf_counter() - clock
                self.cpu_seconds += time.process_time() - cpu_clock
                validated = self.metrics.get("step") == self.step
                if result.stopped_by in (None, "time limit") and validates and not validated and self.step > 0:
                    result.validations.append(self.validate())
                if self.dist.is_main:
                    result.checkpoint = self._save()
                    self._write_outputs()
        finally:
            self._stop()
            bar.close()
            self._close_logs()
            barrier(self.dist)
            shutdown(self.dist)
        result.step = self.step
        result.train_seconds = self.train_seconds
        result.cpu_seconds = self.cpu_seconds
        return result

    def _update(self, loss: torch.Tensor, values: dict[str, float], parameters: Iterable[nn.Parameter],
                grad_clip: float | None) -> tuple[float, float]:
        """The step's update from ``loss`` (``values``: the step's scalars, for the message if it diverges):
        stop if the loss is not finite on any process, else :func:`~gvis.engine.optim.optimizer_step`.
        Returns ``(lr used, gradient norm)``."""
        if bool(any_process(torch.tensor([not all(map(math.isfinite, values.values()))]), self.dist, self.device)):
            raise self._diverged("loss", values)
        return optimizer_step(loss, values, parameters, self.optimizer, self.scheduler, grad_clip, self._diverged)

    def _diverged(self, what: str, values: dict[str, float]) -> TrainingDiverged:
        return TrainingDiverged(divergence_message(what, values, self.step, self.out / "last.pt", self.saved_step))
