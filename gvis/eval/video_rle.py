"""Run lengths of many compressed RLE strings at once, and video-long RLEs built from them.

The YouTube-VIS video IoU of a predicted track ``d`` and a ground-truth instance ``g`` is
``sum_t |d_t & g_t| / sum_t |d_t | g_t|``. pycocotools stores a frame mask as column-major run lengths
(background first). Placing a video's frames side by side, ``[H, T*W]``, keeps each frame's columns
contiguous, so the column-major run lengths of the whole video are the frames' run lengths one after
the other. pycocotools' ``iou`` on two such video RLEs sums intersections over all frames in one C
call; this module builds them.

Decoding runs without trusting the string: pycocotools parses any string (a truncated or corrupt one
makes its ``iou``/``merge`` loop forever or read past the end), so every string is decoded here, in a
few numpy passes over all strings of a batch, and rejected unless its characters are valid, its last
value is complete and its runs are non-negative and sum to ``H*W``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

#: Characters decoded per vectorised pass (a video's strings are usually one pass; bounds memory).
_CHUNK_CHARS = 1 << 18
#: Longest value code: 7 characters carry 35 bits, more than any run or run difference needs.
_MAX_CHARS_PER_VALUE = 7
#: pycocotools counts intersections in 32-bit unsigned integers; video RLEs stay below this volume.
MAX_VOLUME = (1 << 32) - 1

_PROBLEMS = {
    1: "corrupt compressed RLE: invalid character in 'counts' (allowed: '0'..'o')",
    2: "corrupt compressed RLE: 'counts' ends in the middle of a value (truncated string)",
    3: "corrupt compressed RLE: a value in 'counts' is too long to be valid",
    4: "corrupt compressed RLE: negative run length",
}


@dataclass
class FrameRuns:
    """Decoded run lengths of ``S`` compressed RLE strings.

    - ``runs``: ``[num_runs]`` int64, the run lengths of every string, one string after the other; only
      a string's first run can be 0 (other zero-length runs are merged away).
    - ``first_run``: ``[S + 1]`` int64, string ``s`` owns ``runs[first_run[s]:first_run[s + 1]]``.
    - ``areas``: ``[S]`` int64, foreground pixels of each string (sum of its odd-indexed runs).
    - ``problems``: ``(string index, reason)`` for every invalid string, in string order.
    """

    runs: np.ndarray
    first_run: np.ndarray
    areas: np.ndarray
    problems: list[tuple[int, str]]

    def frame_areas(self, strings: np.ndarray) -> np.ndarray:
        """Foreground pixels per entry of a string-index array, 0 where the index is -1."""
        return np.append(self.areas, 0)[strings]


def string_table(tracks: Sequence[Sequence[bytes | None]]) -> tuple[list[bytes], np.ndarray]:
    """All strings of some tracks in one list, and ``frame_strings [num_tracks, F]``: the index of each
    track's frame in that list, ``-1`` where ``None`` (``F`` = the longest track)."""
    lengths = np.fromiter(map(len, tracks), np.int64, len(tracks))
    flat = [item for track in tracks for item in track]
    blobs = [item for item in flat if item is not None]
    index = np.full(len(flat), -1, np.int64)
    index[np.array([item is not None for item in flat], bool)] = np.arange(len(blobs))
    frame_strings = np.full((len(tracks), int(lengths.max(initial=0))), -1, np.int64)
    rows = np.repeat(np.arange(len(tracks)), lengths)
    frame_strings[rows, np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = index
    return blobs, frame_strings


def _decode_chunk(blobs: Sequence[bytes]) -> tuple[np.ndarray, ...]:
    """Runs of a few strings: ``(runs [n], runs_per_string [S], problem code [S] int8, totals [S], areas [S])``."""
    num_strings = len(blobs)
    lengths = np.fromiter(map(len, blobs), np.int64, num_strings)
    last_char = np.cumsum(lengths) - 1
    problem = np.zeros(num_strings, np.int8)
    if lengths.sum() == 0:
        zeros = np.zeros(num_strings, np.int64)
        return np.zeros(0, np.int64), zeros, problem, zeros, zeros

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
    return runs, runs_per_string, problem, lane_sums[0] + lane_sums[1], areas


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


def decode_counts(blobs: Sequence[bytes], num_pixels: int | Sequence[int]) -> FrameRuns:
    """Decode and check compressed RLE strings (``counts`` as bytes) in a few vectorised passes.

    Args:
        blobs: ``S`` compressed ``counts`` strings.
        num_pixels: ``H*W`` that every string (or each string) must cover.

    Returns:
        :class:`FrameRuns`; a string listed in ``problems`` has meaningless runs.

    >>> decoded = decode_counts([b"5221"], 12)   # pycocotools' code for the runs [5, 2, 2, 3]
    >>> decoded.runs.tolist(), decoded.areas.tolist(), decoded.problems
    ([5, 2, 2, 3], [5], [])
    """
    num_strings = len(blobs)
    lengths = np.fromiter(map(len, blobs), np.int64, num_strings)
    char_end = np.cumsum(lengths)
    parts = []
    start = 0
    while start < num_strings:
        stop = int(np.searchsorted(char_end, char_end[start] - lengths[start] + _CHUNK_CHARS, side="right"))
        stop = max(stop, start + 1)
        parts.append(_decode_chunk(blobs[start:stop]))
        start = stop
    if parts:
        runs, count, problem, totals, areas = (np.concatenate(column) for column in zip(*parts))
    else:
        runs, count, problem, totals, areas = (np.zeros(0, dtype) for dtype in (np.int64,) * 2 + (np.int8,) + (np.int64,) * 2)
    first_run = np.zeros(num_strings + 1, np.int64)
    np.cumsum(count, out=first_run[1:])

    starts = first_run[:-1][count > 0]
    if np.count_nonzero(runs == 0) > np.count_nonzero(runs[starts] == 0):  # a zero-length run inside a string
        runs, first_run = _without_inner_zero_runs(runs, first_run)

    expected = np.broadcast_to(np.asarray(num_pixels, np.int64), (num_strings,))
    problems = []
    for s in np.flatnonzero((problem != 0) | (totals != expected)).tolist():
        if problem[s]:
            problems.append((s, _PROBLEMS[int(problem[s])]))
        else:
            problems.append((s, f"corrupt compressed RLE: run lengths sum to {int(totals[s])}, "
                                f"expected H*W = {int(expected[s])}"))
    return FrameRuns(runs=runs, first_run=first_run, areas=areas, problems=problems)


def _without_inner_zero_runs(runs: np.ndarray, first_run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same masks with zero-length runs dropped (but a string's first) and the runs they
    separated merged. pycocotools never writes such runs, other encoders may."""
    count = np.diff(first_run)
    string = np.repeat(np.arange(count.size), count)
    local = np.arange(runs.size) - first_run[string]
    kept = np.flatnonzero((runs != 0) | (local == 0))
    value = local[kept] & 1
    new_run = np.ones(kept.size, bool)
    new_run[1:] = (value[1:] != value[:-1]) | (string[kept][1:] != string[kept][:-1])
    run_start = np.flatnonzero(new_run)
    merged = np.add.reduceat(runs[kept], run_start)
    new_first = np.zeros_like(first_run)
    np.cumsum(np.bincount(string[kept][run_start], minlength=count.size), out=new_first[1:])
    return merged, new_first


def video_rles(decoded: FrameRuns, frame_strings: np.ndarray, height: int, width: int) -> list[dict]:
    """One pycocotools RLE per track for its frames side by side (size ``[H, F*W]``).

    Args:
        decoded: valid frame strings (no ``problems``) of ``height x width`` masks.
        frame_strings: ``[num_tracks, F]`` int, the string index of each track's frame in
            ``decoded``, ``-1`` where the track has no mask (one background run of ``H*W``).

    The frames' runs are laid end to end; where two runs of the same value meet at a frame boundary
    they become one, so no zero-length run is left inside (pycocotools' loops stop early when both
    inputs hold one at once). Each source run is either a new output run or is added to the output
    run before it: the first run of a frame joins the previous frame's last run when that one is
    background; a frame starting with foreground (first run 0) joins its first foreground run to
    the previous frame's foreground.
    """
    num_tracks, num_frames = frame_strings.shape
    if num_tracks == 0:
        return []
    if height * width * num_frames > MAX_VOLUME:
        raise ValueError(f"video volume {height}x{width}x{num_frames} is too large for one RLE; split the frames")
    present = frame_strings >= 0
    count = np.diff(decoded.first_run)
    runs_in_slot = np.ones(frame_strings.shape, np.int64)  # an absent frame is one run of H*W
    runs_in_slot[present] = count[frame_strings[present]]
    starts_with_foreground = np.zeros(frame_strings.shape, bool)
    starts_with_foreground[present] = decoded.runs[decoded.first_run[frame_strings[present]]] == 0
    ends_in_background = runs_in_slot % 2 == 1
    after_background = np.ones_like(present)  # a track's first frame follows a virtual empty background run
    after_background[:, 1:] = ends_in_background[:, :-1]
    joined = np.where(after_background, 1, np.where(starts_with_foreground, 2, 0)).reshape(-1)
    joined[::num_frames] = 0  # a track's first run starts its first output run

    # The runs of all slots in order (absent frames as one H*W run); the first ``joined`` runs of a slot
    # are added to the output run before them, every other run starts a new output run.
    used = frame_strings[present]
    if used.size == count.size and np.array_equal(used, np.arange(count.size)):
        values = decoded.runs  # the layout takes every string once, in order: no gather needed
    else:
        lengths = count[used]
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        values = decoded.runs[np.repeat(decoded.first_run[used], lengths) + within]
    slot_runs = runs_in_slot.reshape(-1)
    slot_start = np.cumsum(slot_runs) - slot_runs
    absent = np.flatnonzero(~present.reshape(-1))
    sequence = np.insert(values, slot_start[absent] - np.arange(absent.size), height * width)
    joined_at = np.sort(np.concatenate([slot_start[joined > j] + j for j in (0, 1)]))
    # A joined run goes to the kept run just before its streak of consecutive joined runs.
    streak_start = np.ones(joined_at.size, bool)
    streak_start[1:] = np.diff(joined_at) != 1
    target = joined_at[np.maximum.accumulate(np.where(streak_start, np.arange(joined_at.size), 0))] - 1
    np.add.at(sequence, target, sequence[joined_at])
    counts = np.delete(sequence, joined_at).astype(np.uint32)
    track_first = slot_start[::num_frames]
    bounds = (track_first - np.searchsorted(joined_at, track_first)).tolist() + [counts.size]
    size = [height, num_frames * width]
    return mask_utils.frPyObjects(
        [{"size": size, "counts": counts[a:b]} for a, b in zip(bounds[:-1], bounds[1:])], size[0], size[1],
    )
