"""Dependencies go one way (CONTRIBUTING.md): the imports of every module under gvis/, read with ast."""
from __future__ import annotations

import ast

import pytest

from gvis_sources import imported, sources, top_package

#: The model's layers, in data-flow order: each imports none after it.
LAYERS = ("data", "detections", "graph", "gnn", "tracker", "eval")
#: Shared by everything, importing nothing else of gvis.
FOUNDATION = ("config", "errors", "io", "plugins", "provenance", "registry", "resources", "runtime", "seed")
#: The training code and the commands built on it.
TRAINING = ("engine", "train", "train_detector")
APPLICATIONS = ("bench", "compare", "cli")


def package_imports() -> dict[str, dict[str, set[str]]]:
    """``{gvis package: {module: the gvis packages it imports}}`` (``gvis/__init__.py`` is package ``gvis``)."""
    graph: dict[str, dict[str, set[str]]] = {}
    for module, _, tree in sources():
        packages = {top_package(name) for name in imported(tree)} - {None}
        graph.setdefault(top_package(module) or "gvis", {})[module] = packages
    return graph


GRAPH = package_imports()


def offenders(packages: tuple[str, ...] | list[str], forbidden: tuple[str, ...] | list[str]) -> list[str]:
    """``module -> package`` for every module of ``packages`` that imports one of ``forbidden``."""
    return sorted(f"{module} -> {target}" for package in packages for module, targets in GRAPH.get(package, {}).items()
                  for target in targets & set(forbidden) if target != package)


def test_the_scan_reads_every_kind_of_import():
    # A hand-written module: top-level, from-, nested and submodule imports (the names are what a reader
    # of this source finds by eye).
    tree = ast.parse("import gvis.io\nfrom gvis import cli\nfrom gvis.train.loop import Trainer\n"
                     "def f():\n    import gvis.gnn.blocks as b\n")
    names = imported(tree)
    assert {top_package(name) for name in names} - {None} == {"io", "cli", "train", "gnn"}
    assert "gvis.cli" in names and "gvis.train.loop.Trainer" in names


def test_the_scan_sees_the_packages():
    assert set(LAYERS + FOUNDATION + TRAINING + APPLICATIONS) <= set(GRAPH)
    assert "gvis.train.loop" in GRAPH["train"] and "engine" in GRAPH["train"]["gvis.train.loop"]


def test_imports_are_absolute():
    relative = sorted(module for module, _, tree in sources() if any(name.startswith(".") for name in imported(tree)))
    assert relative == []


def test_only_the_command_line_imports_it():
    # gvis/__main__.py is `python -m gvis`, the command line's entry point.
    everything_else = [package for package in GRAPH if package not in ("cli", "__main__")]
    assert offenders(everything_else, ["cli"]) == []


@pytest.mark.parametrize("position", range(len(LAYERS) - 1), ids=LAYERS[:-1])
def test_a_layer_imports_no_later_layer(position):
    assert offenders([LAYERS[position]], LAYERS[position + 1:]) == []


def test_the_model_never_imports_training_or_applications():
    assert offenders([*LAYERS, "detectors", "baselines"], [*TRAINING, *APPLICATIONS]) == []


def test_the_trainers_share_code_only_through_the_engine():
    assert offenders(["train"], ["train_detector"]) == []
    assert offenders(["train_detector"], ["train"]) == []


def test_the_engine_knows_no_model():
    allowed = set(FOUNDATION) | {"gvis", "engine"}
    assert offenders(["engine"], sorted(set(GRAPH) - allowed)) == []


def test_the_foundation_imports_only_the_foundation():
    assert offenders(list(FOUNDATION), sorted(set(GRAPH) - set(FOUNDATION))) == []
