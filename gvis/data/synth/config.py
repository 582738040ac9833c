"""Settings of the synthetic VIS benchmark generator (``gvis synth``).

All keys are top level (``--set max_objects=8``). Lengths and speeds are fractions of the frame's
shorter side ("unit"), so a preset keeps its look at any frame size. Probabilities are in [0, 1].
The defaults are the ``medium`` preset; ``configs/synth/*.yaml`` hold what the other presets change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gvis.data.synth.shapes import SHAPES


def _default_categories() -> list[str]:
    return list(SHAPES)


@dataclass
class SynthConfig:
    # --- frames and videos
    height: int = 240
    width: int = 320
    min_frames: int = 6
    max_frames: int = 66
    jpeg_quality: int = 90
    # --- objects
    categories: list[str] = field(default_factory=_default_categories)
    empty_video_prob: float = 0.05
    min_objects: int = 1
    max_objects: int = 6
    min_size: float = 0.12
    max_size: float = 0.35
    min_visible_area: int = 8
    #: Each object's aspect ratio is drawn log-uniformly in [1, max_aspect] (its shape stretched along its own
    #: axis, area kept; the rotation turns that axis). 1: every shape as round as drawn (the presets).
    max_aspect: float = 1.0
    # --- look-alikes
    look_alike_prob: float = 0.5
    look_alike_max: int = 3
    look_alike_color_spread: float = 0.06
    # --- object motion and appearance change
    min_speed: float = 0.005
    max_speed: float = 0.03
    motion_noise: float = 0.002
    max_rotation_speed: float = 0.05
    scale_change: float = 0.01
    color_drift: float = 0.008
    shading: float = 0.25
    # --- entering, leaving, vanishing, occluding
    enter_prob: float = 0.3
    exit_prob: float = 0.15
    exit_margin: float = 0.3
    vanish_prob: float = 0.15
    vanish_min_frames: int = 2
    vanish_max_frames: int = 6
    max_occluders: int = 1
    # --- camera
    pan_prob: float = 0.6
    max_pan_speed: float = 0.02
    jump_prob: float = 0.02
    jump_min: float = 0.1
    jump_max: float = 0.4
    # --- background and image noise
    background_contrast: float = 0.15
    clutter: float = 3.0
    clutter_saturation: float = 0.35
    pixel_noise: float = 4.0
    brightness_jitter: float = 0.02

    def validate(self) -> None:
        probabilities = ("empty_video_prob", "look_alike_prob", "enter_prob", "exit_prob", "vanish_prob",
                         "pan_prob", "jump_prob", "clutter_saturation")
        for name in probabilities:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"key '{name}' must be in [0, 1], got {getattr(self, name)}")
        non_negative = ("motion_noise", "max_rotation_speed", "scale_change", "color_drift", "shading",
                        "exit_margin", "max_pan_speed", "background_contrast", "clutter", "pixel_noise",
                        "brightness_jitter", "look_alike_color_spread", "min_speed", "jump_min",
                        "min_objects", "max_occluders", "min_visible_area")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"key '{name}' must be >= 0, got {getattr(self, name)}")
        if self.height < 8 or self.width < 8:
            raise ValueError(f"frames must be at least 8x8 pixels, got height={self.height} width={self.width}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"key 'jpeg_quality' must be in [1, 100], got {self.jpeg_quality}")
        if self.max_aspect < 1.0:
            raise ValueError(f"key 'max_aspect' must be >= 1, got {self.max_aspect}")
        if self.min_size <= 0:
            raise ValueError(f"key 'min_size' must be > 0, got {self.min_size}")
        for low, high in (("min_frames", "max_frames"), ("min_objects", "max_objects"), ("min_size", "max_size"),
                          ("min_speed", "max_speed"), ("jump_min", "jump_max"),
                          ("vanish_min_frames", "vanish_max_frames")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"key '{low}' ({getattr(self, low)}) must be <= '{high}' ({getattr(self, high)})")
        if self.min_frames < 1 or self.vanish_min_frames < 1:
            raise ValueError("keys 'min_frames' and 'vanish_min_frames' must be >= 1")
        if self.max_objects > 32000:
            raise ValueError(f"key 'max_objects' must be <= 32000 (int16 label maps), got {self.max_objects}")
        if self.look_alike_max < 2:
            raise ValueError(f"key 'look_alike_max' must be >= 2 (a group has two members at least), got {self.look_alike_max}")
        unknown = [name for name in self.categories if name not in SHAPES]
        if unknown or not self.categories or len(set(self.categories)) != len(self.categories):
            raise ValueError(f"key 'categories' must be distinct names from {', '.join(SHAPES)}; got {self.categories}")
