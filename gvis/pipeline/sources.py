"""What ``gvis track`` can read frames from: a video file, a folder of frames, or a YouTube-VIS dataset.

:func:`open_input` turns INPUT into a list of :class:`VideoInput`; each streams its frames as
``[H, W, 3]`` uint8 RGB arrays, one at a time (a video is never held whole). Video files are decoded
with PyAV (torchvision 0.29 has no video I/O). Unreadable files are :class:`~gvis.errors.InputError`
naming the file.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from gvis.errors import GvisWarning, InputError

if TYPE_CHECKING:
    from gvis.data.ytvis import YTVISDataset

#: File suffixes read as videos (anything FFmpeg decodes works; these are the ones INPUT is recognised by).
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
#: File suffixes of frame images in a frame folder.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
#: Video id given to the one video of a video file or frame folder (results entries need one).
SINGLE_VIDEO_ID = 1


@dataclass
class VideoInput:
    """One video to track.

    - ``video_id``, ``name``: id for the results entries and a display name.
    - ``source``: the file or folder named in errors.
    - ``read``: a function returning a fresh iterator over the frames.
    - ``size``: ``(H, W)`` when known before decoding (datasets), else ``None``.
    - ``fps``: the frame rate of a video file, else ``None``.
    """

    video_id: int
    name: str
    source: Path
    read: Callable[[], Iterator[np.ndarray]]
    size: tuple[int, int] | None = None
    fps: float | None = None

    def frames(self) -> Iterator[np.ndarray]:
        return self.read()


def _ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's own words for a PyAV error (its ``strerror``), without the repeated file name."""
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _open_video(path: Path):
    """The PyAV container of ``path``, checked to hold a video stream."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"cannot read the video: {_ffmpeg_reason(exc)}", file=path) from None
    if not container.streams.video:
        container.close()
        raise InputError("no video stream in the file", file=path)
    return container


def video_frames(path: str | os.PathLike, allow_truncated: bool = False) -> Iterator[np.ndarray]:
    """Decode the first video stream of ``path`` frame by frame as RGB arrays.

    A video that fails to decode, or ends before the frame count its container declares (a truncated
    download), is an ``InputError`` after the frames before; with ``allow_truncated`` a
    :class:`~gvis.errors.GvisWarning` giving the frames reached instead.
    """
    import av

    path = Path(path)
    with _open_video(path) as container:
        stream = container.streams.video[0]
        declared = stream.frames
        # FFmpeg's threaded decoder drops a damaged tail without an error, so threads only when the
        # declared count can tell that frames are missing.
        if declared:
            stream.thread_type = "AUTO"
        count = 0
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
                count += 1
        except av.FFmpegError as exc:
            _truncated(path, count, declared, f"cannot decode frame {count}: {_ffmpeg_reason(exc)}", allow_truncated)
            return
        if count == 0:
            raise InputError("the video has no frames", file=path)
        if count < declared:
            _truncated(path, count, declared, f"the video ends after {count} of the {declared} frames it declares "
                       "(truncated or damaged)", allow_truncated)


def _truncated(path: Path, count: int, declared: int, reason: str, allow: bool) -> None:
    """A video that stopped decoding early: ``InputError``, or with ``allow`` a warning."""
    if not allow:
        raise InputError(f"{reason}; --allow-truncated tracks the frames before", file=path)
    of = f" of {declared}" if declared else ""
    warnings.warn(GvisWarning(f"{path}: {reason}; tracked the {count}{of} frames reached"), stacklevel=2)


def _natural_key(path: Path) -> list:
    """Sort key under which ``frame2.jpg`` comes before ``frame10.jpg``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of ``folder`` (:data:`IMAGE_SUFFIXES`) in natural order; ``InputError`` if none."""
    folder = Path(folder)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise InputError(f"no frame images ({', '.join(sorted(IMAGE_SUFFIXES))}) and no instances.json in the folder",
                         file=folder)
    return files


def image_frames(files: list[Path]) -> Iterator[np.ndarray]:
    """Read ``files`` one by one as RGB arrays; every frame must have the first one's size."""
    from PIL import Image, UnidentifiedImageError

    size = None
    for path in files:
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"cannot read the frame: {exc}", file=path) from None
        if size is None:
            size = array.shape[:2]
        elif array.shape[:2] != size:
            raise InputError(f"the frame is {array.shape[0]}x{array.shape[1]} (HxW), the first frame "
                             f"{size[0]}x{size[1]}", file=path)
        yield array


def dataset_inputs(dataset: "YTVISDataset", source: Path) -> list[VideoInput]:
    """One :class:`VideoInput` per video of a dataset, in dataset order."""
    def reader(video) -> Callable[[], Iterator[np.ndarray]]:
        return lambda: (dataset.frame(video.id, t) for t in range(video.length))

    return [VideoInput(video.id, video.name, source, reader(video), (video.height, video.width))
            for video in dataset.videos]


def open_input(path: str | os.PathLike, allow_truncated: bool = False) -> tuple[list[VideoInput], "YTVISDataset | None"]:
    """The videos of INPUT and, for a dataset folder, its dataset (else ``None``).

    INPUT is a video file (by suffix, :data:`VIDEO_SUFFIXES`), a folder holding ``instances.json`` (a
    YouTube-VIS dataset), or a folder of frame images. A video file or frame folder is one video with id
    :data:`SINGLE_VIDEO_ID`. ``allow_truncated``: see :func:`video_frames`.
    """
    from gvis.data.folders import open_dataset

    path = Path(path)
    if path.is_dir():
        if (path / "instances.json").is_file():
            dataset = open_dataset(path)
            return dataset_inputs(dataset, path), dataset
        files = frame_files(path)
        return [VideoInput(SINGLE_VIDEO_ID, path.name, path, lambda: image_frames(files))], None
    if not path.exists():
        raise InputError("no such video file or folder", file=path)
    if not path.is_file():  # a FIFO or device would block or never end
        raise InputError("not a regular file, frame folder or dataset folder", file=path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"not a video file (suffixes: {', '.join(sorted(VIDEO_SUFFIXES))}), frame folder or "
                         "dataset folder", file=path)
    with _open_video(path) as container:  # unreadable files fail here, before any model is built
        rate = container.streams.video[0].average_rate
    return [VideoInput(SINGLE_VIDEO_ID, path.stem, path, lambda: video_frames(path, allow_truncated),
                       fps=float(rate) if rate else None)], None
