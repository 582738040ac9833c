"""The config system: inheritance, overrides, validation errors naming file and key."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from gvis.config import build_dataclass, dump_yaml, find_config, load_config, to_dict
from gvis.errors import ConfigError


@dataclass
class Optim:
    lr: float = 2e-4
    weight_decay: float = 1e-4
    clip: float | None = None


@dataclass
class Model:
    width: int = 128
    gate: Literal["lstm_like", "simple", "none"] = "lstm_like"
    blocks: list[str] = field(default_factory=lambda: ["gated", "residual"])
    kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.width <= 0:
            raise ValueError("model.width must be positive")


@dataclass
class Root:
    seed: int = 0
    name: str = "run"
    model: Model = field(default_factory=Model)
    optim: Optim = field(default_factory=Optim)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_file():
    cfg = load_config(Root)
    assert cfg == Root()


def test_base_inheritance_merges_sections(tmp_path):
    write(tmp_path, "base.yaml", "seed: 3\nmodel:\n  width: 64\n  blocks: [gated]\noptim:\n  lr: 0.1\n")
    child = write(tmp_path, "child.yaml", "_base_: base.yaml\nmodel:\n  gate: simple\n")
    cfg = load_config(Root, child)
    assert cfg.seed == 3
    assert cfg.model.width == 64 and cfg.model.gate == "simple" and cfg.model.blocks == ["gated"]
    assert cfg.optim.lr == 0.1 and cfg.optim.weight_decay == 1e-4


def test_multiple_bases_later_wins(tmp_path):
    write(tmp_path, "a.yaml", "seed: 1\nname: a\n")
    write(tmp_path, "b.yaml", "seed: 2\n")
    child = write(tmp_path, "c.yaml", "_base_: [a.yaml, b.yaml]\n")
    cfg = load_config(Root, child)
    assert (cfg.seed, cfg.name) == (2, "a")


def test_overrides_parse_yaml_values(tmp_path):
    cfg = load_config(Root, None, ["optim.lr=1e-3", "model.blocks=[mlp, residual]", "optim.clip=null", "seed=7"])
    assert cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.model.blocks == ["mlp", "residual"]
    assert cfg.optim.clip is None and cfg.seed == 7


def test_int_accepted_for_float_not_reverse():
    assert load_config(Root, None, ["optim.lr=1"]).optim.lr == 1.0
    with pytest.raises(ConfigError, match=r"key 'model.width' must be an integer"):
        load_config(Root, None, ["model.width=1.5"])


def test_unknown_key_names_file_and_key(tmp_path):
    base = write(tmp_path, "base.yaml", "model:\n  widht: 64\n")
    child = write(tmp_path, "child.yaml", "_base_: base.yaml\nseed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(Root, child)
    message = str(info.value)
    assert str(base) in message and "unknown key 'model.widht'" in message and "width" in message


def test_wrong_type_names_file_and_key(tmp_path):
    path = write(tmp_path, "bad.yaml", "optim:\n  lr: fast\n")
    with pytest.raises(ConfigError) as info:
        load_config(Root, path)
    assert str(path) in str(info.value) and "optim.lr" in str(info.value)


def test_override_errors_name_the_command_line():
    with pytest.raises(ConfigError, match=r"command line.*model.gate.*one of"):
        load_config(Root, None, ["model.gate=fancy"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(Root, None, ["seed"])
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        load_config(Root, None, ["nope=1"])


def test_section_given_a_scalar_and_list_item_type(tmp_path):
    path = write(tmp_path, "bad.yaml", "model: 3\n")
    with pytest.raises(ConfigError, match="key 'model' must be a mapping"):
        load_config(Root, path)
    with pytest.raises(ConfigError, match=r"model.blocks\[1\]"):
        load_config(Root, None, ["model.blocks=[gated, 3]"])


def test_validate_hook_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="width must be positive"):
        load_config(Root, None, ["model.width=0"])
    bad = write(tmp_path, "broken.yaml", "model: [unclosed\n")
    with pytest.raises(ConfigError, match=f"{bad}: invalid YAML"):
        load_config(Root, bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(Root, write(tmp_path, "x.yaml", "_base_: missing.yaml\n"))


def test_base_cycle_detected(tmp_path):
    write(tmp_path, "a.yaml", "_base_: b.yaml\n")
    write(tmp_path, "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(Root, tmp_path / "a.yaml")


def test_dump_round_trip(tmp_path):
    cfg = load_config(Root, None, ["model.kwargs={heads: 4}", "optim.clip=1.0"])
    path = write(tmp_path, "dumped.yaml", dump_yaml(cfg))
    assert load_config(Root, path) == cfg
    assert to_dict(cfg)["model"]["kwargs"] == {"heads": 4}
    assert build_dataclass(Root, to_dict(cfg)) == cfg


def test_find_config_lists_known_names():
    with pytest.raises(ConfigError, match="no config 'does-not-exist'"):
        find_config("does-not-exist", "synth")


def test_exponent_floats_in_files(tmp_path):
    path = write(tmp_path, "lr.yaml", "optim:\n  lr: 1e-4\n  weight_decay: 5E-5\n")
    cfg = load_config(Root, path)
    assert cfg.optim.lr == pytest.approx(1e-4) and cfg.optim.weight_decay == pytest.approx(5e-5)
