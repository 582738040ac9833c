"""Shared test fixtures.

Real VIS fixtures live in ``../shared/data/real`` beside the checkout (never in the repo: their
licences forbid redistribution). Tests that need them take the ``real_data`` fixture and are skipped
with a reason when the folder is absent, so a user's fresh clone still passes.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("GVIS_SHARED", REPO.parent / "shared")) / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of the real fixtures; skips the test when it is not there."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real fixtures not found at {REAL_DATA} (the fixture folder is absent)")
    return REAL_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
