"""The YOLACT-style detector behind the Detector protocol: valid Detections, features, checkpoints, registry."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from gvis.cli import main
from gvis.detections.jsonl import DetectionsReader
from gvis.detectors.protocol import is_detector
from gvis.detectors.yolact.checkpoint import export_detector, load_detector_checkpoint, save_detector_checkpoint
from gvis.detectors.yolact.detector import YolactDetector, attach_appearance
from gvis.errors import InputError
from gvis.registry import DETECTORS

from yolact_helpers import CATEGORIES, checkpoint_of, tiny_detector


def _frames() -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    return [generator.integers(0, 255, size=(70, 100, 3), dtype=np.uint8),
            generator.integers(0, 255, size=(64, 96, 3), dtype=np.uint8)]


def _check_valid(det, image_size, top_n, appearance_dim):
    count = len(det)
    assert det.image_size == image_size and 0 < count <= top_n
    assert det.masks.shape == (count, *image_size) and det.masks.dtype == torch.bool
    assert set(det.labels.tolist()) <= {c["id"] for c in CATEGORIES}
    assert torch.allclose(det.class_probs.sum(1), torch.ones(count), atol=1e-5)
    assert torch.allclose(det.scores, det.class_probs[:, 1:].max(1).values)
    columns = det.class_probs[:, 1:].argmax(1)
    assert det.labels.tolist() == [CATEGORIES[c]["id"] for c in columns.tolist()]
    assert torch.equal(det.scores, det.scores.sort(descending=True).values)
    assert (det.boxes[:, :2] >= 0).all() and (det.boxes[:, 2] <= image_size[1]).all() and (det.boxes[:, 3] <= image_size[0]).all()
    ys, xs = torch.meshgrid(torch.arange(image_size[0]) + 0.5, torch.arange(image_size[1]) + 0.5, indexing="ij")
    for mask, box in zip(det.masks, det.boxes):  # binary masks are cropped to their box
        assert ((xs[mask] >= box[0]) & (xs[mask] < box[2]) & (ys[mask] >= box[1]) & (ys[mask] < box[3])).all()
    assert det.mask_logits.shape == (count, 16, 24)  # prototypes at stride 4 of the 64x96 input
    assert det.appearance.shape == (count, appearance_dim) and det.frame_appearance.shape == (appearance_dim,)


def test_detector_protocol_and_valid_detections():
    detector = tiny_detector()
    assert is_detector(detector) and detector.appearance_dim == 16 and detector.categories == CATEGORIES
    frames = _frames()
    detections = detector(frames)
    assert len(detections) == 2
    for det, frame in zip(detections, frames):
        _check_valid(det, frame.shape[:2], 16, 16)


def test_no_detection_frames_keep_every_field():
    detector = tiny_detector(score_threshold=0.999)
    det = detector(_frames()[:1])[0]
    assert len(det) == 0 and det.masks.shape == (0, 70, 100) and det.class_probs.shape == (0, 4)
    assert det.appearance.shape == (0, 16) and det.frame_appearance.shape == (16,) and det.mask_logits.shape == (0, 16, 24)


def test_per_class_nms_and_top_n():
    detector = tiny_detector(nms="per_class", top_n=5)
    det = detector(_frames()[1:])[0]
    assert len(det) == 5
    # per class, the kept boxes of one class overlap each other by at most the NMS IoU
    for label in det.labels.unique():
        boxes = det.boxes[det.labels == label]
        assert (box_iou(boxes, boxes).triu(1) <= 0.7 + 1e-6).all()


def test_detect_with_features_matches_call():
    detector = tiny_detector()
    frames = _frames()
    detections, features = detector.detect_with_features(frames)
    assert features["C4"].shape[:2] == (2, 32) and features["C5"].shape[0] == 2
    assert all(det.appearance is None for det in detections)
    with_appearance = attach_appearance(detector.appearance, features, detections)
    reference = detector(frames)
    for ours, theirs in zip(with_appearance, reference):
        assert torch.equal(ours.boxes, theirs.boxes) and torch.allclose(ours.appearance, theirs.appearance)
    tensor_detections, _ = detector.detect_with_features(detector.preprocess(frames))
    assert tensor_detections[0].image_size == (64, 96)  # the input's pixels


def test_checkpoint_round_trip_and_registry(tmp_path):
    detector = tiny_detector()
    checkpoint = {**checkpoint_of(detector), "step": 7, "optimizer": {}}
    save_detector_checkpoint(tmp_path / "full.pt", checkpoint)
    save_detector_checkpoint(tmp_path / "half.pt", export_detector(checkpoint), half=True)
    assert "optimizer" not in load_detector_checkpoint(tmp_path / "half.pt")
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    frames = _frames()
    reference = detector(frames)
    loaded = DETECTORS.build("yolact", checkpoint=tmp_path / "full.pt")(frames)
    for ours, theirs in zip(loaded, reference):
        assert torch.equal(ours.boxes, theirs.boxes) and torch.equal(ours.masks, theirs.masks)
        assert torch.equal(ours.appearance, theirs.appearance)
    half = YolactDetector(tmp_path / "half.pt")
    assert half.model.fpn.lateral[0].weight.dtype == torch.float32
    assert len(YolactDetector(tmp_path / "full.pt", overrides=["postprocess.top_n=3"])(frames)[0]) == 3


def test_bad_checkpoints_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such detector checkpoint"):
        load_detector_checkpoint(tmp_path / "missing.pt")
    torch.save({"format": "gvis-tracker-checkpoint"}, tmp_path / "tracker.pt")
    with pytest.raises(InputError, match="not a gvis-detector-checkpoint"):
        load_detector_checkpoint(tmp_path / "tracker.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        load_detector_checkpoint(tmp_path / "junk.pt")


def test_gvis_detect_with_yolact_writes_appearance(tiny_frames, tmp_path):
    save_detector_checkpoint(tmp_path / "det.pt", checkpoint_of(tiny_detector()))
    out = tmp_path / "dets.jsonl"
    assert main(["detect", "--detector", "yolact", "--checkpoint", str(tmp_path / "det.pt"), "--data", str(tiny_frames),
                 "--out", str(out)]) == 0
    reader = DetectionsReader(out)
    assert reader.header["appearance_dim"] == 16 and reader.header["categories"] == CATEGORIES
    frames = list(reader.frames())
    expected = sum(v["length"] for v in json.loads((tiny_frames / "instances.json").read_text())["videos"])
    assert len(frames) == expected
    assert all(det.appearance.shape[1] == 16 for _, _, det in frames if len(det))
