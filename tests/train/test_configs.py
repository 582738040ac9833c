"""The training presets load and agree with the model presets they copy."""
from __future__ import annotations

import pytest

from gvis.config import find_config, load_config, to_dict
from gvis.errors import ConfigError
from gvis.tracker.model import TrackerConfig
from gvis.train.config import TrainConfig
from gvis.train.loop import load_train_config


@pytest.mark.parametrize("name", ["base", "tiny", "agnostic", "agnostic-dense"])
def test_train_model_section_is_the_model_preset(name):
    train = load_train_config(name)
    model = load_config(TrackerConfig, find_config(name, "model"))
    assert to_dict(train.model) == to_dict(model)


def test_defaults_are_the_papers():
    config = TrainConfig()
    assert (config.data.batch_size, config.data.clips.length) == (4, 10)
    assert (config.optim.lr, config.optim.weight_decay, config.optim.grad_clip) == (2e-4, 1e-4, None)
    assert (config.loss.class_weight, config.loss.mask_weight, config.loss.association_weight,
            config.loss.init_weight) == (1, 1, 4, 1)
    assert config.train.bptt_chunk is None and config.optim.schedule == "constant"
    assert load_train_config("base").model.mask_stride == 8


def test_bad_keys_name_the_key():
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_train_config("tiny", ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="augment.scale"):
        load_train_config("tiny", ["data.augment.scale=[2, 1]"])
    with pytest.raises(ConfigError, match="without 'annotations'"):
        load_train_config("tiny", ["data.train.detections=x"])
