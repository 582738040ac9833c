"""The worked example of CONTRIBUTING.md ("Add a message-passing variant") runs exactly as written there.

Each code block follows an ``<!-- example: TARGET -->`` marker; the block class and its dense function are
executed as if they were in their files (registered for the test's duration only), the parity tests of
``tests/gnn/test_gnn_parity.py`` run on the new name, the YAML loads into a tracker, and the command parses.
"""
from __future__ import annotations

import importlib.util
import re
import shlex
import sys
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
def mean_block(monkeypatch, tmp_path):
    """The example's ``MeanBlock``, registered with its dense function until the test ends."""
    from gvis.gnn import dense_reference
    from gvis.registry import GNN_LAYERS

    code = examples()
    GNN_LAYERS.names()  # register the built-ins before taking the copy
    monkeypatch.setattr(GNN_LAYERS, "_entries", dict(GNN_LAYERS._entries))
    monkeypatch.setattr(dense_reference, "_DENSE_BLOCKS", dict(dense_reference._DENSE_BLOCKS))
    # From a real file: PyG reads a MessagePassing class's source to generate its propagate().
    source = tmp_path / "mean_block.py"
    source.write_text(code["gvis/gnn/mean_block.py"], encoding="utf-8")
    module = import_file("gvis.gnn.mean_block", source)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code["gvis/gnn/__init__.py (add)"], "CONTRIBUTING.md:gvis/gnn/__init__.py", "exec"), {})
    # As if appended to dense_reference.py: its helpers are in scope, @dense_block registers there.
    exec(compile(code["gvis/gnn/dense_reference.py (add)"], "CONTRIBUTING.md:dense_reference.py", "exec"),
         dict(vars(dense_reference)))
    return module.MeanBlock


def test_example_has_every_step():
    assert set(examples()) == {"gvis/gnn/mean_block.py", "gvis/gnn/__init__.py (add)",
                               "gvis/gnn/dense_reference.py (add)", "configs/ablations/mean.yaml",
                               "tests/gnn/test_gnn_parity.py (change)", "command"}


def test_parity_of_the_example_block(mean_block):
    from gvis.registry import GNN_LAYERS

    assert GNN_LAYERS.get("mean") is mean_block
    parity = parity_tests()
    namespace: dict = {}
    exec(examples()["tests/gnn/test_gnn_parity.py (change)"], namespace)
    assert namespace["VARIANTS"] == (*parity.VARIANTS, "mean")  # the documented edit is the one line it says
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


def test_example_config_and_command(mean_block, tmp_path):
    from gvis.cli import build_parser
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

    argv = shlex.split(examples()["command"])
    assert argv[:2] == ["gvis", "compare"]
    args = build_parser().parse_args(argv[1:])
    assert args.configs == ["configs/ablations/proposed.yaml", "configs/ablations/mean.yaml"]
    assert (args.seeds, args.preset, str(args.work)) == (3, "hard", "runs/learning_proof")
