"""Stage-1 training: augmentation, the tiny overfit test, resume, CLI, image-level mask AP."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from gvis.cli import main
from gvis.data.ytvis import YTVISDataset
from gvis.errors import ConfigError, InputError
from gvis.train_detector.config import ImageAugmentConfig
from gvis.detections.structures import tight_boxes
from gvis.train_detector.data import FrameSource, frame_list, make_training_image
from gvis.train_detector.evaluation import coco_ground_truth, mask_ap
from gvis.train_detector.loop import DetectorTrainer


def test_augmented_targets_follow_the_image():
    frame = np.zeros((40, 60, 3), dtype=np.uint8)
    frame[10:20, 5:25] = 255  # a white object
    masks = np.zeros((2, 40, 60), dtype=bool)
    masks[0, 10:20, 5:25] = True
    masks[1, 0:1, 59:60] = True  # one pixel in the corner: dropped by min_pixels
    config = ImageAugmentConfig(scale=(1.5, 1.5), flip=1.0, brightness=0, contrast=0, saturation=0, min_pixels=4)
    item = make_training_image(frame, masks, [3, 1], (40, 60), config, np.random.default_rng(0))
    targets = item.targets
    assert item.image.shape == (3, 40, 60) and targets.classes.tolist() == [3] and targets.masks.shape == (1, 40, 60)
    assert torch.allclose(targets.boxes * torch.tensor([60, 40, 60, 40]), tight_boxes(targets.masks))
    white = item.image.mean(0) > 1.0  # normalised white vs black
    assert (white == targets.masks[0]).float().mean() > 0.98  # the mask moved with the pixels
    plain = make_training_image(frame, masks, [3, 1], (40, 60), None, None)
    assert torch.allclose(plain.targets.boxes[0] * torch.tensor([60, 40, 60, 40]), torch.tensor([5.0, 10, 25, 20]))


def test_mask_ap_of_the_ground_truth_itself_is_one(tiny_frames):
    dataset = YTVISDataset.from_json(tiny_frames / "instances.json")
    frames = frame_list(dataset)
    truth = coco_ground_truth(dataset, frames)
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"], "score": 1.0}
               for a in truth["annotations"]]
    stats = mask_ap(truth, results)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
    wrong = [{**r, "category_id": 1 + r["category_id"] % 8} for r in results]
    assert mask_ap(truth, wrong)["AP"] == pytest.approx(0.0)


def _found(detector, source: FrameSource) -> tuple[float, float]:
    """(fraction of ground-truth objects with a detection of their class at box IoU ≥ 0.5, mean mask IoU of
    each object's best detection of its class)."""
    found, mask_ious = [], []
    for part, video_id, t in source.frames:
        dataset = source.datasets[part]
        ids, masks = dataset.frame_masks(video_id, t)
        det = detector([dataset.frame(video_id, t)])[0]
        for object_id, mask in zip(ids, torch.from_numpy(masks)):
            same = det.labels == source._category[part][int(object_id)]
            box_ious = box_iou(tight_boxes(mask[None]), det.boxes[same])[0]
            inter = (det.masks[same] & mask).flatten(1).sum(1).float()
            union = (det.masks[same] | mask).flatten(1).sum(1).float()
            found.append(bool((box_ious >= 0.5).any()))
            mask_ious.append(float((inter / union).max()) if same.any() else 0.0)
    return float(np.mean(found)), float(np.mean(mask_ious))


def test_tiny_overfit_loss_falls_and_objects_are_found(tiny_train_config):
    config = tiny_train_config("data.max_videos=1", "augment.enabled=false", "model.backbone_dropout=0.0",
                               "optim.schedule=constant", "optim.lr=2e-3", "train.steps=60", "train.checkpoint_every=0")
    losses = []
    trainer = DetectorTrainer(config, progress=False, on_step=lambda step, values: losses.append(values["loss"]))
    trainer.run()
    assert len(trainer.source) >= 3
    assert np.mean(losses[-5:]) < 0.35 * np.mean(losses[:5])
    box_recall, mask_iou = _found(trainer.detector(), trainer.source)
    assert box_recall >= 0.9 and mask_iou >= 0.45


def test_resume_continues_exactly(tiny_train_config):
    # A constant learning rate: the cosine schedule's horizon is train.steps, which the two runs change.
    common = ("optim.schedule=constant", "train.checkpoint_every=2")
    straight = DetectorTrainer(tiny_train_config("train.steps=4", *common, output="a"), progress=False)
    straight.run()
    DetectorTrainer(tiny_train_config("train.steps=2", *common, output="b"), progress=False).run()
    resumed = DetectorTrainer(tiny_train_config("train.steps=4", *common, output="b"), resume=True, progress=False)
    resumed.run()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    with pytest.raises(ConfigError, match="already holds"):
        DetectorTrainer(tiny_train_config("train.steps=4", *common, output="b"), progress=False).run()
    with pytest.raises(ConfigError, match="changed keys: optim.lr"):
        DetectorTrainer(tiny_train_config("train.steps=6", *common, "optim.lr=0.1", output="b"), resume=True,
                        progress=False).run()


def test_frames_of_several_folders_are_mixed(tiny_frames, tmp_path):
    one = YTVISDataset.from_json(tiny_frames / "instances.json")
    both = FrameSource([(one, frame_list(one)), (one, frame_list(one, stride=2))])
    assert len(both) == len(frame_list(one)) + len(frame_list(one, stride=2))
    assert {part for part, _, _ in both.frames} == {0, 1}
    last = both.image(len(both) - 1, (32, 48))
    video_id, t = frame_list(one, stride=2)[-1]
    ids, _ = one.frame_masks(video_id, t)
    assert len(last.targets.classes) == len(ids)
    raw = json.loads((tiny_frames / "instances.json").read_text())
    raw["categories"] = raw["categories"][::-1]
    reordered = tmp_path / "reordered.json"
    reordered.write_text(json.dumps(raw))
    other = YTVISDataset.from_json(reordered)
    with pytest.raises(InputError, match="categories differ") as caught:
        FrameSource([(one, frame_list(one)), (other, frame_list(other))])
    assert "reordered.json" in str(caught.value) and "categories" in str(caught.value)


def test_cli_train_then_eval(tiny_frames, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train-detector", "tiny", "--set", f"data.train={tiny_frames}", "--set", f"data.val={tiny_frames}",
                 "--set", "train.steps=2", "--set", "train.val_every=2", "--set", f"output_dir={out}",
                 "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2 and set(summary["validation"]["stats"]) >= {"AP", "AP50", "AR100"}
    assert {p.name for p in out.iterdir()} >= {"last.pt", "model.pt", "train_log.csv", "validation.csv", "config.yaml"}
    assert main(["eval-detector", "--checkpoint", str(out / "model.pt"), "--data", str(tiny_frames), "--max-frames", "5",
                 "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["frames"] == 5 and -1 <= stats["AP"] <= 1
    assert main(["train-detector", "tiny", "--set", f"output_dir={tmp_path / 'x'}"]) == 2
    assert "data.train: give a dataset folder" in capsys.readouterr().err
    assert main(["eval-detector", "--checkpoint", str(tmp_path / "none.pt"), "--data", str(tiny_frames)]) == 2
    assert "none.pt: no such detector checkpoint" in capsys.readouterr().err


def test_class_accuracy_counts_found_objects_and_their_classes(tiny_frames):
    from gvis.detections.structures import Detections
    from gvis.train_detector.evaluation import class_accuracy

    dataset = YTVISDataset.from_json(tiny_frames / "instances.json")
    frames = [f for f in frame_list(dataset) if len(dataset.frame_masks(*f)[0]) >= 2][:4]
    category = {inst.id: inst.category_id for v in dataset.videos for inst in dataset.instances(v.id)}
    num_classes = len(dataset.categories)
    detections, objects = [], 0
    for video_id, t in frames:
        ids, masks = dataset.frame_masks(video_id, t)
        objects += len(ids)
        truth = [category[int(i)] for i in ids]
        # The first object is detected with its class, the second with the next class (its own second
        # most probable), the rest not at all; one extra detection covers nothing.
        labels = [truth[0], 1 + truth[1] % num_classes]
        probs = torch.zeros((3, num_classes + 1))
        probs[0, truth[0]], probs[1, labels[1]], probs[1, truth[1]], probs[2, 1] = 0.9, 0.6, 0.3, 0.5
        empty = np.zeros_like(masks[:1])
        detections.append(Detections(boxes=torch.zeros((3, 4)), scores=torch.tensor([0.9, 0.6, 0.5]),
                                     labels=torch.tensor([*labels, 1]), masks=torch.from_numpy(np.concatenate([masks[:2], empty])),
                                     image_size=masks.shape[1:], class_probs=probs))
    result = class_accuracy(dataset, frames, detections)
    found = 2 * len(frames)
    assert result["objects"] == objects and result["recall"] == pytest.approx(found / objects)
    assert result["top1"] == pytest.approx(0.5) and result["top2"] == pytest.approx(1.0)
    assert sum(count for _, _, count in result["confusions"]) == len(frames)
