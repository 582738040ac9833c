"""Fixtures of the learned-tracker tests (helpers live in tracker_helpers.py)."""
from __future__ import annotations

import pytest
import torch

from gvis.runtime import pinned_threads


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def one_thread():
    """The tracker tests run tiny tensors: one intra-op thread avoids thread wake-ups that dominate them
    (tens of ms per scatter on a busy 2-core machine)."""
    with pinned_threads(1):
        yield
