"""The worked example of CONTRIBUTING.md ("Add a message-passing variant") runs exactly as written there.

Each code block follows an ``<!-- example: TARGET -->`` marker. In the tree: the block class and its dense
function are executed as if they were in their files (registered for the test's duration only), the parity
tests of ``tests/gnn/test_gnn_parity.py`` run on the new name and the YAML loads into a tracker. From the
user's own package: the module is imported by the config's ``imports`` key and by the entry point of the
``pyproject.toml`` lines. The command parses.
"""
from __future__ import annotations

import importlib.util
import re
import shlex
import sys
import tomllib
import types
from pathlib import Path

import pytest
import torch

from gvis.config import CONFIG_DIR

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(r"<!-- example: (?P<target>[^>]+?) -->\n```\w+\n(?P<code>.*?)```", re.S)


def examples() -> dict[str, str]:
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    return {match["target"]: match["code"] for match in EXAMPLE.finditer(text)}


def import_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parity_tests() -> types.ModuleType:
    return import_file("contributing_parity", Path(__file__).with_name("test_gnn_parity.py"))


@pytest.fixture
def mean_block(plugin_folder, monkeypatch):
    """The example's ``MeanBlock`` as if in the tree (``gvis.gnn.mean_block``), registered with its dense function
    until the test ends; the real one when the recipe has been followed in the tree."""
    from gvis.gnn import dense_reference
    from gvis.registry import GNN_LAYERS

    if "mean" in GNN_LAYERS:
        return GNN_LAYERS.get("mean")
    code = examples()
    monkeypatch.setattr(dense_reference, "_DENSE_BLOCKS", dict(dense_reference._DENSE_BLOCKS))
    # From a real file: PyG reads a MessagePassing class's source to generate its propagate().
    source = plugin_folder / "mean_block.py"
    source.write_text(code["my_gvis/mean_block.py"], encoding="utf-8")
    module = import_file("gvis.gnn.mean_block", source)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code["gvis/gnn/__init__.py (add)"], "CONTRIBUTING.md:gvis/gnn/__init__.py", "exec"), {})
    # As if appended to dense_reference.py: its helpers are in scope, @dense_block registers there.
    exec(compile(code["gvis/gnn/dense_reference.py (add)"], "CONTRIBUTING.md:dense_reference.py", "exec"),
         dict(vars(dense_reference)))
    return module.MeanBlock


@pytest.fixture
def own_package(plugin_folder):
    """The example's module in the package ``my_gvis`` outside gvis, on ``sys.path`` (not imported yet; an
    in-tree ``mean`` is hidden, as for a user of gvis without it)."""
    from gvis.registry import GNN_LAYERS

    GNN_LAYERS._entries.pop("mean", None)  # a copy: the plugin_folder fixture restores the registry
    package = plugin_folder / "my_gvis"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "mean_block.py").write_text(examples()["my_gvis/mean_block.py"], encoding="utf-8")
    return plugin_folder


def test_example_has_every_step():
    assert set(examples()) == {"my_gvis/mean_block.py", "pyproject.toml (add)", "gvis/gnn/__init__.py (add)",
                               "my_mean.yaml", "configs/ablations/mean.yaml", "gvis/gnn/dense_reference.py (add)",
                               "command"}


def test_parity_of_the_example_block(mean_block):
    from gvis.registry import GNN_LAYERS

    assert GNN_LAYERS.get("mean") is mean_block
    parity = parity_tests()
    assert "mean" in parity.VARIANTS  # the parity tests take every registered block: no edit of the test
    for sequence in parity.SEQUENCES:
        parity.test_parity_every_variant_and_sequence("mean", sequence)
    for dims in ("no_appearance", "baked"):
        parity.test_parity_input_widths("mean", dims)
    parity.test_parity_empty_graphs("mean", [(2, 7), (0, 0), (7, 0), (0, 1)])

    # Not the gated block under another name: with the same weights, averaging changes the output.
    generator = torch.Generator().manual_seed(1)
    gated, mean = (parity.build([name], parity.INPUT_DIMS["default"]) for name in ("gated", "mean"))
    mean.load_state_dict(gated.state_dict())
    frame = parity.random_frame([(3, 2)], parity.INPUT_DIMS["default"], gated.width, generator)
    graph = parity.dense_to_graph(frame)
    assert not torch.allclose(gated(graph).det, mean(graph).det)


def test_example_in_tree_config(mean_block, tmp_path):
    from gvis.tracker.model import RecurrentGraphTracker
    from gvis.train.loop import load_train_config

    config_path = tmp_path / "configs" / "ablations" / "mean.yaml"
    config_path.parent.mkdir(parents=True)
    (tmp_path / "configs" / "train").symlink_to(CONFIG_DIR / "train")
    config_path.write_text(examples()["configs/ablations/mean.yaml"], encoding="utf-8")
    config = load_train_config(config_path)
    assert config.model.gnn.blocks == ["mean", "residual", "mean", "residual"]
    model = RecurrentGraphTracker(config.model, num_classes=3)
    assert [type(block).__name__ for block in model.gnn.blocks] == ["MeanBlock", "ResidualBlock"] * 2


def test_example_from_your_own_package_config_and_command(own_package, tmp_path, monkeypatch):
    from gvis.cli import build_parser
    from gvis.tracker.model import RecurrentGraphTracker
    from gvis.train.loop import load_train_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(CONFIG_DIR)
    Path("my_mean.yaml").write_text(examples()["my_mean.yaml"], encoding="utf-8")
    config = load_train_config("my_mean.yaml")
    assert config.imports == ["my_gvis.mean_block"] and config.model.gnn.blocks == ["mean", "residual"] * 2
    model = RecurrentGraphTracker(config.model, num_classes=3)
    modules = [type(block).__module__ for block in model.gnn.blocks]
    assert modules == ["my_gvis.mean_block", "gvis.gnn.residual_block"] * 2
    assert config.model.gate == load_train_config(CONFIG_DIR / "ablations" / "proposed.yaml").model.gate

    argv = shlex.split(examples()["command"])
    assert argv[:2] == ["gvis", "compare"]
    args = build_parser().parse_args(argv[1:])
    assert args.configs == ["configs/ablations/proposed.yaml", "my_mean.yaml"]
    assert (args.seeds, args.preset, str(args.work)) == (3, "hard", "runs/learning_proof")


def test_example_entry_point(own_package, monkeypatch):
    """The ``pyproject.toml`` lines, as installed (a ``.dist-info`` with their entry point): the block is there
    when a registry is first read, with no config or flag."""
    from gvis import plugins
    from gvis.registry import GNN_LAYERS

    group, = tomllib.loads(examples()["pyproject.toml (add)"])["project"]["entry-points"].items()
    assert group[0] == plugins.ENTRY_POINT_GROUP
    info = own_package / "my_gvis-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-gvis\nVersion: 1.0\n", encoding="utf-8")
    lines = "".join(f"{name} = {value}\n" for name, value in group[1].items())
    (info / "entry_points.txt").write_text(f"[{group[0]}]\n{lines}", encoding="utf-8")
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    assert GNN_LAYERS.get("mean").__module__ == "my_gvis.mean_block"
