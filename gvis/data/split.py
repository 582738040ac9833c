"""A deterministic held-out split of a YouTube-VIS annotation file by videos.

The paper tuned hyper-parameters on 200 held-out train videos. :func:`split_videos` picks ``holdout``
videos uniformly at random (NumPy ``default_rng(seed)``, the generator ``gvis.seed.seed_everything(seed)``
returns) and writes two YouTube-VIS files: the remaining videos and the held-out ones, each with the
annotations of its videos, every other top-level key (``categories``, ``info``, ...) copied, and videos and
annotations in their original file order. Same file + same seed → same split, on any machine.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gvis.data.ytvis import YTVISDataset
from gvis.errors import InputError
from gvis.io import write_json_atomic


def split_videos(dataset: YTVISDataset, holdout: int, seed: int) -> tuple[dict, dict]:
    """``(train, holdout)`` YouTube-VIS dicts; ``holdout`` videos go to the second one.

    The choice depends only on the sorted video ids and ``seed``, not on the file order.
    """
    video_ids = sorted(video.id for video in dataset.videos)
    if not 0 <= holdout <= len(video_ids):
        raise InputError(
            f"cannot hold out {holdout} videos: the file has {len(video_ids)}", file=dataset.path, field="videos"
        )
    rng = np.random.default_rng(seed)
    held = {video_ids[i] for i in rng.permutation(len(video_ids))[:holdout].tolist()}
    raw = dataset.raw
    parts = []
    for keep in (lambda video_id: video_id not in held, lambda video_id: video_id in held):
        part = {key: value for key, value in raw.items() if key not in ("videos", "annotations")}
        part["videos"] = [video for video in raw["videos"] if keep(video["id"])]
        if "annotations" in raw:
            part["annotations"] = [ann for ann in raw["annotations"] if keep(ann["video_id"])]
        parts.append(part)
    return parts[0], parts[1]


def write_split(ann_path: str | os.PathLike, holdout: int, seed: int, out_dir: str | os.PathLike) -> dict:
    """Validate ``ann_path``, split it and write ``out_dir/train.json`` and ``out_dir/holdout.json``.

    Each file is written atomically. Returns a summary (paths and video/annotation counts).
    """
    dataset = YTVISDataset.from_json(ann_path)
    train, held = split_videos(dataset, holdout, seed)
    out_dir = Path(out_dir)
    summary: dict = {"seed": seed}
    for name, part in (("train", train), ("holdout", held)):
        path = out_dir / f"{name}.json"
        write_json_atomic(path, part)
        summary[name] = {"path": str(path), "videos": len(part["videos"]), "annotations": len(part.get("annotations", []))}
    return summary
