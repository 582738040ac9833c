"""Where computation runs: the torch device and the number of CPU threads.

The one place in gvis that sets torch's thread count (:func:`pin_threads`) and resolves a ``device``
setting (:func:`resolve_device`); training, tracking and the benchmarks all go through it.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from gvis.errors import ConfigError


def pin_threads(count: int | None) -> int:
    """Run torch's CPU operators on ``count`` threads (``None``: leave the number as it is).

    Returns the number before, for a caller that puts it back.
    """
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    return previous


@contextlib.contextmanager
def pinned_threads(count: int | None) -> Iterator[None]:
    """:func:`pin_threads` for the block, and the previous number restored after it."""
    previous = pin_threads(count)
    try:
        yield
    finally:
        pin_threads(previous)


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when a GPU is available, else ``cpu``; ``cuda`` without a GPU is a ConfigError."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda, but torch sees no CUDA device")
    return name
