"""Running any tracker with the online API over a stream of per-frame detections.

Works for every entry of :data:`gvis.registry.TRACKERS` (heuristic or learned): the tracker is reset at
the start of each video, fed the frames in order, and its :class:`~gvis.detections.structures.Tracks`
are turned into YouTube-VIS results entries (and, optionally, per-frame track rows for a CSV).
"""
from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from gvis.detections.structures import Detections, Tracks
from gvis.errors import InputError
from gvis.io import atomic_open

if TYPE_CHECKING:
    from gvis.eval.results import VideoResults

#: Columns of ``gvis track --tracks-csv``: one row per track with a detection in a frame.
CSV_COLUMNS = ("video_id", "frame_index", "track_id", "det_index", "category_id", "score", "x1", "y1", "x2", "y2")


@dataclass
class TrackingRun:
    """What :func:`run_tracker` produced: results entries (official YTVIS list; with category hypotheses more
    than one per track), ``track_entries`` (one per track, in its own category: what an overlay draws),
    optional CSV rows, the tracked videos in order and the frame count."""

    entries: list[dict] = field(default_factory=list)
    track_entries: list[dict] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    video_ids: list[int] = field(default_factory=list)
    frames: int = 0

    def add_video(self, video_id: int, results: "VideoResults") -> None:
        """Take a finished video's entries."""
        run_entries = results.entries()
        self.entries.extend(run_entries)
        self.track_entries.extend(run_entries if results.category_hypotheses == 1 else results.entries(hypotheses=False))
        self.video_ids.append(video_id)


def track_rows(video_id: int, frame_index: int, tracks: Tracks) -> list[tuple]:
    """CSV rows (:data:`CSV_COLUMNS`) of the tracks that hold a detection; box = the mask's extent."""
    rows = []
    for k in tracks.matched.nonzero().flatten().tolist():
        ys, xs = np.nonzero(tracks.masks[k].numpy())
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if xs.size else ("", "", "", "")
        rows.append((video_id, frame_index, int(tracks.track_ids[k]), int(tracks.det_indices[k]),
                     int(tracks.labels[k]), round(float(tracks.scores[k]), 6), *box))
    return rows


def group_videos(frames: Iterable[tuple[int, int, Detections]], source: str = "detections") -> Iterator[tuple[int, Iterator[Detections]]]:
    """``(video_id, frames)`` per video from a ``(video_id, frame_index, Detections)`` stream, without
    holding a whole video; frame indices must run 0, 1, 2, ... within each video."""
    stream = iter(frames)
    pending = next(stream, None)
    seen: set[int] = set()
    while pending is not None:
        video_id = pending[0]
        if video_id in seen:
            raise InputError("the frames of a video must be consecutive", file=source, video_id=video_id, field="video_id")
        seen.add(video_id)

        def one_video() -> Iterator[Detections]:
            nonlocal pending
            expected = 0
            while pending is not None and pending[0] == video_id:
                _, frame_index, detections = pending
                if frame_index != expected:
                    raise InputError(f"expected frame {expected}, got {frame_index} (results need every frame)",
                                     file=source, video_id=video_id, field="frame_index")
                expected += 1
                yield detections
                pending = next(stream, None)

        frames_of_video = one_video()
        yield video_id, frames_of_video
        for _ in frames_of_video:  # the caller may stop early: skip the rest of the video
            pass


@contextlib.contextmanager
def tracker_threads(tracker: Any, count: int | None = None) -> Iterator[None]:
    """Run the block with ``count`` torch threads, or without one the tracker's preferred number (its
    ``num_threads`` attribute, if any; else torch's as it is), and restore the previous number after."""
    from gvis.runtime import pinned_threads

    with pinned_threads(count or getattr(tracker, "num_threads", None) or None):
        yield


def run_tracker(
    tracker: Any,
    videos: Iterable[tuple[int, Iterable[Detections]]],
    with_rows: bool = False,
    on_frame: Callable[[], None] | None = None,
    category_hypotheses: int = 1,
) -> TrackingRun:
    """Track every video of ``videos`` (``(video_id, frames)`` pairs) with ``tracker``; ``category_hypotheses``:
    entries per track (:class:`~gvis.eval.results.VideoResults`)."""
    from gvis.eval.results import VideoResults

    run = TrackingRun()
    for video_id, frames in videos:
        tracker.reset()
        results = VideoResults(video_id, category_hypotheses)
        for frame_index, detections in enumerate(frames):
            tracks = tracker.update(detections)
            results.add_frame(tracks, detections)
            if with_rows:
                run.rows.extend(track_rows(video_id, frame_index, tracks))
            run.frames += 1
            if on_frame is not None:
                on_frame()
        run.add_video(video_id, results)
    return run


def write_tracks_csv(path: str | os.PathLike, rows: list[tuple]) -> None:
    """Write :data:`CSV_COLUMNS` rows atomically."""
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
