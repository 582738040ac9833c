"""Builders for small YouTube-VIS ground truths and results made from numpy masks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from pycocotools import mask as mask_utils


def rle(mask: np.ndarray) -> dict:
    """Compressed RLE (str counts) of a 2-D mask, as results files hold it."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def rect(height: int, width: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """A ``height x width`` mask with rows ``y0:y1`` and columns ``x0:x1`` set."""
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


class VisCase:
    """A ground truth and a results list under construction.

    Masks are 2-D bool arrays or ``None`` (absent in that frame). Annotation ids count from 1 unless
    given; ``areas`` default to the mask pixel counts.
    """

    def __init__(self, categories: Sequence[tuple[int, str]] = ((1, "person"),)) -> None:
        self.gt: dict = {"videos": [], "categories": [{"id": i, "name": n} for i, n in categories], "annotations": []}
        self.results: list[dict] = []

    def video(self, video_id: int, frames: int, height: int = 4, width: int = 4) -> "VisCase":
        self.gt["videos"].append({
            "id": video_id, "height": height, "width": width, "length": frames,
            "file_names": [f"v{video_id}/{t:05d}.jpg" for t in range(frames)],
        })
        return self

    def instance(self, video_id: int, masks: Sequence[np.ndarray | None], category_id: int = 1, iscrowd: int = 0,
                 areas: Sequence[float | None] | None = None, ann_id: int | None = None) -> "VisCase":
        self.gt["annotations"].append({
            "id": len(self.gt["annotations"]) + 1 if ann_id is None else ann_id,
            "video_id": video_id, "category_id": category_id, "iscrowd": iscrowd,
            "segmentations": [None if m is None else rle(m) for m in masks],
            "areas": [None if m is None else int(m.sum()) for m in masks] if areas is None else list(areas),
        })
        return self

    def predict(self, video_id: int, masks: Sequence[np.ndarray | None], score: float, category_id: int = 1) -> "VisCase":
        self.results.append({
            "video_id": video_id, "category_id": category_id, "score": score,
            "segmentations": [None if m is None else rle(m) for m in masks],
        })
        return self

    def dataset(self):
        from gvis.data.ytvis import YTVISDataset

        return YTVISDataset.from_dict(json.loads(json.dumps(self.gt)), source="gt.json")

    def evaluate(self, **kwargs) -> dict:
        from gvis.eval.ytvis_ap import evaluate

        return evaluate(self.dataset(), json.loads(json.dumps(self.results)), **kwargs)

    def write(self, folder: Path) -> tuple[Path, Path]:
        gt_path, results_path = folder / "gt.json", folder / "results.json"
        gt_path.write_text(json.dumps(self.gt))
        results_path.write_text(json.dumps(self.results))
        return gt_path, results_path


@pytest.fixture
def vis_case():
    """A fresh :class:`VisCase` builder (call it with optional categories)."""
    return VisCase


@pytest.fixture
def masks():
    """Mask helpers: ``masks.rect(h, w, y0, y1, x0, x1)`` and ``masks.rle(mask)``."""

    class Helpers:
        pass

    Helpers.rect = staticmethod(rect)
    Helpers.rle = staticmethod(rle)
    return Helpers
