"""Dense class-agnostic proposals: how many of each kind, where they lie, their scores, the written file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gvis.data.ytvis import YTVISDataset
from gvis.detections.filtering import mask_ious
from gvis.detections.jsonl import DetectionsReader
from gvis.detections.proposals import DenseProposalConfig, dense_proposals, write_dense_proposals

H, W = 60, 80


def square(y0, x0, size=20):
    mask = np.zeros((H, W), dtype=bool)
    mask[y0:y0 + size, x0:x0 + size] = True
    return mask


def test_kinds_and_counts_per_object():
    config = DenseProposalConfig()
    frame = dense_proposals([square(5, 5), square(30, 50)], (H, W), config, np.random.default_rng(0))
    assert len(frame.detections) == 2 * (4 + 3 + 1) + 2  # copies, parts, loose per object; 2 background
    assert sorted(frame.kinds).count("copy") == 8 and frame.kinds.count("background") == 2
    assert frame.detections.labels.tolist() == [1] * len(frame.detections)
    assert frame.detections.appearance is None and frame.detections.class_probs is None


def test_proposals_lie_where_their_source_is():
    obj = square(10, 10)
    frame = dense_proposals([obj], (H, W), DenseProposalConfig(background=0), np.random.default_rng(1))
    masks = frame.detections.mask_tensor().numpy()
    areas = masks.sum(axis=(1, 2))
    for kind, mask, area in zip(frame.kinds, masks, areas):
        inside = (mask & obj).sum() / area
        if kind == "copy":  # shifted / eroded / dilated by a few % of the radius: mostly on the object
            assert (mask & obj).sum() / (mask | obj).sum() > 0.5
        elif kind == "part":  # a part of a jittered copy: 30-80 % of the object, almost all inside it
            assert 0.15 * obj.sum() < area < 0.95 * obj.sum() and inside > 0.8
        else:  # loose: larger than the object, containing most of it
            assert area > obj.sum() and (mask & obj).sum() > 0.8 * obj.sum()
    # Boxes are the masks' extents.
    ys, xs = np.nonzero(masks[0])
    assert frame.detections.boxes[0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_scores_constant_or_ranked_by_kind():
    objects = [square(5, 5), square(30, 50)]
    constant = dense_proposals(objects, (H, W), DenseProposalConfig(scores="constant"), np.random.default_rng(2))
    assert constant.detections.scores.tolist() == [1.0] * len(constant.detections)
    mean = {}
    for seed in range(40):
        frame = dense_proposals(objects, (H, W), DenseProposalConfig(), np.random.default_rng(seed))
        for kind, score in zip(frame.kinds, frame.detections.scores.tolist()):
            mean.setdefault(kind, []).append(score)
    mean = {k: np.mean(v) for k, v in mean.items()}
    # sigmoid of the kind logits 1, 0, -0.5, -1.5, flattened a little by the N(0, 1) noise
    assert mean["copy"] > mean["loose"] > mean["part"] > mean["background"]
    assert mean["copy"] == pytest.approx(0.69, abs=0.05) and mean["background"] == pytest.approx(0.22, abs=0.05)


def test_mixed_scores_are_drawn_per_video():
    mixed = DenseProposalConfig(scores="mixed", constant_fraction=0.5)
    kinds = [mixed.for_video(seed=4, video_id=v).scores for v in range(200)]
    assert set(kinds) == {"constant", "spread"} and 70 < kinds.count("constant") < 130
    assert [mixed.for_video(seed=4, video_id=v).scores for v in range(200)] == kinds  # keyed, reproducible
    assert DenseProposalConfig(scores="mixed", constant_fraction=1.0).for_video(0, 1).scores == "constant"
    assert DenseProposalConfig(scores="mixed", constant_fraction=0.0).for_video(0, 1).scores == "spread"
    assert DenseProposalConfig(scores="spread").for_video(0, 1).scores == "spread"
    with pytest.raises(ValueError, match="per video"):
        dense_proposals([square(5, 5)], (H, W), mixed, np.random.default_rng(0))
    with pytest.raises(ValueError, match="constant_fraction"):
        DenseProposalConfig(constant_fraction=1.5).validate()


def test_same_generator_same_proposals_and_shuffled_order():
    objects = [square(5, 5), square(30, 50)]
    first = dense_proposals(objects, (H, W), DenseProposalConfig(), np.random.default_rng(7))
    second = dense_proposals(objects, (H, W), DenseProposalConfig(), np.random.default_rng(7))
    assert first.detections.masks == second.detections.masks and first.kinds == second.kinds
    assert first.sources != sorted(first.sources)  # not grouped by object


def test_written_file_has_one_category_and_reads_back(tmp_path, masks_dataset):
    out = tmp_path / "p.jsonl"
    counts = write_dense_proposals(out, masks_dataset, DenseProposalConfig(scores="constant"), seed=3)
    reader = DetectionsReader(out)
    assert reader.categories == [{"id": 1, "name": "object"}] and reader.appearance_dim is None
    assert counts == {"videos": 1, "frames": 2, "detections": 2 * (8 + 2)}
    frames = [d for _, _, d in reader.frames()]
    # Every frame: >= 10 proposals for its one object; the best copy overlaps the object well.
    gt = masks_dataset.instances(1)[0].segmentations
    for t, detections in enumerate(frames):
        assert len(detections) >= 10
        assert mask_ious(detections.mask_rles(), [gt[t]]).max() > 0.8
    again = tmp_path / "q.jsonl"
    write_dense_proposals(again, masks_dataset, DenseProposalConfig(scores="constant"), seed=3)
    assert out.read_bytes() == again.read_bytes()


@pytest.fixture
def masks_dataset():
    from pycocotools import mask as mask_utils

    def rle(mask):
        encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": [H, W], "counts": encoded["counts"].decode("ascii")}

    raw = {"videos": [{"id": 1, "height": H, "width": W, "file_names": ["a/0.jpg", "a/1.jpg"]}],
           "categories": [{"id": 20, "name": "bear", "supercategory": "animal"}],
           "annotations": [{"id": 1, "video_id": 1, "category_id": 20, "segmentations": [rle(square(5, 5)), rle(square(7, 9))]}]}
    return YTVISDataset.from_dict(json.loads(json.dumps(raw)))
