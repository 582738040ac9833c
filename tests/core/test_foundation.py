"""Errors, atomic writes, registries and seeding."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gvis.errors import ConfigError, InputError
from gvis.io import atomic_open, write_json_atomic
from gvis.registry import Registry
from gvis.seed import seed_everything


def test_input_error_names_everything():
    err = InputError("bad size", file="a.json", line=4, video_id=7, field="segmentations[2]")
    assert str(err) == "a.json:4: video 7: field 'segmentations[2]': bad size"
    assert isinstance(err, ValueError)


def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"ok": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write('{"half": ')
            raise RuntimeError("crash")
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_registry_build_and_errors():
    registry: Registry = Registry("widget")

    @registry.register("round")
    class Round:
        def __init__(self, radius: float = 1.0) -> None:
            self.radius = radius

    assert registry.build("round", radius=2.0).radius == 2.0
    with pytest.raises(ValueError, match="unknown widget 'square'; options: round"):
        registry.get("square")
    with pytest.raises(ConfigError, match="widget 'round'.*colour"):
        registry.build("round", colour="red")
    registry.register("round")(Round)  # the same class again (its module reloaded) replaces it

    class Square:
        pass

    with pytest.raises(ConfigError, match=r"^widget 'round' is registered twice: by test_foundation\.test_registry_"
                                          r"build_and_errors\.<locals>\.Round and by test_foundation\..*Square$"):
        registry.register("round")(Square)


def test_seed_everything_reproduces():
    rng = seed_everything(5)
    first = (torch.rand(3), np.random.rand(), rng.random())
    rng = seed_everything(5)
    second = (torch.rand(3), np.random.rand(), rng.random())
    assert torch.equal(first[0], second[0]) and first[1:] == second[1:]


def test_atomic_write_uses_normal_permissions(tmp_path):
    import os
    path = tmp_path / "shared.json"
    write_json_atomic(path, [])
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
