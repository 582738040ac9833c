"""Every detection-inputs model, gate, appearance model, associator and scorer is selectable from YAML; unknown
names list the options."""
from __future__ import annotations

import pytest
import torch

from gvis.config import CONFIG_DIR, load_config
from gvis.errors import ConfigError
from gvis.registry import APPEARANCE_MODELS, ASSOCIATORS, DETECTION_INPUTS, RECURRENT_GATES, SCORERS
from gvis.tracker.features import prepare_frame
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig
from gvis.tracker.online import label_columns

from tracker_helpers import random_detections

ENTRIES = [("inputs", name) for name in DETECTION_INPUTS.names()] + \
          [("gate", name) for name in RECURRENT_GATES.names()] + \
          [("appearance", name) for name in APPEARANCE_MODELS.names()] + \
          [("associator", name) for name in ASSOCIATORS.names()] + \
          [("scorer", name) for name in SCORERS.names()]


def write_config(tmp_path, body: str):
    path = tmp_path / "model.yaml"
    path.write_text(f"_base_: {CONFIG_DIR / 'model' / 'tiny.yaml'}\n{body}")
    return path


@pytest.mark.parametrize("key, name", ENTRIES)
def test_entry_from_yaml_runs_a_frame(tmp_path, key, name):
    body = f"{key}:\n  type: {name}\n"
    if (key, name) == ("associator", "limited"):
        body += "gnn:\n  blocks: [limited]\n"
    config = load_config(TrackerConfig, write_config(tmp_path, body))
    assert getattr(config, key)["type"] == name
    torch.manual_seed(0)
    model = RecurrentGraphTracker(config, num_classes=3)
    generator = torch.Generator().manual_seed(0)
    state = model.initial_state(2)
    for counts in ((2, 0), (3, 1)):
        uses = model.uses_appearance
        videos = [random_detections(n, generator, appearance_dim=64 if uses else None) for n in counts]
        frame = prepare_frame(videos, label_columns([1, 2, 3]), 3, appearance_dim=64, use_appearance=uses,
                              mask_grid=model.inputs.mask_grid)
        state, out = model.step(state, frame)
    assert out.class_logits.shape == (state.num_tracks, 4)


def test_component_keywords_from_yaml(tmp_path):
    config = load_config(TrackerConfig, write_config(tmp_path, "appearance: {type: lstm, hidden: 7}\n"
                                                                "scorer: {type: detector_average, rate: 0.5}\n"))
    model = RecurrentGraphTracker(config, num_classes=3)
    assert model.appearance.hidden == 7 and model.scorer.rate == 0.5
    # The calibration keys reach the appearance model (base.yaml's synthetic constants).
    assert model.appearance.loglik_scale == 0.002 and model.appearance.loglik_offset == 0.7


@pytest.mark.parametrize("key, registry", [("inputs", DETECTION_INPUTS), ("gate", RECURRENT_GATES),
                                           ("appearance", APPEARANCE_MODELS), ("associator", ASSOCIATORS),
                                           ("scorer", SCORERS)])
def test_unknown_names_list_the_options(tmp_path, key, registry):
    with pytest.raises(ValueError) as info:
        load_config(TrackerConfig, write_config(tmp_path, f"{key}: {{type: nonsense}}\n"))
    message = str(info.value)
    assert "nonsense" in message and all(name in message for name in registry.names())
    with pytest.raises(ValueError, match="unknown"):
        registry.get("nonsense")


def test_bad_keyword_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="colour"):
        load_config(TrackerConfig, write_config(tmp_path, "gate: {type: simple, colour: red}\n"))
