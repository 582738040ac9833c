"""Every ``--set KEY=VALUE`` example of the help texts and of the docs names a real config key.

Each command with ``--set`` declares the config dataclass its overrides reach (``add_set_argument``'s
``schema``); the examples of its help (option helps and description) must be keys of that dataclass, and
must load. Examples in the docs must be keys of some command's dataclass or of a registered tracker's or
detector's ``config_class``.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import types
import typing
from pathlib import Path

import pytest

from gvis.cli import build_parser
from gvis.config import load_config
from gvis.registry import DETECTORS, TRACKERS

REPO = Path(__file__).resolve().parents[2]
SET_EXAMPLE = re.compile(r"--set\s+[\"'`]?([A-Za-z_][\w.]*)=([^\s\"'`)\]]*)")
PLACEHOLDERS = {"key", "KEY", "section.key"}


def has_key(schema: type, dotted: str) -> bool:
    """Whether ``dotted`` is a key of the dataclass ``schema`` (a ``dict`` field takes any sub-key)."""
    current: typing.Any = schema
    for part in dotted.split("."):
        if _is_dict(current):
            return True
        if not dataclasses.is_dataclass(current):
            return False
        hints = typing.get_type_hints(current)
        if part not in {f.name for f in dataclasses.fields(current)}:
            return False
        current = _unwrap(hints[part])
    return True


def _unwrap(tp: typing.Any) -> typing.Any:
    """The dataclass or dict inside ``X | None``; the type itself otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(tp) if dataclasses.is_dataclass(arg) or _is_dict(arg)]
        return inner[0] if inner else tp
    return tp


def _is_dict(tp: typing.Any) -> bool:
    return tp is dict or typing.get_origin(tp) is dict


def resolve(schema: str) -> type:
    module, _, name = schema.partition(":")
    return getattr(importlib.import_module(module), name)


def commands_with_set() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {name: command for name, command in sub.choices.items()
            if any("--set" in action.option_strings for action in command._actions)}


def help_examples(command: argparse.ArgumentParser) -> list[tuple[str, str]]:
    texts = [command.description or ""] + [action.help or "" for action in command._actions]
    return [(match.group(1), match.group(2).rstrip(".,;:")) for text in texts for match in SET_EXAMPLE.finditer(text)]


COMMANDS = commands_with_set()


def test_has_key_walks_nested_optional_and_free_sections():
    from gvis.train.config import TrainConfig

    assert has_key(TrainConfig, "model.gnn.blocks")
    assert has_key(TrainConfig, "optim.lr")
    assert has_key(TrainConfig, "model.scorer.type")            # dict[str, Any]: registry keyword arguments
    assert not has_key(TrainConfig, "train.lr")
    assert not has_key(TrainConfig, "model.blocks")
    assert not has_key(TrainConfig, "optim.lr.value")


def test_commands_with_set_are_found():
    assert {"train", "synth"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_examples_are_keys_of_the_command_schema(name):
    command = COMMANDS[name]
    schema = resolve(command.get_default("_set_schema"))
    assert dataclasses.is_dataclass(schema)
    examples = help_examples(command)
    assert examples, f"gvis {name} --help gives no --set example"
    for key, value in examples:
        assert has_key(schema, key), f"gvis {name} --help: --set {key}=... is not a key of {schema.__name__}"
        if not value.isupper():                                  # a placeholder such as DIR
            load_config(schema, None, [f"{key}={value}"])


def doc_files() -> list[Path]:
    return sorted((REPO / "docs").rglob("*.md")) + sorted(REPO.glob("*.md"))


def known_schemas() -> list[type]:
    schemas = [resolve(command.get_default("_set_schema")) for command in COMMANDS.values()]
    for registry in (TRACKERS, DETECTORS):
        schemas += [registry.get(name).config_class for name in registry.names()
                    if getattr(registry.get(name), "config_class", None) is not None]
    return schemas


def test_doc_examples_are_config_keys():
    schemas = known_schemas()
    found, wrong = 0, []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for match in SET_EXAMPLE.finditer(text):                # \s+ also spans a line break after --set
            key = match.group(1)
            if key in PLACEHOLDERS:
                continue
            found += 1
            if not any(has_key(schema, key) for schema in schemas):
                line = text.count("\n", 0, match.start()) + 1
                wrong.append(f"{path.relative_to(REPO)}:{line}: --set {key}=...")
    assert found > 10
    assert not wrong, "\n".join(wrong)
