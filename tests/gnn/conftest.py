"""GNN tests run single-threaded: their tensors are tiny, and intra-op threads only contend for
the cores other test processes share."""
from __future__ import annotations

import pytest

from gvis.runtime import pinned_threads


@pytest.fixture(autouse=True)
def single_thread():
    with pinned_threads(1):
        yield
