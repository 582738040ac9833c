"""The detector configs: base holds the paper's numbers, the others load and validate."""
from __future__ import annotations

import pytest

from gvis.errors import ConfigError
from gvis.train_detector.config import load_detector_train_config


def test_base_config_is_the_spec():
    config = load_detector_train_config("base")
    model = config.model
    assert (model.backbone, model.input_size, model.fpn_width, model.proto_width, model.num_prototypes) == (
        "resnet50", (480, 864), 256, 256, 32)
    assert model.anchor_aspect_ratios == [1.0, 0.5, 2.0] and model.box_variances == (0.1, 0.2)
    assert model.backbone_dropout == 0.1 and model.semantic_head
    post = model.postprocess
    assert (post.score_threshold, post.nms, post.nms_iou, post.nms_top_k, post.top_n) == (0.03, "class_agnostic", 0.7, 200, 16)
    assert model.appearance.dim == 512 and model.appearance.hidden == 128
    assert (model.appearance.background_logit, model.appearance.box_logit) == (10.0, 10.0)
    assert (config.optim.name, config.train.batch_size, config.train.steps) == ("adam", 8, 120 * 933)
    assert config.optim.milestones == [60 * 933, 90 * 933] and config.optim.gamma == 0.2
    loss = config.loss
    assert (loss.positive_iou, loss.negative_iou, loss.negatives_per_positive) == (0.5, 0.4, 3)
    assert (loss.box_weight, loss.class_weight, loss.mask_weight) == (1.5, 1.0, 6.125)


@pytest.mark.parametrize("name", ["synth-small", "tiny"])
def test_small_configs_load(name):
    config = load_detector_train_config(name)
    assert config.model.backbone == "mobilenet_v3_large" and config.model.appearance.dim in (64, 16)


def test_bad_keys_name_the_key():
    with pytest.raises(ConfigError, match="model.postprocess.nms"):
        load_detector_train_config("tiny", ["model.postprocess.nms=greedy"])
    with pytest.raises(ConfigError, match="unknown key 'model.fpn'"):
        load_detector_train_config("tiny", ["model.fpn=3"])
    with pytest.raises(ConfigError, match="backbone_width applies to mobilenet_v3_large only"):
        load_detector_train_config("tiny", ["model.backbone=resnet18"])
