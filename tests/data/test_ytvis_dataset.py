"""YTVISDataset on small hand-made files: the formats it accepts and every bad-input error."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from gvis.data.ytvis import Category, Video, YTVISDataset
from gvis.errors import InputError

HEIGHT, WIDTH = 6, 8


def _mask(top: int, left: int, size: int = 2) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[top:top + size, left:left + size] = 1
    return mask


def _compressed(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode()}


def _uncompressed(mask: np.ndarray) -> dict:
    flat, runs, value, count = mask.flatten(order="F"), [], 0, 0
    for pixel in flat:
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    return {"size": [HEIGHT, WIDTH], "counts": runs + [count]}


def make_raw() -> dict:
    """2 videos of 3 frames; video 7 has a compressed, an uncompressed and a polygon track."""
    return {
        "info": {"description": "test"},
        "categories": [{"id": 1, "name": "cat", "supercategory": "animal"}, {"id": 5, "name": "dog"}],
        "videos": [
            {"id": 7, "width": WIDTH, "height": HEIGHT, "length": 3, "file_names": [f"a/{t:05d}.jpg" for t in range(3)]},
            {"id": 9, "width": WIDTH, "height": HEIGHT, "length": 3, "file_names": [f"b/{t:05d}.jpg" for t in range(3)]},
        ],
        "annotations": [
            {"id": 1, "video_id": 7, "category_id": 1, "iscrowd": 0,
             "segmentations": [_compressed(_mask(0, 0)), None, _compressed(_mask(1, 1))],
             "areas": [4, None, 4], "bboxes": [[0, 0, 2, 2], None, [1, 1, 2, 2]], "synth": {"color": [1, 0, 0]}},
            {"id": 2, "video_id": 7, "category_id": 5, "iscrowd": 1,
             "segmentations": [_uncompressed(_mask(2, 3)), _uncompressed(_mask(3, 3)), None],
             "areas": [4, 4, None], "bboxes": [[3, 2, 2, 2], [3, 3, 2, 2], None]},
            {"id": 3, "video_id": 7, "category_id": 5,
             "segmentations": [None, [[4.0, 0.0, 8.0, 0.0, 8.0, 3.0, 4.0, 3.0]], None]},
        ],
    }


def write(tmp_path: Path, raw, name: str = "ann.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(raw))
    return path


def test_loads_all_segmentation_forms(tmp_path):
    path = write(tmp_path, make_raw())
    dataset = YTVISDataset.from_json(path)
    assert dataset.categories == [Category(1, "cat"), Category(5, "dog")]
    assert [v.id for v in dataset.videos] == [7, 9]
    assert dataset.video(7) == Video(7, "a", WIDTH, HEIGHT, ("a/00000.jpg", "a/00001.jpg", "a/00002.jpg"), 3)
    assert dataset.image_root == tmp_path / "JPEGImages"
    assert dataset.instances(9) == []
    first, crowd, polygon = dataset.instances(7)
    assert first.extra == {"synth": {"color": [1, 0, 0]}} and first.areas == [4, None, 4]
    assert crowd.iscrowd == 1 and first.iscrowd == 0 and polygon.iscrowd == 0
    assert [s is None for s in first.segmentations] == [False, True, False]
    assert all(isinstance(s["counts"], bytes) for s in first.segmentations + crowd.segmentations[:2] if s)

    ids, masks = dataset.frame_masks(7, 0)
    assert ids.tolist() == [1, 2] and masks.dtype == bool and masks.shape == (2, HEIGHT, WIDTH)
    assert (masks[0] == _mask(0, 0)).all() and (masks[1] == _mask(2, 3)).all()
    ids, masks = dataset.frame_masks(7, 1)
    assert ids.tolist() == [2, 3] and (masks[0] == _mask(3, 3)).all()
    # pycocotools rasterises the polygon x in [4, 8], y in [0, 3] to columns 4..7, rows 0..2 (its rounding).
    expected = np.zeros((HEIGHT, WIDTH), dtype=bool)
    expected[0:3, 4:8] = True
    assert (masks[1] == expected).all()
    ids, masks = dataset.frame_masks(9, 2)
    assert ids.shape == (0,) and masks.shape == (0, HEIGHT, WIDTH)


def test_missing_areas_and_boxes_are_computed_from_masks(tmp_path):
    dataset = YTVISDataset.from_json(write(tmp_path, make_raw()))
    polygon = dataset.instances(7)[2]
    assert polygon.areas == [None, 12.0, None]
    assert polygon.bboxes == [None, [4.0, 0.0, 4.0, 3.0], None]


def test_file_without_annotations_is_a_valid_test_set(tmp_path):
    raw = make_raw()
    del raw["annotations"]
    dataset = YTVISDataset.from_json(write(tmp_path, raw))
    assert len(dataset) == 2 and dataset.instances(7) == []


def test_frames_are_read_lazily(tmp_path):
    path = write(tmp_path, make_raw())
    dataset = YTVISDataset.from_json(path)  # no JPEGImages folder at all: still fine
    folder = tmp_path / "JPEGImages" / "a"
    folder.mkdir(parents=True)
    pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    pixels[..., 1] = 200
    Image.fromarray(pixels).save(folder / "00000.png")
    (folder / "00000.png").rename(folder / "00000.jpg")  # PIL reads by content; PNG keeps pixels exact
    frame = dataset.frame(7, 0)
    assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8 and (frame == pixels).all()
    with pytest.raises(InputError) as info:
        dataset.frame(7, 1)
    message = str(info.value)
    assert str(path) in message and "video 7" in message and "file_names[1]" in message
    assert "00001.jpg" in message and "not found" in message
    Image.fromarray(np.zeros((HEIGHT + 1, WIDTH, 3), np.uint8)).save(folder / "00002.png")
    (folder / "00002.png").rename(folder / "00002.jpg")
    with pytest.raises(InputError, match="file_names\\[2\\].*7x8 \\(HxW\\), the video says 6x8"):
        dataset.frame(7, 2)
    custom = YTVISDataset.from_json(path, image_root=tmp_path / "JPEGImages")
    assert custom.frame_path(7, 0) == folder / "00000.jpg"


def _assert_error(path: Path, video_id, field: str, *fragments: str) -> InputError:
    with pytest.raises(InputError) as info:
        YTVISDataset.from_json(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if video_id is not None:
        assert f"video {video_id}" in message, message
    assert f"field '{field}" in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return info.value


def _broken(change) -> dict:
    raw = make_raw()
    change(raw)
    return raw


BAD_FILES = {
    "missing videos": (lambda r: r.pop("videos"), None, "videos", "missing top-level key"),
    "missing categories": (lambda r: r.pop("categories"), None, "categories", "missing top-level key"),
    "missing video height": (lambda r: r["videos"][1].pop("height"), 9, "videos[1].height", "missing key"),
    "missing category name": (lambda r: r["categories"][0].pop("name"), None, "categories[0].name", "missing key"),
    "missing segmentations": (lambda r: r["annotations"][1].pop("segmentations"), 7,
                              "annotations[1].segmentations", "missing key"),
    "missing annotation video_id": (lambda r: r["annotations"][0].pop("video_id"), None,
                                    "annotations[0].video_id", "missing key"),
    "size disagrees": (lambda r: r["annotations"][0]["segmentations"].__setitem__(
        2, {"size": [HEIGHT + 1, WIDTH], "counts": "0"}), 7, "annotations[0].segmentations[2]",
        "annotation 1", "RLE size [7, 8] disagrees with the image size [6, 8]"),
    "uncompressed size disagrees": (lambda r: r["annotations"][1]["segmentations"][0].__setitem__("size", [8, 6]), 7,
                                    "annotations[1].segmentations[0]", "disagrees"),
    "too few segmentations": (lambda r: r["annotations"][0]["segmentations"].pop(), 7,
                              "annotations[0].segmentations", "2 segmentations for a video of 3 frames"),
    "too many segmentations": (lambda r: r["annotations"][2]["segmentations"].append(None), 7,
                               "annotations[2].segmentations", "4 segmentations for a video of 3 frames"),
    "corrupt compressed string": (lambda r: r["annotations"][0]["segmentations"][2].__setitem__("counts", "Q1"), 7,
                                  "annotations[0].segmentations[2]", "corrupt compressed RLE", "expected H*W = 48"),
    "invalid character": (lambda r: r["annotations"][0]["segmentations"][0].__setitem__("counts", "0{"), 7,
                          "annotations[0].segmentations[0]", "invalid character"),
    "uncompressed sum": (lambda r: r["annotations"][1]["segmentations"][1]["counts"].append(3), 7,
                         "annotations[1].segmentations[1]", "sum to 51, expected H*W = 48"),
    "unknown category": (lambda r: r["annotations"][1].__setitem__("category_id", 3), 7,
                         "annotations[1].category_id", "unknown category id 3"),
    "unknown video": (lambda r: r["annotations"][1].__setitem__("video_id", 8), 8,
                      "annotations[1].video_id", "unknown video id 8"),
    "duplicate annotation id": (lambda r: r["annotations"][2].__setitem__("id", 1), 7,
                                "annotations[2].id", "duplicate annotation id 1"),
    "duplicate video id": (lambda r: r["videos"][1].__setitem__("id", 7), 7, "videos[1].id", "duplicate video id"),
    "duplicate category id": (lambda r: r["categories"][1].__setitem__("id", 1), None,
                              "categories[1].id", "duplicate category id 1"),
    "length disagrees": (lambda r: r["videos"][0].__setitem__("length", 4), 7, "videos[0].length", "differs"),
    "bad width": (lambda r: r["videos"][0].__setitem__("width", 0), 7, "videos[0].width", "integer in 1..32768"),
    "huge height": (lambda r: r["videos"][0].__setitem__("height", 10**6), 7, "videos[0].height", "integer in 1..32768"),
    "far polygon": (lambda r: r["annotations"][2]["segmentations"].__setitem__(1, [[0, 0, 1e30, 0, 5, 5]]), 7,
                    "annotations[2].segmentations[1]", "far outside the 6x8 image"),
    "areas length": (lambda r: r["annotations"][0]["areas"].pop(), 7, "annotations[0].areas", "list of 3 entries"),
    "huge area": (lambda r: r["annotations"][0]["areas"].__setitem__(2, 10**400), 7,
                  "annotations[0].areas[2]", "invalid value"),
    "bad bbox": (lambda r: r["annotations"][1]["bboxes"].__setitem__(1, [1, 2, 3]), 7,
                 "annotations[1].bboxes[1]", "invalid value"),
    "bad iscrowd": (lambda r: r["annotations"][1].__setitem__("iscrowd", 2), 7, "annotations[1].iscrowd", "0 or 1"),
    "string id": (lambda r: r["annotations"][1].__setitem__("id", "2"), 7, "annotations[1].id", "integer"),
    "short polygon": (lambda r: r["annotations"][2]["segmentations"].__setitem__(1, [[1, 2, 3, 4]]), 7,
                      "annotations[2].segmentations[1]", "even number"),
    "segmentation not a list": (lambda r: r["annotations"][0].__setitem__("segmentations", {"counts": "0"}), 7,
                                "annotations[0].segmentations", "must be a list"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_names_file_video_and_field(tmp_path, case):
    change, video_id, field, *fragments = BAD_FILES[case]
    _assert_error(write(tmp_path, _broken(change)), video_id, field, *fragments)


def test_truncated_json_names_file_and_line(tmp_path):
    text = json.dumps(make_raw(), indent=1)
    path = tmp_path / "truncated.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(InputError) as info:
        YTVISDataset.from_json(path)
    assert str(info.value).startswith(f"{path}:") and "invalid JSON (truncated file?)" in str(info.value)
    assert info.value.line is not None and info.value.line > 1


def test_missing_file_and_results_list(tmp_path):
    with pytest.raises(InputError, match="cannot read annotation file"):
        YTVISDataset.from_json(tmp_path / "nope.json")
    results = [{"video_id": 7, "category_id": 1, "score": 0.5, "segmentations": [None, None, None]}]
    with pytest.raises(InputError, match="this is a list \\(a results file\\?\\)"):
        YTVISDataset.from_json(write(tmp_path, results))


def _cocovid() -> dict:
    """Video 3 with 2 frames (listed out of order); instance 11 on both frames, instance 12 on frame 1."""
    return {
        "categories": [{"id": 1, "name": "cat"}],
        "videos": [{"id": 3, "name": "clip"}],
        "images": [
            {"id": 21, "video_id": 3, "frame_id": 1, "file_name": "clip/1.jpg", "height": HEIGHT, "width": WIDTH},
            {"id": 20, "video_id": 3, "frame_id": 0, "file_name": "clip/0.jpg", "height": HEIGHT, "width": WIDTH},
        ],
        "annotations": [
            {"id": 1, "image_id": 20, "video_id": 3, "instance_id": 11, "category_id": 1,
             "segmentation": _uncompressed(_mask(0, 0)), "area": 4, "bbox": [0, 0, 2, 2], "iscrowd": 0},
            {"id": 2, "image_id": 21, "video_id": 3, "instance_id": 12, "category_id": 1,
             "segmentation": _compressed(_mask(4, 6)), "area": 4, "bbox": [6, 4, 2, 2], "iscrowd": 0},
            {"id": 3, "image_id": 21, "video_id": 3, "instance_id": 11, "category_id": 1,
             "segmentation": _compressed(_mask(1, 0)), "area": 4, "bbox": [0, 1, 2, 2], "iscrowd": 0},
        ],
    }


def test_cocovid_layout_is_converted(tmp_path):
    dataset = YTVISDataset.from_json(write(tmp_path, _cocovid()))
    assert dataset.videos == [Video(3, "clip", WIDTH, HEIGHT, ("clip/0.jpg", "clip/1.jpg"), 2)]
    first, second = dataset.instances(3)
    assert (first.id, first.extra, first.areas, first.bboxes) == (1, {"instance_id": 11}, [4, 4], [[0, 0, 2, 2], [0, 1, 2, 2]])
    assert (second.id, second.extra, second.areas) == (2, {"instance_id": 12}, [None, 4])
    ids, masks = dataset.frame_masks(3, 1)
    assert ids.tolist() == [1, 2] and (masks[0] == _mask(1, 0)).all() and (masks[1] == _mask(4, 6)).all()
    assert "images" not in dataset.raw and len(dataset.raw["annotations"]) == 2


def test_cocovid_errors_name_file_and_field(tmp_path):
    raw = _cocovid()
    raw["annotations"][2]["category_id"] = 2
    raw["categories"].append({"id": 2, "name": "dog"})
    _assert_error(write(tmp_path, raw), 3, "annotations[2].category_id", "CocoVID layout", "changes category")
    raw = _cocovid()
    raw["annotations"][1]["image_id"] = 99
    _assert_error(write(tmp_path, raw), 3, "annotations[1].image_id", "unknown image id 99")
    raw = _cocovid()
    raw["annotations"][0]["segmentation"]["size"] = [5, 5]
    _assert_error(write(tmp_path, raw), 3, "annotations[0].segmentations[0]", "disagrees")


def test_raw_and_unknown_top_level_keys_are_kept(tmp_path):
    raw = make_raw()
    dataset = YTVISDataset.from_dict(copy.deepcopy(raw))
    assert dataset.raw == raw
    with pytest.raises(InputError, match="no video with id 8"):
        dataset.video(8)


JUNK = [None, True, -1, 0, 2.5, float("nan"), "x", "", [], [None], [[1]], {}, {"counts": None}, [1, "a"], 10**30]


def _paths(node):
    """Every (container, key) position in a JSON tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield node, key
        yield from _paths(value)


@pytest.mark.parametrize("layout", ["ytvis", "cocovid"])
def test_random_junk_anywhere_gives_input_error_or_loads(layout):
    """Replacing any one value by junk never escapes as a numpy / KeyError / TypeError traceback."""
    build = make_raw if layout == "ytvis" else _cocovid
    rng = np.random.default_rng(0)
    positions = len(list(_paths(build())))
    for _ in range(400):
        raw = build()
        container, key = list(_paths(raw))[int(rng.integers(positions))]
        container[key] = copy.deepcopy(JUNK[int(rng.integers(len(JUNK)))])
        try:
            YTVISDataset.from_dict(raw, source="junk.json")
        except InputError as exc:
            assert str(exc).startswith("junk.json: ")


def test_missing_areas_of_a_long_track_are_computed(tmp_path):
    """pycocotools' area() takes at most 255 RLEs per call here; the loader must chunk."""
    import json

    import numpy as np
    from pycocotools import mask as mask_utils

    from gvis.data.ytvis import YTVISDataset

    frames = 300
    mask = np.zeros((4, 5, 1), dtype=np.uint8, order="F")
    mask[1:3, 1:4, 0] = 1
    rle = mask_utils.encode(mask)[0]
    rle["counts"] = rle["counts"].decode("ascii")
    raw = {
        "videos": [{"id": 1, "width": 5, "height": 4, "length": frames,
                    "file_names": [f"v/{t:05d}.jpg" for t in range(frames)]}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                         "segmentations": [rle] * frames}],
    }
    path = tmp_path / "long.json"
    path.write_text(json.dumps(raw))
    instance = YTVISDataset.from_json(path).instances(1)[0]
    assert instance.areas == [6.0] * frames
    assert instance.bboxes[-1] == [1.0, 1.0, 3.0, 2.0]
