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
(:func:`decode_run_lengths`, :func:`check_compressed_counts`), and rejects a string unless its runs are non-negative and sum to
``H*W`` exactly. No mask is decoded to do so.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, NamedTuple, Sequence

import numpy as np
from pycocotools import mask as mask_utils

#: Largest image height / width accepted (pycocotools counts pixels in 32-bit integers).
MAX_SIZE = 1 << 15
#: Longest valid value code: a run difference needs at most 34 bits (with sign) = 7 characters.
_MAX_CHARS_PER_VALUE = 7
#: Characters decoded per vectorised pass (see :func:`decode_run_lengths`).
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


class RunLengths(NamedTuple):
    """Run lengths of ``S`` compressed strings decoded together (see :func:`decode_run_lengths`).

    - ``runs``: ``[num_runs]`` int64, every string's run lengths, one string after the other;
    - ``runs_per_string``: ``[S]`` int64; string ``s`` owns the next ``runs_per_string[s]`` runs;
    - ``problem``: ``[S]`` int8, 0 or a key of ``_PROBLEMS`` (the runs of such a string are meaningless);
    - ``totals``: ``[S]`` int64, the sum of each string's runs (``H*W`` when valid);
    - ``areas``: ``[S]`` int64, foreground pixels of each string (sum of its odd-indexed runs).
    """

    runs: np.ndarray
    runs_per_string: np.ndarray
    problem: np.ndarray
    totals: np.ndarray
    areas: np.ndarray


def decode_run_lengths(blobs: Sequence[bytes], chunk_chars: int = _CHUNK_CHARS) -> RunLengths:
    """Run lengths of many compressed strings (``counts`` as bytes) in a few vectorised numpy passes.

    Strings are decoded in chunks of about ``chunk_chars`` characters: small temporaries are much
    faster than huge fresh ones. Nothing is checked against ``H*W`` here (see ``totals``).
    """
    num_strings = len(blobs)
    lengths = np.fromiter(map(len, blobs), np.int64, num_strings)
    char_end = np.cumsum(lengths)
    parts = []
    start = 0
    while start < num_strings:
        limit = char_end[start] - lengths[start] + chunk_chars
        stop = max(start + 1, int(np.searchsorted(char_end, limit, side="right")))
        parts.append(_decode_chunk(blobs[start:stop]))
        start = stop
    if not parts:
        return RunLengths(*(np.zeros(0, dtype) for dtype in (np.int64, np.int64, np.int8, np.int64, np.int64)))
    return RunLengths(*(np.concatenate(column) for column in zip(*parts)))


def _decode_chunk(blobs: Sequence[bytes]) -> RunLengths:
    """:func:`decode_run_lengths` of one chunk of strings."""
    num_strings = len(blobs)
    lengths = np.fromiter(map(len, blobs), np.int64, num_strings)
    last_char = np.cumsum(lengths) - 1
    problem = np.zeros(num_strings, np.int8)
    if lengths.sum() == 0:
        zeros = np.zeros(num_strings, np.int64)
        return RunLengths(np.zeros(0, np.int64), zeros, problem, zeros, zeros)

    def flag(char_positions: np.ndarray, code: int) -> None:
        strings = np.searchsorted(last_char, char_positions)
        problem[strings[problem[strings] == 0]] = code

    chars = np.frombuffer(b"".join(blobs), np.uint8) - np.uint8(48)  # '0' -> 0; invalid ones wrap past 63
    invalid = chars > 63
    if invalid.any():
        flag(np.flatnonzero(invalid), 1)
    # A value ends at a character without the "more" bit (0x20). A string's last character must end
    # one; forcing it keeps a truncated string from running into the next one.
    ends_value = chars < 32
    string_ends = last_char[lengths > 0]
    truncated = ~ends_value[string_ends]
    if truncated.any():
        flag(string_ends[truncated], 2)
        ends_value[string_ends] = True
    value_last = np.flatnonzero(ends_value)
    # Top 5-bit group, sign-extended from its bit 0x10; lower groups (rare multi-character values)
    # are added below.
    values = ((chars[value_last] << 3).view(np.int8) >> 3).astype(np.int64)
    chars_per_value = np.diff(value_last, prepend=-1)
    multi = np.flatnonzero(chars_per_value > 1)
    if multi.size:
        width = chars_per_value[multi]
        too_long = width > _MAX_CHARS_PER_VALUE
        if too_long.any():
            flag(value_last[multi[too_long]], 3)
            width = np.minimum(width, _MAX_CHARS_PER_VALUE)
        first_char = value_last[multi] - width + 1
        combined = values[multi] << (5 * (width - 1))
        for k in range(int(width.max()) - 1):
            lower = np.flatnonzero(width - 1 > k)
            combined[lower] += (chars[first_char[lower] + k] & 31).astype(np.int64) << (5 * k)
        values[multi] = combined

    runs_per_string = np.diff(np.searchsorted(value_last, last_char, side="right"), prepend=0)
    runs_per_string[lengths == 0] = 0
    first = np.cumsum(runs_per_string) - runs_per_string
    runs = _undo_delta(values, first, runs_per_string)
    negative = runs < 0
    if negative.any():
        strings = np.searchsorted(first + runs_per_string, np.flatnonzero(negative), side="right")
        problem[strings[problem[strings] == 0]] = 4
    # Per-string sums from prefix sums of the two lanes; a string's odd runs are the lane that its
    # run 0 is not in.
    end = first + runs_per_string
    lane_sums = []
    for lane in (0, 1):
        prefix = np.zeros((runs.size + 1 - lane) // 2 + 1, np.int64)
        np.cumsum(runs[lane::2], out=prefix[1:])
        lane_sums.append(prefix[(end + 1 - lane) // 2] - prefix[(first + 1 - lane) // 2])
    areas = np.where(first & 1, lane_sums[0], lane_sums[1])
    return RunLengths(runs, runs_per_string, problem, lane_sums[0] + lane_sums[1], areas)


def _undo_delta(values: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Runs from stored values: run ``j >= 3`` of a string is ``value j + run j-2``.

    So the odd runs (from ``j = 1``) and the even runs from ``j = 2`` are running sums of the values
    along their chain. A string's chains lie in one of the two interleaved lanes ``values[0::2]`` /
    ``values[1::2]``, contiguously, so one cumulative sum per lane minus a per-string base gives them.
    """
    lane_sums = np.empty_like(values)
    np.cumsum(values[0::2], out=lane_sums[0::2])
    np.cumsum(values[1::2], out=lane_sums[1::2])
    last = max(values.size - 1, 0)
    at_first = np.minimum(first, last)
    at_second = np.minimum(first + 1, last)
    # Even chain (lane of run 0): subtract the lane sum up to and including run 0.
    even_base = lane_sums[at_first] if values.size else np.zeros_like(first)
    # Odd chain: subtract the lane sum before run 1.
    odd_base = np.where(count >= 2, lane_sums[at_second] - values[at_second], 0) if values.size else even_base
    first_parity = first & 1
    base = np.empty_like(values)
    for lane in (0, 1):
        in_lane = np.where(first_parity == lane, (count + 1) // 2, count // 2)
        base[lane::2] = np.repeat(np.where(first_parity == lane, even_base, odd_base), in_lane)
    runs = lane_sums - base
    starts = first[count > 0]
    runs[starts] = values[starts]
    return runs


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


def problem_reason(problem: int, total: int, expected: int) -> str | None:
    """The reason a decoded string is invalid (its ``problem`` code, else runs not summing to ``H*W``),
    ``None`` when it is valid."""
    if problem:
        return f"corrupt compressed RLE: {_PROBLEMS[int(problem)]}"
    if total != expected:
        return f"corrupt compressed RLE: run lengths sum to {int(total)}, expected H*W = {int(expected)}"
    return None


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
    expected = np.asarray(num_pixels, dtype=np.int64).reshape(num_strings)
    if sum(map(len, blobs)) <= _PYTHON_MAX_CHARS:
        totals = np.zeros(num_strings, dtype=np.int64)
        problem = np.zeros(num_strings, dtype=np.int8)
        for i, blob in enumerate(blobs):
            runs, problem[i] = _decode_runs_python(blob)
            totals[i] = sum(runs)
    else:
        _, _, problem, totals, _ = decode_run_lengths(blobs, _CHUNK_CHARS)
    for i in np.flatnonzero((problem != 0) | (totals != expected)).tolist():
        if reasons[i] is None:
            reasons[i] = problem_reason(problem[i], totals[i], expected[i])
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
    if (runs > height * width).any():  # checked first: such runs could wrap the int64 sum around to H*W
        raise ValueError(f"a run length in uncompressed RLE 'counts' exceeds H*W = {height * width}")
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
