"""Detector + tracker over streamed frames, writing results, an overlay and track rows as it goes.

Per frame: decode → ``detector([frame])`` → ``tracker.update(detections, frame)`` → the tracks' masks are
RLE-encoded into :class:`~gvis.eval.results.VideoResults` and drawn on the frame, which is encoded into
the overlay MP4 at once. Nothing holds a video's frames or ``[T, H, W]`` masks: memory grows only with the
compressed masks of the results (and the CSV rows).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np

from gvis.baselines.runner import TrackingRun, track_rows
from gvis.detections.structures import Tracks
from gvis.detectors.protocol import Detector
from gvis.pipeline.sources import VideoInput
from gvis.viz.draw import TrackDrawing, draw_tracks
from gvis.viz.overlay import letterbox
from gvis.viz.writers import Mp4Writer


def draw_live_tracks(frame: np.ndarray, tracks: Tracks, names: dict[int, str], min_score: float = 0.3,
                     caption: str | None = None) -> np.ndarray:
    """``frame`` with the tracks that have a mask and score at least ``min_score`` drawn (higher on top)."""
    has_mask = tracks.masks.amax(dim=(1, 2)).tolist() if len(tracks) else []
    shown = [k for k in range(len(tracks)) if has_mask[k] and float(tracks.scores[k]) >= min_score]
    shown.sort(key=lambda k: float(tracks.scores[k]))
    drawings = []
    for k in shown:
        track_id, label = int(tracks.track_ids[k]), int(tracks.labels[k])
        drawings.append(TrackDrawing(track_id, tracks.masks[k].numpy(),
                                     f"{track_id} {names.get(label, str(label))} {float(tracks.scores[k]):.2f}"))
    return draw_tracks(frame, drawings, caption)


def track_inputs(
    detector: Detector,
    tracker: Any,
    videos: Sequence[VideoInput],
    with_rows: bool = False,
    overlay: Mp4Writer | None = None,
    overlay_videos: Iterable[int] | None = None,
    min_score: float = 0.3,
    on_frame: Callable[[], None] | None = None,
    category_hypotheses: int = 1,
) -> TrackingRun:
    """Run ``detector`` and ``tracker`` over every frame of ``videos``.

    Args:
        detector: any :class:`~gvis.detectors.protocol.Detector` (called on one frame at a time).
        tracker: any tracker of :data:`gvis.registry.TRACKERS` (``reset``, ``update``).
        with_rows: also collect the CSV rows of :data:`gvis.baselines.runner.CSV_COLUMNS`.
        overlay: an open writer that gets every frame of ``overlay_videos`` with its tracks drawn.
        overlay_videos: ids of the videos drawn into ``overlay`` (default: all).
        min_score: tracks scoring less are not drawn.
        on_frame: called after each frame (progress bars).
        category_hypotheses: results entries per track (:class:`~gvis.eval.results.VideoResults`).
    """
    from gvis.eval.results import VideoResults

    names = {int(c["id"]): str(c["name"]) for c in detector.categories}
    drawn = {v.video_id for v in videos} if overlay_videos is None else set(overlay_videos)
    sizes = [v.size for v in videos if v.video_id in drawn]
    # One MP4 has one size: videos of a dataset are centred on a canvas of the largest (a video file or
    # frame folder is a single video, drawn at its own size).
    canvas = tuple(max(s[i] for s in sizes) for i in (0, 1)) if sizes and None not in sizes else None
    run = TrackingRun()
    for video in videos:
        tracker.reset()
        results = VideoResults(video.video_id, category_hypotheses)
        for frame_index, frame in enumerate(video.frames()):
            detections = detector([frame])[0]
            tracks = tracker.update(detections, frame=frame)
            results.add_frame(tracks, detections)
            if with_rows:
                run.rows.extend(track_rows(video.video_id, frame_index, tracks))
            if overlay is not None and video.video_id in drawn:
                drawing = draw_live_tracks(frame, tracks, names, min_score, f"{video.name}  {frame_index + 1}")
                overlay.write(drawing if canvas is None else letterbox(drawing, *canvas))
            run.frames += 1
            if on_frame is not None:
                on_frame()
        run.add_video(video.video_id, results)
    return run
