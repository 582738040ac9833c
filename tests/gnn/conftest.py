"""GNN tests run single-threaded: their tensors are tiny, and intra-op threads only contend for
the cores other test processes share."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
