"""The YouTube-VIS results format: written from tracker output, read back and checked.

A results file is a JSON list with one entry per predicted track::

    {"video_id": 3, "category_id": 7, "score": 0.82,
     "segmentations": [{"size": [H, W], "counts": "<compressed RLE>"}, null, ...]}   # one per frame

``segmentations`` has one item per frame of the video, ``null`` where the track has no mask. This is
the official format, with nothing added: provenance goes to the ``<stem>.meta.json`` sidecar.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from gvis import __version__
from gvis.data.rle import to_compressed_rle
from gvis.errors import InputError
from gvis.eval.video_rle import FrameRuns, decode_counts, string_table
from gvis.io import atomic_open, write_json_atomic
from gvis.provenance import git_hash

if TYPE_CHECKING:  # reading results (gvis eval) must not pay for importing torch
    from gvis.detections.structures import Detections, Tracks

ENTRY_KEYS = ("video_id", "category_id", "score", "segmentations")


# ---------------------------------------------------------------------------------------- writing


class VideoResults:
    """Collects a tracker's output for one video into YouTube-VIS results entries.

    Call :meth:`add_frame` once per frame, in order. Masks are RLE-encoded as they arrive, so memory
    grows with the compressed masks only. A track's class and score are the last ones reported for
    it; a track that never had a non-empty mask gives no entry.

    ``category_hypotheses = K > 1`` reports each track once more for each of up to ``K − 1`` other
    categories that its assigned detections were labelled with (most frequent first; ties: the lower id),
    with the same masks and the score ``s · n_c / n``: the track's score times the share of its ``n``
    assigned detections labelled ``c``. Its own category keeps the score ``s``, so with ``K = 1`` (the
    default, one entry per track as in MaskTrack R-CNN) nothing changes; see docs/evaluation.md,
    "Category hypotheses". The labels come from the frame's detections given to :meth:`add_frame`.
    """

    def __init__(self, video_id: int, category_hypotheses: int = 1) -> None:
        if category_hypotheses < 1:
            raise ValueError(f"category_hypotheses must be at least 1, got {category_hypotheses}")
        self.video_id = video_id
        self.category_hypotheses = category_hypotheses
        self.num_frames = 0
        self._image_size: tuple[int, int] | None = None
        # track id -> [category id, score, {frame index: RLE}], in order of first appearance
        self._tracks: dict[int, list] = {}
        # track id -> {category id: number of its assigned detections with that label}
        self._label_counts: dict[int, Counter] = {}

    def add_frame(self, tracks: "Tracks", detections: "Detections | None" = None) -> None:
        """Record the tracks of the next frame (``tracks.masks [K, H, W]`` bool). ``detections``: the frame's
        detections that ``tracks.det_indices`` index, needed with ``category_hypotheses > 1``."""
        from gvis.detections.structures import encode_masks

        frame = self.num_frames
        image_size = tuple(tracks.masks.shape[1:])
        if self._image_size is None:
            self._image_size = image_size
        elif image_size != self._image_size:
            raise ValueError(f"VideoResults: frame {frame} masks are {image_size}, earlier frames {self._image_size}")
        track_ids = tracks.track_ids.tolist()
        if len(set(track_ids)) != len(track_ids):
            raise ValueError(f"VideoResults: frame {frame} repeats a track id: {track_ids}")
        if self.category_hypotheses > 1:
            if detections is None:
                raise ValueError("VideoResults: category_hypotheses > 1 needs each frame's detections")
            det_labels = detections.labels.tolist()
            for track_id, det in zip(track_ids, tracks.det_indices.tolist()):
                if det >= 0:
                    self._label_counts.setdefault(track_id, Counter())[det_labels[det]] += 1
        # Reductions and encoding that keep the masks' memory layout (no full-size copy per track).
        has_mask = tracks.masks.amax(dim=(1, 2)).tolist()
        rles = encode_masks(tracks.masks)
        for track_id, label, score, masked, rle in zip(track_ids, tracks.labels.tolist(), tracks.scores.tolist(),
                                                       has_mask, rles):
            record = self._tracks.setdefault(track_id, [None, None, {}])
            record[0], record[1] = int(label), float(score)
            if masked:
                record[2][frame] = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}
        self.num_frames += 1

    def hypotheses(self, track_id: int, category_id: int, score: float) -> list[tuple[int, float]]:
        """``(category id, score)`` of a track's entries: its own category first (the class docstring)."""
        counts = self._label_counts.get(track_id)
        if self.category_hypotheses == 1 or not counts:
            return [(category_id, score)]
        total = sum(counts.values())
        others = sorted((c for c in counts if c != category_id), key=lambda c: (-counts[c], c))
        return [(category_id, score)] + [(c, score * counts[c] / total) for c in others[:self.category_hypotheses - 1]]

    def entries(self, hypotheses: bool = True) -> list[dict]:
        """Official results entries of the tracks seen so far, in order of first appearance (a track's category
        hypotheses after it; ``hypotheses=False``: one entry per track, in its own category)."""
        out = []
        for track_id, (category_id, score, masks) in self._tracks.items():
            if not masks:
                continue
            segmentations = [masks.get(frame) for frame in range(self.num_frames)]
            chosen = self.hypotheses(track_id, category_id, score) if hypotheses else [(category_id, score)]
            for hypothesis, hypothesis_score in chosen:
                out.append({
                    "video_id": self.video_id,
                    "category_id": hypothesis,
                    "score": hypothesis_score,
                    "segmentations": list(segmentations),
                })
        return out


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("ascii")
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_results(path: str | os.PathLike, entries: Sequence[dict], meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``entries`` as a results JSON file and ``<stem>.meta.json`` beside it, both atomically.

    The sidecar holds ``meta`` (config, seed, ...) plus the gvis version, git hash, command line and
    time (UTC). RLE ``counts`` given as bytes are written as strings. Returns the sidecar's path.
    """
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(list(entries), handle, default=_json_default)
    sidecar = path.with_name(f"{path.stem}.meta.json")
    write_json_atomic(sidecar, {
        **dict(meta or {}),
        "gvis_version": __version__,
        "git_hash": git_hash(),
        "command": shlex.join(sys.argv),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, indent=2)
    return sidecar


# ---------------------------------------------------------------------------------------- reading


class VideoInfo(Protocol):
    """What reading results needs to know of a video (``gvis.data.ytvis.Video`` has it)."""

    id: Any
    height: int
    width: int
    length: int


@dataclass
class ResultTrack:
    """One checked results entry.

    - ``index``: position in the results list (named in error messages).
    - ``counts``: per frame, the compressed RLE string (bytes) or ``None`` where the track is absent.
    """

    index: int
    video_id: Any
    category_id: int
    score: float
    counts: list[bytes | None]


def load_results(path: str | os.PathLike) -> list:
    """The parsed results list of ``path``; :class:`InputError` for unreadable or non-list JSON."""
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read the results file: {exc.strerror}", file=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno) from None
    except UnicodeDecodeError:
        raise InputError("not valid JSON: the file is not UTF-8 text", file=path) from None
    except RecursionError:
        raise InputError("JSON nested too deeply to be a results file", file=path) from None
    if not isinstance(data, list):
        raise InputError(
            f"a results file is a JSON list of entries {{{', '.join(ENTRY_KEYS)}}}, got a {type(data).__name__}",
            file=path,
        )
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def parse_results(
    entries: Sequence[Any],
    videos: Mapping[Any, VideoInfo],
    file: str | os.PathLike | None = None,
    category_ids: set[int] | None = None,
    strict: bool = False,
) -> list[ResultTrack]:
    """Check the form of every entry and collect its per-frame RLE strings (not yet decoded).

    Always checked: an object with the four keys; ``video_id`` a video of the ground truth;
    ``category_id`` an integer; ``score`` a finite number; ``segmentations`` a list whose items are
    ``null`` (or empty) or a segmentation of the video's size. Uncompressed RLE and polygons are
    converted (and checked) here. With ``strict`` (submissions) also: the category is one of
    ``category_ids``, the list has one item per frame of the video, the score lies in [0, 1].

    Compressed strings are checked when decoded (:func:`decode_tracks`). Errors are
    :class:`InputError` naming ``file``, the video and the field as ``results[i].segmentations[t]``.
    """
    tracks = []
    for index, entry in enumerate(entries):
        where = f"results[{index}]"
        if not isinstance(entry, Mapping):
            raise InputError(f"an entry must be an object, got {type(entry).__name__}", file=file, field=where)
        for key in ENTRY_KEYS:
            if key not in entry:
                raise InputError(f"missing key '{key}'", file=file, field=f"{where}.{key}")
        video_id = entry["video_id"]
        if not _is_int(video_id) or video_id not in videos:
            raise InputError(f"unknown video id {video_id!r} (not in the ground truth)", file=file, field=f"{where}.video_id")
        category_id = entry["category_id"]
        if not _is_int(category_id):
            raise InputError(f"category id must be an integer, got {category_id!r}", file=file, video_id=video_id,
                             field=f"{where}.category_id")
        if strict and category_ids is not None and category_id not in category_ids:
            raise InputError(f"unknown category id {category_id} (not in the ground truth's categories)", file=file,
                             video_id=video_id, field=f"{where}.category_id")
        score = entry["score"]
        if not isinstance(score, Real) or isinstance(score, bool) or not math.isfinite(score):
            raise InputError(f"score must be a finite number, got {score!r}", file=file, video_id=video_id,
                             field=f"{where}.score")
        if strict and not 0.0 <= score <= 1.0:
            raise InputError(f"score must lie in [0, 1], got {score!r}", file=file, video_id=video_id, field=f"{where}.score")
        segmentations = entry["segmentations"]
        if not isinstance(segmentations, list):
            raise InputError(f"segmentations must be a list (one item per frame), got {type(segmentations).__name__}",
                             file=file, video_id=video_id, field=f"{where}.segmentations")
        video = videos[video_id]
        if strict and len(segmentations) != video.length:
            raise InputError(f"{len(segmentations)} segmentations for a video of {video.length} frames", file=file,
                             video_id=video_id, field=f"{where}.segmentations")
        counts = _frame_counts(segmentations, video, file, f"{where}.segmentations")
        tracks.append(ResultTrack(index, video_id, int(category_id), float(score), counts))
    return tracks


def _frame_counts(segmentations: list, video: VideoInfo, file: Any, field: str) -> list[bytes | None]:
    """Per frame the compressed string (bytes) or None; converts uncompressed RLE and polygons."""
    size = [video.height, video.width]
    counts: list[bytes | None] = []
    for frame, segmentation in enumerate(segmentations):
        if not segmentation:  # null, {} or [] all mean "no mask", as in the official code
            counts.append(None)
            continue
        if type(segmentation) is dict and type(segmentation.get("counts")) is str and segmentation.get("size") == size:
            # Non-ASCII characters become bytes >= 0x80, which decoding rejects.
            counts.append(segmentation["counts"].encode("utf-8", "surrogatepass"))
            continue
        try:
            if isinstance(segmentation, Mapping) and "size" not in segmentation:
                raise ValueError("RLE has no 'size'")
            if not isinstance(segmentation, (Mapping, list)):
                raise ValueError(f"a segmentation must be an RLE object or a list of polygons, got {type(segmentation).__name__}")
            counts.append(bytes(to_compressed_rle(dict(segmentation) if isinstance(segmentation, Mapping) else segmentation,
                                                  video.height, video.width)["counts"]))
        except ValueError as exc:
            raise InputError(str(exc), file=file, video_id=video.id, field=f"{field}[{frame}]") from None
    return counts


def decode_tracks(
    tracks: Sequence[ResultTrack], video: VideoInfo, file: str | os.PathLike | None = None,
) -> tuple[FrameRuns, np.ndarray]:
    """Decode every frame string of ``tracks`` (all of one video) in one batch.

    Returns the decoded runs and ``frame_strings [len(tracks), F]`` (string index per track and frame,
    ``-1`` where absent; ``F`` = the longest track). A corrupt string raises :class:`InputError`
    naming the entry and frame.
    """
    blobs, frame_strings = string_table([track.counts for track in tracks])
    decoded = decode_counts(blobs, video.height * video.width)
    if decoded.problems:
        string, reason = decoded.problems[0]
        row, frame = (int(v[0]) for v in np.nonzero(frame_strings == string))
        raise InputError(reason, file=file, video_id=video.id, field=f"results[{tracks[row].index}].segmentations[{frame}]")
    return decoded, frame_strings
