"""Run lengths of many compressed RLE strings at once, and video-long RLEs built from them.

The YouTube-VIS video IoU of a predicted track ``d`` and a ground-truth instance ``g`` is
``sum_t |d_t & g_t| / sum_t |d_t | g_t|``. pycocotools stores a frame mask as column-major run lengths
(background first). Placing a video's frames side by side, ``[H, T*W]``, keeps each frame's columns
contiguous, so the column-major run lengths of the whole video are the frames' run lengths one after
the other. pycocotools' ``iou`` on two such video RLEs sums intersections over all frames in one C
call; this module builds them.

Decoding runs without trusting the string: pycocotools parses any string (a truncated or corrupt one
makes its ``iou``/``merge`` loop forever or read past the end), so every string is decoded first, in a
few numpy passes over all strings of a batch (:func:`gvis.data.rle.decode_run_lengths`), and rejected
unless its characters are valid, its last value is complete and its runs are non-negative and sum to
``H*W``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from gvis.data.rle import decode_run_lengths, problem_reason

#: Characters decoded per vectorised pass (a video's strings are usually one pass; bounds memory).
_CHUNK_CHARS = 1 << 18
#: pycocotools counts intersections in 32-bit unsigned integers; video RLEs stay below this volume.
MAX_VOLUME = (1 << 32) - 1


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
    runs, count, problem, totals, areas = decode_run_lengths(blobs, _CHUNK_CHARS)
    first_run = np.zeros(num_strings + 1, np.int64)
    np.cumsum(count, out=first_run[1:])

    starts = first_run[:-1][count > 0]
    if np.count_nonzero(runs == 0) > np.count_nonzero(runs[starts] == 0):  # a zero-length run inside a string
        runs, first_run = _without_inner_zero_runs(runs, first_run)

    expected = np.broadcast_to(np.asarray(num_pixels, np.int64), (num_strings,))
    problems = [(s, problem_reason(problem[s], totals[s], expected[s]))
                for s in np.flatnonzero((problem != 0) | (totals != expected)).tolist()]
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
