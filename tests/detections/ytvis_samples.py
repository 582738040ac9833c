"""Small hand-made YouTube-VIS datasets for the detections tests (no synthetic generator needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

CATEGORIES = [{"id": 1, "name": "disc"}, {"id": 2, "name": "square"}, {"id": 5, "name": "triangle"}]


def _disc(height: int, width: int, cy: float, cx: float, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2


def _square(height: int, width: int, cy: float, cx: float, half: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (np.abs(yy - cy) <= half) & (np.abs(xx - cx) <= half)


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": rle["counts"].decode("ascii")}


def make_ytvis(
    num_videos: int = 3, length: int = 8, height: int = 60, width: int = 80, synth: bool = True, seed: int = 0
) -> dict:
    """Videos of moving discs: per video two look-alike discs (category 1, group 0), one big square
    (category 2) and one small disc (category 5) that an occluder covers in the second half.

    With ``synth``, annotations carry ``"synth": {"color", "look_alike_group", "full_areas"}``; frames
    where an instance is invisible are null (the small disc vanishes in frame 2).
    """
    rng = np.random.default_rng(seed)
    videos, annotations = [], []
    ann_id = 1
    for v in range(num_videos):
        video_id = 10 + v
        videos.append({
            "id": video_id, "name": f"v{v}", "width": width, "height": height, "length": length,
            "file_names": [f"v{v}/{t:05d}.jpg" for t in range(length)],
        })
        objects = [  # (category, group, colour, radius, start, velocity)
            (1, 0, [0.8, 0.2, 0.2], 9.0, (20.0, 15.0), (0.0, 2.0)),
            (1, 0, [0.78, 0.22, 0.2], 9.0, (40.0, 60.0), (0.0, -2.0)),
            (2, 1, [0.1, 0.3, 0.9], 12.0, (30.0, 40.0), (0.5, 0.0)),
            (5, 2, [0.2, 0.9, 0.2], 3.0, (10.0, 70.0), (0.3, -0.5)),
        ]
        for category, group, color, radius, start, velocity in objects:
            jitter = rng.normal(0, 1.0, size=2)
            segmentations, areas, bboxes, full_areas = [], [], [], []
            for t in range(length):
                cy = start[0] + velocity[0] * t + jitter[0]
                cx = start[1] + velocity[1] * t + jitter[1]
                full = _square(height, width, cy, cx, radius) if category == 2 else _disc(height, width, cy, cx, radius)
                visible = full.copy()
                if category == 5 and t >= length // 2:
                    visible[:, : int(cx) + 1] = False  # an occluder hides the left part
                if category == 5 and t == 2:
                    visible[:] = False
                if not visible.any():
                    for values in (segmentations, areas, bboxes, full_areas):
                        values.append(None)
                    continue
                rows, cols = np.flatnonzero(visible.any(1)), np.flatnonzero(visible.any(0))
                segmentations.append(_rle(visible))
                areas.append(int(visible.sum()))
                bboxes.append([float(cols[0]), float(rows[0]), float(cols[-1] + 1 - cols[0]), float(rows[-1] + 1 - rows[0])])
                full_areas.append(int(full.sum()))
            annotation = {
                "id": ann_id, "video_id": video_id, "category_id": category, "iscrowd": 0,
                "segmentations": segmentations, "areas": areas, "bboxes": bboxes,
            }
            if synth:
                annotation["synth"] = {"color": color, "look_alike_group": group, "full_areas": full_areas}
            annotations.append(annotation)
            ann_id += 1
    return {"videos": videos, "categories": CATEGORIES, "annotations": annotations}


@pytest.fixture
def ytvis_dir(tmp_path: Path) -> Path:
    """A dataset folder with instances.json (no frames: the simulator needs none)."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "instances.json").write_text(json.dumps(make_ytvis()))
    return folder
