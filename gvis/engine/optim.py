"""The learning-rate schedule and the one optimiser update of every gvis training."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import torch
from torch import nn

from gvis.errors import GvisError


class TrainingDiverged(GvisError):
    """The loss or the gradient stopped being finite; the weights were not updated."""


class ScheduleSettings(Protocol):
    """The ``optim`` keys :func:`lr_factor` reads (both trainers' optimiser configs have them)."""

    schedule: str
    warmup_steps: int
    min_lr_factor: float
    milestones: Sequence[int]
    gamma: float


def lr_factor(optim: ScheduleSettings, total_steps: int) -> Callable[[int], float]:
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


def optimizer_step(loss: torch.Tensor, values: dict[str, float], parameters: Iterable[nn.Parameter],
                   optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                   grad_clip: float | None = None,
                   diverged: Callable[[str, dict[str, float]], Exception] | None = None) -> tuple[float, float]:
    """One update from ``loss``: backward, global gradient-norm clipping (``None``: none), the optimiser and
    the schedule (``None``: none). Returns ``(lr used, gradient norm)``; a non-finite norm raises
    ``diverged("gradient norm", values)`` (default: a plain :class:`TrainingDiverged`) before any weight
    changes (the loss itself is the caller's to check)."""
    parameters = list(parameters)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    max_norm = grad_clip if grad_clip is not None else math.inf
    grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))
    if not math.isfinite(grad_norm):
        values = {**values, "grad_norm": grad_norm}
        raise (diverged or _plain_divergence)("gradient norm", values)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return lr, grad_norm


def _plain_divergence(what: str, values: dict[str, float]) -> TrainingDiverged:
    return TrainingDiverged(f"the {what} is not finite ({values})")


def kept_checkpoint(last: Path, saved_step: int) -> str:
    """Which checkpoint survives a diverged run (``saved_step`` −1: none yet)."""
    return f"the last good checkpoint is {last} (step {saved_step})" if saved_step >= 0 else "no checkpoint was written yet"


def divergence_message(what: str, values: dict[str, float], step: int, last: Path, saved_step: int) -> str:
    """Why a run stopped at ``step + 1`` and which checkpoint (``saved_step``, −1: none yet) survives."""
    shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
    return (f"the {what} is not finite at step {step + 1} ({shown}); stopped before updating the weights; "
            f"{kept_checkpoint(last, saved_step)}. "
            "Try a lower optim.lr or optim.grad_clip.")
