"""One configuration system for all of gvis.

Configs are YAML files validated against dataclass schemas:

* ``_base_: other.yaml`` (or a list of files) inherits; paths are relative to the including file, and
  later files override earlier ones key by key (dicts merge, everything else replaces);
* ``--set optim.lr=1e-4`` overrides one dotted key from the command line (the value is parsed as YAML);
* ``imports: [my_pkg.blocks]`` imports modules that register components before the config is checked
  (:mod:`gvis.plugins`);
* every key is checked against the schema: an unknown key or a wrong type raises :class:`ConfigError`
  naming the file the key came from and the dotted key.

The schema's dataclass defaults are the defaults of gvis (``docs/model.md``); YAML files only hold
what differs. Fields typed ``dict[str, Any]`` hold keyword arguments of registry entries and are checked
by the entry's constructor instead.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, TypeVar, Union

import yaml

from gvis.errors import ConfigError
from gvis.plugins import IMPORTS_KEY, import_config_modules
from gvis.resources import shipped_folder

#: The shipped ``configs/`` folder (the checkout's, or the installed package data: :mod:`gvis.resources`).
CONFIG_DIR = shipped_folder("configs")
COMMAND_LINE = "command line (--set)"
#: Bounds on a parsed config: YAML aliases can make a small file expand without bound.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 64

S = TypeVar("S")


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; configs mean a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str = "<yaml>") -> Any:
    """Parse YAML text the way every gvis config is parsed. ``yaml.YAMLError`` when it is not YAML;
    ``ConfigError`` naming ``source`` when it nests more than :data:`MAX_CONFIG_DEPTH` levels or (through
    aliases) holds more than :data:`MAX_CONFIG_VALUES` values."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise ConfigError(f"{source}: nested more than {MAX_CONFIG_DEPTH} levels") from None
    _check_bounded(data, source)
    return data


def _check_bounded(data: Any, source: str) -> None:
    """Count values and levels of a parsed tree once per distinct node (an alias is counted where it is used)."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels below it)

    def measure(node: Any, depth: int) -> tuple[int, int]:
        if not isinstance(node, (dict, list)):
            return 1, 0
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{source}: nested more than {MAX_CONFIG_DEPTH} levels")
        if id(node) not in measured:
            values, levels = 1, 0
            for child in (node.values() if isinstance(node, dict) else node):
                child_values, child_levels = measure(child, depth + 1)
                values, levels = values + child_values, max(levels, child_levels + 1)
                if values > MAX_CONFIG_VALUES:
                    raise ConfigError(f"{source}: more than {MAX_CONFIG_VALUES} values once its aliases are "
                                      "expanded (an alias bomb?)")
            measured[id(node)] = values, levels
        values, levels = measured[id(node)]
        if depth + levels > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{source}: nested more than {MAX_CONFIG_DEPTH} levels")
        return values, levels

    measure(data, 0)


def find_config(name: str | Path, folder: str = "") -> Path:
    """Resolve a config given as a path, or as a name in ``configs/<folder>/<name>.yaml``."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = CONFIG_DIR / folder / f"{name}.yaml"
    if candidate.exists():
        return candidate
    options = sorted(p.stem for p in (CONFIG_DIR / folder).glob("*.yaml"))
    raise ConfigError(f"no config '{name}' (not a file; known in configs/{folder}: {', '.join(options)})")


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = parse_yaml(text, str(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping, got {type(data).__name__}")
    return data


def merge_tree(target: dict, source: dict, origin: str, sources: dict[str, str], prefix: str = "") -> None:
    """Merge ``source`` into ``target`` in place (sections key by key), recording in ``sources`` that
    ``origin`` set each dotted key."""
    for key, value in source.items():
        if not isinstance(key, str):
            raise ConfigError(f"{origin}: config keys must be strings, got {key!r}")
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_tree(target[key], value, origin, sources, dotted + ".")
        else:
            target[key] = _copy(value)
            sources[dotted] = origin
            if isinstance(value, dict):
                for sub in _dotted_keys(value, dotted + "."):
                    sources[sub] = origin


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _dotted_keys(tree: dict, prefix: str) -> Iterable[str]:
    for key, value in tree.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _dotted_keys(value, f"{prefix}{key}.")


def load_yaml_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> tuple[dict, dict[str, str]]:
    """Read ``path`` with its ``_base_`` chain; returns the merged tree and key → source file."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        raise ConfigError(f"{path}: _base_ cycle: {' -> '.join(map(str, _seen + (resolved,)))}")
    data = _read_yaml(path)
    bases = data.pop("_base_", [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: key '_base_' must be a file name or a list of file names")
    tree: dict = {}
    sources: dict[str, str] = {}
    for base in bases:
        base_path = path.parent / base
        if not base_path.exists():
            raise ConfigError(f"{path}: key '_base_': no such file {base_path}")
        base_tree, base_sources = load_yaml_tree(base_path, _seen + (resolved,))
        merge_tree(tree, base_tree, "", {})
        sources.update(base_sources)
    merge_tree(tree, data, str(path), sources)
    return tree, sources


def apply_overrides(tree: dict, sources: dict[str, str], overrides: Iterable[str]) -> None:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to ``tree`` in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{COMMAND_LINE}: expected key=value, got '{item}'")
        try:
            value = parse_yaml(raw, f"{COMMAND_LINE}: key '{key}'") if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{COMMAND_LINE}: key '{key}': '{part}' is not a section")
            node = child
        node[parts[-1]] = value
        sources[key] = COMMAND_LINE
        if isinstance(value, dict):
            for sub in _dotted_keys(value, key + "."):
                sources[sub] = COMMAND_LINE


def _source(sources: dict[str, str], dotted: str) -> str:
    while dotted:
        if dotted in sources and sources[dotted]:
            return sources[dotted]
        dotted = dotted[:dotted.rindex("[")] if dotted.endswith("]") else dotted.rpartition(".")[0]
    return "config"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, dotted: str, sources: dict[str, str]) -> Any:
    """Check ``value`` against type ``tp``; build nested dataclasses. Raises ConfigError."""

    def fail(expected: str) -> ConfigError:
        return ConfigError(
            f"{_source(sources, dotted)}: key '{dotted}' must be {expected}, "
            f"got {type(value).__name__} {value!r}"
        )

    if isinstance(value, float) and not math.isfinite(value):
        raise fail("a finite number")
    if tp is Any:
        below = _non_finite(value)  # keyword arguments of registry entries: checked here for NaN / inf only
        if below is not None:
            raise ConfigError(f"{_source(sources, dotted)}: key '{dotted}{below}' must be a finite number")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"a mapping (section {_type_name(tp)})")
        return build_dataclass(tp, value, sources, dotted + ".")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, dotted, sources)
            except ConfigError as exc:
                errors.append(exc)
                base = typing.get_origin(arg) or arg
                if isinstance(base, type) and isinstance(value, base):  # the right type, a wrong value
                    raise
        raise fail(" or ".join(_type_name(a) for a in args)) if len(errors) != 1 else errors[0]
    if origin is Literal:
        if value not in args:
            raise fail(f"one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} items")
            return tuple(_convert(v, a, f"{dotted}[{i}]", sources) for i, (v, a) in enumerate(zip(value, args)))
        item_type = args[0] if args else Any
        items = [_convert(v, item_type, f"{dotted}[{i}]", sources) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        value_type = args[1] if args else Any
        return {k: _convert(v, value_type, f"{dotted}.{k}", sources) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise fail(_type_name(tp))
    return value


def _non_finite(value: Any) -> str | None:
    """Where ``value`` (a number, or a list / mapping holding numbers) has a NaN or inf: ``""`` for
    ``value`` itself, ``"[2]"`` or ``".key"`` below it; ``None`` when it has none."""
    if isinstance(value, float):
        return None if math.isfinite(value) else ""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        below = _non_finite(item)
        if below is not None:
            return (f".{key}" if isinstance(value, dict) else f"[{key}]") + below
    return None


def _section_source(sources: dict[str, str], prefix: str, message: str) -> str:
    """Where the keys of a section that broke a rule came from: the sources of the keys its message
    names (all of the section's keys when it names none)."""
    keys = [key for key in sources if key.startswith(prefix) and sources[key]]

    def named(pattern: str) -> list[str]:
        return [key for key in keys if re.search(pattern.format(re.escape(key.rpartition(".")[2])), message)]

    # A key written as one (``clips.length``, ``blocks[0]``, ``steps:``) before a word that is also a key.
    origins = dict.fromkeys(sources[key] for key in named(r"(\.{0}\b|\b{0}[\[:])") or named(r"\b{0}\b") or keys)
    return " or ".join(origins) if origins else _source(sources, prefix.rstrip("."))


def build_dataclass(schema: type[S], tree: dict, sources: dict[str, str] | None = None, prefix: str = "") -> S:
    """Instantiate dataclass ``schema`` from a nested dict, checking every key and type."""
    sources = sources or {}
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.init}
    kwargs = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(
                f"{_source(sources, dotted)}: unknown key '{dotted}' "
                f"(known in this section: {', '.join(sorted(fields))})"
            )
        kwargs[key] = _convert(value, hints[key], dotted, sources)
    try:
        instance = schema(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{_section_source(sources, prefix, str(exc))}: section '{prefix.rstrip('.') or '<root>'}': "
                          f"{exc}") from None
    check = getattr(instance, "validate", None)
    if callable(check):
        try:
            check()
        except (ValueError, AssertionError) as exc:
            raise ConfigError(f"{_section_source(sources, prefix, str(exc))}: {exc}") from None
    return instance


def load_config(schema: type[S], path: str | Path | None = None, overrides: Iterable[str] = ()) -> S:
    """Load ``path`` (with its ``_base_`` chain) and ``overrides`` into a validated ``schema``.

    The modules of a top-level ``imports`` key are imported first (:mod:`gvis.plugins`), so that the config
    may name the components they register; a schema without an ``imports`` field drops the key after that.
    """
    tree, sources = load_yaml_tree(path) if path is not None else ({}, {})
    apply_overrides(tree, sources, overrides)
    import_config_modules(tree, _source(sources, IMPORTS_KEY))
    if IMPORTS_KEY not in {f.name for f in dataclasses.fields(schema)}:  # type: ignore[arg-type]
        tree.pop(IMPORTS_KEY, None)
    return build_dataclass(schema, tree, sources)


def to_dict(config: Any) -> Any:
    """A plain nested dict (YAML/JSON-ready) of a config dataclass."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: to_dict(v) for k, v in config.items()}
    return config


def dump_yaml(config: Any) -> str:
    """The config as YAML text (loading it back gives the same config)."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
