"""The shape categories and their vectorised rasterisation.

Each shape is an inside test on object-local coordinates ``(u, v)`` in which the shape fits the unit
disc: ``u = ((x - cx) cos a + (y - cy) sin a) / (r √s)`` and ``v = (-(x - cx) sin a + (y - cy) cos a) √s / r``
for a centre ``(cx, cy)``, radius ``r`` (pixels), rotation ``a`` and aspect ratio ``s >= 1`` (the shape
stretched along its own u axis by ``√s`` and squeezed along v by as much, so its area stays that of ``s = 1``). Pixel ``(x, y)`` is sampled at its
centre ``(x + 0.5, y + 0.5)``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

InsideTest = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _half_planes(u: np.ndarray, v: np.ndarray, angles_deg: tuple[float, ...], offset: float, symmetric: bool) -> np.ndarray:
    """Inside the polygon whose edges have outward normals at ``angles_deg`` and distance ``offset``."""
    inside = np.ones(u.shape, dtype=bool)
    for angle in angles_deg:
        projection = u * math.cos(math.radians(angle)) + v * math.sin(math.radians(angle))
        inside &= (np.abs(projection) if symmetric else projection) <= offset
    return inside


def disc(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + v * v <= 1.0


def square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.abs(u) <= 0.75) & (np.abs(v) <= 0.75)


def triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Equilateral, inscribed in the unit circle: edges at distance 1/2 from the centre.
    return _half_planes(u, v, (90.0, 210.0, 330.0), 0.5, symmetric=False)


def star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Five points: the radius limit falls linearly from 1 at a point to 0.45 between two points.
    sector = 2.0 * math.pi / 5.0
    phase = np.mod(np.arctan2(v, u), sector) / sector
    limit = 0.45 + 0.55 * np.abs(2.0 * phase - 1.0)
    return u * u + v * v <= limit * limit


def ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    squared = u * u + v * v
    return (squared <= 1.0) & (squared >= 0.55 * 0.55)


def cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    abs_u, abs_v = np.abs(u), np.abs(v)
    return ((abs_u <= 0.3) & (abs_v <= 0.9)) | ((abs_v <= 0.3) & (abs_u <= 0.9))


def hexagon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _half_planes(u, v, (0.0, 60.0, 120.0), math.sqrt(3.0) / 2.0, symmetric=True)


def crescent(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u * u + v * v <= 1.0) & ((u - 0.45) ** 2 + v * v > 0.75 * 0.75)


#: Category name → inside test; the default categories, in category-id order.
SHAPES: dict[str, InsideTest] = {
    "disc": disc, "square": square, "triangle": triangle, "star": star,
    "ring": ring, "cross": cross, "hexagon": hexagon, "crescent": crescent,
}


def rasterise(
    shape: str, cx: float, cy: float, radius: float, angle: float, height: int, width: int, aspect: float = 1.0
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """The shape's pixels inside a ``height`` × ``width`` canvas.

    Returns ``(window, inside, u, v)``: ``window`` the (rows, cols) slices of the canvas holding the
    shape's bounding square, ``inside`` bool ``[h, w]`` over the window, and the local coordinates
    ``u, v`` ``[h, w]`` (for shading). ``None`` when the shape lies outside the canvas.
    """
    stretch = math.sqrt(aspect)
    reach = radius * stretch + 1.0
    x0, x1 = max(int(math.floor(cx - reach)), 0), min(int(math.ceil(cx + reach)), width)
    y0, y1 = max(int(math.floor(cy - reach)), 0), min(int(math.ceil(cy + reach)), height)
    if x0 >= x1 or y0 >= y1:
        return None
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
    cos_a, sin_a = math.cos(angle) / radius, math.sin(angle) / radius
    u = (dx * cos_a + dy * sin_a) / stretch
    v = (dy * cos_a - dx * sin_a) * stretch
    return (slice(y0, y1), slice(x0, x1)), SHAPES[shape](u, v), u, v
