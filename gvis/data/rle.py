"""Validated conversion of COCO / YouTube-VIS segmentations to pycocotools' compressed RLE.

A segmentation comes in one of three forms:

* compressed RLE ``{"size": [H, W], "counts": "<string>"}`` (str or bytes), as in YTVIS 2021, OVIS and
  every results file;
* uncompressed RLE ``{"size": [H, W], "counts": [n0, n1, ...]}``, as in YTVIS 2019 ``train.json``;
* polygons ``[[x0, y0, x1, y1, ...], ...]`` (each polygon at least 3 points).

All are turned into ``{"size": [H, W], "counts": bytes}`` that pycocotools' ``mask`` functions take.

**The compressed string.** pycocotools writes the column-major run lengths (background first) as a
LEB128-like code, 5 payload bits per character, offset by 48 (characters ``'0'``..``'o'``):
bit 0x20 of a character says "more characters follow", bit 0x10 of the last character of a value is its
sign, and from the fourth run on a value is stored as the difference to the run two places earlier.
pycocotools decodes any string without checking it: an invalid character, a truncated value or run
lengths that do not sum to ``H*W`` silently give a wrong mask. gvis
therefore decodes the run lengths itself, vectorised over many strings at once
(:func:`check_compressed_counts`), and rejects a string unless its runs are non-negative and sum to
``H*W`` exactly. No mask is decoded to do so.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_utils

#: Largest image height / width accepted (pycocotools counts pixels in 32-bit integers).
MAX_SIZE = 1 << 15
#: Longest valid value code: a run difference needs at most 34 bits (with sign) = 7 characters.
_MAX_CHARS_PER_VALUE = 7
#: Characters decoded per vectorised pass (see :func:`check_compressed_counts`).
_CHUNK_CHARS = 1 << 14
#: Up to this many characters in all, plain Python decodes faster than numpy.
_PYTHON_MAX_CHARS = 1500


def _counts_bytes(counts: str | bytes) -> bytes:
    """The compressed string as bytes; ``ValueError`` for non-ASCII text."""
    if isinstance(counts, bytes):
        return counts
    try:
        return counts.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("corrupt compressed RLE: invalid character in 'counts'") from None


def _decode_runs(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run lengths of many compressed strings in one vectorised pass.

    Returns ``(runs [num_runs] int64, totals [num_strings] int64, problem [num_strings] int8)`` where ``problem`` is 0 (fine so far) or a key of ``_PROBLEMS``.
    Runs of a string with a problem are meaningless.
    """
    num_strings = len(blobs)
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=num_strings)
    problem = np.zeros(num_strings, dtype=np.int8)
    totals = np.zeros(num_strings, dtype=np.int64)
    string_last_char = np.cumsum(lengths) - 1
    nonempty_strings = np.flatnonzero(lengths > 0)
    if nonempty_strings.size == 0:
        return np.zeros(0, np.int64), totals, problem
    chars = np.frombuffer(b"".join(blobs), dtype=np.uint8) - np.uint8(48)  # invalid ones wrap to > 63

    def flag(char_positions: np.ndarray, code: int) -> None:
        strings = np.searchsorted(string_last_char, char_positions)
        problem[strings[problem[strings] == 0]] = code

    bad_char = chars > 63
    if bad_char.any():
        flag(np.flatnonzero(bad_char), 1)
    # A value ends at a character without the "more" bit; a string's last character always ends one
    # (so values never run into the next string), and if it has the bit set the string is truncated.
    ends = string_last_char[nonempty_strings]
    more = (chars & 0x20) != 0
    truncated = more[ends]
    if truncated.any():
        flag(ends[truncated], 2)
    more[ends] = False
    last = np.flatnonzero(~more)
    first = np.empty_like(last)
    first[0] = 0
    first[1:] = last[:-1] + 1
    chars_per_value = last - first + 1
    too_long = chars_per_value > _MAX_CHARS_PER_VALUE
    if too_long.any():
        flag(last[too_long], 3)
    payload = (chars & 0x1F).astype(np.int64)
    values = payload[first]
    for k in range(1, min(int(chars_per_value.max()), _MAX_CHARS_PER_VALUE)):
        longer = np.flatnonzero(chars_per_value > k)
        values[longer] |= payload[first[longer] + k] << (5 * k)
    signed = (chars[last] & 0x10) != 0
    values[signed] -= np.int64(1) << (5 * np.minimum(chars_per_value[signed], _MAX_CHARS_PER_VALUE))

    # Undo the delta coding: run j >= 3 of a string is value j + run j-2. With C the running sum along
    # each global parity class (C[g] = values[g] + C[g-2]), run j of a string whose first run is at f
    # is C[f+j] - C[f-1] for odd j and C[f+j] - C[f] for even j >= 2; run 0 is its value.
    runs_per_string = np.diff(np.searchsorted(last, string_last_char, side="right"), prepend=0)
    first_run = np.cumsum(runs_per_string) - runs_per_string
    running = np.empty(values.size + 1, dtype=np.int64)  # running[g + 1] = C[g], running[0] = 0
    running[0] = 0
    running[1::2] = np.cumsum(values[0::2])
    running[2::2] = np.cumsum(values[1::2])
    first_run_of = np.repeat(first_run, runs_per_string)  # f of each run's string
    index = np.arange(values.size) - first_run_of
    runs = running[1:] - running[first_run_of + 1 - (index & 1)]  # running[f+1] = C[f], running[f] = C[f-1]
    nonempty = runs_per_string > 0
    runs[first_run[nonempty]] = values[first_run[nonempty]]
    negative = runs < 0
    if negative.any():
        strings = np.repeat(np.arange(num_strings), runs_per_string)[negative]
        problem[strings[problem[strings] == 0]] = 4
    totals[nonempty] = np.add.reduceat(runs, first_run[nonempty])
    return runs, totals, problem


def _decode_runs_python(blob: bytes) -> tuple[list[int], int]:
    """Run lengths of one string and its problem code; faster than numpy for a few hundred characters."""
    runs: list[int] = []
    value = shift = 0
    for char in blob:
        code = char - 48
        if not 0 <= code <= 63:
            return runs, 1
        value |= (code & 0x1F) << shift
        shift += 5
        if code & 0x20:
            if shift >= 5 * _MAX_CHARS_PER_VALUE:
                return runs, 3
            continue
        if code & 0x10:
            value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            return runs, 4
        runs.append(value)
        value = shift = 0
    return runs, (2 if shift else 0)


_PROBLEMS = {
    1: "invalid character in 'counts' (allowed: '0'..'o')",
    2: "'counts' ends in the middle of a run length (truncated string)",
    3: "a run length in 'counts' is too long to be valid",
    4: "negative run length in 'counts'",
}


def decode_counts(counts: str | bytes) -> np.ndarray:
    """Run lengths ``[num_runs]`` int64 of one compressed RLE string, without checking their sum.

    >>> decode_counts(b"522N1").tolist()   # pycocotools writes runs [5, 2, 2, 0, 3] as "522N1"
    [5, 2, 2, 0, 3]
    """
    runs, problem = _decode_runs_python(_counts_bytes(counts))
    if problem:
        raise ValueError(f"corrupt compressed RLE: {_PROBLEMS[problem]}")
    return np.asarray(runs, dtype=np.int64)


def check_compressed_counts(counts: Sequence[str | bytes], num_pixels: Sequence[int]) -> list[str | None]:
    """Check many compressed RLE strings at once; returns a reason per string, ``None`` where valid.

    ``num_pixels[i]`` is ``H*W`` of string ``i``. A string is valid when its characters are in
    ``'0'..'o'``, its last value is complete, and its run lengths are non-negative and sum to ``H*W``.
    Many strings are decoded together in vectorised numpy chunks; a few (up to ``_PYTHON_MAX_CHARS``
    characters in all) in plain Python, which is cheaper than numpy's per-call overhead.
    """
    num_strings = len(counts)
    reasons: list[str | None] = [None] * num_strings
    blobs = []
    for i, item in enumerate(counts):
        try:
            blobs.append(_counts_bytes(item))
        except ValueError as exc:
            reasons[i] = str(exc)
            blobs.append(b"")
    lengths = np.fromiter(map(len, blobs), np.int64, num_strings)
    char_end = np.cumsum(lengths)
    totals = np.zeros(num_strings, dtype=np.int64)
    problem = np.zeros(num_strings, dtype=np.int8)
    if num_strings and char_end[-1] <= _PYTHON_MAX_CHARS:
        for i, blob in enumerate(blobs):
            runs, problem[i] = _decode_runs_python(blob)
            totals[i] = sum(runs)
    else:
        # Chunks of about _CHUNK_CHARS characters: small temporaries are much faster than huge fresh ones.
        start = 0
        while start < num_strings:
            limit = char_end[start] - lengths[start] + _CHUNK_CHARS
            stop = max(start + 1, int(np.searchsorted(char_end, limit, side="right")))
            _, totals[start:stop], problem[start:stop] = _decode_runs(blobs[start:stop])
            start = stop
    expected = np.asarray(num_pixels, dtype=np.int64).reshape(num_strings)
    for i in np.flatnonzero((problem != 0) | (totals != expected)).tolist():
        if reasons[i] is not None:
            continue
        if problem[i]:
            reasons[i] = f"corrupt compressed RLE: {_PROBLEMS[int(problem[i])]}"
        else:
            reasons[i] = (
                f"corrupt compressed RLE: run lengths sum to {int(totals[i])}, expected H*W = {int(expected[i])}"
            )
    return reasons


def _check_size(segmentation: dict, height: int, width: int) -> None:
    size = segmentation.get("size", [height, width])
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"RLE 'size' must be [height, width], got {size!r}")
    if list(size) != [height, width]:
        raise ValueError(f"RLE size {list(size)} disagrees with the image size [{height}, {width}] (H, W)")


def _uncompressed_to_rle(counts: list, height: int, width: int) -> dict:
    try:
        runs = np.asarray(counts) if counts else np.zeros(0, np.int64)
    except ValueError:  # ragged nesting
        runs = None
    if runs is None or runs.ndim != 1 or runs.dtype.kind not in "iu":
        raise ValueError("uncompressed RLE 'counts' must be a list of integers")
    if (runs < 0).any():
        raise ValueError("negative run length in uncompressed RLE 'counts'")
    total = int(runs.sum())
    if total != height * width:
        raise ValueError(f"uncompressed RLE run lengths sum to {total}, expected H*W = {height * width}")
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": rle["counts"]}


def _polygons_to_rle(polygons: list, height: int, width: int) -> dict:
    if not polygons:
        raise ValueError("polygon segmentation is an empty list")
    for polygon in polygons:
        if not isinstance(polygon, (list, tuple)):
            raise ValueError("polygon segmentation must be a list of [x0, y0, x1, y1, ...] lists")
        if len(polygon) < 6 or len(polygon) % 2:
            raise ValueError(f"a polygon needs an even number (>= 6) of coordinates, got {len(polygon)}")
        if not all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) for v in polygon):
            raise ValueError("polygon coordinates must be finite numbers")
        # pycocotools rasterises in C ints and crashes on absurd coordinates: allow one image size around.
        reach = max(height, width)
        if min(polygon) < -reach or max(polygon) > 2 * reach:
            raise ValueError(f"polygon coordinates lie far outside the {height}x{width} image")
    rles = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width)
    rle = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    return {"size": [height, width], "counts": rle["counts"]}


def _is_size(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and 0 < value <= MAX_SIZE


def _check_form(segmentation: Any, height: int, width: int) -> None:
    if not (_is_size(height) and _is_size(width)):
        raise ValueError(f"image size must be integers in 1..{MAX_SIZE}, got height={height}, width={width}")
    if isinstance(segmentation, dict):
        if "counts" not in segmentation:
            raise ValueError("RLE has no 'counts'")
        _check_size(segmentation, height, width)
    elif not isinstance(segmentation, list):
        raise ValueError(f"a segmentation must be an RLE dict or a list of polygons, got {type(segmentation).__name__}")


def _convert_uncompressed(segmentation: Any, height: int, width: int) -> dict:
    """An uncompressed RLE or polygon segmentation (form already checked) as compressed RLE."""
    if isinstance(segmentation, dict):
        counts = segmentation["counts"]
        if not isinstance(counts, list):
            raise ValueError(f"RLE 'counts' must be a string or a list, got {type(counts).__name__}")
        return _uncompressed_to_rle(counts, height, width)
    return _polygons_to_rle(segmentation, height, width)


def _is_compressed(segmentation: Any) -> bool:
    return isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes))


def to_compressed_rle(segmentation: Any, height: int, width: int) -> dict:
    """A validated ``{"size": [H, W], "counts": bytes}`` for pycocotools.

    Args:
        segmentation: compressed RLE (``counts`` str/bytes), uncompressed RLE (``counts`` list of ints)
            or polygons (list of flat ``[x0, y0, x1, y1, ...]`` lists). An RLE without ``size`` is taken
            to have the given size.
        height, width: the image size the segmentation must have.

    Raises:
        ValueError: with a short reason: corrupt compressed string (invalid character, truncated, runs
        not summing to ``H*W``), size disagreeing with ``(height, width)``, malformed counts/polygons.
    """
    return to_compressed_rles([segmentation], height, width)[0]


def to_compressed_rles(segmentations: Sequence[Any], height: int, width: int) -> list[dict | None]:
    """:func:`to_compressed_rle` for a list of segmentations of one size (e.g. one track's frames).

    ``None`` entries stay ``None``. Compressed strings are checked together in one vectorised pass, so
    this is much faster than one call per frame. A ``ValueError`` names the list index: ``"frame 3: ..."``.
    """
    out: list[dict | None] = [None] * len(segmentations)
    compressed_index, compressed_counts = [], []
    for index, segmentation in enumerate(segmentations):
        if segmentation is None:
            continue
        try:
            _check_form(segmentation, height, width)
            if _is_compressed(segmentation):
                counts = segmentation["counts"]
                # Checked below, all strings in one vectorised pass.
                compressed_counts.append(counts)
                compressed_index.append(index)
            else:
                out[index] = _convert_uncompressed(segmentation, height, width)
        except ValueError as exc:
            raise _at(index, len(segmentations), exc) from None
    if compressed_counts:
        reasons = check_compressed_counts(compressed_counts, [height * width] * len(compressed_counts))
        for index, counts, reason in zip(compressed_index, compressed_counts, reasons):
            if reason is not None:
                raise _at(index, len(segmentations), ValueError(reason))
            out[index] = {"size": [height, width], "counts": counts if isinstance(counts, bytes) else counts.encode()}
    return out


def _at(index: int, total: int, exc: ValueError) -> ValueError:
    return exc if total == 1 else ValueError(f"frame {index}: {exc}")
