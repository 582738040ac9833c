"""Fixtures of the learned-tracker tests (helpers live in tracker_helpers.py)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def one_thread():
    """The tracker tests run tiny tensors: one intra-op thread avoids thread wake-ups that dominate them
    (tens of ms per scatter on a busy 2-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
