"""YouTube-VIS 2019 / 2021 and OVIS annotations and frames.

:meth:`YTVISDataset.from_json` reads a ground-truth file in the YouTube-VIS layout::

    {"videos": [{"id", "width", "height", "file_names", "length"?, "name"?, ...}],
     "categories": [{"id", "name", ...}],
     "annotations": [{"id", "video_id", "category_id", "segmentations", "iscrowd"?, "areas"?,
                      "bboxes"?, ...}]}          # "annotations" may be absent (test sets)

validates all of it once, and gives typed access. Segmentations (compressed RLE, uncompressed RLE,
polygons or ``null`` per frame) become validated compressed RLE at load; pixel masks are decoded only
when asked for (:meth:`YTVISDataset.frame_masks`), frames are read only when asked for
(:meth:`YTVISDataset.frame`), so a file without frames loads fine. Every problem raises one
:class:`~gvis.errors.InputError` naming the file, the video id and the field.

A file in mmtracking's CocoVID layout (``videos`` + ``images`` + ``annotations`` with ``instance_id``)
is detected and converted to the YouTube-VIS layout (see :func:`cocovid_to_ytvis`).
"""
from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from gvis.data.rle import MAX_SIZE, check_compressed_counts, to_compressed_rle
from gvis.errors import InputError

#: Annotation keys with a meaning in YouTube-VIS; any other key is kept in :attr:`Instance.extra`.
ANNOTATION_KEYS = ("id", "video_id", "category_id", "iscrowd", "segmentations", "areas", "bboxes")


@dataclass(frozen=True)
class Category:
    id: int
    name: str


@dataclass(frozen=True)
class Video:
    """One video. ``file_names[t]`` is frame ``t`` relative to the image root (``JPEGImages/``)."""

    id: int
    name: str
    width: int
    height: int
    file_names: tuple[str, ...]
    length: int


@dataclass
class Instance:
    """One annotated object track of a video (a YouTube-VIS annotation).

    ``segmentations[t]`` is a compressed RLE ``{"size": [H, W], "counts": bytes}`` or ``None`` where the
    object is absent; ``areas[t]`` and ``bboxes[t]`` (``[x, y, w, h]``) are as given in the file (OVIS
    stores box areas in ``areas``), ``None`` where absent. ``extra`` holds the annotation's other keys
    (e.g. ``"synth"``, OVIS ``"occlusion"``).
    """

    id: int
    video_id: int
    category_id: int
    iscrowd: int
    segmentations: list[dict | None]
    areas: list[float | None]
    bboxes: list[list[float] | None]
    extra: dict[str, Any] = field(default_factory=dict)


def _is_int(value: Any) -> bool:
    """An integer that fits int64 (ids end up in numpy arrays)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(1 << 63) <= value < (1 << 63)


def _is_number(value: Any) -> bool:
    """An int or float that is finite as a float."""
    return type(value) in (int, float) and _all_finite([value])


class YTVISDataset:
    """A validated YouTube-VIS / OVIS ground-truth file.

    Attributes:
        path: the JSON file (``None`` for :meth:`from_dict` without ``source``).
        image_root: folder the video ``file_names`` are relative to.
        raw: the parsed JSON dict (YouTube-VIS layout; a converted CocoVID file gives the converted dict).
        categories: ``list[Category]`` in file order.
        videos: ``list[Video]`` in file order.
    """

    def __init__(self, raw: dict, *, source: str | os.PathLike | None = None, image_root: str | os.PathLike | None = None):
        self.path = None if source is None else Path(source)
        self._source = "<dict>" if source is None else str(source)
        if image_root is None:
            image_root = (self.path.parent if self.path is not None else Path(".")) / "JPEGImages"
        self.image_root = Path(image_root)
        if isinstance(raw, list):
            raise self._error(
                "expected a ground-truth object with 'videos', 'categories' and 'annotations'; "
                "this is a list (a results file?)"
            )
        if not isinstance(raw, dict):
            raise self._error(f"expected a JSON object, got {type(raw).__name__}")
        if "images" in raw:
            raw = cocovid_to_ytvis(raw, source=self._source)
        self.raw = raw
        self.categories = self._parse_categories()
        self.videos = self._parse_videos()
        self._video_by_id = {video.id: video for video in self.videos}
        self._instances: dict[int, list[Instance]] = {video.id: [] for video in self.videos}
        self._parse_annotations()

    # ----------------------------------------------------------------------------------- loading
    @classmethod
    def from_json(cls, path: str | os.PathLike, image_root: str | os.PathLike | None = None) -> "YTVISDataset":
        """Read and validate ``path``; frames are looked up under ``image_root`` (default
        ``<json dir>/JPEGImages``)."""
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                raw = json.load(handle)
        except OSError as exc:
            raise InputError(f"cannot read annotation file: {exc.strerror}", file=path) from None
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON (truncated file?): {exc.msg} at column {exc.colno}", file=path, line=exc.lineno
            ) from None
        except UnicodeDecodeError:
            raise InputError("not a UTF-8 JSON file", file=path) from None
        except RecursionError:
            raise InputError("JSON nested too deeply to be an annotation file", file=path) from None
        return cls(raw, source=path, image_root=image_root)

    @classmethod
    def from_dict(cls, raw: dict, image_root: str | os.PathLike | None = None, source: str | None = None) -> "YTVISDataset":
        """Validate an already parsed annotation dict (``source`` names it in errors)."""
        return cls(raw, source=source, image_root=image_root)

    def _error(self, message: str, video_id: Any = None, field: str | None = None) -> InputError:
        return InputError(message, file=self._source, video_id=video_id, field=field)

    def _list(self, key: str, required: bool = True) -> list:
        if key not in self.raw:
            if required:
                raise self._error(f"missing top-level key '{key}'", field=key)
            return []
        value = self.raw[key]
        if not isinstance(value, list):
            raise self._error(f"must be a list, got {type(value).__name__}", field=key)
        return value

    def _parse_categories(self) -> list[Category]:
        categories, seen = [], set()
        for index, entry in enumerate(self._list("categories")):
            where = f"categories[{index}]"
            if not isinstance(entry, dict):
                raise self._error("a category must be an object with 'id' and 'name'", field=where)
            for key in ("id", "name"):
                if key not in entry:
                    raise self._error(f"missing key '{key}'", field=f"{where}.{key}")
            if not _is_int(entry["id"]):
                raise self._error(f"category id must be an integer, got {entry['id']!r}", field=f"{where}.id")
            if entry["id"] in seen:
                raise self._error(f"duplicate category id {entry['id']}", field=f"{where}.id")
            if not isinstance(entry["name"], str):
                raise self._error("category name must be a string", field=f"{where}.name")
            seen.add(entry["id"])
            categories.append(Category(entry["id"], entry["name"]))
        return categories

    def _parse_videos(self) -> list[Video]:
        videos, seen = [], set()
        for index, entry in enumerate(self._list("videos")):
            where = f"videos[{index}]"
            if not isinstance(entry, dict):
                raise self._error("a video must be an object", field=where)
            video_id = entry.get("id")
            for key in ("id", "width", "height", "file_names"):
                if key not in entry:
                    raise self._error(f"missing key '{key}'", video_id=video_id, field=f"{where}.{key}")
            if not _is_int(video_id):
                raise self._error(f"video id must be an integer, got {video_id!r}", field=f"{where}.id")
            if video_id in seen:
                raise self._error("duplicate video id", video_id=video_id, field=f"{where}.id")
            seen.add(video_id)
            for key in ("width", "height"):
                if not _is_int(entry[key]) or not 0 < entry[key] <= MAX_SIZE:
                    raise self._error(f"must be an integer in 1..{MAX_SIZE}, got {entry[key]!r}", video_id, f"{where}.{key}")
            file_names = entry["file_names"]
            if not isinstance(file_names, list) or not file_names or not all(isinstance(f, str) for f in file_names):
                raise self._error("must be a non-empty list of frame paths", video_id, f"{where}.file_names")
            for frame, file_name in enumerate(file_names):
                if _escapes(file_name):
                    raise self._error(f"{file_name!r} leaves the image folder: frame paths are relative, without '..'",
                                      video_id, f"{where}.file_names[{frame}]")
            length = entry.get("length", len(file_names))
            if length != len(file_names):
                raise self._error(
                    f"length {length!r} differs from the {len(file_names)} file_names", video_id, f"{where}.length"
                )
            name = entry.get("name")
            if not isinstance(name, str):
                name = Path(file_names[0]).parent.as_posix()
                name = str(video_id) if name in ("", ".") else name
            videos.append(Video(video_id, name, entry["width"], entry["height"], tuple(file_names), len(file_names)))
        return videos

    def _parse_annotations(self) -> None:
        category_ids = {category.id for category in self.categories}
        seen: set[int] = set()
        unchecked = _UncheckedStrings()
        for index, entry in enumerate(self._list("annotations", required=False)):
            where = f"annotations[{index}]"
            if not isinstance(entry, dict):
                raise self._error("an annotation must be an object", field=where)
            video_id = entry.get("video_id")
            for key in ("id", "video_id", "category_id", "segmentations"):
                if key not in entry:
                    raise self._error(f"missing key '{key}'", video_id=video_id, field=f"{where}.{key}")
            video = self._video_by_id.get(video_id) if _is_int(video_id) else None
            if video is None:
                raise self._error(f"unknown video id {video_id!r}", video_id=video_id, field=f"{where}.video_id")
            ann_id = entry["id"]
            if not _is_int(ann_id):
                raise self._error(f"annotation id must be an integer, got {ann_id!r}", video_id, f"{where}.id")
            if ann_id in seen:
                raise self._error(f"duplicate annotation id {ann_id}", video_id, f"{where}.id")
            seen.add(ann_id)
            category_id = entry["category_id"]
            if not _is_int(category_id) or category_id not in category_ids:
                raise self._error(
                    f"unknown category id {category_id!r} (not in 'categories')", video_id, f"{where}.category_id"
                )
            iscrowd = entry.get("iscrowd", 0)
            if not isinstance(iscrowd, (int, bool)) or iscrowd not in (0, 1):
                raise self._error(f"must be 0 or 1, got {iscrowd!r}", video_id, f"{where}.iscrowd")
            segmentations = self._segmentations(entry, video, index, unchecked)
            instance = Instance(
                id=ann_id,
                video_id=video_id,
                category_id=category_id,
                iscrowd=int(iscrowd),
                segmentations=segmentations,
                areas=self._per_frame(entry, "areas", video, where, _is_area),
                bboxes=self._per_frame(entry, "bboxes", video, where, _is_box),
                extra={key: value for key, value in entry.items() if key not in ANNOTATION_KEYS},
            )
            self._instances[video_id].append(instance)

        reasons = check_compressed_counts(unchecked.counts, unchecked.num_pixels)
        for reason, (index, frame, ann_id, video_id) in zip(reasons, unchecked.where):
            if reason is not None:
                raise self._error(f"annotation {ann_id}: {reason}", video_id, f"annotations[{index}].segmentations[{frame}]")
        for instances in self._instances.values():
            for instance in instances:
                _fill_missing(instance)

    def _segmentations(self, entry: dict, video: Video, index: int, unchecked: "_UncheckedStrings") -> list[dict | None]:
        """Per-frame compressed RLE; compressed strings are queued in ``unchecked`` for a bulk check."""
        segmentations = entry["segmentations"]
        field_name = f"annotations[{index}].segmentations"
        if not isinstance(segmentations, list):
            raise self._error(f"must be a list (one entry per frame), got {type(segmentations).__name__}", video.id, field_name)
        if len(segmentations) != video.length:
            raise self._error(
                f"annotation {entry['id']}: {len(segmentations)} segmentations for a video of {video.length} frames",
                video.id, field_name,
            )
        size = [video.height, video.width]
        num_pixels = video.height * video.width
        out: list[dict | None] = []
        for frame, segmentation in enumerate(segmentations):
            if segmentation is None:
                out.append(None)
                continue
            counts = segmentation.get("counts") if type(segmentation) is dict else None
            if type(counts) is str and segmentation.get("size", size) == size and counts.isascii():
                # The common case, compressed RLE of the right size: its string is checked in bulk later.
                blob = counts.encode("ascii")
                out.append({"size": list(size), "counts": blob})
                unchecked.counts.append(blob)
                unchecked.num_pixels.append(num_pixels)
                unchecked.where.append((index, frame, entry["id"], video.id))
                continue
            try:
                out.append(to_compressed_rle(segmentation, video.height, video.width))
            except ValueError as exc:
                raise self._error(f"annotation {entry['id']}: {exc}", video.id, f"{field_name}[{frame}]") from None
        return out

    def _per_frame(self, entry: dict, key: str, video: Video, where: str, valid: Any) -> list | None:
        """``areas`` / ``bboxes``: a list with one entry (or ``null``) per frame; ``None`` when absent."""
        if key not in entry:
            return None
        values = entry[key]
        field_name = f"{where}.{key}"
        if not isinstance(values, list) or len(values) != video.length:
            got = f"{len(values)} entries" if isinstance(values, list) else type(values).__name__
            raise self._error(
                f"annotation {entry['id']}: must be a list of {video.length} entries (one per frame), got {got}",
                video.id, field_name,
            )
        if not _all_valid(key, values):
            frame = next(t for t, value in enumerate(values) if value is not None and not valid(value))
            raise self._error(
                f"annotation {entry['id']}: invalid value {values[frame]!r}", video.id, f"{field_name}[{frame}]"
            )
        return values

    # ------------------------------------------------------------------------------------ access
    def video(self, video_id: int) -> Video:
        """The video with this id (``InputError`` if there is none)."""
        try:
            return self._video_by_id[video_id]
        except (KeyError, TypeError):
            raise self._error(f"no video with id {video_id!r} in this dataset", video_id=video_id, field="videos") from None

    def instances(self, video_id: int) -> list[Instance]:
        """The annotated instances of a video in file order (empty for a video without annotations)."""
        self.video(video_id)
        return self._instances[video_id]

    def category(self, category_id: int) -> Category:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise self._error(f"no category with id {category_id!r}", field="categories")

    def frame_path(self, video_id: int, frame_index: int) -> Path:
        video = self.video(video_id)
        if not 0 <= frame_index < video.length:
            raise IndexError(f"frame {frame_index} out of range for video {video_id} of {video.length} frames")
        return self.image_root / video.file_names[frame_index]

    def frame(self, video_id: int, frame_index: int) -> np.ndarray:
        """Frame ``frame_index`` of a video as ``[H, W, 3]`` uint8 RGB, read from disk now.

        A missing or unreadable file, or one whose size differs from the video's, is an ``InputError``.
        """
        from PIL import Image, UnidentifiedImageError

        path = self.frame_path(video_id, frame_index)
        video = self._video_by_id[video_id]
        field_name = f"file_names[{frame_index}]"
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or device would block or never end
                raise InputError(f"frame {path} is not a regular file", file=self._source, video_id=video_id,
                                 field=field_name)
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))
        except FileNotFoundError:
            raise InputError(f"frame file not found: {path}", file=self._source, video_id=video_id, field=field_name) from None
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"cannot read frame {path}: {exc}", file=self._source, video_id=video_id, field=field_name) from None
        if array.shape[:2] != (video.height, video.width):
            raise InputError(
                f"frame {path} is {array.shape[0]}x{array.shape[1]} (HxW), the video says {video.height}x{video.width}",
                file=self._source, video_id=video_id, field=field_name,
            )
        return array

    def frame_masks(self, video_id: int, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """The instances present in a frame: ``(instance_ids [K] int64, masks [K, H, W] bool)``.

        Instances whose segmentation is ``null`` in this frame are left out (crowd ones are included;
        check :attr:`Instance.iscrowd`). Masks are decoded now, not cached.
        """
        video = self.video(video_id)
        if not 0 <= frame_index < video.length:
            raise IndexError(f"frame {frame_index} out of range for video {video_id} of {video.length} frames")
        present = [inst for inst in self._instances[video_id] if inst.segmentations[frame_index] is not None]
        ids = np.array([inst.id for inst in present], dtype=np.int64)
        if not present:
            return ids, np.zeros((0, video.height, video.width), dtype=bool)
        decoded = mask_utils.decode([inst.segmentations[frame_index] for inst in present])  # [H, W, K]
        return ids, np.ascontiguousarray(decoded.transpose(2, 0, 1)).astype(bool)

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        count = sum(len(v) for v in self._instances.values())
        return f"YTVISDataset({self._source!r}: {len(self.videos)} videos, {count} instances, {len(self.categories)} categories)"


@dataclass
class _UncheckedStrings:
    """Compressed RLE strings of a file queued for one vectorised check, and where each one is."""

    counts: list[bytes] = field(default_factory=list)
    num_pixels: list[int] = field(default_factory=list)
    where: list[tuple[int, int, int, int]] = field(default_factory=list)  # (annotation index, frame, id, video)


_NUMBER_TYPES = {int, float}


def _escapes(file_name: str) -> bool:
    """Does a frame path, as written, leave the image folder (absolute, a drive, or a '..' component)?
    Symbolic links inside the folder are the dataset's own business and stay allowed."""
    if file_name.startswith(("/", "\\")) or file_name[1:2] == ":":
        return True
    return ".." in file_name and ".." in file_name.replace("\\", "/").split("/")


def _all_finite(numbers: list) -> bool:
    """All entries are ints or floats, finite as floats (checked with C-level ``map``s, not a Python loop)."""
    if not set(map(type, numbers)) <= _NUMBER_TYPES:
        return False
    try:
        return all(map(math.isfinite, numbers))
    except OverflowError:  # an int too large for a float
        return False


def _all_valid(key: str, values: list) -> bool:
    """Fast check of a whole ``areas`` / ``bboxes`` list (``None`` entries allowed)."""
    present = [value for value in values if value is not None]
    if key == "areas":
        return _all_finite(present) and (not present or min(present) >= 0)
    if not set(map(type, present)) <= {list} or not set(map(len, present)) <= {4}:
        return False
    return _all_finite([v for box in present for v in box])


def _is_area(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _is_box(value: Any) -> bool:
    return type(value) is list and len(value) == 4 and _all_finite(value)


def _per_chunk(function: Any, rles: list[dict], chunk: int = 255) -> list:
    """``function(rles).tolist()`` in chunks: pycocotools counts list lengths in a uint8 here."""
    return [value for start in range(0, len(rles), chunk) for value in function(rles[start:start + chunk]).tolist()]


def _fill_missing(instance: Instance) -> None:
    """Areas / boxes absent from the file are computed from the masks (pycocotools, no decoding)."""
    if instance.areas is not None and instance.bboxes is not None:
        return
    present = [t for t, rle in enumerate(instance.segmentations) if rle is not None]
    rles = [instance.segmentations[t] for t in present]
    if instance.areas is None:
        instance.areas = [None] * len(instance.segmentations)
        for t, area in zip(present, _per_chunk(mask_utils.area, rles)):
            instance.areas[t] = float(area)
    if instance.bboxes is None:
        instance.bboxes = [None] * len(instance.segmentations)
        for t, box in zip(present, _per_chunk(mask_utils.toBbox, rles)):
            instance.bboxes[t] = box


def cocovid_to_ytvis(raw: dict, source: str = "<dict>") -> dict:
    """Convert mmtracking's CocoVID layout to the YouTube-VIS layout.

    CocoVID stores one annotation per (frame, object) with ``image_id`` and ``instance_id``, and frames in
    ``images`` (``video_id``, ``frame_id``, ``file_name``, ``height``, ``width``). The result has one
    annotation per (video, ``instance_id``) with per-frame ``segmentations`` / ``areas`` / ``bboxes``
    (``null`` where the object is absent), frames ordered by ``frame_id``, annotation ids numbered
    1, 2, ... in order of first appearance, and the original ``instance_id`` kept as an extra key.
    """
    def error(message: str, video_id: Any = None, field: str | None = None) -> InputError:
        return InputError(f"CocoVID layout: {message}", file=source, video_id=video_id, field=field)

    for key in ("videos", "images", "categories", "annotations"):
        if not isinstance(raw.get(key, []), list) or (key != "annotations" and key not in raw):
            raise error(f"missing or non-list top-level key '{key}'", field=key)
    videos: dict[int, dict] = {}
    for index, video in enumerate(raw["videos"]):
        if not isinstance(video, dict) or not _is_int(video.get("id")):
            raise error("a video needs an integer 'id'", field=f"videos[{index}].id")
        videos[video["id"]] = video
    frames: dict[int, list[dict]] = {video_id: [] for video_id in videos}
    image_by_id: dict[int, dict] = {}
    for index, image in enumerate(raw["images"]):
        where = f"images[{index}]"
        if not isinstance(image, dict):
            raise error("an image must be an object", field=where)
        video_id = image.get("video_id")
        for key in ("id", "video_id", "file_name", "height", "width"):
            if key not in image:
                raise error(f"missing key '{key}'", video_id, f"{where}.{key}")
        for key in ("id", "height", "width", "frame_id"):
            if key in image and not _is_int(image[key]):
                raise error(f"must be an integer, got {image[key]!r}", video_id, f"{where}.{key}")
        if not _is_int(video_id) or video_id not in frames:
            raise error(f"unknown video id {video_id!r}", video_id, f"{where}.video_id")
        frames[video_id].append(image)
        image_by_id[image["id"]] = image
    converted_videos, frame_of_image = [], {}
    for video_id, video in videos.items():
        images = sorted(frames[video_id], key=lambda image: image.get("frame_id", 0))
        sizes = {(image["height"], image["width"]) for image in images}
        if len(sizes) > 1:
            raise error(f"frames of one video have different sizes {sorted(sizes)}", video_id, "images.height")
        height, width = sizes.pop() if sizes else (video.get("height"), video.get("width"))
        for t, image in enumerate(images):
            frame_of_image[image["id"]] = t
        converted_videos.append({
            **{k: v for k, v in video.items() if k not in ("height", "width")},
            "height": height, "width": width, "length": len(images),
            "file_names": [image["file_name"] for image in images],
        })
    tracks: dict[tuple[Any, Any], dict] = {}
    for index, ann in enumerate(raw.get("annotations", [])):
        where = f"annotations[{index}]"
        if not isinstance(ann, dict):
            raise error("an annotation must be an object", field=where)
        for key in ("image_id", "instance_id", "category_id", "segmentation"):
            if key not in ann:
                raise error(f"missing key '{key}'", ann.get("video_id"), f"{where}.{key}")
        if not isinstance(ann["instance_id"], (int, str)):
            raise error(f"must be an integer or a string, got {ann['instance_id']!r}", ann.get("video_id"), f"{where}.instance_id")
        image = image_by_id.get(ann["image_id"]) if _is_int(ann["image_id"]) else None
        if image is None:
            raise error(f"unknown image id {ann['image_id']!r}", ann.get("video_id"), f"{where}.image_id")
        video_id, frame = image["video_id"], frame_of_image[ann["image_id"]]
        key = (video_id, ann["instance_id"])
        if key not in tracks:
            length = len(frames[video_id])
            tracks[key] = {
                "id": len(tracks) + 1, "video_id": video_id, "category_id": ann["category_id"], "iscrowd": 0,
                "segmentations": [None] * length, "areas": [None] * length, "bboxes": [None] * length,
                "instance_id": ann["instance_id"],
            }
        track = tracks[key]
        if track["category_id"] != ann["category_id"]:
            raise error(f"instance {ann['instance_id']} changes category", video_id, f"{where}.category_id")
        if track["segmentations"][frame] is not None:
            raise error(f"instance {ann['instance_id']} annotated twice in one frame", video_id, f"{where}.instance_id")
        track["segmentations"][frame] = ann["segmentation"]
        track["areas"][frame] = ann.get("area")
        track["bboxes"][frame] = ann.get("bbox")
        track["iscrowd"] = max(track["iscrowd"], int(bool(ann.get("iscrowd", 0))))
    converted = {k: v for k, v in raw.items() if k not in ("videos", "images", "annotations")}
    converted.update(videos=converted_videos, annotations=list(tracks.values()))
    return converted
