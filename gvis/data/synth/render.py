"""Pixels of a planned video: textured background, objects in depth order, occluders, image noise.

Every frame also yields its label map (which object owns each visible pixel), from which the
ground-truth masks are cut, so the masks are the visible parts exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from PIL import Image

from gvis.data.synth.config import SynthConfig
from gvis.data.synth.scene import VideoPlan, random_color
from gvis.data.synth.shapes import SHAPES, rasterise

#: Label-map values of pixels that belong to no object.
BACKGROUND = -1
OCCLUDER = -2
#: Border of the pixel-noise bank: each frame reads the bank at a random offset in [0, border).
_NOISE_BORDER = 32
#: Clutter is painted half-transparent: the texture shows through, unlike the opaque objects.
_CLUTTER_OPACITY = 0.55


@dataclass
class RenderedFrame:
    image: np.ndarray  # [H, W, 3] uint8
    #: Object index (into ``VideoPlan.objects``) owning each pixel, or BACKGROUND / OCCLUDER.
    labels: np.ndarray  # [H, W] int16
    #: Pixels of each object's whole shape inside the frame, occluders ignored; 0 when not drawn.
    full_areas: np.ndarray  # [num_objects] int64


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Value noise ``[height, width]`` float32 with unit-variance grid values ``cell`` pixels apart."""
    cell = max(cell, 1.0)
    grid_h, grid_w = int(height / cell) + 3, int(width / cell) + 3
    grid = rng.standard_normal((grid_h, grid_w)).astype(np.float32)
    size = (int(round(grid_w * cell)), int(round(grid_h * cell)))
    return np.asarray(Image.fromarray(grid, mode="F").resize(size, Image.BICUBIC))[:height, :width]


def background_texture(cfg: SynthConfig, plan: VideoPlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The world texture the camera looks at, ``[Th, Tw, 3]`` float32 in [0, 255], and its world origin ``[2]`` (x, y).

    A low-saturation base colour, a gradient, multi-octave luminance noise, colour noise and
    unannotated clutter shapes (hard negatives for a detector).
    """
    unit = min(cfg.height, cfg.width)
    origin = plan.camera.min(axis=0)
    tex_w, tex_h = (plan.camera.max(axis=0) - origin + [cfg.width, cfg.height]).tolist()
    base = random_color(rng, (0.05, 0.35), (0.3, 0.75)).astype(np.float32)

    luminance = np.zeros((tex_h, tex_w), np.float32)
    for cell, weight in ((0.5, 0.6), (0.12, 0.3), (0.04, 0.15)):
        luminance += weight * smooth_noise(rng, tex_h, tex_w, cell * unit)
    direction = rng.uniform(0.0, 2.0 * math.pi)
    ramp_x = np.linspace(-1.0, 1.0, tex_w, dtype=np.float32)[None, :] * (math.cos(direction) * tex_w / unit)
    ramp_y = np.linspace(-1.0, 1.0, tex_h, dtype=np.float32)[:, None] * (math.sin(direction) * tex_h / unit)
    luminance += 0.5 * (ramp_x + ramp_y)
    texture = np.empty((tex_h, tex_w, 3), np.float32)
    for channel in range(3):
        chroma = smooth_noise(rng, tex_h, tex_w, 0.4 * unit)
        texture[..., channel] = base[channel] + cfg.background_contrast * (luminance + 0.4 * chroma)

    num_clutter = rng.poisson(cfg.clutter * tex_h * tex_w / (cfg.height * cfg.width))
    shapes = list(SHAPES)
    for _ in range(num_clutter):
        radius = rng.uniform(cfg.min_size, cfg.max_size) * unit / 2.0 * 0.8
        drawn = rasterise(shapes[int(rng.integers(len(shapes)))], rng.uniform(0, tex_w), rng.uniform(0, tex_h),
                          radius, rng.uniform(0.0, 2.0 * math.pi), tex_h, tex_w)
        color = random_color(rng, (0.0, cfg.clutter_saturation), (0.2, 0.9)).astype(np.float32)
        if drawn is not None:
            window, inside, _, _ = drawn
            patch = texture[window]
            patch[inside] = (1.0 - _CLUTTER_OPACITY) * patch[inside] + _CLUTTER_OPACITY * color
    np.clip(texture, 0.0, 1.0, out=texture)
    texture *= 255.0
    return texture, origin


def render_video(cfg: SynthConfig, plan: VideoPlan, rng: np.random.Generator) -> Iterator[RenderedFrame]:
    """Render ``plan`` frame by frame; all randomness (texture, noise) comes from ``rng``."""
    height, width = cfg.height, cfg.width
    texture, origin = background_texture(cfg, plan, rng)
    noise_bank = rng.standard_normal((height + _NOISE_BORDER, width + _NOISE_BORDER, 3)).astype(np.float32)
    noise_bank *= cfg.pixel_noise
    back_to_front = sorted(range(len(plan.objects)), key=lambda k: plan.objects[k].depth)
    for t in range(plan.num_frames):
        left, top = (plan.camera[t] - origin).tolist()
        background = texture[top:top + height, left:left + width]
        image = background.copy()
        labels = np.full((height, width), BACKGROUND, np.int16)
        full_areas = np.zeros(len(plan.objects), np.int64)
        for k in back_to_front:
            obj = plan.objects[k]
            if not obj.present[t]:
                continue
            drawn = rasterise(obj.category, *obj.centers[t], obj.radii[t], obj.angles[t], height, width, obj.aspect)
            if drawn is None:
                continue
            window, inside, u, _ = drawn
            full_areas[k] = np.count_nonzero(inside)
            if full_areas[k] == 0:
                continue
            labels[window][inside] = k
            # A gradient along the object's own axis, so its rotation is visible.
            shade = (1.0 + cfg.shading * u[inside])[:, None]
            image[window][inside] = (255.0 * obj.colors[t]).astype(np.float32) * shade
        for occluder in plan.occluders:
            axis = 0 if occluder.vertical else 1
            start = int(round(occluder.position - plan.camera[t, axis]))
            end = int(round(occluder.position + occluder.thickness - plan.camera[t, axis]))
            span = slice(max(start, 0), max(end, 0))
            window = (slice(None), span) if occluder.vertical else (span, slice(None))
            # Opaque to objects: tinted background texture, nothing of what is behind shows through.
            image[window] = 0.35 * background[window] + (0.65 * 255.0) * occluder.color.astype(np.float32)
            labels[window] = OCCLUDER
        image *= np.float32(1.0 + rng.normal(0.0, cfg.brightness_jitter))
        dy, dx = rng.integers(0, _NOISE_BORDER, 2).tolist()
        image += noise_bank[dy:dy + height, dx:dx + width]
        np.clip(image, 0.0, 255.0, out=image)
        yield RenderedFrame(np.rint(image).astype(np.uint8), labels, full_areas)
