"""The Detector protocol and its adapters: Mask R-CNN (random weights, small input) and precomputed .jsonl."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

from gvis.data.ytvis import YTVISDataset
from gvis.detections.jsonl import DetectionsWriter
from gvis.detections.structures import Detections
from gvis.detectors import build_detector, is_detector
from gvis.detectors.maskrcnn import MaskRCNNDetector, coco_label_names
from gvis.detectors.precomputed import PrecomputedDetector
from gvis.errors import ConfigError, InputError
from gvis.registry import DETECTORS
from tests.pipeline.conftest import MASKRCNN_FAST


def _frames(clip, count=2):
    dataset = YTVISDataset.from_json(clip / "data" / "instances.json")
    video = dataset.videos[0]
    return [dataset.frame(video.id, t) for t in range(count)]


def _quiet_maskrcnn(**kwargs) -> MaskRCNNDetector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MaskRCNNDetector(overrides=MASKRCNN_FAST, **kwargs)


def test_maskrcnn_random_weights_gives_valid_detections(clip, maskrcnn):
    frames = _frames(clip) + [np.zeros((50, 70, 3), np.uint8)]  # frames of different sizes in one call
    assert is_detector(maskrcnn) and maskrcnn.appearance_dim == 0
    assert [c["name"] for c in maskrcnn.categories][:3] == ["person", "bicycle", "car"] and len(maskrcnn.categories) == 80
    ids = {c["id"] for c in maskrcnn.categories}
    outputs = maskrcnn(frames)
    assert len(outputs) == 3 and sum(len(d) for d in outputs) > 0
    for frame, det in zip(frames, outputs):
        height, width = frame.shape[:2]
        assert isinstance(det, Detections) and det.image_size == (height, width) and len(det) <= 4
        assert det.masks.dtype == torch.bool and det.masks.shape == (len(det), height, width)
        assert ((det.boxes[:, :2] >= 0) & (det.boxes[:, 2:] <= torch.tensor([width, height])) &
                (det.boxes[:, 2:] >= det.boxes[:, :2])).all()
        assert set(det.labels.tolist()) <= ids and ((det.scores >= 0) & (det.scores <= 1)).all()
        # class_probs: the score on the label's column (categories order, 1-based), 1 - score on background.
        columns = torch.tensor([[c["id"] for c in maskrcnn.categories].index(label) + 1 for label in det.labels.tolist()])
        rows = torch.arange(len(det))
        assert torch.allclose(det.class_probs[rows, columns], det.scores)
        assert torch.allclose(det.class_probs.sum(1), torch.ones(len(det)))
        assert det.appearance is None and det.frame_appearance is None


def test_maskrcnn_weights_file_and_class_map(clip, maskrcnn, tmp_path):
    frames = _frames(clip)
    reference = maskrcnn(frames)
    # The same weights, from a local file, in a model built from another seed, with every COCO label mapped to
    # one category "thing" (id 7): the same boxes and masks, all labelled 7.
    weights = tmp_path / "weights.pt"
    torch.save({"model": maskrcnn.model.state_dict()}, weights)
    names = [n for n in coco_label_names()[1:] if n != "N/A"]
    mapped = MaskRCNNDetector(checkpoint=weights, seed=1, overrides=[
        *MASKRCNN_FAST, "categories=[{id: 7, name: thing}]",
        "class_map={" + ", ".join(f"'{n}': thing" for n in names) + "}"])
    assert mapped.categories == [{"id": 7, "name": "thing"}]
    for ref, one in zip(reference, mapped(frames)):
        assert torch.equal(ref.boxes, one.boxes) and torch.equal(ref.masks, one.masks)
        assert set(one.labels.tolist()) <= {7} and one.class_probs.shape == (len(one), 2)


def test_maskrcnn_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="bad.pt: cannot read weights"):
        _quiet_maskrcnn(checkpoint=bad)
    with pytest.raises(InputError, match="missing.pt: no such weights file"):
        _quiet_maskrcnn(checkpoint=tmp_path / "missing.pt")
    with pytest.raises(ConfigError, match="'unicorn' is not a label of the model"):
        MaskRCNNDetector(overrides=["class_map={unicorn: person}"])
    with pytest.raises(ConfigError, match="unknown key 'min_sise'"):
        MaskRCNNDetector(overrides=["min_sise=3"])


def _write_jsonl(path, sizes):
    """A .jsonl with one box per frame at x = frame index, for videos {id: (frames, (H, W))}."""
    with DetectionsWriter(path, [{"id": 3, "name": "a"}], None) as writer:
        for video_id, (length, (height, width)) in sizes.items():
            for t in range(length):
                masks = torch.zeros((1, height, width), dtype=torch.bool)
                masks[0, 0:2, t:t + 2] = True
                writer.write(video_id, t, Detections(torch.tensor([[t, 0.0, t + 2, 2]]), torch.tensor([0.5]),
                                                     torch.tensor([3]), masks, (height, width)))


def test_precomputed_serves_in_order_and_by_frame(tmp_path):
    path = tmp_path / "d.jsonl"
    _write_jsonl(path, {5: (3, (8, 10)), 2: (2, (6, 9))})
    detector = PrecomputedDetector(path)
    assert is_detector(detector) and detector.categories == [{"id": 3, "name": "a"}] and detector.appearance_dim == 0
    served = detector([np.zeros((8, 10, 3), np.uint8)] * 3 + [np.zeros((6, 9, 3), np.uint8)] * 2)
    assert [d.boxes[0, 0].item() for d in served] == [0, 1, 2, 0, 1] and detector.finished()
    with pytest.raises(InputError, match="end after 5 frames"):
        detector([np.zeros((6, 9, 3), np.uint8)])
    # By key, backwards and forwards; whole videos.
    assert detector.frame(2, 1).boxes[0, 0].item() == 1 and detector.frame(5, 2).boxes[0, 0].item() == 2
    assert detector.frame(5, 0).image_size == (8, 10)
    assert [d.boxes[0, 0].item() for d in detector.detect_video(2)] == [0, 1]
    assert [d.boxes[0, 0].item() for d in detector.detect_video(5)] == [0, 1, 2]
    with pytest.raises(InputError, match="video 5: no detections for frame 3"):
        detector.frame(5, 3)
    detector.reset()
    with pytest.raises(InputError, match="field 'image_size'"):
        detector([np.zeros((6, 9, 3), np.uint8)])


def test_build_detector_errors(monkeypatch, tmp_path):
    from gvis.detectors.yolact import checkpoint

    monkeypatch.setattr(checkpoint, "SHIPPED_DETECTOR", tmp_path / "detector-synth-mixed.pt")
    with pytest.raises(InputError, match="detector-synth-mixed.pt: .*shipped one is missing"):
        build_detector()
    options = re.escape(", ".join(DETECTORS.names()))
    with pytest.raises(ConfigError, match=f"unknown detector 'nope'; options: {options}$"):
        build_detector("nope")
    with pytest.raises(ConfigError, match="needs a dataset's ground truth"):
        build_detector("simulated")
    with pytest.raises(InputError, match="needs a detections file"):
        build_detector("precomputed")
