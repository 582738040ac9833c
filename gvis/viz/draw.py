"""Drawing tracks over one frame: a translucent mask with an outline per track, and a label box."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Opacity of a track's mask over the frame.
MASK_ALPHA = 0.45


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable RGB colour per track id: hues stepped by the golden ratio so that neighbouring ids differ."""
    hue = (0.1 + 0.618033988749895 * track_id) % 1.0
    saturation = 0.85 if track_id % 2 else 0.65
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, 0.95)
    return int(red * 255), int(green * 255), int(blue * 255)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask [H, W]`` with a 4-neighbour outside the mask."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


@dataclass
class TrackDrawing:
    """One track to draw in a frame: its id (selects the colour), ``mask [H, W]`` bool and label text."""

    track_id: int
    mask: np.ndarray
    text: str


def draw_tracks(frame: np.ndarray, tracks: list[TrackDrawing], caption: str | None = None) -> np.ndarray:
    """``frame [H, W, 3]`` uint8 with every track's mask, outline and label drawn, in list order (later
    tracks on top); ``caption`` goes in the top-left corner. Returns a new array."""
    height, width = frame.shape[:2]
    canvas = frame.astype(np.float32)
    for track in tracks:
        color = np.array(track_color(track.track_id), dtype=np.float32)
        canvas[track.mask] = (1 - MASK_ALPHA) * canvas[track.mask] + MASK_ALPHA * color
        canvas[_outline(track.mask)] = color
    image = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    font = _font(max(10, round(height / 22)))
    placed: list[tuple[int, int, int, int]] = []
    if caption:
        placed.append(_label(draw, font, caption, (0, 0, 0), [(0, 0)], width, height, []))
    for track in tracks:
        rows, cols = np.nonzero(track.mask)
        if rows.size == 0:
            continue
        top, bottom, left = int(rows.min()), int(rows.max()), int(cols.min())
        # Above the mask, below it, then inside its top: the first spot no earlier label covers.
        spots = [(left, top - 1, "above"), (left, bottom + 2, "below"), (left, top, "below")]
        placed.append(_label(draw, font, track.text, track_color(track.track_id), spots, width, height, placed))
    return np.asarray(image)


def _overlaps(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others)


def _label(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, text: str, color: tuple[int, int, int],
           spots: list, width: int, height: int, placed: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """Draw ``text`` on a ``color`` box at the first of ``spots`` that is free; returns the box drawn.

    A spot is ``(x, y)`` (top-left corner) or ``(x, y, "above"|"below")`` (box bottom / top edge at y);
    boxes are shifted inside the frame.
    """
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    text_w, text_h = right - left + 4, bottom - top + 4
    boxes = []
    for spot in spots:
        x, y = spot[0], spot[1]
        if len(spot) == 3 and spot[2] == "above":
            y -= text_h
        x = min(max(x, 0), max(width - text_w, 0))
        y = min(max(y, 0), max(height - text_h, 0))
        boxes.append((x, y, x + text_w, y + text_h))
    box = next((b for b in boxes if not _overlaps(b, placed)), boxes[0])
    draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=color)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    draw.text((box[0] + 2 - left, box[1] + 2 - top), text, fill=(0, 0, 0) if luminance > 140 else (255, 255, 255), font=font)
    return box
