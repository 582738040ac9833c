"""Clip augmentation (one transform for detections and ground truth) and training frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvis.data.ytvis import YTVISDataset
from gvis.detections.filtering import FilterConfig
from gvis.errors import InputError
from gvis.train.config import AugmentConfig
from gvis.train.data import ClipTransform, TrainingVideos, instance_index_map, open_detections


def rectangle(size, box):
    mask = torch.zeros(size, dtype=torch.bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return mask


def extent(mask):
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def test_flip_and_scale_by_hand():
    flip = ClipTransform((1.0, 1.0), (0.0, 0.0), True, (8, 10))
    assert flip.boxes(torch.tensor([[1.0, 2.0, 4.0, 5.0]])).tolist() == [[6.0, 2.0, 9.0, 5.0]]
    assert extent(flip.masks(rectangle((8, 10), (1, 2, 4, 5))[None])[0]) == [6, 2, 9, 5]
    # x' = 2x - 4, y' = 2y - 3 in a 10x10 crop.
    zoom = ClipTransform((2.0, 2.0), (-3.0, -4.0), False, (10, 10))
    assert zoom.boxes(torch.tensor([[2.0, 2.0, 4.0, 4.0]])).tolist() == [[0.0, 1.0, 4.0, 5.0]]
    assert extent(zoom.masks(rectangle((8, 8), (2, 2, 4, 4))[None])[0]) == [0, 1, 4, 5]
    assert zoom.clamp(torch.tensor([[-3.0, 2.0, 14.0, 20.0]])).tolist() == [[0.0, 2.0, 10.0, 10.0]]


def test_shrinking_pads_centred():
    transform = ClipTransform.sample(np.random.default_rng(0), (10, 20), AugmentConfig(scale=(0.5, 0.5), flip=0.0))
    assert transform.out_size == (10, 20) and transform.offset == (2.0, 5.0)
    assert transform.boxes(torch.tensor([[0.0, 0.0, 20.0, 10.0]])).tolist() == [[5.0, 2.0, 15.0, 7.0]]
    masks = transform.masks(torch.ones((1, 10, 20), dtype=torch.bool))[0]
    assert extent(masks) == [5, 2, 15, 7] and int(masks.sum()) == 50


def test_boxes_and_masks_move_together():
    rng = np.random.default_rng(1)
    config = AugmentConfig(scale=(0.5, 1.7), crop_size=(30, 40), flip=0.5)
    for _ in range(50):
        transform = ClipTransform.sample(rng, (36, 48), config)
        x1, y1 = int(rng.integers(0, 40)), int(rng.integers(0, 30))
        box = (x1, y1, x1 + int(rng.integers(4, 9)), y1 + int(rng.integers(4, 7)))
        moved = transform.masks(rectangle((36, 48), box)[None])[0]
        expected = transform.clamp(transform.boxes(torch.tensor([box], dtype=torch.float32)))[0]
        if expected[2] - expected[0] < 2 or expected[3] - expected[1] < 2:
            continue  # (almost) out of view
        assert moved.shape == (30, 40)
        assert np.allclose(extent(moved), expected.tolist(), atol=1.0)


def test_instance_index_map_samples_pixel_centres():
    masks = torch.zeros((2, 4, 4), dtype=torch.bool)
    masks[0, 1, 1] = True      # sampled (rows/cols 1 and 3 are the centres of a 2x2 map)
    masks[1, 3, :] = True      # bottom row
    masks[0, 3, 3] = True      # overlaps object 1: the first object wins
    assert instance_index_map(masks, (2, 2)).tolist() == [[1, 0], [2, 1]]
    assert instance_index_map(torch.zeros((0, 4, 4), dtype=torch.bool), (2, 2)).tolist() == [[0, 0], [0, 0]]


def test_training_frames_keep_objects_in_view(tiny_train_set):
    data = tiny_train_set / "data"
    videos = TrainingVideos(YTVISDataset.from_json(data / "instances.json"), open_detections(tiny_train_set / "dets.pt"),
                            FilterConfig())
    rng = np.random.default_rng(0)
    config = AugmentConfig(scale=(0.7, 1.5), crop_size=(48, 80))
    seen = 0
    for video in videos.videos:
        plain = videos.clip_frames(video.id, range(video.length))
        assert [len(f.detections) for f in plain] == [len(d) for d in videos.detections(video.id)]
        transform = ClipTransform.sample(rng, (video.height, video.width), config)
        for frame in videos.clip_frames(video.id, range(video.length), transform):
            assert frame.image_size == (48, 80) and frame.gt_masks.shape[1:] == (48, 80)
            assert frame.detections.mask_tensor().shape[1:] == (48, 80)
            centres = (frame.gt_boxes[:, :2] + frame.gt_boxes[:, 2:]) / 2
            assert bool(((centres >= 0) & (centres <= torch.tensor([80.0, 48.0]))).all())
            seen += len(frame.gt_ids)
            assert set(frame.gt_classes.tolist()) <= set(range(1, len(videos.categories) + 1))
        assert videos.has_objects(video.id, range(video.length)) == any(
            inst.segmentations[t] is not None for inst in videos.dataset.instances(video.id) for t in range(video.length))
    assert seen > 0


def test_mismatched_detections_are_input_errors(tiny_train_set, tmp_path):
    import json

    raw = json.loads((tiny_train_set / "data" / "instances.json").read_text())
    detections = open_detections(tiny_train_set / "dets.pt")
    renamed = {**raw, "categories": [{**c, "id": c["id"] + 100} for c in raw["categories"]], "annotations": []}
    with pytest.raises(InputError, match="categories"):
        TrainingVideos(YTVISDataset.from_dict(renamed), detections, FilterConfig())
    longer = {**raw, "videos": [{**v, "file_names": v["file_names"] + ["x.jpg"], "length": v["length"] + 1}
                                for v in raw["videos"]], "annotations": []}
    with pytest.raises(InputError, match="frames"):
        TrainingVideos(YTVISDataset.from_dict(longer), detections, FilterConfig())
