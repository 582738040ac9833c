"""The synthetic VIS benchmark (``gvis synth``): shapes moving over a textured world, in YouTube-VIS layout.

``shapes`` (categories and rasterisation) → ``scene`` (what happens: camera, trajectories, occluders) →
``render`` (pixels and label maps) → ``writer`` (JPEGs, RLE ground truth, ``instances.json``).
See ``docs/synthetic.md``.
"""
from gvis.data.synth.config import SynthConfig
from gvis.data.synth.render import RenderedFrame, render_video
from gvis.data.synth.scene import VideoPlan, plan_video
from gvis.data.synth.shapes import SHAPES, rasterise
from gvis.data.synth.writer import frame_ground_truth, generate_dataset, video_generators, video_name

__all__ = [
    "SHAPES", "RenderedFrame", "SynthConfig", "VideoPlan", "frame_ground_truth", "generate_dataset",
    "plan_video", "rasterise", "render_video", "video_generators", "video_name",
]
