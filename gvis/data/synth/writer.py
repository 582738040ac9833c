"""Writing a synthetic dataset in the YouTube-VIS layout, atomically.

``DIR/JPEGImages/<video name>/<frame:05d>.jpg`` and ``DIR/instances.json``. Video ``i`` of seed ``S``
is drawn from generators seeded with ``(S, i)`` only, so the first N videos of a larger set are the
N-video set (prefix-stable), annotation ids included.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from gvis import __version__
from gvis.config import to_dict
from gvis.data.synth.config import SynthConfig
from gvis.data.synth.render import RenderedFrame, render_video
from gvis.data.synth.scene import VideoPlan, plan_video
from gvis.errors import InputError


def video_name(index: int) -> str:
    return f"synth_{index:05d}"


def video_generators(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for video ``index``'s plan and its pixels.

    Separate streams keep the scene (and so the annotations) unchanged when only an image knob such
    as ``pixel_noise`` changes.
    """
    plan_seq, render_seq = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(plan_seq), np.random.default_rng(render_seq)


@dataclass
class _InstanceTrack:
    """Per-frame ground truth of one object while its video is rendered."""

    segmentations: list[dict | None] = field(default_factory=list)
    areas: list[int | None] = field(default_factory=list)
    bboxes: list[list[float] | None] = field(default_factory=list)
    full_areas: list[int | None] = field(default_factory=list)


def frame_ground_truth(frame: RenderedFrame, min_visible_area: int) -> dict[int, tuple[dict, int, list[float]]]:
    """Object index → (compressed RLE with str counts, area, bbox [x, y, w, h]) of its visible pixels.

    Objects with fewer than ``min_visible_area`` visible pixels are left out (invisible in this frame).
    """
    counts = np.bincount(frame.labels.ravel() + 2, minlength=len(frame.full_areas) + 2)[2:]
    visible = np.flatnonzero(counts >= max(min_visible_area, 1))
    if len(visible) == 0:
        return {}
    # pycocotools wants [H, W, K] in Fortran order; comparing straight into it avoids a transposing copy.
    masks = np.empty((*frame.labels.shape, len(visible)), dtype=bool, order="F")
    np.equal(frame.labels[:, :, None], visible.astype(frame.labels.dtype), out=masks)
    rles = mask_utils.encode(masks.view(np.uint8))
    areas = mask_utils.area(rles)
    bboxes = mask_utils.toBbox(rles)
    result = {}
    for k, rle, area, bbox in zip(visible.tolist(), rles, areas.tolist(), bboxes.tolist()):
        result[k] = ({"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}, int(area), bbox)
    return result


def write_video(cfg: SynthConfig, seed: int, index: int, image_root: Path) -> tuple[VideoPlan, list[_InstanceTrack]]:
    """Render video ``index``, write its JPEGs under ``image_root`` and return its ground truth."""
    plan_rng, render_rng = video_generators(seed, index)
    plan = plan_video(cfg, plan_rng)
    folder = image_root / video_name(index)
    folder.mkdir(parents=True)
    tracks = [_InstanceTrack() for _ in plan.objects]
    for t, frame in enumerate(render_video(cfg, plan, render_rng)):
        Image.fromarray(frame.image).save(folder / f"{t:05d}.jpg", format="JPEG", quality=cfg.jpeg_quality)
        visible = frame_ground_truth(frame, cfg.min_visible_area)
        for k, track in enumerate(tracks):
            segmentation, area, bbox = visible.get(k, (None, None, None))
            track.segmentations.append(segmentation)
            track.areas.append(area)
            track.bboxes.append(bbox)
            track.full_areas.append(int(frame.full_areas[k]) if frame.full_areas[k] > 0 else None)
    return plan, tracks


def _video_entries(
    cfg: SynthConfig, index: int, plan: VideoPlan, tracks: list[_InstanceTrack], first_annotation_id: int
) -> tuple[dict, list[dict]]:
    """The ``videos`` entry and the ``annotations`` of one video (instances never visible dropped)."""
    name = video_name(index)
    video_id = index + 1
    video = {
        "id": video_id, "width": cfg.width, "height": cfg.height, "length": plan.num_frames,
        "file_names": [f"{name}/{t:05d}.jpg" for t in range(plan.num_frames)],
        "synth": {"camera": plan.camera.tolist(), "jump_frames": plan.jump_frames},
    }
    category_ids = {name: i + 1 for i, name in enumerate(cfg.categories)}
    kept = [k for k, track in enumerate(tracks) if any(s is not None for s in track.segmentations)]
    annotation_ids = {k: first_annotation_id + i for i, k in enumerate(kept)}
    group_ids: dict[int, int] = {}
    for k in kept:
        group = plan.objects[k].look_alike
        if group >= 0:
            group_ids.setdefault(group, annotation_ids[k])
    annotations = []
    for k in kept:
        obj, track = plan.objects[k], tracks[k]
        annotations.append({
            "id": annotation_ids[k], "video_id": video_id, "category_id": category_ids[obj.category],
            "iscrowd": 0, "height": cfg.height, "width": cfg.width, "length": 1,
            "segmentations": track.segmentations, "areas": track.areas, "bboxes": track.bboxes,
            "synth": {
                "color": [round(float(c), 4) for c in obj.base_color],
                "look_alike_group": group_ids.get(obj.look_alike, annotation_ids[k]),
                "full_areas": track.full_areas,
            },
        })
    return video, annotations


@contextlib.contextmanager
def _atomic_directory(out: Path, overwrite: bool):
    """Yield a temporary folder beside ``out`` that becomes ``out`` on success (removed on error)."""
    out = out.absolute()
    if out.exists() and not overwrite:
        raise InputError("output folder exists (pass --overwrite to replace it)", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def generate_dataset(
    cfg: SynthConfig,
    num_videos: int,
    seed: int,
    out: str | os.PathLike,
    *,
    preset: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``num_videos`` synthetic videos to ``out``; returns a summary (counts)."""
    from tqdm import tqdm

    if num_videos < 0:
        raise InputError(f"the number of videos must be >= 0, got {num_videos}", field="--videos")
    out = Path(out)
    videos, annotations = [], []
    with _atomic_directory(out, overwrite) as tmp:
        image_root = tmp / "JPEGImages"
        image_root.mkdir()
        for index in tqdm(range(num_videos), desc="gvis synth", unit="video", file=sys.stderr, disable=not progress):
            plan, tracks = write_video(cfg, seed, index, image_root)
            video, video_annotations = _video_entries(cfg, index, plan, tracks, len(annotations) + 1)
            videos.append(video)
            annotations.extend(video_annotations)
        dataset = {
            "info": {
                "description": "gvis synthetic VIS benchmark", "version": __version__,
                "preset": preset, "seed": seed, "num_videos": num_videos, "config": to_dict(cfg),
            },
            "licenses": [],
            "videos": videos,
            "categories": [{"supercategory": "shape", "id": i + 1, "name": name} for i, name in enumerate(cfg.categories)],
            "annotations": annotations,
        }
        with open(tmp / "instances.json", "w", encoding="utf-8") as handle:
            json.dump(dataset, handle)
    return {
        "out": str(out), "videos": len(videos), "frames": sum(v["length"] for v in videos),
        "instances": len(annotations), "empty_videos": len(videos) - len({a["video_id"] for a in annotations}),
    }
