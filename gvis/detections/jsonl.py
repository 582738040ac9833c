"""The precomputed-detections format (``*.jsonl``): how any segmenter's output enters gvis.

Line 1 is a header, every further line one frame of one video (the full rules, with an example, are in
``docs/formats.md``)::

    {"format": "gvis-detections", "version": 1, "categories": [{"id": 1, "name": "person"}, ...],
     "appearance_dim": 64, "meta": {...}}
    {"video_id": 3, "frame_index": 0, "height": 240, "width": 320, "boxes": [[x1, y1, x2, y2], ...],
     "scores": [...], "labels": [...], "class_probs": [[p_bg, p_1, ..., p_C], ...],
     "masks": [{"size": [240, 320], "counts": "..."}, ...], "appearance": [[...], ...],
     "frame_appearance": [...]}

The reader checks every rule and raises :class:`~gvis.errors.InputError` naming the file, the line and
the field. The writer runs the same checks on what it is given (so whatever it writes reads back) and
replaces its target file atomically when it is closed without an error.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

import numpy as np
import torch

from gvis.data.rle import check_compressed_counts
from gvis.detections.structures import Detections
from gvis.errors import InputError
from gvis.io import atomic_open

FORMAT = "gvis-detections"
VERSION = 1

_HEADER_KEYS = {"format", "version", "categories", "appearance_dim", "meta"}
_REQUIRED_FRAME_KEYS = ("video_id", "frame_index", "height", "width", "boxes", "scores", "labels", "masks")
_OPTIONAL_FRAME_KEYS = ("class_probs", "appearance", "frame_appearance")
#: Tolerance on ``sum(class_probs[n]) == 1`` (values are written with 6 decimals).
_PROB_SUM_TOLERANCE = 1e-3
#: Longest line read, in MB (parsing a line takes many times its size in memory); the environment
#: variable ``GVIS_MAX_JSONL_LINE_MB`` changes it.
MAX_LINE_MB = 64
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def max_line_bytes() -> int:
    """The line-length bound of :class:`DetectionsReader`: ``GVIS_MAX_JSONL_LINE_MB`` or :data:`MAX_LINE_MB`."""
    value = os.environ.get("GVIS_MAX_JSONL_LINE_MB", str(MAX_LINE_MB))
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = float("nan")
    if not megabytes > 0 or megabytes == float("inf"):
        raise InputError(f"must be a positive number of MB, got {value!r}", file="environment",
                         field="GVIS_MAX_JSONL_LINE_MB")
    return int(megabytes * 2**20)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def normalize_categories(categories: Sequence[Any]) -> list[dict]:
    """``[{"id": int, "name": str}, ...]`` from dicts or objects with ``id`` and ``name`` attributes."""
    out = []
    for category in categories:
        if isinstance(category, dict):
            out.append({"id": category.get("id"), "name": category.get("name")})
        else:
            out.append({"id": getattr(category, "id", None), "name": getattr(category, "name", None)})
    return out


def check_header(header: Any) -> str | None:
    """The first problem of a header object as ``"field: reason"``, or ``None`` when it is valid."""
    if not isinstance(header, dict):
        return f"<header>: line 1 must be a JSON object, got {type(header).__name__}"
    unknown = sorted(set(header) - _HEADER_KEYS)
    if unknown:
        return f"{unknown[0]}: unknown header key (known: {', '.join(sorted(_HEADER_KEYS))})"
    if header.get("format") != FORMAT:
        return f"format: must be \"{FORMAT}\", got {header.get('format')!r}"
    if header.get("version") != VERSION:
        return f"version: unsupported version {header.get('version')!r} (this gvis reads version {VERSION})"
    categories = header.get("categories")
    if not isinstance(categories, list) or not categories:
        return "categories: must be a non-empty list of {\"id\": int, \"name\": str}"
    seen: set[int] = set()
    for k, category in enumerate(categories):
        # Other keys (YouTube-VIS's "supercategory", ...) are allowed and kept as they are.
        if (not isinstance(category, dict) or not _is_int(category.get("id"))
                or not isinstance(category.get("name"), str)):
            return f"categories[{k}]: must be an object with \"id\": int and \"name\": str, got {category!r}"
        if category["id"] in seen:
            return f"categories[{k}]: duplicate category id {category['id']}"
        seen.add(category["id"])
    if "appearance_dim" not in header:
        return "appearance_dim: missing (use null for detections without appearance vectors)"
    dim = header["appearance_dim"]
    if dim is not None and (not _is_int(dim) or dim <= 0):
        return f"appearance_dim: must be a positive integer or null, got {dim!r}"
    if "meta" in header and not isinstance(header["meta"], dict):
        return f"meta: must be a JSON object, got {type(header['meta']).__name__}"
    return None


class _FrameError(Exception):
    """A rule broken on one line: the field and the reason (the caller adds file and line)."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _numbers(value: Any, field: str, shape: tuple[int | None, ...], kind: str = "f") -> np.ndarray:
    """``value`` as an array of the given shape (``None`` = any); ints or floats only, all finite."""
    what = {1: "a list of numbers", 2: "a list of lists of numbers"}[len(shape)]
    if not isinstance(value, list):
        raise _FrameError(field, f"must be {what}, got {type(value).__name__}")
    if not value:
        if shape[0]:
            raise _FrameError(field, f"has 0 entries, expected {shape[0]}")
        return np.zeros((0,) + tuple(s or 0 for s in shape[1:]))
    try:
        array = np.asarray(value)
    except ValueError:
        raise _FrameError(field, f"must be {what} with rows of equal length") from None
    allowed = ("i", "u") if kind == "i" else ("i", "u", "f")
    if array.dtype.kind not in allowed:
        raise _FrameError(field, f"must contain only {'integers' if kind == 'i' else 'numbers'}")
    if array.ndim != len(shape):
        raise _FrameError(field, f"must be {what}, got {array.ndim} nesting level(s)")
    for axis, (size, expected) in enumerate(zip(array.shape, shape)):
        if expected is not None and size != expected:
            if axis == 0:
                raise _FrameError(field, f"has {size} entries, expected {expected}")
            raise _FrameError(field, f"rows have width {size}, expected {expected}")
    if kind == "f" and not (np.abs(array) <= _FLOAT32_MAX).all():  # NaN compares False too
        raise _FrameError(field, "contains NaN, inf or a value beyond float32's range")
    return array


def _parse_frame(
    record: Any, category_index: dict[int, int], appearance_dim: int | None, check_masks: bool
) -> tuple[int, int, Detections]:
    """Check one frame object against every rule; ``_FrameError`` naming the field otherwise."""
    if not isinstance(record, dict):
        raise _FrameError("<json>", f"a frame line must be a JSON object, got {type(record).__name__}")
    for key in _REQUIRED_FRAME_KEYS:
        if key not in record:
            raise _FrameError(key, "missing")
    unknown = sorted(set(record) - set(_REQUIRED_FRAME_KEYS) - set(_OPTIONAL_FRAME_KEYS))
    if unknown:
        known = ", ".join(_REQUIRED_FRAME_KEYS + _OPTIONAL_FRAME_KEYS)
        raise _FrameError(unknown[0], f"unknown key (known: {known})")
    for key in ("video_id", "frame_index", "height", "width"):
        if not _is_int(record[key]):
            raise _FrameError(key, f"must be an integer, got {record[key]!r}")
    if record["frame_index"] < 0:
        raise _FrameError("frame_index", f"must be >= 0, got {record['frame_index']}")
    height, width = record["height"], record["width"]
    for key in ("height", "width"):
        if record[key] <= 0:
            raise _FrameError(key, f"must be positive, got {record[key]}")

    boxes = _numbers(record["boxes"], "boxes", (None, 4))
    count = boxes.shape[0]
    if count and ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
        bad = int(np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))[0])
        raise _FrameError(f"boxes[{bad}]", f"must be [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2, got {boxes[bad].tolist()}")
    scores = _numbers(record["scores"], "scores", (count,))
    if count and ((scores < 0) | (scores > 1)).any():
        raise _FrameError("scores", "must lie in [0, 1]")
    labels = _numbers(record["labels"], "labels", (count,), kind="i")
    for n, label in enumerate(labels.tolist()):
        if label not in category_index:
            raise _FrameError(f"labels[{n}]", f"unknown category id {label} (not in the header's categories)")

    class_probs = None
    if record.get("class_probs") is not None:
        class_probs = _numbers(record["class_probs"], "class_probs", (count, len(category_index) + 1))
        if count and ((class_probs < 0) | (class_probs > 1)).any():
            raise _FrameError("class_probs", "must lie in [0, 1]")
        if count and (np.abs(class_probs.sum(axis=1) - 1) > _PROB_SUM_TOLERANCE).any():
            bad = int(np.flatnonzero(np.abs(class_probs.sum(axis=1) - 1) > _PROB_SUM_TOLERANCE)[0])
            raise _FrameError(f"class_probs[{bad}]", f"must sum to 1 (background first), sums to {class_probs[bad].sum():.6g}")

    appearance = frame_appearance = None
    if appearance_dim is None:
        for key in ("appearance", "frame_appearance"):
            if record.get(key) is not None:
                raise _FrameError(key, "present, but the header's appearance_dim is null")
    else:
        if record.get("appearance") is None:
            raise _FrameError("appearance", f"missing (the header's appearance_dim is {appearance_dim})")
        appearance = _numbers(record["appearance"], "appearance", (count, appearance_dim))
        if record.get("frame_appearance") is not None:
            frame_appearance = _numbers(record["frame_appearance"], "frame_appearance", (appearance_dim,))

    masks = record["masks"]
    if not isinstance(masks, list):
        raise _FrameError("masks", f"must be a list of compressed RLEs, got {type(masks).__name__}")
    if len(masks) != count:
        raise _FrameError("masks", f"has {len(masks)} entries, expected {count}")
    for n, rle in enumerate(masks):
        if not isinstance(rle, dict) or set(rle) != {"size", "counts"} or not isinstance(rle["counts"], str):
            raise _FrameError(f"masks[{n}]", 'must be a compressed RLE {"size": [H, W], "counts": str}')
        if rle["size"] != [height, width]:
            raise _FrameError(f"masks[{n}]", f"size {rle['size']} != frame size [{height}, {width}] (height, width)")
    if check_masks and masks:
        reasons = check_compressed_counts([rle["counts"] for rle in masks], [height * width] * count)
        for n, reason in enumerate(reasons):
            if reason is not None:
                raise _FrameError(f"masks[{n}]", reason)

    detections = Detections(
        boxes=torch.as_tensor(boxes, dtype=torch.float32),
        scores=torch.as_tensor(scores, dtype=torch.float32),
        labels=torch.as_tensor(labels, dtype=torch.long),
        masks=[{"size": [height, width], "counts": rle["counts"]} for rle in masks],
        image_size=(height, width),
        class_probs=None if class_probs is None else torch.as_tensor(class_probs, dtype=torch.float32),
        appearance=None if appearance is None else torch.as_tensor(appearance, dtype=torch.float32),
        frame_appearance=None if frame_appearance is None else torch.as_tensor(frame_appearance, dtype=torch.float32),
    )
    return record["video_id"], record["frame_index"], detections


class _FrameOrder:
    """Checks that a video's frames are consecutive lines with frame_index 0, 1, 2, ..."""

    def __init__(self) -> None:
        self._finished: set[int] = set()
        self._video: int | None = None
        self._last_index = -1
        self._size: tuple[int, int] | None = None

    def check(self, video_id: int, frame_index: int, size: tuple[int, int]) -> None:
        if video_id == self._video and size != self._size:
            raise _FrameError("height", f"frame size {size[0]}x{size[1]} (HxW) differs from the "
                                        f"{self._size[0]}x{self._size[1]} of the video's first frame")
        self._size = size
        if video_id != self._video:
            if video_id in self._finished:
                raise _FrameError(
                    "video_id", f"video {video_id} appears again after other videos: a video's frames must be consecutive lines"
                )
            if self._video is not None:
                self._finished.add(self._video)
            self._video, self._last_index = video_id, -1
        if frame_index != 0 and self._last_index == -1:
            raise _FrameError("frame_index", f"video {video_id} starts at frame {frame_index}: its first line must have frame_index 0")
        if frame_index != self._last_index + 1:
            expected = self._last_index + 1
            order = "out of order" if frame_index <= self._last_index else "skips frames"
            raise _FrameError(
                "frame_index", f"{frame_index} {order} in video {video_id}: expected {expected} (frames 0, 1, 2, ... in order)"
            )
        self._last_index = frame_index


class DetectionsReader:
    """Reads and checks a precomputed-detections file.

    ``header`` is read (and checked) on construction; frame lines are checked as they are read, so a
    consumer that must not leave partial output behind writes its own output atomically.

    Args:
        path: the ``.jsonl`` file.
        check_masks: check that every RLE string decodes to exactly ``H*W`` pixels (cheap, vectorised).
    """

    def __init__(self, path: str | os.PathLike, check_masks: bool = True, max_line: int | None = None) -> None:
        self.path = Path(path)
        self.check_masks = check_masks
        self.max_line = max_line_bytes() if max_line is None else max_line
        try:
            with open(self.path, "rb") as handle:
                first = self._readline(handle, 1)
        except OSError as exc:
            raise InputError(f"cannot read detections: {exc.strerror}", file=self.path) from None
        if not first.strip():
            raise InputError("empty file: expected the gvis-detections header", file=self.path, line=1, field="format")
        header = self._load_json(first, 1)
        problem = check_header(header)
        if problem is not None:
            field, _, reason = problem.partition(": ")
            raise InputError(reason, file=self.path, line=1, field=field)
        #: ``{"format", "version", "categories": [{"id", "name"}], "appearance_dim", "meta"}``.
        self.header: dict = {"meta": {}, **header}
        self.categories: list[dict] = header["categories"]
        self.appearance_dim: int | None = header["appearance_dim"]
        #: category id -> column of ``class_probs`` (1-based; column 0 is background).
        self.category_index = {c["id"]: k + 1 for k, c in enumerate(self.categories)}

    def _load_json(self, raw: bytes, line: int) -> Any:
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON at column {exc.colno}: {exc.msg}", file=self.path, line=line, field="<json>") from None
        except UnicodeDecodeError:
            raise InputError("malformed JSON: not UTF-8 text", file=self.path, line=line, field="<json>") from None
        except RecursionError:
            raise InputError("JSON nested too deeply", file=self.path, line=line, field="<json>") from None

    def _readline(self, handle: IO[bytes], line: int) -> bytes:
        """One line of at most ``max_line`` bytes (a longer one is refused unread)."""
        raw = handle.readline(self.max_line + 1)
        if len(raw) > self.max_line and not raw.endswith(b"\n"):
            raise InputError(f"line longer than {self.max_line / 2**20:g} MB (GVIS_MAX_JSONL_LINE_MB raises the bound)",
                             file=self.path, line=line, field="<json>")
        return raw

    def frames(self) -> Iterator[tuple[int, int, Detections]]:
        """``(video_id, frame_index, Detections)`` for every frame line, in file order."""
        order = _FrameOrder()
        with open(self.path, "rb") as handle:
            self._readline(handle, 1)
            for line in itertools.count(2):
                raw = self._readline(handle, line)
                if not raw:
                    break
                if not raw.strip():
                    raise InputError("empty line (every line after the header is one frame)", file=self.path, line=line, field="<json>")
                record = self._load_json(raw, line)
                video_id = record.get("video_id") if isinstance(record, dict) else None
                try:
                    video_id, frame_index, detections = _parse_frame(
                        record, self.category_index, self.appearance_dim, self.check_masks
                    )
                    order.check(video_id, frame_index, detections.image_size)
                except _FrameError as exc:
                    raise InputError(
                        exc.reason, file=self.path, line=line, field=exc.field,
                        video_id=video_id if _is_int(video_id) else None,
                    ) from None
                yield video_id, frame_index, detections

    def videos(self) -> Iterator[tuple[int, list[Detections]]]:
        """``(video_id, [Detections of frame 0, 1, ...])`` for every video, in file order."""
        current: int | None = None
        frames: list[Detections] = []
        for video_id, _, detections in self.frames():
            if video_id != current and current is not None:
                yield current, frames
                frames = []
            current = video_id
            frames.append(detections)
        if current is not None:
            yield current, frames

    def validate(self) -> dict:
        """Read the whole file; returns ``{"videos", "frames", "detections"}`` counts."""
        videos = frames = detections = 0
        for _, frame_list in self.videos():
            videos += 1
            frames += len(frame_list)
            detections += sum(len(d) for d in frame_list)
        return {"videos": videos, "frames": frames, "detections": detections}


def _rounded(tensor: torch.Tensor, decimals: int) -> list:
    return np.round(tensor.detach().cpu().double().numpy(), decimals).tolist()


class DetectionsWriter:
    """Writes a precomputed-detections file; the file appears only when the writer closes cleanly.

    Use as a context manager::

        with DetectionsWriter("dets.jsonl", dataset.categories, appearance_dim=64) as writer:
            writer.write(video_id, frame_index, detections)

    Every frame is checked with the reader's rules (an :class:`InputError` names the line and field it
    would have had). On an exception inside the ``with`` block nothing is written.

    Args:
        path: output ``.jsonl`` path.
        categories: ``[{"id", "name"}]`` dicts or objects with ``id`` and ``name`` (e.g. ``Category``);
            their order defines the ``class_probs`` columns.
        appearance_dim: width ``Da`` of the appearance vectors, ``None`` for detections without any.
        meta: free-form provenance stored in the header (detector, config, seed, ...).
        decimals: floats are rounded to this many decimals.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        categories: Sequence[Any],
        appearance_dim: int | None = None,
        meta: dict | None = None,
        decimals: int = 6,
    ) -> None:
        self.path = Path(path)
        self.decimals = decimals
        self.header = {
            "format": FORMAT,
            "version": VERSION,
            "categories": normalize_categories(categories),
            "appearance_dim": appearance_dim,
        }
        if meta:
            self.header["meta"] = meta
        problem = check_header(self.header)
        if problem is not None:
            field, _, reason = problem.partition(": ")
            raise InputError(reason, file=self.path, line=1, field=field)
        self.category_index = {c["id"]: k + 1 for k, c in enumerate(self.header["categories"])}
        self._stack: contextlib.ExitStack | None = None
        self._handle = None
        self._order = _FrameOrder()
        self._line = 1

    def __enter__(self) -> "DetectionsWriter":
        self._stack = contextlib.ExitStack()
        self._handle = self._stack.enter_context(atomic_open(self.path, "w", encoding="utf-8"))
        self._handle.write(json.dumps(self.header) + "\n")
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        stack, self._stack, self._handle = self._stack, None, None
        return bool(stack.__exit__(*exc_info)) if stack is not None else False

    def write(self, video_id: int, frame_index: int, detections: Detections) -> None:
        """Append the detections of one frame (frames of a video consecutive, ``frame_index`` 0, 1, ...)."""
        if self._handle is None:
            raise RuntimeError("DetectionsWriter.write outside its 'with' block")
        self._line += 1
        height, width = detections.image_size
        record: dict[str, Any] = {
            "video_id": int(video_id),
            "frame_index": int(frame_index),
            "height": height,
            "width": width,
            "boxes": _rounded(detections.boxes, self.decimals),
            "scores": _rounded(detections.scores, self.decimals),
            "labels": detections.labels.tolist(),
        }
        if detections.class_probs is not None:
            record["class_probs"] = _rounded(detections.class_probs, self.decimals)
        record["masks"] = [
            {"size": [height, width], "counts": r["counts"].decode("ascii") if isinstance(r["counts"], bytes) else r["counts"]}
            for r in detections.mask_rles()
        ]
        if self.header["appearance_dim"] is not None:
            if detections.appearance is not None:
                record["appearance"] = _rounded(detections.appearance, self.decimals)
            if detections.frame_appearance is not None:
                record["frame_appearance"] = _rounded(detections.frame_appearance, self.decimals)
        elif detections.appearance is not None or detections.frame_appearance is not None:
            raise InputError(
                "detections carry appearance vectors but the writer's appearance_dim is None",
                file=self.path, line=self._line, video_id=video_id, field="appearance",
            )
        try:
            # Masks from pycocotools are valid by construction; everything else gets the reader's checks.
            _parse_frame(record, self.category_index, self.header["appearance_dim"], check_masks=False)
            self._order.check(record["video_id"], record["frame_index"], (height, width))
        except _FrameError as exc:
            raise InputError(exc.reason, file=self.path, line=self._line, video_id=video_id, field=exc.field) from None
        self._handle.write(json.dumps(record, allow_nan=False) + "\n")

