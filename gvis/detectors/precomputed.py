"""Precomputed detections (a gvis-detections ``.jsonl``, docs/formats.md) as a
:class:`~gvis.detectors.protocol.Detector`.

This is how any segmenter's output reaches the tracker without gvis running it: write the ``.jsonl``
once, then serve it frame by frame. Frames are served

- in file order by ``__call__(frames)`` (each frame given must have the size the file records for it),
  e.g. for a video file or a frame folder whose detections were made in the same order; or
- by ``(video_id, frame_index)`` with :meth:`frame`, or a whole video with :meth:`detect_video`.

The file is streamed, never held whole: a lookup that moves backwards re-reads from the start.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from gvis.detections.jsonl import DetectionsReader
from gvis.detections.structures import Detections
from gvis.errors import ConfigError, InputError
from gvis.registry import DETECTORS

Record = tuple[int, int, Detections]


@DETECTORS.register("precomputed")
class PrecomputedDetector:
    """Serves the detections of a ``.jsonl`` file.

    Args:
        checkpoint: the ``.jsonl`` file (a precomputed detector's "weights"; keyword shared by every
            registered detector).
        device: unused (the detections are CPU tensors).
        overrides: must be empty (nothing to configure).
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", overrides: Sequence[str] = ()) -> None:
        if checkpoint is None:
            raise InputError("the precomputed detector needs a detections file (.jsonl)", field="checkpoint")
        if overrides:
            raise ConfigError("detector 'precomputed' has no settings for --set")
        self.reader = DetectionsReader(checkpoint)
        self.path = self.reader.path
        self.categories: list[dict] = self.reader.categories
        self.appearance_dim: int = self.reader.appearance_dim or 0
        self.meta = {"detector": "precomputed", "source": str(self.path), "source_meta": self.reader.header.get("meta")}
        self.reset()

    def reset(self) -> None:
        """Serve from the first frame of the file again."""
        self._stream: Iterator[Record] = self.reader.frames()
        self._pending: Record | None = None
        self.served = 0

    def _next(self) -> Record | None:
        record = self._pending if self._pending is not None else next(self._stream, None)
        self._pending = None
        return record

    def finished(self) -> bool:
        """Whether every frame of the file has been served in order."""
        if self._pending is None:
            self._pending = next(self._stream, None)
        return self._pending is None

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """The next ``len(frames)`` frames of the file, each checked against the size of its frame."""
        out = []
        for frame in frames:
            record = self._next()
            if record is None:
                raise InputError(f"the detections end after {self.served} frames; the input has more", file=self.path)
            video_id, frame_index, detections = record
            if detections.image_size != tuple(frame.shape[:2]):
                raise InputError(f"frame {frame_index} has detections for a {detections.image_size} image, the input "
                                 f"frame {self.served} is {tuple(frame.shape[:2])}", file=self.path, video_id=video_id,
                                 field="image_size")
            self.served += 1
            out.append(detections)
        return out

    def frame(self, video_id: int, frame_index: int) -> Detections:
        """The detections of one frame; ``InputError`` if the file has none for it."""
        for from_start in (False, True):
            if from_start:
                self.reset()
            while (record := self._next()) is not None:
                if record[0] == video_id and record[1] == frame_index:
                    return record[2]
        raise InputError(f"no detections for frame {frame_index}", file=self.path, video_id=video_id)

    def detect_video(self, video_id: int) -> Iterator[Detections]:
        """The detections of every frame of a video, in order (the file holds a video's frames together)."""
        yield self.frame(video_id, 0)
        while not self.finished() and self._pending[0] == video_id:
            yield self._next()[2]
