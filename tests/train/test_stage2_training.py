"""Stage 2 in the tracker's training loop: the frozen detector runs on the clips' frames, its appearance
network trains with the tracker, checkpoints carry it, resume is exact, and ``detector.pt`` is usable."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gvis.config import to_dict
from gvis.data.ytvis import YTVISDataset
from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.checkpoint import load_detector_checkpoint, save_detector_checkpoint
from gvis.detectors.yolact.detector import YolactDetector
from gvis.detectors.yolact.model import YolactModel
from gvis.errors import ConfigError
from gvis.provenance import weights_fingerprint
from gvis.train.checkpoint import load_checkpoint
from gvis.train.data import ClipTransform
from gvis.train.loop import Trainer
from gvis.train_detector.config import load_detector_train_config


@pytest.fixture(scope="module")
def tiny_detector_file(tiny_train_set, tmp_path_factory):
    """An untrained tiny detector (Da = 16) over the tiny set's categories, saved as a stage-1 checkpoint."""
    categories = [{"id": c.id, "name": c.name} for c in YTVISDataset.from_json(tiny_train_set / "data" / "instances.json").categories]
    config = load_detector_train_config("tiny").model
    torch.manual_seed(3)
    model = YolactModel(config, num_classes=len(categories))
    appearance = AppearanceNetwork(model.backbone.channels[1:], config.appearance)
    path = tmp_path_factory.mktemp("stage2") / "detector.pt"
    save_detector_checkpoint(path, {"model": model.state_dict(), "appearance": appearance.state_dict(),
                                    "config": {**to_dict(config), "num_classes": len(categories)},
                                    "categories": categories})
    return path


@pytest.fixture
def stage2_config(tiny_config, tiny_detector_file, tiny_train_set):
    def make(*overrides: str, output: str = "run"):
        return tiny_config("data.train.detections=null", f"detector={{checkpoint: {tiny_detector_file}, appearance_lr: 0.01}}",
                           "model.appearance_dim=16", "data.prefetch=true", *overrides, output=output)

    return make


def test_stage2_trains_appearance_and_tracker_keeps_the_detector_frozen_and_resumes_exactly(stage2_config, tiny_detector_file, tiny_train_set):
    stage1 = load_detector_checkpoint(tiny_detector_file)
    full = Trainer(stage2_config("train.steps=4", "train.checkpoint_every=2", "data.val.annotations="
                                 f"{tiny_train_set / 'data'}", "data.val.max_videos=2", "train.val_every=4",
                                 output="full"), progress=False).run()
    assert full.step == 4 and full.validations and 0.0 <= full.validations[-1]["stats"]["AP"] <= 1.0
    checkpoint = load_checkpoint(full.checkpoint)
    trained = checkpoint["appearance"]
    assert set(trained) == set(stage1["appearance"])
    moved = [key for key in trained if not torch.equal(trained[key], stage1["appearance"][key])]
    assert set(moved) == set(trained)  # every appearance weight learned from the tracker's losses
    assert load_checkpoint(full.checkpoint.parent / "model.pt")["appearance"].keys() == trained.keys()

    # detector.pt: the stage-1 detector, bit for bit, with the trained appearance network.
    exported = load_detector_checkpoint(full.checkpoint.parent / "detector.pt")
    assert all(torch.equal(exported["model"][k], stage1["model"][k]) for k in stage1["model"])
    assert all(torch.equal(exported["appearance"][k], trained[k]) for k in trained)
    frame = np.random.default_rng(0).integers(0, 255, size=(64, 96, 3), dtype=np.uint8)
    detector = YolactDetector(full.checkpoint.parent / "detector.pt")
    detections = detector([frame])[0]
    assert detections.appearance.shape == (len(detections), 16)
    # The tracker records the detector it was trained behind: stage 1's detection weights, the trained appearance.
    recorded = load_checkpoint(full.checkpoint.parent / "model.pt")["detector_fingerprints"]
    assert recorded == {"detection": weights_fingerprint(stage1["model"]), "appearance": weights_fingerprint(trained)}
    assert detector.meta["fingerprints"] == recorded

    # Interrupted after 2 steps and resumed: the same tracker and appearance weights.
    config = stage2_config("train.steps=4", "train.checkpoint_every=2", output="parts")
    first = Trainer(stage2_config("train.steps=2", "train.checkpoint_every=2", output="parts"), progress=False).run()
    assert first.step == 2
    halfway = load_checkpoint(first.checkpoint)
    second = load_checkpoint(Trainer(config, resume=True, progress=False).run().checkpoint)
    full_no_val = load_checkpoint(Trainer(stage2_config("train.steps=4", "train.checkpoint_every=2", output="again"),
                                          progress=False).run().checkpoint)
    for part in ("model", "appearance"):
        assert all(torch.equal(full_no_val[part][k], second[part][k]) for k in full_no_val[part]), part
    assert any(not torch.equal(second["model"][k], halfway["model"][k]) for k in halfway["model"])


def test_gvis_track_behind_the_shipped_detector_defaults_to_the_tracker_trained_with_it(
        stage2_config, tiny_detector_file, tiny_train_set, tmp_path, monkeypatch):
    from gvis.cli import main
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detectors.yolact import checkpoint as detector_checkpoint
    from gvis.train import checkpoint as tracker_checkpoint

    run = Trainer(stage2_config("train.steps=2", output="shipped"), progress=False).run().checkpoint.parent
    # The tracker trained on simulated detections records no detector: last.pt without its fingerprints stands in.
    simulated = {k: v for k, v in torch.load(run / "last.pt", weights_only=True).items() if k != "detector_fingerprints"}
    torch.save(simulated, run / "simulated.pt")
    monkeypatch.setattr(detector_checkpoint, "SHIPPED_DETECTOR", run / "detector.pt")
    monkeypatch.setattr(tracker_checkpoint, "SHIPPED_DETECTOR_TRACKER", run / "model.pt")
    monkeypatch.setattr(tracker_checkpoint, "SHIPPED_CHECKPOINT", run / "simulated.pt")
    data = tiny_train_set / "data"

    def default_checkpoint(name: str, *argv: str) -> str:
        results = tmp_path / f"{name}.json"
        assert main(["track", *argv, "--tracker", "learned", "--results", str(results)]) == 0
        return json.loads((tmp_path / f"{name}.meta.json").read_text())["checkpoint"]

    assert default_checkpoint("shipped", str(data)) == str(run / "model.pt")
    assert default_checkpoint("other", str(data), "--detector-checkpoint", str(tiny_detector_file)) == str(run / "simulated.pt")
    # Detections cached from the shipped detector pair with its tracker too; simulated ones do not.
    assert main(["detect", "--detector", "yolact", "--data", str(data), "--out", str(tmp_path / "yolact.jsonl")]) == 0
    assert default_checkpoint("cached", "--detections", str(tmp_path / "yolact.jsonl")) == str(run / "model.pt")
    assert not detector_checkpoint.is_shipped_detector(DetectionsReader(tiny_train_set / "dets.jsonl").header.get("meta"))


def test_gvis_track_refuses_a_named_tracker_and_detector_not_trained_together(
        stage2_config, tiny_detector_file, tiny_train_set, tmp_path, capsys):
    from gvis.cli import main
    from gvis.detections.jsonl import DetectionsReader

    run = Trainer(stage2_config("train.steps=2", output="paired"), progress=False).run().checkpoint.parent
    tracker, trained = run / "model.pt", run / "detector.pt"
    data = tiny_train_set / "data"
    video = data / "JPEGImages" / "synth_00000"  # a frame folder: live detection on one short video
    # Stage 1's file has the trained detector's detection weights but not its appearance network; this one
    # differs in both.
    stage1 = load_detector_checkpoint(tiny_detector_file)
    other = tmp_path / "other.pt"
    save_detector_checkpoint(other, {**stage1, "model": {k: v + 0.5 if v.is_floating_point() else v
                                                          for k, v in stage1["model"].items()}})
    unpaired = tmp_path / "unpaired.pt"  # a tracker that records no detector (trained before the fingerprints)
    torch.save({k: v for k, v in torch.load(tracker, weights_only=True).items() if k != "detector_fingerprints"},
               unpaired)

    def track(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["track", *argv, "--tracker", "learned", "--results", str(tmp_path / "results.json")])
        return code, capsys.readouterr().err.strip()

    assert track(str(video), "--checkpoint", str(tracker), "--detector-checkpoint", str(trained))[0] == 0
    code, error = track(str(video), "--checkpoint", str(tracker), "--detector-checkpoint", str(tiny_detector_file))
    assert code == 2 and "\n" not in error and str(tracker) in error and str(tiny_detector_file) in error
    assert "appearance network" in error and "detection weights" not in error
    code, error = track(str(video), "--checkpoint", str(tracker), "--detector-checkpoint", str(other))
    assert code == 2 and str(other) in error and "detection weights" in error and "appearance network" in error
    assert track(str(video), "--checkpoint", str(unpaired), "--detector-checkpoint", str(other))[0] == 0

    # Detections cached by gvis detect carry the detector's fingerprints and are checked the same way.
    for name, detector in (("trained", trained), ("stage1", tiny_detector_file)):
        assert main(["detect", "--detector", "yolact", "--checkpoint", str(detector), "--data", str(data),
                     "--out", str(tmp_path / f"{name}.jsonl")]) == 0
    header = DetectionsReader(tmp_path / "stage1.jsonl").header["meta"]
    assert header["fingerprints"] == {"detection": weights_fingerprint(stage1["model"]),
                                      "appearance": weights_fingerprint(stage1["appearance"])}
    assert track("--detections", str(tmp_path / "trained.jsonl"), "--checkpoint", str(tracker))[0] == 0
    code, error = track("--detections", str(tmp_path / "stage1.jsonl"), "--checkpoint", str(tracker))
    assert code == 2 and "\n" not in error and str(tracker) in error and str(tmp_path / "stage1.jsonl") in error


def test_stage2_config_errors(stage2_config, tiny_config, tiny_detector_file):
    with pytest.raises(ConfigError, match="stage 2 runs the detector"):
        Trainer(tiny_config(f"detector={{checkpoint: {tiny_detector_file}}}"), progress=False).run()
    with pytest.raises(ConfigError, match="data.train.detections"):
        Trainer(tiny_config("data.train.detections=null"), progress=False).run()
    with pytest.raises(ConfigError, match="appearance_dim"):
        Trainer(stage2_config("model.appearance_dim=8"), progress=False).run()


def test_clip_transform_moves_image_pixels_with_the_masks():
    rng = np.random.default_rng(0)
    image = rng.integers(1, 255, size=(30, 40, 3), dtype=np.uint8)
    mask = torch.zeros((1, 30, 40), dtype=torch.bool)
    mask[0, 5:12, 20:31] = True
    transform = ClipTransform((1.5, 1.5), (-4.0, 3.0), True, (32, 48))
    warped_image, warped_mask = transform.image(image), transform.masks(mask)[0].numpy()
    assert warped_image.shape == (32, 48, 3)
    # The pixels under the warped mask are exactly the source pixels under the mask.
    inside = {tuple(p) for p in image[mask[0].numpy()]}
    assert warped_mask.any() and {tuple(p) for p in warped_image[warped_mask]} <= inside
    # Padding is black; the identity leaves the image alone.
    assert (warped_image == 0).all(axis=2).any()
    assert ClipTransform.identity((30, 40)).image(image) is image
