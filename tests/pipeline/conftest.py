"""A tiny synthetic dataset, the same first video as an MP4 and as a frame folder, and a fast Mask R-CNN."""
from __future__ import annotations

import shutil
import warnings

import pytest

from gvis.cli import main

#: Mask R-CNN settings that keep a random-weight model fast on 64x96 frames (a few detections a frame).
MASKRCNN_FAST = ["min_size=64", "max_size=96", "num_proposals=20", "score_threshold=0.0", "max_detections=4"]


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """``data/`` (2 videos of 5-6 frames, 64x96), ``clip.mp4`` and ``frames/`` (its first video)."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.viz.writers import write_mp4

    root = tmp_path_factory.mktemp("pipeline")
    assert main(["synth", "--preset", "tiny", "--videos", "2", "--seed", "5", "--out", str(root / "data"),
                 "--set", "min_frames=5", "--set", "max_frames=6", "--set", "empty_video_prob=0"]) == 0
    dataset = YTVISDataset.from_json(root / "data" / "instances.json")
    video = dataset.videos[0]
    write_mp4((dataset.frame(video.id, t) for t in range(video.length)), root / "clip.mp4", fps=5)
    (root / "frames").mkdir()
    for t in range(video.length):  # frame_9.jpg, frame_10.jpg, ...: read in natural order
        shutil.copy(dataset.frame_path(video.id, t), root / "frames" / f"frame_{t + 9}.jpg")
    return root


@pytest.fixture(scope="session")
def maskrcnn():
    """A random-weight Mask R-CNN (seed 0) at a small input size."""
    from gvis.registry import DETECTORS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DETECTORS.build("maskrcnn", overrides=MASKRCNN_FAST)
