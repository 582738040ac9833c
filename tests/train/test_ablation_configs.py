"""Every config of configs/ablations/ loads, changes only its row, has the paper's number, and trains."""
from __future__ import annotations

import json
import math
import re

import pytest

from gvis.compare.paper import PAPER_ROWS
from gvis.compare.report import config_changes
from gvis.config import CONFIG_DIR, find_config, parse_yaml
from gvis.train.loop import Trainer, load_train_config

ABLATIONS = sorted((CONFIG_DIR / "ablations").glob("*.yaml"))
#: What each row changes against configs/train/base.yaml (written out independently of the YAML files). A
#: config added beside them (a new variant) is checked to change something, and to train.
EXPECTED_CHANGES = {
    "proposed": "",
    "limited_gnn": "model.gnn.blocks=[limited]; model.associator.type=limited",
    "association_masktrack": "model.associator.type=masktrack",
    "no_appearance": "model.appearance.type=none",
    "appearance_constant_variance": "model.appearance.type=constant_variance",
    "appearance_lstm": "model.appearance.type=lstm",
    "appearance_baked": "model.appearance.type=baked",
    "scoring_learned_head": "model.scorer.type=learned",
    "scoring_masktrack": "model.scorer.type=masktrack",
    "scoring_detector_average": "model.scorer.type=detector_average",
    "no_gating": "model.gate.type=none",
    "simple_gate": "model.gate.type=simple",
    "mlp_node_updates": "model.gnn.blocks=[mlp, residual, mlp, residual]",
    "gnn_1_block": "model.gnn.blocks=[gated, residual]",
    "gnn_3_blocks": "model.gnn.blocks=[gated, residual, gated, residual, gated, residual]",
    "no_interleaved_residual": "model.gnn.blocks=[gated, gated]",
    "attention": "model.gnn.blocks=[attention, residual, attention, residual]",
}


def tiny_overrides() -> list[str]:
    """What configs/train/tiny.yaml itself sets (not its base), as --set overrides."""
    tree = parse_yaml(find_config("tiny", "train").read_text(encoding="utf-8"))
    tree.pop("_base_")

    def flatten(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flatten(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}={json.dumps(value)}"

    return list(flatten(tree))


def test_every_row_has_a_config_and_a_paper_number():
    stems = {path.stem for path in ABLATIONS}
    assert set(EXPECTED_CHANGES) <= stems
    assert set(PAPER_ROWS) == set(EXPECTED_CHANGES) - {"attention"}  # the new variant has no paper number
    assert PAPER_ROWS["proposed"].ap == 35.3 and PAPER_ROWS["limited_gnn"].ap == 28.6
    assert PAPER_ROWS["no_gating"].ap is None  # "Diverges"
    assert PAPER_ROWS["gnn_3_blocks"].ap == 35.2 and PAPER_ROWS["gnn_3_blocks"].table == "Table 4"


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_config_changes_only_its_row(path):
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text)["_base_"] == "../train/base.yaml"
    header = text.splitlines()[0]
    paper = PAPER_ROWS.get(path.stem)
    if paper is not None:  # the header names the row, its table and the paper's number
        number = "diverges" if paper.ap is None else f"{paper.ap:.1f} mAP"
        assert paper.name.lower() in header.lower() and number in header, header
        assert re.search(r"Table [14]", header), header
    if path.stem in EXPECTED_CHANGES:
        assert config_changes(path) == EXPECTED_CHANGES[path.stem]
    else:
        assert config_changes(path), f"{path.name} changes nothing against configs/train/base.yaml"


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_config_trains_two_steps_on_tiny(path, tiny_train_set, tmp_path):
    config = load_train_config(path, [
        *tiny_overrides(),
        f"data.train.annotations={tiny_train_set / 'data'}",
        f"data.train.detections={tiny_train_set / 'dets.pt'}",
        f"output_dir={tmp_path / 'run'}",
        "train.steps=2",
        "model.init_threshold=-3.0",  # below the init head's bias: tracks start at once, so every part runs
    ])
    assert config.model.gnn.width == 16 and config.data.clips.length == 4
    result = Trainer(config, progress=False).run()
    assert result.step == 2 and result.stopped_by is None
    assert all(math.isfinite(value) for value in result.losses.values())
    assert result.losses["tracks"] > 0 and result.losses["class"] > 0
    assert (tmp_path / "run" / "model.pt").exists()
