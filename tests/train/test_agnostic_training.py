"""Training the detector-agnostic configuration on class-agnostic proposals (``data.class_agnostic``) and
scoring it class-agnostic (``gvis eval-tracker --class-agnostic``)."""
from __future__ import annotations

import json

import pytest
import torch

from gvis.cli import main
from gvis.data.ytvis import YTVISDataset
from gvis.detections.filtering import FilterConfig
from gvis.errors import ConfigError, InputError
from gvis.train.checkpoint import load_checkpoint
from gvis.train.data import TrainingVideos, open_detections
from gvis.train.loop import Trainer

AGNOSTIC_MODEL = ["model.inputs={type: geometry, grid: 8}", "model.appearance={type: none}",
                  "model.scorer={type: label_vote}"]


@pytest.fixture(scope="module")
def proposals(tiny_train_set):
    """The tiny set's simulated proposals with the agnostic preset (one category, no appearance)."""
    path = tiny_train_set / "proposals.jsonl"
    assert main(["detect", "--data", str(tiny_train_set / "data"), "--out", str(path), "--preset", "agnostic",
                 "--cache"]) == 0
    return path


def test_class_agnostic_videos_take_every_object_as_the_one_category(tiny_train_set, proposals):
    dataset = YTVISDataset.from_json(tiny_train_set / "data" / "instances.json")
    videos = TrainingVideos(dataset, open_detections(proposals.with_suffix(".pt")), FilterConfig(), class_agnostic=True)
    assert videos.categories == [{"id": 1, "name": "object"}] and videos.appearance_dim is None
    frame = videos.clip_frames(videos.videos[0].id, [0])[0]
    assert frame.gt_classes.tolist() == [1] * len(frame.gt_ids) and len(frame.gt_ids) > 0
    with pytest.raises(InputError, match="categories"):  # without the key the categories must agree
        TrainingVideos(dataset, open_detections(proposals.with_suffix(".pt")), FilterConfig())
    with pytest.raises(InputError, match="one category, these have 8"):
        TrainingVideos(dataset, open_detections(tiny_train_set / "dets.pt"), FilterConfig(), class_agnostic=True)


def test_agnostic_training_validates_class_agnostic(tiny_config, tiny_train_set, proposals, tmp_path, capsys):
    data = tiny_train_set / "data"
    config = tiny_config(*AGNOSTIC_MODEL, "data.class_agnostic=true", f"data.train.detections={proposals}",
                         f"data.val.annotations={data}", f"data.val.detections={proposals}", "train.val_every=2",
                         "train.steps=2", "model.init_threshold=-3.0", "model.match_threshold=-3.0")
    result = Trainer(config, progress=False).run()
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint["categories"] == [{"id": 1, "name": "object"}]
    assert checkpoint["config"]["model"]["num_classes"] == 1
    # Validation scored the proposals class-agnostic: as gvis eval --class-agnostic scores its results.
    run = result.checkpoint.parent
    assert main(["eval", str(data / "instances.json"), str(run / "val_results.json"), "--class-agnostic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(result.validations[-1]["stats"])
    # eval-tracker scores it the same way, and refuses to score it by class against the 8 synthetic categories.
    model = run / "model.pt"
    assert main(["eval-tracker", "--checkpoint", str(model), "--data", str(data), "--detections", str(proposals),
                 "--class-agnostic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"] == pytest.approx(result.validations[-1]["stats"])
    assert main(["eval-tracker", "--checkpoint", str(model), "--data", str(data), "--detections", str(proposals)]) == 2
    assert "the detections' categories differ from the dataset's" in capsys.readouterr().err
    # The class-free model tracks the 8-category detections too (classes from its label vote).
    assert main(["eval-tracker", "--checkpoint", str(model), "--data", str(data), "--detections",
                 str(tiny_train_set / "dets.jsonl"), "--json"]) == 0
    assert torch.tensor(json.loads(capsys.readouterr().out)["stats"]["AP"]).isfinite()


def test_stage2_cannot_be_class_agnostic(tiny_config):
    with pytest.raises(ConfigError, match="data.class_agnostic"):
        Trainer(tiny_config("data.class_agnostic=true", "data.train.detections=null", "detector={checkpoint: null}"),
                progress=False).run()
