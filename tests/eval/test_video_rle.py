"""Batch decoding of compressed RLE strings and video-long RLEs, against pycocotools."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from gvis.eval.video_rle import decode_counts, video_rles


def encode(masks: np.ndarray) -> list[bytes]:
    """pycocotools strings of ``masks [H, W, N]``."""
    return [r["counts"] for r in mask_utils.encode(np.asfortranarray(masks.astype(np.uint8)))]


def runs_to_mask(runs: np.ndarray, height: int, width: int) -> np.ndarray:
    flat = np.repeat(np.arange(runs.size) % 2, runs).astype(bool)
    return flat.reshape(width, height).T


def random_masks(rng: np.random.Generator, height: int, width: int, count: int) -> np.ndarray:
    masks = rng.random((height, width, count)) < rng.random(count)
    masks[:, :, 0] = True    # full
    masks[:, :, 1] = False   # empty
    masks[0, 0, 2] = True    # starts with foreground (first run 0)
    return masks


def test_decoded_runs_match_pycocotools():
    rng = np.random.default_rng(0)
    # 90x70 masks of random density: long strings with multi-character values; a few thousand strings
    # span several internal chunks.
    masks = random_masks(rng, 90, 70, 400)
    decoded = decode_counts(encode(masks), 90 * 70)
    assert decoded.problems == []
    assert decoded.areas.tolist() == masks.sum((0, 1)).tolist()
    for s in range(masks.shape[2]):
        runs = decoded.runs[decoded.first_run[s]:decoded.first_run[s + 1]]
        assert np.array_equal(runs_to_mask(runs, 90, 70), masks[:, :, s])


def test_large_runs_need_multi_character_values():
    # A 1000x1000 mask with one 300x300 square: runs up to ~700k pixels (4-character values).
    mask = np.zeros((1000, 1000, 1), bool)
    mask[100:400, 500:800] = True
    decoded = decode_counts(encode(mask), 1000 * 1000)
    assert decoded.problems == [] and decoded.areas.tolist() == [90000]
    assert np.array_equal(runs_to_mask(decoded.runs, 1000, 1000), mask[:, :, 0])


@pytest.mark.parametrize("corrupt, reason", [
    (lambda good: good[:-1], "run lengths sum to"),              # truncated by one value
    (lambda good: good + b"1", "run lengths sum to"),            # one run too many
    (lambda good: b"", "run lengths sum to 0"),
    (lambda good: good[:3] + b"\x00" + good[4:], "invalid character"),
    (lambda good: good[:3] + b"~" + good[4:], "invalid character"),
    (lambda good: good + b"o", "truncated string"),              # ends inside a value
    (lambda good: good[:4] + b"9" * 3 + good[4:], "run lengths sum to"),
])
def test_corrupt_strings_are_detected(corrupt, reason):
    good = encode(np.random.default_rng(1).random((20, 30, 1)) < 0.5)[0]
    decoded = decode_counts([good, corrupt(good), good], 600)
    assert [index for index, _ in decoded.problems] == [1]
    assert reason in decoded.problems[0][1]


def test_negative_run_is_detected():
    # pycocotools writes runs [5, 2, 2, 0, 3] as "522N1": from the fourth run on it stores the
    # difference to the run two places earlier ('N' = -2: run 3 = 2 - 2 = 0).
    ok = decode_counts([b"522N1"], 12)
    assert ok.problems == [] and ok.areas.tolist() == [2]
    negative = decode_counts([b"522M4"], 12)  # 'M' = -3: run 3 = 2 - 3 = -1
    assert negative.problems and "negative run length" in negative.problems[0][1]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools' decode on numpy 2
def test_video_rle_is_the_frames_side_by_side():
    rng = np.random.default_rng(2)
    height, width, frames = 6, 5, 7
    masks = random_masks(rng, height, width, frames)
    decoded = decode_counts(encode(masks), height * width)
    layouts = np.array([
        [0, 1, 2, 3, 4, 5, 6],
        [-1, 2, -1, 0, 0, 1, -1],      # absent frames and a repeated one
        [-1] * frames,                 # never present
        [1, 1, 1, 2, 2, 0, 0],         # empty/full runs that meet at frame boundaries
    ])
    for layout, rle in zip(layouts, video_rles(decoded, layouts, height, width)):
        expected = np.concatenate([masks[:, :, s] if s >= 0 else np.zeros((height, width), bool) for s in layout], 1)
        assert np.array_equal(mask_utils.decode([rle])[:, :, 0].astype(bool), expected)
        assert int(mask_utils.area([rle])[0]) == int(expected.sum())


def test_video_iou_sums_frames():
    # pycocotools' iou on video RLEs = sum of intersections / sum of unions over the frames.
    rng = np.random.default_rng(3)
    a = rng.random((5, 4, 6)) < 0.5
    b = rng.random((5, 4, 6)) < 0.5
    decoded = decode_counts(encode(np.concatenate([a, b], 2)), 20)
    rles = video_rles(decoded, np.array([np.arange(6), np.arange(6, 12)]), 5, 4)
    expected = (a & b).sum() / (a | b).sum()
    assert mask_utils.iou([rles[0]], [rles[1]], [0])[0, 0] == pytest.approx(expected, abs=1e-15)


def test_inner_zero_length_runs_are_merged_away():
    # "522N1" is valid (runs [5, 2, 2, 0, 3]) but pycocotools never writes the inner 0; gvis merges it
    # so that video RLEs never hold one (pycocotools' loops can stop early on them).
    decoded = decode_counts([b"522N1", b"0<"], 12)  # second: runs [0, 12], a full mask
    assert decoded.problems == [] and decoded.runs.tolist() == [5, 2, 5, 0, 12]
    assert decoded.first_run.tolist() == [0, 3, 5] and decoded.areas.tolist() == [2, 12]
    rle = video_rles(decoded, np.array([[0, 1, 0]]), 3, 4)[0]
    assert int(mask_utils.area([rle])[0]) == 16
    assert mask_utils.iou([rle], [rle], [0])[0, 0] == 1.0
