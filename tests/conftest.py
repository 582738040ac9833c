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


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    """A folder outside gvis on ``sys.path`` (and on ``PYTHONPATH``, for ``gvis`` processes a test starts) for
    plugin modules a test writes. Every registry's entries, and the modules imported meanwhile, are restored
    when the test ends, so that what a plugin registers stays in its test."""
    import sys

    from gvis import plugins, registry

    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    for table in vars(registry).values():
        if isinstance(table, registry.Registry):
            table.names()  # the built-ins registered before the copy is taken
            monkeypatch.setattr(table, "_entries", dict(table._entries))
    monkeypatch.setattr(plugins, "_entry_points_loaded", plugins._entry_points_loaded)
    yield folder
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]
