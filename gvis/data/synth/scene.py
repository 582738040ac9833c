"""What happens in one synthetic video: the camera path, the objects' trajectories and the occluders.

Positions are pixels. The world is the plane of the background texture; the camera shows the
``width`` × ``height`` window whose top-left corner is ``camera[t]`` (integer, so the background moves
by whole pixels). Object centres are kept in screen coordinates of the frame (world − camera).
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from gvis.data.synth.config import SynthConfig


@dataclass
class ObjectPlan:
    """One object of a video; per-frame arrays have ``T`` rows (undefined where not ``present``)."""

    category: str
    #: Index of the object's look-alike group in this video, −1 for none.
    look_alike: int
    #: Drawing order: a larger depth is nearer to the camera and hides smaller ones.
    depth: int
    #: Colour at the first frame, RGB in [0, 1].
    base_color: np.ndarray
    colors: np.ndarray  # [T, 3] RGB in [0, 1]
    centers: np.ndarray  # [T, 2] (x, y) screen pixels
    radii: np.ndarray  # [T] pixels
    angles: np.ndarray  # [T] radians
    #: In the scene and not vanished (it may still be outside the frame or fully occluded).
    present: np.ndarray  # [T] bool
    #: Length over width of the shape along its own axis (``SynthConfig.max_aspect``).
    aspect: float = 1.0


@dataclass
class Occluder:
    """An unannotated bar fixed in the world, in front of every object (a pillar or a beam)."""

    vertical: bool
    #: World coordinate of its left (vertical) or top (horizontal) edge, and its thickness.
    position: float
    thickness: float
    color: np.ndarray  # [3] RGB in [0, 1]


@dataclass
class VideoPlan:
    num_frames: int
    camera: np.ndarray  # [T, 2] int (x, y) world position of the frame's top-left corner
    #: Frames where the camera jumped (a sudden shift between frame t−1 and t).
    jump_frames: list[int]
    objects: list[ObjectPlan]
    occluders: list[Occluder]


def random_color(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]) -> np.ndarray:
    """An RGB colour in [0, 1] with uniform hue and the given saturation and value ranges."""
    hue, sat, val = rng.uniform(0.0, 1.0), rng.uniform(*saturation), rng.uniform(*value)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val))


def _camera_path(cfg: SynthConfig, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Camera positions ``[T, 2]`` (float), pan velocities ``[T, 2]`` and the jump frames."""
    unit = min(cfg.height, cfg.width)
    limit = np.array([1.5 * cfg.width, 1.5 * cfg.height])
    positions = np.zeros((num_frames, 2))
    pan_velocity = np.zeros((num_frames, 2))
    panning = rng.random() < cfg.pan_prob
    heading = rng.uniform(0.0, 2.0 * math.pi)
    pan = rng.uniform(0.3, 1.0) * cfg.max_pan_speed * unit * np.array([math.cos(heading), math.sin(heading)])
    if not panning:
        pan[:] = 0.0
    jump_frames = []
    position = np.zeros(2)
    for t in range(1, num_frames):
        wobble = rng.normal(0.0, 0.1 * cfg.max_pan_speed * unit, 2)
        if panning:
            pan = pan + wobble
        position = position + pan
        if rng.random() < cfg.jump_prob:
            distance = rng.uniform(cfg.jump_min, cfg.jump_max) * unit
            direction = rng.uniform(0.0, 2.0 * math.pi)
            position = position + distance * np.array([math.cos(direction), math.sin(direction)])
            jump_frames.append(t)
        # Keep the camera near the start (bounded texture): turn the pan back at the limit.
        outside = np.abs(position) > limit
        pan[outside] = -np.sign(position[outside]) * np.abs(pan[outside])
        position = np.clip(position, -limit, limit)
        positions[t] = position
        pan_velocity[t] = pan
    return positions, pan_velocity, jump_frames


def _colors(cfg: SynthConfig, num_objects: int, group_of: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Base colours ``[n, 3]``; members of a look-alike group get nearby colours."""
    colors = np.stack([random_color(rng, (0.55, 1.0), (0.55, 1.0)) for _ in range(num_objects)]) if num_objects else np.zeros((0, 3))
    for group in np.unique(group_of[group_of >= 0]):
        members = np.flatnonzero(group_of == group)
        offsets = rng.uniform(-cfg.look_alike_color_spread, cfg.look_alike_color_spread, (len(members), 3))
        colors[members] = np.clip(colors[members[0]] + offsets, 0.0, 1.0)
    return colors


def _start_on_edge(cfg: SynthConfig, radius: float, speed: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A position just outside a random edge of the frame and a velocity pointing into it."""
    edge = rng.integers(4)  # left, right, top, bottom
    inward = [0.0, math.pi, 0.5 * math.pi, 1.5 * math.pi][edge]
    heading = inward + rng.uniform(-math.pi / 3, math.pi / 3)
    along = rng.uniform(0.0, cfg.width if edge >= 2 else cfg.height)
    outside = -radius
    center = {
        0: (outside, along), 1: (cfg.width - outside, along),
        2: (along, outside), 3: (along, cfg.height - outside),
    }[int(edge)]
    return np.array(center, dtype=float), speed * np.array([math.cos(heading), math.sin(heading)])


def _trajectory(
    cfg: SynthConfig, obj: ObjectPlan, radius: float, camera: np.ndarray, pan_velocity: np.ndarray, rng: np.random.Generator
) -> None:
    """Fill ``obj``'s per-frame centres, radii, angles, colours and presence (in place)."""
    num_frames = len(camera)
    unit = min(cfg.height, cfg.width)
    speed = rng.uniform(cfg.min_speed, cfg.max_speed) * unit
    max_speed = 1.5 * cfg.max_speed * unit
    rotation_speed = rng.uniform(-1.0, 1.0) * cfg.max_rotation_speed
    angle = rng.uniform(0.0, 2.0 * math.pi)
    log_rate = rng.uniform(-1.0, 1.0) * cfg.scale_change
    log_bounds = (math.log(0.25 * cfg.min_size * unit), math.log(0.75 * cfg.max_size * unit))

    start = 0
    if num_frames > 1 and rng.random() < cfg.enter_prob:
        start = int(rng.integers(1, num_frames))
        center, velocity = _start_on_edge(cfg, radius, speed, rng)
    else:
        center = rng.uniform([0.0, 0.0], [cfg.width, cfg.height])
        heading = rng.uniform(0.0, 2.0 * math.pi)
        velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    leave = num_frames
    if start + 1 < num_frames and rng.random() < cfg.exit_prob:
        leave = int(rng.integers(start + 1, num_frames))
    obj.present[start:] = True
    if rng.random() < cfg.vanish_prob:
        length = int(rng.integers(cfg.vanish_min_frames, cfg.vanish_max_frames + 1))
        first = int(rng.integers(start, num_frames))
        obj.present[first:first + length] = False

    margin = cfg.exit_margin * unit
    log_radius = math.log(radius)
    color = obj.base_color.copy()
    for t in range(start, num_frames):
        if t > start:
            velocity = velocity + rng.normal(0.0, cfg.motion_noise * unit, 2)
            norm = float(np.hypot(*velocity))
            if norm > max_speed:
                velocity *= max_speed / norm
            # World motion: the object moves by its velocity, the frame by the camera's shift.
            center = center + velocity - (camera[t] - camera[t - 1])
            if t == leave:
                # Head for the nearest edge and stop turning back: the object leaves for good.
                distances = [center[0], cfg.width - center[0], center[1], cfg.height - center[1]]
                outward = [np.array([-1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, -1.0]), np.array([0.0, 1.0])][int(np.argmin(distances))]
                velocity = pan_velocity[t] + max(speed, 0.5 * cfg.max_speed * unit) * outward
            elif t < leave:
                # Turn back once the centre is `margin` beyond an edge (relative to the panning camera).
                relative = velocity - pan_velocity[t]
                for axis, size in ((0, cfg.width), (1, cfg.height)):
                    if (center[axis] < -margin and relative[axis] < 0) or (center[axis] > size + margin and relative[axis] > 0):
                        relative[axis] = -relative[axis]
                velocity = pan_velocity[t] + relative
            angle += rotation_speed
            log_radius += log_rate
            if not log_bounds[0] <= log_radius <= log_bounds[1]:
                log_rate = -log_rate
                log_radius = min(max(log_radius, log_bounds[0]), log_bounds[1])
            color = np.clip(color + rng.normal(0.0, cfg.color_drift, 3), 0.0, 1.0)
        obj.centers[t] = center
        obj.radii[t] = math.exp(log_radius)
        obj.angles[t] = angle
        obj.colors[t] = color


def plan_video(cfg: SynthConfig, rng: np.random.Generator) -> VideoPlan:
    """Draw everything that happens in one video (not its pixels) from ``rng``."""
    num_frames = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    positions, pan_velocity, jump_frames = _camera_path(cfg, num_frames, rng)
    camera = np.rint(positions).astype(np.int64)
    unit = min(cfg.height, cfg.width)

    num_objects = 0 if rng.random() < cfg.empty_video_prob else int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    # At most one look-alike group per video: its members are the first `group_size` objects.
    group_size = 0
    if num_objects >= 2 and rng.random() < cfg.look_alike_prob:
        group_size = int(rng.integers(2, min(cfg.look_alike_max, num_objects) + 1))
    group_of = np.full(num_objects, -1)
    group_of[:group_size] = 0
    categories = [cfg.categories[int(rng.integers(len(cfg.categories)))] for _ in range(num_objects)]
    categories[1:group_size] = categories[:1] * (group_size - 1)
    colors = _colors(cfg, num_objects, group_of, rng)
    radii = rng.uniform(cfg.min_size, cfg.max_size, num_objects) * unit / 2.0
    if group_size:
        # Look-alikes have nearly the same size too.
        radii[:group_size] = radii[0] * rng.uniform(0.85, 1.15, group_size)
    depths = rng.permutation(num_objects)
    # Drawn only where asked, so that the presets' videos stay draw for draw what they were.
    aspects = (np.exp(rng.uniform(0.0, math.log(cfg.max_aspect), num_objects)) if cfg.max_aspect > 1.0
               else np.ones(num_objects))

    objects = []
    for k in range(num_objects):
        obj = ObjectPlan(
            category=categories[k], look_alike=int(group_of[k]), depth=int(depths[k]), base_color=colors[k],
            colors=np.zeros((num_frames, 3)), centers=np.zeros((num_frames, 2)), radii=np.zeros(num_frames),
            angles=np.zeros(num_frames), present=np.zeros(num_frames, dtype=bool), aspect=float(aspects[k]),
        )
        _trajectory(cfg, obj, float(radii[k]), camera, pan_velocity, rng)
        objects.append(obj)

    occluders = []
    for _ in range(int(rng.integers(0, cfg.max_occluders + 1))):
        vertical = bool(rng.random() < 0.7)
        axis, size = (0, cfg.width) if vertical else (1, cfg.height)
        thickness = rng.uniform(0.06, 0.14) * unit
        position = rng.uniform(camera[:, axis].min() - thickness, camera[:, axis].max() + size)
        occluders.append(Occluder(vertical, float(position), float(thickness), random_color(rng, (0.0, 0.3), (0.1, 0.9))))
    return VideoPlan(num_frames, camera, jump_frames, objects, occluders)
