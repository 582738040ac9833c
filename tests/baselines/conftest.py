"""Hand-made detections for the tracker tests."""
from __future__ import annotations

import pytest
import torch

from gvis.detections.structures import Detections

IMAGE_SIZE = (40, 60)


def frame(boxes, scores=None, labels=None, appearance=None, image_size=IMAGE_SIZE) -> Detections:
    """Detections whose masks fill their integer boxes ``[x1, y1, x2, y2]``."""
    count = len(boxes)
    masks = torch.zeros((count, *image_size), dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, y1:y2, x1:x2] = True
    return Detections(
        boxes=torch.tensor(boxes, dtype=torch.float32).reshape(count, 4),
        scores=torch.tensor(scores if scores is not None else [0.9] * count, dtype=torch.float32),
        labels=torch.tensor(labels if labels is not None else [1] * count, dtype=torch.long),
        masks=masks,
        image_size=image_size,
        appearance=None if appearance is None else torch.tensor(appearance, dtype=torch.float32),
    )


@pytest.fixture
def make_frame():
    return frame


def _gvis(*argv) -> None:
    from gvis.cli import main

    assert main([str(a) for a in argv]) == 0, f"gvis {' '.join(map(str, argv))} failed"


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory):
    """A tiny synthetic dataset (6 videos of 3-8 frames, 64x96) with simulated medium-preset detections."""
    root = tmp_path_factory.mktemp("tiny")
    _gvis("synth", "--preset", "tiny", "--videos", 6, "--seed", 3, "--out", root / "data")
    _gvis("detect", "--detector", "simulated", "--preset", "medium", "--data", root / "data", "--out", root / "dets.jsonl")
    return root


@pytest.fixture(scope="session")
def run_gvis():
    return _gvis
