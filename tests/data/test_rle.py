"""Compressed / uncompressed RLE and polygons → validated compressed RLE (gvis.data.rle)."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from gvis.data import rle as rle_module
from gvis.data.rle import check_compressed_counts, decode_counts, to_compressed_rle, to_compressed_rles


def _runs_of(mask: np.ndarray) -> list[int]:
    """Column-major run lengths, background first: the reference, written out by hand."""
    runs, value, count = [], 0, 0
    for pixel in mask.flatten(order="F"):
        if pixel != value:
            runs.append(count)
            value, count = pixel, 0
        count += 1
    runs.append(count)
    return runs


def _random_masks(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    masks = []
    for i in range(count):
        height, width = rng.integers(1, 70, size=2)
        mask = (rng.random((height, width)) < rng.random()).astype(np.uint8)
        if i % 5 == 0:
            mask[:] = i % 2  # all background / all foreground
        masks.append(mask)
    return masks


def _encode(mask: np.ndarray) -> bytes:
    return mask_utils.encode(np.asfortranarray(mask))["counts"]


def test_decode_counts_matches_hand_written_runs():
    assert decode_counts(b"522N1").tolist() == [5, 2, 2, 0, 3]  # the delta of run 3 is 0 - 2 = -2 -> 'N'
    for mask in _random_masks(np.random.default_rng(0), 200):
        assert decode_counts(_encode(mask)).tolist() == _runs_of(mask)


def test_large_runs_need_several_characters():
    mask = np.zeros((3000, 3000), dtype=np.uint8)
    mask[-1, -1] = 1
    assert decode_counts(_encode(mask)).tolist() == [3000 * 3000 - 1, 1]


@pytest.mark.parametrize("python_path", [True, False])
def test_batch_check_accepts_valid_and_names_each_corrupt_string(monkeypatch, python_path):
    monkeypatch.setattr(rle_module, "_PYTHON_MAX_CHARS", 10**9 if python_path else 0)
    monkeypatch.setattr(rle_module, "_CHUNK_CHARS", 500)  # several numpy chunks
    masks = _random_masks(np.random.default_rng(1), 300)
    strings = [_encode(m).decode() for m in masks]
    sizes = [m.size for m in masks]
    assert check_compressed_counts(strings, sizes) == [None] * len(strings)
    long = max(range(len(strings)), key=lambda i: len(strings[i]))
    corrupt = dict(enumerate(strings))
    corrupt[long] = strings[long][:-1] + "z"           # 'z' is not in '0'..'o'
    corrupt[4] = strings[4] + "1"                       # one more value: the sum is no longer H*W
    corrupt[5] = strings[5] + "h"                       # 'h' has the "more" bit: truncated value
    corrupt[6] = ""                                     # nothing at all
    corrupt[7] = "é"                                    # not ASCII
    corrupt[8] = "oooooooo0"                            # one value coded in 9 characters
    reasons = check_compressed_counts([corrupt[i] for i in range(len(strings))], sizes)
    bad = {i: r for i, r in enumerate(reasons) if r}
    assert set(bad) == {long, 4, 5, 6, 7, 8}
    assert "invalid character" in bad[long] and "invalid character" in bad[7]
    assert f"expected H*W = {sizes[4]}" in bad[4]
    assert "truncated" in bad[5]
    assert "sum to 0" in bad[6]
    assert "too long" in bad[8]


def test_negative_run_is_rejected():
    # Runs [5, 2] then a delta of -3 for run 2 (index 2 has no delta: raw value -3).
    with pytest.raises(ValueError, match="negative run length"):
        decode_counts(b"52M")
    assert "negative run length" in check_compressed_counts(["52M"] * 200, [12] * 200)[0]


def test_to_compressed_rle_forms_agree_with_pycocotools():
    rng = np.random.default_rng(2)
    mask = (rng.random((9, 13)) < 0.4).astype(np.uint8)
    expected = mask_utils.encode(np.asfortranarray(mask))
    compressed_str = to_compressed_rle({"size": [9, 13], "counts": expected["counts"].decode()}, 9, 13)
    compressed_bytes = to_compressed_rle({"size": [9, 13], "counts": expected["counts"]}, 9, 13)
    uncompressed = to_compressed_rle({"size": [9, 13], "counts": _runs_of(mask)}, 9, 13)
    for converted in (compressed_str, compressed_bytes, uncompressed):
        assert converted == {"size": [9, 13], "counts": expected["counts"]}
    square = [1.0, 1.0, 8.0, 1.0, 8.0, 6.0, 1.0, 6.0]
    polygon = to_compressed_rle([square], 9, 13)
    assert polygon["counts"] == mask_utils.frPyObjects([square], 9, 13)[0]["counts"]
    two = to_compressed_rle([[0, 0, 2, 0, 2, 2, 0, 2], square], 9, 13)
    union = mask_utils.merge(mask_utils.frPyObjects([[0.0, 0, 2, 0, 2, 2, 0, 2], square], 9, 13))
    assert two["counts"] == union["counts"]


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        ({"size": [3, 4], "counts": [5, 2, 2, 0, 2]}, "sum to 11, expected H\\*W = 12"),
        ({"size": [3, 4], "counts": [5, 2.0, 5]}, "list of integers"),
        ({"size": [3, 4], "counts": [5, [2, 3], 2]}, "list of integers"),
        ({"size": [3, 4], "counts": ["5", "7"]}, "list of integers"),
        ({"size": "3x4", "counts": [12]}, "must be \\[height, width\\]"),
        ({"size": [3, 4], "counts": [5, -2, 9]}, "negative run length"),
        ({"size": [4, 3], "counts": "522N1"}, "disagrees with the image size \\[3, 4\\]"),
        ({"size": [3, 4], "counts": "522N"}, "sum to 9"),
        ({"size": [3, 4]}, "no 'counts'"),
        ({"size": [3, 4], "counts": 7}, "string or a list"),
        ([[1, 2, 3, 4]], "even number \\(>= 6\\)"),
        ([[1, 2, 3, 4, 5, float("nan")]], "finite numbers"),
        ([], "empty list"),
        ("522N1", "RLE dict or a list of polygons"),
    ],
)
def test_bad_segmentations_raise_value_error_with_reason(segmentation, message):
    with pytest.raises(ValueError, match=message):
        to_compressed_rle(segmentation, 3, 4)


def test_to_compressed_rles_keeps_none_and_names_the_frame():
    good = {"size": [3, 4], "counts": "522N1"}
    assert to_compressed_rles([None, good, None], 3, 4) == [None, {"size": [3, 4], "counts": b"522N1"}, None]
    with pytest.raises(ValueError, match="^frame 2: corrupt compressed RLE"):
        to_compressed_rles([good, None, {"size": [3, 4], "counts": "522N2"}], 3, 4)
