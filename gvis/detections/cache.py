"""A binary cache of a precomputed-detections file, for training.

Parsing and checking a ``.jsonl`` costs about a millisecond per frame; a training run reads the same
detections every epoch. :func:`write_cache` reads (and checks) the ``.jsonl`` once and saves per-video
tensors with ``torch.save``: each field of all frames of a video concatenated, plus ``frame_offsets``.
The cache records the sha256 of its source, and :func:`load_detections` rebuilds a stale cache.
Masks stay compressed RLE strings (decoding is the consumer's choice of resolution); ``class_probs``
omitted in the ``.jsonl`` are filled from labels and scores.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import torch

from gvis.detections.jsonl import DetectionsReader, check_header
from gvis.detections.structures import Detections
from gvis.errors import InputError
from gvis.io import file_sha256, first_line, save_tagged

CACHE_FORMAT = "gvis-detections-cache"
CACHE_VERSION = 1
_ROW_FIELDS = ("boxes", "scores", "labels", "class_probs", "appearance")


def default_cache_path(jsonl_path: str | os.PathLike) -> Path:
    """``dets.jsonl`` → ``dets.pt`` beside it."""
    return Path(jsonl_path).with_suffix(".pt")


def _pack_video(frames: list[Detections], category_ids: list[int]) -> dict:
    """One video's frames as concatenated ``[M, ...]`` tensors and ``frame_offsets [T+1]``.

    ``class_probs`` omitted on a line are built from labels and scores (docs/model.md §0);
    ``frame_appearance [T, Da]`` has zero rows where a line has none (``frame_appearance_present [T]``).
    """
    frames = [d.with_class_probs(category_ids) for d in frames]
    counts = torch.tensor([len(d) for d in frames], dtype=torch.long)
    packed: dict = {
        "image_size": frames[0].image_size,
        "frame_offsets": torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]),
        "masks": [r["counts"] for d in frames for r in d.mask_rles()],
        "frame_appearance": None,
        "frame_appearance_present": torch.tensor([d.frame_appearance is not None for d in frames]),
    }
    for name in _ROW_FIELDS:
        values = [getattr(d, name) for d in frames]
        packed[name] = None if values[0] is None else torch.cat(values)  # appearance: all lines or none
    if packed["frame_appearance_present"].any():
        dim = next(d.frame_appearance for d in frames if d.frame_appearance is not None).shape[0]
        packed["frame_appearance"] = torch.stack(
            [d.frame_appearance if d.frame_appearance is not None else torch.zeros(dim) for d in frames]
        )
    return packed


def write_cache(jsonl_path: str | os.PathLike, cache_path: str | os.PathLike | None = None) -> Path:
    """Read and check ``jsonl_path``; save its binary cache atomically (default ``<stem>.pt``)."""
    jsonl_path = Path(jsonl_path)
    cache_path = default_cache_path(jsonl_path) if cache_path is None else Path(cache_path)
    reader = DetectionsReader(jsonl_path)
    videos: dict[int, dict] = {}
    for video_id, frames in reader.videos():
        videos[video_id] = _pack_video(frames, list(reader.category_index))
    payload = {"source_sha256": file_sha256(jsonl_path), "header": reader.header, "videos": videos}
    return save_tagged(cache_path, payload, CACHE_FORMAT, CACHE_VERSION)


class DetectionsCache:
    """A loaded cache with the reader's interface: ``header``, ``videos()``, plus ``video(video_id)``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            payload = torch.load(self.path, weights_only=True)
        except FileNotFoundError:
            raise InputError("no such detections cache", file=self.path) from None
        except Exception as exc:  # truncated, not a torch file, unexpected pickle content
            raise InputError(f"cannot read detections cache: {first_line(exc)}", file=self.path) from None
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT or payload.get("version") != CACHE_VERSION:
            raise InputError(f"not a {CACHE_FORMAT} version {CACHE_VERSION} file", file=self.path, field="format")
        header, videos = payload.get("header"), payload.get("videos")
        if (not isinstance(payload.get("source_sha256"), str) or not isinstance(videos, dict)
                or not isinstance(header, dict) or check_header(header) is not None):
            raise InputError("damaged detections cache (its parts have the wrong types)", file=self.path)
        self.source_sha256: str = payload["source_sha256"]
        self.header: dict = header
        self.categories: list[dict] = header["categories"]
        self.appearance_dim: int | None = header["appearance_dim"]
        self._videos: dict[int, dict] = videos

    def check_source(self, jsonl_path: str | os.PathLike | None = None) -> None:
        """``InputError`` unless this cache was made from ``jsonl_path`` as it is now (default: the
        ``.jsonl`` beside the cache, when there is one)."""
        source = self.path.with_suffix(".jsonl") if jsonl_path is None else Path(jsonl_path)
        if source.exists() and file_sha256(source) != self.source_sha256:
            raise InputError(f"stale cache: {source} changed after the cache was made from it; name the .jsonl "
                             "instead (its cache is rebuilt)", file=self.path)

    @property
    def video_ids(self) -> list[int]:
        return list(self._videos)

    def video(self, video_id: int) -> list[Detections]:
        """The ``Detections`` of every frame of one video."""
        packed = self._videos[video_id]
        offsets = packed["frame_offsets"].tolist()
        height, width = packed["image_size"]
        frames = []
        for t in range(len(offsets) - 1):
            rows = slice(offsets[t], offsets[t + 1])
            fields = {name: None if packed[name] is None else packed[name][rows] for name in _ROW_FIELDS}
            present = bool(packed["frame_appearance_present"][t])
            frames.append(Detections(
                masks=[{"size": [height, width], "counts": c} for c in packed["masks"][rows]],
                image_size=(height, width),
                frame_appearance=packed["frame_appearance"][t] if present else None,
                **fields,
            ))
        return frames

    def videos(self) -> Iterator[tuple[int, list[Detections]]]:
        for video_id in self._videos:
            yield video_id, self.video(video_id)


def load_detections(jsonl_path: str | os.PathLike, cache_path: str | os.PathLike | None = None) -> DetectionsCache:
    """The cache of ``jsonl_path``, (re)built first when missing or made from another version of it."""
    jsonl_path = Path(jsonl_path)
    cache_path = default_cache_path(jsonl_path) if cache_path is None else Path(cache_path)
    if cache_path.exists():
        try:
            cache = DetectionsCache(cache_path)
        except InputError:  # damaged (an interrupted copy, a crash): it is only a cache, so rebuild it
            cache = None
        if cache is not None and cache.source_sha256 == file_sha256(jsonl_path):
            return cache
    return DetectionsCache(write_cache(jsonl_path, cache_path))
