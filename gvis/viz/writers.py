"""Writing frames as an MP4 video (PyAV), an animated GIF (PIL) and a frame-strip PNG (for docs).

Every file is written to a temporary file and renamed, so a crash never leaves a half-written video.
"""
from __future__ import annotations

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


def write_mp4(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 10.0) -> int:
    """Encode ``[H, W, 3]`` uint8 RGB frames (all the same size) as MP4, yuv420p; returns the frame count."""
    import av

    codec = video_codec()
    count = 0
    with atomic_open(path, "wb") as handle:
        with av.open(handle, mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                frame = _even(np.ascontiguousarray(frame, dtype=np.uint8))
                if stream is None:
                    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
                    stream.height, stream.width = frame.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    if codec == "libx264":
                        stream.options = {"crf": "20", "preset": "veryfast"}
                    else:
                        stream.bit_rate = 4_000_000
                elif frame.shape[:2] != (stream.height, stream.width):
                    raise ValueError(f"frame {count} is {frame.shape[:2]}, the video is {(stream.height, stream.width)}")
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise InputError("no frames to write", file=path)
            for packet in stream.encode():
                container.mux(packet)
    return count


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
