"""Components registered from outside gvis: modules imported before any registry is read.

A block, gate, appearance model, associator, scorer, detection-inputs model, tracker or detector written in
the user's own package registers itself when its module is imported (``@GNN_LAYERS.register("name")``,
:mod:`gvis.registry`). Three ways make gvis import that module (``docs/extending.md``):

- the ``imports: [my_pkg.blocks, ...]`` key at the top of any config gvis loads (:func:`import_config_modules`,
  called by :func:`gvis.config.load_config` before the config is checked);
- ``--import MODULE`` (repeatable) on every ``gvis`` command, for commands run without a config;
- an entry point in the group ``gvis.plugins`` of an installed package (``[project.entry-points."gvis.plugins"]``
  in its ``pyproject.toml``), imported the first time any registry is read (:func:`load_entry_points`).

A module that fails to import is a :class:`~gvis.errors.ConfigError` of one line naming the module and where it
was asked for (the config file and key, the flag, or the entry point).
"""
from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any, Iterable

from gvis.errors import ConfigError

#: The config key listing modules to import.
IMPORTS_KEY = "imports"
#: The entry-point group of installed plugins.
ENTRY_POINT_GROUP = "gvis.plugins"
#: Where ``--import`` modules come from, in error messages.
COMMAND_LINE_IMPORT = "command line (--import)"

_entry_points_loaded = False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def import_modules(modules: Iterable[str], where: str) -> None:
    """Import every module named in ``modules``; ``where`` says who asked for them (a config file and key, the
    flag) in the :class:`ConfigError` raised when one fails to import."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any error while importing a user's module is that module's failure
            raise ConfigError(f"{where}: cannot import plugin module '{module}': {_reason(exc)}") from None


def import_config_modules(tree: dict[str, Any], source: str) -> list[str]:
    """Import the modules of a config tree's ``imports`` key (read from ``source``, a file name for messages)
    and return them (``[]`` without the key); ``ConfigError`` when the key is not a list of module names."""
    modules = tree.get(IMPORTS_KEY, [])
    where = f"{source}: key '{IMPORTS_KEY}'"
    if not isinstance(modules, list) or not all(isinstance(m, str) and m.strip() for m in modules):
        raise ConfigError(f"{where} must be a list of module names, got {modules!r}")
    import_modules(modules, where)
    return modules


def load_entry_points() -> None:
    """Import the plugins of every installed package's ``gvis.plugins`` entry points (once per process)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True  # first: a plugin that reads a registry while it is imported must not recurse
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:
            _entry_points_loaded = False  # so that every later registry read reports it too
            package = f" of package '{entry.dist.name}'" if entry.dist is not None else ""
            raise ConfigError(f"entry point '{entry.name} = {entry.value}'{package} (group {ENTRY_POINT_GROUP}): "
                              f"cannot import plugin module '{entry.module}': {_reason(exc)}") from None
