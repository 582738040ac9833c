"""The precomputed-detections format: every rule broken once, round trips, atomic writing."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from gvis.detections.jsonl import DetectionsReader, DetectionsWriter
from gvis.detections.structures import Detections
from gvis.errors import InputError

CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 4, "name": "dog"}]
H, W = 6, 8


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def _box_mask(x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask


def _valid_lines() -> list[dict]:
    """A valid file as dicts: header, video 7 (frames 0-1), video 3 (frame 0, no detections)."""
    header = {"format": "gvis-detections", "version": 1, "categories": CATEGORIES, "appearance_dim": 2}

    def frame(video_id: int, frame_index: int, boxes: list) -> dict:
        return {
            "video_id": video_id, "frame_index": frame_index, "height": H, "width": W,
            "boxes": [list(map(float, b)) for b in boxes],
            "scores": [0.9 - 0.1 * n for n in range(len(boxes))],
            "labels": [[1, 4][n % 2] for n in range(len(boxes))],
            "class_probs": [[0.1, 0.8, 0.1] if n % 2 == 0 else [0.3, 0.1, 0.6] for n in range(len(boxes))],
            "masks": [_rle(_box_mask(*b)) for b in boxes],
            "appearance": [[0.5 * n, -1.0] for n in range(len(boxes))],
            "frame_appearance": [0.25, 0.5],
        }

    return [
        header,
        frame(7, 0, [(0, 0, 3, 2), (4, 1, 8, 5)]),
        frame(7, 1, [(1, 0, 4, 2), (4, 2, 8, 6)]),
        frame(3, 0, []),
    ]


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in lines))
    return path


def _set(line: int, key: str, value) -> Callable[[list], None]:
    def change(lines: list) -> None:
        lines[line - 1][key] = value
    return change


def _drop(line: int, key: str) -> Callable[[list], None]:
    def change(lines: list) -> None:
        del lines[line - 1][key]
    return change


def _replace_line(line: int, text: str) -> Callable[[list], None]:
    def change(lines: list) -> None:
        lines[line - 1] = text
    return change


def _edit(line: int, key: str, edit: Callable) -> Callable[[list], None]:
    def change(lines: list) -> None:
        edit(lines[line - 1][key])
    return change


def _swap_lines(a: int, b: int) -> Callable[[list], None]:
    def change(lines: list) -> None:
        lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    return change


def _append_frame(video_id: int, frame_index: int) -> Callable[[list], None]:
    def change(lines: list) -> None:
        lines.append({**lines[-1], "video_id": video_id, "frame_index": frame_index})
    return change


BAD_MASK = {"size": [H, W], "counts": _rle(_box_mask(0, 0, 3, 2))["counts"] + "1"}  # runs no longer sum to H*W

# (name, change to the valid file, line, field)
BROKEN_RULES = [
    ("header: empty file", lambda lines: lines.clear(), 1, "format"),
    ("header: malformed JSON", _replace_line(1, '{"format": "gvis-detections", '), 1, "<json>"),
    ("header: wrong format", _set(1, "format", "coco"), 1, "format"),
    ("header: wrong version", _set(1, "version", 2), 1, "version"),
    ("header: missing categories", _drop(1, "categories"), 1, "categories"),
    ("header: duplicate category id", _set(1, "categories", CATEGORIES + [{"id": 1, "name": "x"}]), 1, "categories[2]"),
    ("header: category without a name", _set(1, "categories", [{"id": 1, "supercategory": "animal"}]), 1, "categories[0]"),
    ("header: category id not an integer", _set(1, "categories", [{"id": "1", "name": "cat"}]), 1, "categories[0]"),
    ("header: missing appearance_dim", _drop(1, "appearance_dim"), 1, "appearance_dim"),
    ("header: bad appearance_dim", _set(1, "appearance_dim", 0), 1, "appearance_dim"),
    ("header: unknown key", _set(1, "colour", "red"), 1, "colour"),
    ("malformed JSON", _replace_line(3, '{"video_id": 7, "frame_index": 1,'), 3, "<json>"),
    ("line is not an object", _replace_line(3, "[1, 2]"), 3, "<json>"),
    ("empty line", _replace_line(3, ""), 3, "<json>"),
    ("missing field", _drop(2, "scores"), 2, "scores"),
    ("unknown field", _set(2, "apperance", []), 2, "apperance"),
    ("video_id not an integer", _set(2, "video_id", "7"), 2, "video_id"),
    ("height not positive", _set(2, "height", 0), 2, "height"),
    ("unequal lengths: scores", _edit(2, "scores", lambda v: v.pop()), 2, "scores"),
    ("unequal lengths: labels", _edit(2, "labels", lambda v: v.append(1)), 2, "labels"),
    ("unequal lengths: masks", _edit(2, "masks", lambda v: v.pop()), 2, "masks"),
    ("unequal lengths: class_probs", _edit(2, "class_probs", lambda v: v.pop()), 2, "class_probs"),
    ("unequal lengths: appearance", _edit(2, "appearance", lambda v: v.pop()), 2, "appearance"),
    ("wrong width: boxes", _set(2, "boxes", [[0.0, 0.0, 3.0], [4.0, 1.0, 8.0]]), 2, "boxes"),
    ("wrong width: class_probs needs C+1", _set(2, "class_probs", [[0.2, 0.8], [0.4, 0.6]]), 2, "class_probs"),
    ("wrong width: appearance", _set(2, "appearance", [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]), 2, "appearance"),
    ("wrong width: frame_appearance", _set(2, "frame_appearance", [1.0]), 2, "frame_appearance"),
    ("ragged boxes", _edit(2, "boxes", lambda v: v[1].append(9.0)), 2, "boxes"),
    ("non-numeric box", _edit(2, "boxes", lambda v: v[0].__setitem__(0, "0")), 2, "boxes"),
    ("box with x2 < x1", _edit(3, "boxes", lambda v: v[1].__setitem__(2, 0.0)), 3, "boxes[1]"),
    ("score above 1", _edit(2, "scores", lambda v: v.__setitem__(0, 1.5)), 2, "scores"),
    ("class_probs not summing to 1", _edit(2, "class_probs", lambda v: v.__setitem__(0, [0.5, 0.5, 0.5])), 2, "class_probs[0]"),
    ("negative class_probs", _edit(2, "class_probs", lambda v: v.__setitem__(1, [1.2, -0.1, -0.1])), 2, "class_probs"),
    ("unknown label id", _edit(2, "labels", lambda v: v.__setitem__(1, 2)), 2, "labels[1]"),
    ("non-integer label", _edit(2, "labels", lambda v: v.__setitem__(1, 4.5)), 2, "labels"),
    ("NaN in boxes", _replace_line(2, json.dumps(_valid_lines()[1]).replace("3.0", "NaN", 1)), 2, "boxes"),
    ("inf in appearance", _edit(3, "appearance", lambda v: v[0].__setitem__(1, float("inf"))), 3, "appearance"),
    ("NaN in frame_appearance", _edit(3, "frame_appearance", lambda v: v.__setitem__(0, float("nan"))), 3, "frame_appearance"),
    ("mask size != frame size", _edit(2, "masks", lambda v: v[0].__setitem__("size", [W, H])), 2, "masks[0]"),
    ("uncompressed RLE mask", _edit(2, "masks", lambda v: v.__setitem__(0, {"size": [H, W], "counts": [48]})), 2, "masks[0]"),
    ("corrupt RLE string", _edit(2, "masks", lambda v: v.__setitem__(0, BAD_MASK)), 2, "masks[0]"),
    ("appearance while appearance_dim is null", _set(1, "appearance_dim", None), 2, "appearance"),
    ("appearance missing", _drop(3, "appearance"), 3, "appearance"),
    ("frames out of order", _swap_lines(2, 3), 2, "frame_index"),
    ("first frame not 0", _set(2, "frame_index", 1), 2, "frame_index"),
    ("frames skipped", _set(3, "frame_index", 2), 3, "frame_index"),
    ("repeated frame", _set(3, "frame_index", 0), 3, "frame_index"),
    ("video's frames not consecutive", _append_frame(7, 2), 5, "video_id"),
]


def test_valid_file_reads(tmp_path):
    reader = DetectionsReader(_write(tmp_path / "d.jsonl", _valid_lines()))
    assert reader.header["categories"] == CATEGORIES and reader.header["appearance_dim"] == 2
    assert reader.validate() == {"videos": 2, "frames": 3, "detections": 4}
    assert [(v, len(frames)) for v, frames in reader.videos()] == [(7, 2), (3, 1)]


def test_youtube_vis_category_objects_are_read_as_they_come(tmp_path):
    # YouTube-VIS annotation files list {"supercategory", "id", "name"}; extra keys are kept.
    categories = [{"supercategory": "animal", "id": 1, "name": "cat"}, {"id": 4, "name": "dog", "supercategory": "animal"}]
    lines = _valid_lines()
    lines[0]["categories"] = categories
    reader = DetectionsReader(_write(tmp_path / "d.jsonl", lines))
    assert reader.categories == categories
    assert reader.validate() == {"videos": 2, "frames": 3, "detections": 4}


@pytest.mark.parametrize("name, change, line, field", BROKEN_RULES, ids=[r[0] for r in BROKEN_RULES])
def test_each_broken_rule_names_line_and_field(tmp_path, name, change, line, field):
    lines = _valid_lines()
    change(lines)
    path = _write(tmp_path / "d.jsonl", lines) if lines else tmp_path / "d.jsonl"
    if not lines:
        path.write_text("")
    with pytest.raises(InputError) as info:
        DetectionsReader(path).validate()
    error = info.value
    assert (error.file, error.line, error.field) == (str(path), line, field), str(error)
    assert f"{path}:{line}" in str(error) and f"field '{field}'" in str(error)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        DetectionsReader(tmp_path / "nope.jsonl")


def _frame(boxes, scores, labels, with_probs=True, with_frame=True, appearance_dim=3) -> Detections:
    masks = torch.zeros((len(boxes), H, W), dtype=torch.bool)
    for n, (x1, y1, x2, y2) in enumerate(boxes):
        masks[n, y1:y2, x1:x2] = True
    count = len(boxes)
    return Detections(
        boxes=torch.tensor(boxes, dtype=torch.float32).reshape(count, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.tensor(labels, dtype=torch.long),
        masks=masks,
        image_size=(H, W),
        class_probs=torch.tensor([[1 - s, s, 0.0] if label == 1 else [1 - s, 0.0, s] for s, label in zip(scores, labels)]).reshape(count, 3)
        if with_probs else None,
        appearance=None if appearance_dim is None else torch.arange(count * appearance_dim, dtype=torch.float32).reshape(count, appearance_dim) / 8,
        frame_appearance=torch.tensor([0.5, -0.25, 1.0]) if with_frame and appearance_dim else None,
    )


def test_round_trip(tmp_path):
    frames = [
        (5, 0, _frame([(0, 0, 3, 2), (2, 1, 8, 6)], [0.75, 0.5], [1, 4])),
        (5, 1, _frame([], [], [])),  # an empty frame
        (5, 2, _frame([(1, 1, 2, 2)], [0.125], [4], with_probs=False, with_frame=False)),  # optional fields omitted
        (2, 0, _frame([(0, 0, 8, 6)], [1.0], [1])),
    ]
    path = tmp_path / "d.jsonl"
    with DetectionsWriter(path, CATEGORIES, appearance_dim=3, meta={"detector": "test"}) as writer:
        for video_id, frame_index, detections in frames:
            writer.write(video_id, frame_index, detections)
    reader = DetectionsReader(path)
    assert reader.header["meta"] == {"detector": "test"}
    read = list(reader.frames())
    assert [(v, t) for v, t, _ in read] == [(v, t) for v, t, _ in frames]
    for (_, _, expected), (_, _, got) in zip(frames, read):
        assert got.image_size == (H, W)
        assert torch.equal(got.boxes, expected.boxes) and torch.equal(got.scores, expected.scores)
        assert torch.equal(got.labels, expected.labels)
        assert torch.equal(got.mask_tensor(), expected.masks)
        assert torch.equal(got.appearance, expected.appearance)
        for name in ("class_probs", "frame_appearance"):
            assert (getattr(got, name) is None) == (getattr(expected, name) is None)
            if getattr(expected, name) is not None:
                assert torch.equal(getattr(got, name), getattr(expected, name))
    assert read[1][2].appearance.shape == (0, 3) and read[1][2].class_probs.shape == (0, 3)
    videos = list(reader.videos())
    assert [(v, len(f)) for v, f in videos] == [(5, 3), (2, 1)]


def test_round_trip_without_appearance(tmp_path):
    path = tmp_path / "d.jsonl"
    with DetectionsWriter(path, CATEGORIES, appearance_dim=None) as writer:
        writer.write(0, 0, _frame([(0, 0, 3, 2)], [0.5], [1], with_probs=False, appearance_dim=None))
    (_, _, got), = DetectionsReader(path).frames()
    assert got.appearance is None and got.class_probs is None and got.frame_appearance is None
    line = json.loads(path.read_text().splitlines()[1])
    assert set(line) == {"video_id", "frame_index", "height", "width", "boxes", "scores", "labels", "masks"}


def test_writer_writes_nothing_on_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with DetectionsWriter(path, CATEGORIES, appearance_dim=3) as writer:
            writer.write(0, 0, _frame([(0, 0, 3, 2)], [0.5], [1]))
            raise RuntimeError("detector crashed")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl"]


def test_writer_checks_frames_with_the_reader_rules(tmp_path):
    path = tmp_path / "d.jsonl"
    with pytest.raises(InputError) as info:
        with DetectionsWriter(path, CATEGORIES, appearance_dim=3) as writer:
            writer.write(0, 0, _frame([(0, 0, 3, 2)], [0.5], [1]))
            writer.write(0, 2, _frame([(0, 0, 3, 2)], [0.5], [1]))
    assert (info.value.line, info.value.field) == (3, "frame_index")
    with pytest.raises(InputError) as info:
        with DetectionsWriter(path, CATEGORIES, appearance_dim=3) as writer:
            writer.write(0, 0, _frame([(0, 0, 3, 2)], [0.5], [7], with_probs=False))
    assert (info.value.line, info.value.field) == (2, "labels[0]")
    with pytest.raises(InputError) as info:
        with DetectionsWriter(path, CATEGORIES, appearance_dim=4) as writer:
            writer.write(0, 0, _frame([(0, 0, 3, 2)], [0.5], [1]))
    assert (info.value.line, info.value.field) == (2, "appearance")
    assert not path.exists()
    with pytest.raises(InputError) as info:
        DetectionsWriter(path, [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}])
    assert info.value.field == "categories[1]"


def test_docs_example_is_valid(tmp_path, repo_root):
    text = (repo_root / "docs" / "formats.md").read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    reader = DetectionsReader(_write(tmp_path / "example.jsonl", example.strip().splitlines()))
    assert reader.validate() == {"videos": 2, "frames": 3, "detections": 3}
