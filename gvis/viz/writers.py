"""Writing frames as an MP4 video (PyAV), an animated GIF (PIL) and a frame-strip PNG (for docs).

Every file is written to a temporary file and renamed, so a crash never leaves a half-written video.
"""
from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from gvis.errors import InputError
from gvis.io import atomic_open

#: Encoders tried in order: H.264 plays everywhere; MPEG-4 part 2 is in every FFmpeg build.
VIDEO_CODECS = ("libx264", "mpeg4")


def video_codec() -> str:
    """The first encoder of :data:`VIDEO_CODECS` that this PyAV build has."""
    import av

    for name in VIDEO_CODECS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # an unknown codec raises a PyAV- and version-specific error
            continue
        return name
    raise InputError(f"PyAV has none of the video encoders {', '.join(VIDEO_CODECS)}")


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad ``frame [H, W, 3]`` by one edge row/column where H or W is odd (yuv420p needs even sizes)."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


class Mp4Writer:
    """Encodes ``[H, W, 3]`` uint8 RGB frames (all the same size) as MP4 (yuv420p) one at a time.

    A context manager: the file appears when the block ends without an error (atomically), so a long
    video is never held in memory. ``count``: frames written so far.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 10.0) -> None:
        self.path, self.fps, self.count = path, fps, 0
        self._files = contextlib.ExitStack()
        self._stream = None

    def __enter__(self) -> "Mp4Writer":
        import av

        self._codec = video_codec()
        handle = self._files.enter_context(atomic_open(self.path, "wb"))
        self._container = self._files.enter_context(av.open(handle, mode="w", format="mp4"))
        return self

    def write(self, frame: np.ndarray) -> None:
        import av

        frame = _even(np.ascontiguousarray(frame, dtype=np.uint8))
        stream = self._stream
        if stream is None:
            stream = self._stream = self._container.add_stream(self._codec, rate=Fraction(self.fps).limit_denominator(1000))
            stream.height, stream.width = frame.shape[:2]
            stream.pix_fmt = "yuv420p"
            if self._codec == "libx264":
                stream.options = {"crf": "20", "preset": "veryfast"}
            else:
                stream.bit_rate = 4_000_000
        elif frame.shape[:2] != (stream.height, stream.width):
            raise ValueError(f"frame {self.count} is {frame.shape[:2]}, the video is {(stream.height, stream.width)}")
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)
        self.count += 1

    def __exit__(self, *exc_info) -> bool:
        if exc_info[0] is None:
            try:
                if self._stream is None:
                    raise InputError("no frames to write", file=self.path)
                for packet in self._stream.encode():
                    self._container.mux(packet)
            except BaseException as exc:  # drop the temporary file, then report
                self._files.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return self._files.__exit__(*exc_info)


def write_mp4(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 10.0) -> int:
    """Encode ``[H, W, 3]`` uint8 RGB frames (all the same size) as MP4, yuv420p; returns the frame count."""
    with Mp4Writer(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.count


def _scaled(frame: np.ndarray, max_width: int | None) -> Image.Image:
    image = Image.fromarray(frame)
    if max_width is not None and image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.Resampling.LANCZOS)
    return image


def write_gif(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 10.0, max_width: int | None = 480) -> int:
    """Write an animated GIF (looping), frames scaled down to ``max_width``; returns the frame count."""
    images = [_scaled(frame, max_width) for frame in frames]
    if not images:
        raise InputError("no frames to write", file=path)
    with atomic_open(path, "wb") as handle:
        images[0].save(handle, format="GIF", save_all=True, append_images=images[1:],
                       duration=round(1000 / fps), loop=0)
    return len(images)


def frame_strip(frames: Sequence[np.ndarray], count: int = 6, columns: int = 3, max_width: int | None = 320,
                gap: int = 4) -> np.ndarray:
    """``count`` evenly spaced frames of ``frames`` in a grid of ``columns`` on a white background."""
    if not frames:
        raise ValueError("no frames for a strip")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    tiles = [np.asarray(_scaled(frames[i], max_width)) for i in picks]
    tile_h, tile_w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    strip = np.full((rows * tile_h + (rows - 1) * gap, columns * tile_w + (columns - 1) * gap, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        y, x = (k // columns) * (tile_h + gap), (k % columns) * (tile_w + gap)
        strip[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return strip


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as handle:
        Image.fromarray(image).save(handle, format="PNG")
