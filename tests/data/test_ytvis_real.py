"""YTVISDataset on the real fixtures in ../shared/data/real (skipped when absent; see its PROVENANCE.md)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from gvis.data.ytvis import YTVISDataset
from gvis.errors import InputError

YTVIS_FILES = [
    "davis2016_train_2seq/ytvis_gt.json",
    "davis2017_tennis_2frames/ytvis_gt.json",
    "bdd100k_mots_b1c66a42-6f7d68ca/ytvis_gt.json",
    "ovis_85aa3b0e_3frames/annotations_train.json",
    "ytvis2019_0043f083b5_1frame_cocovid/ann.json",
]


@pytest.mark.parametrize("name", YTVIS_FILES)
def test_every_real_file_loads_and_keeps_areas(real_data, name):
    dataset = YTVISDataset.from_json(real_data / name)
    raw = json.loads((real_data / name).read_text())
    assert len(dataset.videos) == len(raw["videos"])
    instances = [inst for video in dataset.videos for inst in dataset.instances(video.id)]
    if "images" not in raw:  # YouTube-VIS layout: one instance per annotation, areas exactly as given
        assert [inst.id for inst in instances] == [ann["id"] for ann in raw["annotations"]]
        assert [inst.areas for inst in instances] == [ann["areas"] for ann in raw["annotations"]]
    for inst in instances:
        video = dataset.video(inst.video_id)
        assert len(inst.segmentations) == video.length
        present = [rle for rle in inst.segmentations if rle is not None]
        assert all(rle["size"] == [video.height, video.width] for rle in present)


def _davis_frames(real_data, folder):
    dataset = YTVISDataset.from_json(real_data / folder / "ytvis_gt.json")
    for video in dataset.videos:
        for t in range(video.length):
            png = np.asarray(Image.open(real_data / folder / "Annotations" / video.name / f"{t:05d}.png"))
            yield dataset, video, t, png


def test_davis2016_masks_equal_the_pngs(real_data):
    checked = 0
    for dataset, video, t, png in _davis_frames(real_data, "davis2016_train_2seq"):
        ids, masks = dataset.frame_masks(video.id, t)
        assert len(ids) == 1 and masks.shape == (1, *png.shape)
        assert np.array_equal(masks[0], png > 127)
        checked += 1
    assert checked == 60
    dataset = YTVISDataset.from_json(real_data / "davis2016_train_2seq/ytvis_gt.json")
    frame = dataset.frame(1, 0)
    assert frame.shape == (480, 854, 3) and frame.dtype == np.uint8
    # uncompressed RLE in the file: the stored areas are the mask pixel counts
    bear = dataset.instances(1)[0]
    assert bear.areas == [int(a) for a in mask_utils.area(bear.segmentations)]


def test_davis2017_masks_equal_the_palette_without_void(real_data):
    for dataset, video, t, png in _davis_frames(real_data, "davis2017_tennis_2frames"):
        ids, masks = dataset.frame_masks(video.id, t)
        assert ids.tolist() == [1, 2]
        void = png == 255
        assert void.sum() > 100  # the fixture really has void pixels on object borders
        for k in range(2):
            assert np.array_equal(masks[k], png == k + 1)
            assert not masks[k][void].any()  # void belongs to no object
        assert dataset.frame(video.id, t).shape == (480, 854, 3)


def test_ovis_areas_are_box_areas_as_given(real_data):
    dataset = YTVISDataset.from_json(real_data / "ovis_85aa3b0e_3frames/annotations_train.json")
    first = dataset.instances(1)[0]
    assert first.areas[0] == 11352 == 66 * 172  # the box area, kept
    assert int(mask_utils.area(first.segmentations[0])) == 6377  # the mask has fewer pixels
    for inst in dataset.instances(1):
        for rle, box in zip(inst.segmentations, inst.bboxes):
            assert rle is not None and np.allclose(mask_utils.toBbox(rle), box)
    assert set(first.extra) == {"occlusion", "length", "height", "width"}
    assert len(dataset.categories) == 25 and dataset.category(19).name == "Fish"


def test_cocovid_file_is_converted_to_the_same_mask(real_data):
    path = real_data / "ytvis2019_0043f083b5_1frame_cocovid/ann.json"
    raw = json.loads(path.read_text())
    dataset = YTVISDataset.from_json(path)
    (video,) = dataset.videos
    assert (video.name, video.height, video.width, video.file_names) == ("0043f083b5", 720, 1280, ("0043f083b5/00000.jpg",))
    (sedan,) = dataset.instances(video.id)
    assert sedan.areas == [6377] and sedan.bboxes == [[1174, 335, 104, 79]] and sedan.extra == {"instance_id": 1}
    _, masks = dataset.frame_masks(video.id, 0)
    source = raw["annotations"][0]["segmentation"]
    expected = mask_utils.decode(mask_utils.frPyObjects([source], 720, 1280))[..., 0].astype(bool)
    assert masks[0].sum() == 6377 and np.array_equal(masks[0], expected)
    assert mask_utils.toBbox(sedan.segmentations[0]).tolist() == [1174, 335, 104, 79]


def test_bdd100k_ground_truth_loads(real_data):
    dataset = YTVISDataset.from_json(real_data / "bdd100k_mots_b1c66a42-6f7d68ca/ytvis_gt.json")
    (video,) = dataset.videos
    instances = dataset.instances(video.id)
    assert video.length == 100 and (video.height, video.width) == (720, 1280)
    assert len(instances) == 90 and sum(inst.iscrowd for inst in instances) == 4
    assert [c.name for c in dataset.categories][:3] == ["pedestrian", "rider", "car"]
    assert all("scalabel_track_id" in inst.extra for inst in instances)
    labels = sum(rle is not None for inst in instances for rle in inst.segmentations)
    assert labels == 1768  # every Scalabel label of the source became one frame of a track
    ids, masks = dataset.frame_masks(video.id, 0)
    assert masks.shape[1:] == (720, 1280) and len(ids) > 0
    assert [int(a) for a in masks.sum(axis=(1, 2))] == [
        int(next(i for i in instances if i.id == k).areas[0]) for k in ids
    ]
    # no frames in this fixture: reading one is a clear error, not a crash
    with pytest.raises(InputError, match="frame file not found"):
        dataset.frame(video.id, 0)
