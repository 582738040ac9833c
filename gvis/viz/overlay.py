"""Overlays of YouTube-VIS results on a dataset's frames: MP4, GIF and a frame strip.

A results file has no track ids; within a video, a result's track id is its 1-based position among that
video's results in file order (a tracker writes its tracks in creation order, so ids read like the
tracker's). Results scoring below ``min_score`` are not drawn; higher scores are drawn on top.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from gvis.data.rle import check_compressed_counts
from gvis.data.ytvis import YTVISDataset
from gvis.errors import InputError
from gvis.eval.results import ResultTrack, parse_results
from gvis.viz.draw import TrackDrawing, draw_tracks
from gvis.viz.writers import frame_strip, write_gif, write_mp4, write_png


@dataclass
class OverlayFiles:
    """What :func:`write_overlay` wrote: paths (``None`` where not asked) and counts."""

    mp4: Path
    gif: Path | None
    strip: Path | None
    video_ids: list[int]
    frames: int


def results_by_video(entries: list, dataset: YTVISDataset, source: str | None = None) -> dict[int, list[ResultTrack]]:
    """Checked results entries grouped by video (file order); every mask string is validated now.

    Entries are read as by ``gvis eval`` (:func:`gvis.eval.results.parse_results`: uncompressed RLE and
    polygons are converted); InputError names the file, video and field of a bad entry.
    """
    videos = {video.id: video for video in dataset.videos}
    tracks = parse_results(entries, videos, source)
    strings = [(track, t) for track in tracks for t, blob in enumerate(track.counts) if blob is not None]
    reasons = check_compressed_counts([track.counts[t] for track, t in strings],
                                      [videos[track.video_id].height * videos[track.video_id].width for track, _ in strings])
    for (track, t), reason in zip(strings, reasons):
        if reason is not None:
            raise InputError(reason, file=source, video_id=track.video_id, field=f"results[{track.index}].segmentations[{t}]")
    grouped: dict[int, list[ResultTrack]] = defaultdict(list)
    for track in tracks:
        grouped[track.video_id].append(track)
    return dict(grouped)


def overlay_frames(dataset: YTVISDataset, tracks: list[ResultTrack], video_id: int, min_score: float = 0.3,
                   caption: bool = True) -> Iterator[np.ndarray]:
    """The frames of one video with ``tracks`` (that video's results, file order) drawn over them.

    A track's id is its 1-based position in ``tracks``; frames past the end of its segmentations count as
    absent.
    """
    video = dataset.video(video_id)
    names = {category.id: category.name for category in dataset.categories}
    shown = [(track_id, track) for track_id, track in enumerate(tracks, start=1) if track.score >= min_score]
    shown.sort(key=lambda item: item[1].score)  # higher scores on top
    size = [video.height, video.width]
    for t in range(video.length):
        drawings = []
        for track_id, track in shown:
            blob = track.counts[t] if t < len(track.counts) else None
            if blob is None:
                continue
            mask = mask_utils.decode({"size": size, "counts": blob}).astype(bool)
            if mask.any():
                name = names.get(track.category_id, str(track.category_id))
                drawings.append(TrackDrawing(track_id, mask, f"{track_id} {name} {track.score:.2f}"))
        text = f"{video.name}  {t + 1}/{video.length}" if caption else None
        yield draw_tracks(dataset.frame(video_id, t), drawings, text)


def letterbox(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """``frame`` centred on a black ``[height, width, 3]`` canvas (videos of one MP4 differ in size)."""
    if frame.shape[:2] == (height, width):
        return frame
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - frame.shape[0]) // 2, (width - frame.shape[1]) // 2
    canvas[top:top + frame.shape[0], left:left + frame.shape[1]] = frame
    return canvas


def write_overlay(
    dataset: YTVISDataset,
    entries: list[dict],
    mp4: str | os.PathLike,
    gif: str | os.PathLike | None = None,
    strip: str | os.PathLike | None = None,
    video_ids: Sequence[int] | None = None,
    min_score: float = 0.3,
    fps: float = 10.0,
    source: str | None = None,
    progress: bool = True,
) -> OverlayFiles:
    """Draw ``entries`` over the frames of ``video_ids`` and write the MP4 (and GIF, strip).

    ``video_ids`` default: the first video (dataset order) with a result scoring at least ``min_score``.
    The MP4 and GIF hold the chosen videos one after the other; the strip shows the first of them.
    """
    grouped = results_by_video(entries, dataset, source)
    if video_ids is None:
        chosen = next((v.id for v in dataset.videos if any(r.score >= min_score for r in grouped.get(v.id, ()))), None)
        if chosen is None:
            raise InputError(f"no result scores at least {min_score} (lower --min-score)", file=source)
        video_ids = [chosen]
    videos = [dataset.video(video_id) for video_id in video_ids]
    height, width = max(v.height for v in videos), max(v.width for v in videos)
    total = sum(v.length for v in videos)
    first_video: list[np.ndarray] = []

    def frames() -> Iterator[np.ndarray]:
        with tqdm(total=total, desc="overlay", unit="frame", disable=not progress) as bar:
            for video in videos:
                for frame in overlay_frames(dataset, grouped.get(video.id, []), video.id, min_score):
                    if video is videos[0]:
                        first_video.append(frame)
                    bar.update()
                    yield letterbox(frame, height, width)

    if gif is None:
        count = write_mp4(frames(), mp4, fps)
    else:
        rendered = list(frames())
        count = write_mp4(rendered, mp4, fps)
        write_gif(rendered, gif, fps)
    if strip is not None:
        write_png(frame_strip(first_video), strip)
    return OverlayFiles(Path(mp4), None if gif is None else Path(gif), None if strip is None else Path(strip),
                        [v.id for v in videos], count)
