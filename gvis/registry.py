"""Named registries, so that a YAML file can select a component by name.

A new GNN layer, recurrent gate, appearance model, detection-inputs model, associator, scorer, tracker or
detector is one class plus one ``@REGISTRY.register("name")`` line; configs then select it with
``type: name``. The class may live in the user's own package: :mod:`gvis.plugins` imports it before a
registry is read (``docs/extending.md``).
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Generic, Iterator, TypeVar

from gvis.errors import ConfigError
from gvis.plugins import load_entry_points

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to classes (or factories) of one kind of component."""

    def __init__(self, kind: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        #: Modules whose import registers the built-in entries (imported on first lookup).
        self._modules = modules
        self._loaded = not modules
        self._entries: dict[str, Callable[..., T]] = {}

    def _load(self) -> None:
        load_entry_points()
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Class decorator adding the class under ``name``; ``ConfigError`` naming both modules when another
        entry has the name (the same class defined again, e.g. its module reloaded, replaces it)."""

        def add(entry: Callable[..., T]) -> Callable[..., T]:
            previous = self._entries.get(name)
            if previous is not None and _origin(previous) != _origin(entry):
                raise ConfigError(f"{self.kind} '{name}' is registered twice: by {_origin(previous)} and by "
                                  f"{_origin(entry)}")
            self._entries[name] = entry
            return entry

        return add

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Callable[..., T]:
        """The entry called ``name``; ``ValueError`` listing the options if there is none."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} '{name}'; options: {', '.join(self.names())}"
            ) from None

    def build(self, name: str, /, **kwargs: Any) -> T:
        """Instantiate entry ``name`` with ``kwargs``; a bad keyword becomes a :class:`ConfigError`."""
        entry = self.get(name)
        try:
            inspect.signature(entry).bind(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"{self.kind} '{name}': {exc}") from None
        return entry(**kwargs)


def _origin(entry: Callable[..., Any]) -> str:
    """``module.QualifiedName`` of a registered class or factory."""
    return f"{getattr(entry, '__module__', '?')}.{getattr(entry, '__qualname__', type(entry).__name__)}"


# The registries of gvis. Each lists the modules that register its built-in entries.
GNN_LAYERS: Registry = Registry("GNN layer", ("gvis.gnn",))
RECURRENT_GATES: Registry = Registry("recurrent gate", ("gvis.tracker.gates",))
APPEARANCE_MODELS: Registry = Registry("appearance model", ("gvis.tracker.appearance",))
DETECTION_INPUTS: Registry = Registry("detection-inputs model", ("gvis.tracker.inputs",))
ASSOCIATORS: Registry = Registry("associator", ("gvis.tracker.heads",))
SCORERS: Registry = Registry("scorer", ("gvis.tracker.heads",))
TRACKERS: Registry = Registry("tracker", ("gvis.baselines", "gvis.tracker"))
DETECTORS: Registry = Registry(
    "detector",
    ("gvis.detections.simulate", "gvis.detectors.yolact.detector", "gvis.detectors.maskrcnn", "gvis.detectors.precomputed"),
)
