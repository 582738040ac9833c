"""Training data: the frames of a clip with their detections and ground truth, augmented consistently.

Training runs behind any segmenter: the detections come from a precomputed ``.jsonl`` (or its binary cache),
the ground truth from a YouTube-VIS annotation file. :class:`TrainingVideos` holds both, with the
detections already filtered as the online tracker would filter them (``model.filtering``: confidence,
NMS, top-N; filtering happens on the detector's own frames, before augmentation, as in a detector).
:meth:`TrainingVideos.clip_frames` returns a clip's frames as :class:`TrainingFrame` under one
:class:`ClipTransform` (scale, pad, crop, flip) shared by every frame of the clip, applied to detection
boxes and masks and to the ground-truth boxes and masks alike.

Stage 2 (:mod:`gvis.train.stage2`) has no cached detections: its :class:`TrainingVideos` holds the ground
truth only, and each :class:`TrainingFrame` carries the transformed RGB frame for the frozen detector.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor

from gvis.data.ytvis import Video, YTVISDataset
from gvis.detections.cache import DetectionsCache, load_detections
from gvis.detections.filtering import FilterConfig, filter_detections
from gvis.detections.structures import Detections, check_video_detections
from gvis.errors import InputError
from gvis.io import file_sha256
from gvis.train.config import AugmentConfig, SourceConfig


@dataclass
class ClipTransform:
    """One geometric transform of a clip: scale ``(sy, sx)``, then shift by ``offset`` (pad minus crop,
    ``(dy, dx)`` pixels), then an optional horizontal flip, into a frame of ``out_size`` ``(H, W)``.

    A point ``(x, y)`` of the source frame goes to ``x' = x·sx + dx`` (then ``W − x'`` if flipped).
    """

    scale: tuple[float, float]
    offset: tuple[float, float]
    flip: bool
    out_size: tuple[int, int]

    @classmethod
    def identity(cls, image_size: tuple[int, int]) -> "ClipTransform":
        return cls((1.0, 1.0), (0.0, 0.0), False, tuple(image_size))

    @classmethod
    def sample(cls, rng: np.random.Generator, image_size: tuple[int, int], config: AugmentConfig) -> "ClipTransform":
        """Scale by ``s ~ U[config.scale]``, zero-pad centred to the crop size, crop uniformly, flip."""
        height, width = image_size
        crop_h, crop_w = config.crop_size if config.crop_size is not None else image_size
        s = float(rng.uniform(*config.scale))
        scaled_h, scaled_w = max(1, round(height * s)), max(1, round(width * s))
        canvas_h, canvas_w = max(scaled_h, crop_h), max(scaled_w, crop_w)
        pad_y, pad_x = (canvas_h - scaled_h) // 2, (canvas_w - scaled_w) // 2
        crop_y = int(rng.integers(0, canvas_h - crop_h + 1))
        crop_x = int(rng.integers(0, canvas_w - crop_w + 1))
        flip = bool(rng.random() < config.flip)
        return cls((scaled_h / height, scaled_w / width), (float(pad_y - crop_y), float(pad_x - crop_x)),
                   flip, (int(crop_h), int(crop_w)))

    @property
    def is_identity(self) -> bool:
        return self.scale == (1.0, 1.0) and self.offset == (0.0, 0.0) and not self.flip

    def boxes(self, boxes: Tensor) -> Tensor:
        """``[N, 4]`` xyxy boxes in the output frame, *not* clamped."""
        sy, sx = self.scale
        dy, dx = self.offset
        out = boxes.float() * torch.tensor([sx, sy, sx, sy]) + torch.tensor([dx, dy, dx, dy])
        if self.flip:
            width = float(self.out_size[1])
            out = torch.stack([width - out[:, 2], out[:, 1], width - out[:, 0], out[:, 3]], dim=1)
        return out

    def clamp(self, boxes: Tensor) -> Tensor:
        height, width = self.out_size
        return torch.stack([boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                            boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], dim=1)

    def masks(self, masks: Tensor) -> Tensor:
        """``[K, H, W]`` bool masks → ``[K, H', W']`` in the output frame (nearest neighbour; zero padding)."""
        if self.is_identity and tuple(masks.shape[1:]) == tuple(self.out_size):
            return masks
        return torch.from_numpy(self._warp(masks.numpy(), row_axis=1))

    def image(self, image: np.ndarray) -> np.ndarray:
        """An RGB frame ``[H, W, 3]`` → ``[H', W', 3]`` in the output frame, sampled exactly as :meth:`masks`
        (nearest neighbour; black padding), so detections on it line up with the transformed ground truth."""
        if self.is_identity and tuple(image.shape[:2]) == tuple(self.out_size):
            return image
        return self._warp(image, row_axis=0)

    def _warp(self, array: np.ndarray, row_axis: int) -> np.ndarray:
        """Resample the axes ``row_axis`` (rows) and ``row_axis + 1`` (columns) of ``array`` into the output frame."""
        rows = self._source_index(self.out_size[0], self.scale[0], self.offset[0], array.shape[row_axis], False)
        cols = self._source_index(self.out_size[1], self.scale[1], self.offset[1], array.shape[row_axis + 1], self.flip)
        pad = [(0, 0)] * array.ndim
        pad[row_axis] = pad[row_axis + 1] = (0, 1)  # the extra row / column is the padding
        return np.take(np.take(np.pad(array, pad), rows, axis=row_axis), cols, axis=row_axis + 1)

    @staticmethod
    def _source_index(size: int, scale: float, offset: float, source_size: int, flip: bool) -> np.ndarray:
        """Source pixel of each output pixel along one axis (``source_size`` = out of the frame: padding)."""
        centres = np.arange(size, dtype=np.float64) + 0.5
        if flip:
            centres = size - centres
        source = np.floor((centres - offset) / scale).astype(np.int64)
        return np.where((source >= 0) & (source < source_size), source, source_size)


@dataclass
class TrainingFrame:
    """One frame of a training clip after augmentation.

    - ``detections``: the filtered detections (``masks`` a ``[N, H, W]`` bool tensor); ``None`` in stage 2
      until the frozen detector has run on ``image``.
    - ``gt_ids``: ``[K]`` object (annotation) ids; ``gt_classes``: ``[K]`` class column ``1..C``;
      ``gt_boxes``: ``[K, 4]`` xyxy clamped to the frame; ``gt_masks``: ``[K, H, W]`` bool.
    - ``image``: stage 2 only, the transformed RGB frame ``[H, W, 3]`` uint8.
    """

    detections: Detections | None
    gt_ids: Tensor
    gt_classes: Tensor
    gt_boxes: Tensor
    gt_masks: Tensor
    image: np.ndarray | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.gt_masks.shape[1:])


def open_detections(path: str | Path) -> DetectionsCache:
    """The detections of ``path``: a cache ``.pt`` as is (refused when the ``.jsonl`` beside it has
    changed since), a ``.jsonl`` through its (re)built cache."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such detections file", file=path)
    if path.suffix == ".pt":
        cache = DetectionsCache(path)
        cache.check_source()
        return cache
    return load_detections(path)


class TrainingVideos:
    """Ground truth and filtered detections of a set of videos (the videos the detections cover).

    Args:
        dataset: the ground truth. detections: the detections of (some of) its videos, same categories and
            frame sizes;
            ``None`` for stage 2 (every video, frames instead of detections).
        filtering: which detections the tracker sees. max_videos: keep only the first N videos.
        source: name of the detections file for error messages.
        class_agnostic: the detections have one category, which every ground-truth object is taken to be
            (``categories`` are then the detections').
    """

    def __init__(self, dataset: YTVISDataset, detections: DetectionsCache | None, filtering: FilterConfig,
                 max_videos: int | None = None, source: str = "detections", class_agnostic: bool = False) -> None:
        self.dataset = dataset
        self.source = source
        self.categories = [{"id": c.id, "name": c.name} for c in dataset.categories]
        self._column = {c.id: 1 if class_agnostic else k + 1 for k, c in enumerate(dataset.categories)}
        self.videos: list[Video] = []
        self._detections: dict[int, list[Detections]] | None = None
        self.appearance_dim: int | None = None
        #: What the videos were made from (sha256 of the annotation file and of the detections' ``.jsonl``):
        #: a run resumes only on the same data.
        self.identity = {"annotations": None if dataset.path is None else file_sha256(dataset.path),
                         "detections": None if detections is None else detections.source_sha256}
        if detections is None:
            self.videos = list(dataset.videos[:max_videos])
            if not self.videos:
                raise InputError("the dataset has no videos", file=dataset.path)
            return
        gt_ids = [c.id for c in dataset.categories]
        det_ids = [int(c["id"]) for c in detections.categories]
        if class_agnostic:
            if len(det_ids) != 1:
                raise InputError(f"class-agnostic training needs detections of one category, these have {len(det_ids)}",
                                 file=source, field="categories")
            self.categories = [{"id": int(c["id"]), "name": c["name"]} for c in detections.categories]
        elif gt_ids != det_ids:
            raise InputError(f"the detections' categories {det_ids} differ from the annotations' {gt_ids}",
                             file=source, field="categories")
        self.appearance_dim = detections.appearance_dim
        self._detections = {}
        known = {video.id for video in dataset.videos}
        for video_id in detections.video_ids:
            if video_id not in known:
                raise InputError("video not in the annotations", file=source, video_id=video_id, field="video_id")
        for video in dataset.videos:
            if video.id not in detections.video_ids:
                continue
            frames = detections.video(video.id)
            check_video_detections(frames, video, source)
            self._detections[video.id] = [filter_detections(det, filtering)[0] for det in frames]
            self.videos.append(video)
            if max_videos is not None and len(self.videos) == max_videos:
                break
        if not self.videos:
            raise InputError("none of the annotated videos has detections", file=source)

    @classmethod
    def from_config(cls, source: SourceConfig, filtering: FilterConfig, class_agnostic: bool = False) -> "TrainingVideos":
        """The videos of ``source``; without ``source.detections``, stage 2's frames-only videos."""
        from gvis.data.folders import open_dataset

        dataset = open_dataset(source.annotations)
        if source.detections is None:
            return cls(dataset, None, filtering, source.max_videos, str(source.annotations))
        return cls(dataset, open_detections(source.detections), filtering, source.max_videos, str(source.detections),
                   class_agnostic)

    @property
    def has_detections(self) -> bool:
        """False for stage 2: frames are carried instead and the detector runs in the training step."""
        return self._detections is not None

    def video(self, video_id: int) -> Video:
        return self.dataset.video(video_id)

    def detections(self, video_id: int) -> list[Detections]:
        """The filtered detections of every frame of a video (not augmented)."""
        if self._detections is None:
            raise ValueError("these videos carry frames, not detections (stage 2)")
        return self._detections[video_id]

    def has_objects(self, video_id: int, frame_indices: Sequence[int], transform: ClipTransform | None = None) -> bool:
        """Does some non-crowd object stay in view (box centre inside the frame) in one of these frames?"""
        boxes = [inst.bboxes[t] for inst in self.dataset.instances(video_id) if not inst.iscrowd
                 for t in frame_indices if inst.segmentations[t] is not None]
        if not boxes or transform is None:
            return bool(boxes)
        xywh = torch.tensor(boxes, dtype=torch.float32)
        return bool(_in_view(transform.boxes(torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)),
                             transform.out_size).any())

    def clip_frames(self, video_id: int, frame_indices: Sequence[int], transform: ClipTransform | None = None) -> list[TrainingFrame]:
        """The frames of a clip under ``transform`` (default: none)."""
        video = self.video(video_id)
        transform = transform or ClipTransform.identity((video.height, video.width))
        instances = [inst for inst in self.dataset.instances(video_id) if not inst.iscrowd]
        return [self._frame(video, instances, t, transform) for t in frame_indices]

    def _frame(self, video: Video, instances: list, t: int, transform: ClipTransform) -> TrainingFrame:
        size = transform.out_size
        present = [inst for inst in instances if inst.segmentations[t] is not None]
        # Ground truth: transform boxes and masks; drop objects whose box centre leaves the crop.
        if present:
            xywh = torch.tensor([inst.bboxes[t] for inst in present], dtype=torch.float32)
            boxes = transform.boxes(torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1))
            keep = _in_view(boxes, size)
            kept = [inst for inst, k in zip(present, keep.tolist()) if k]
            masks = _decode([inst.segmentations[t] for inst in kept], video.height, video.width)
            gt_masks = transform.masks(masks)
            gt_boxes = transform.clamp(boxes[keep])
        else:
            kept, gt_masks, gt_boxes = [], torch.zeros((0, *size), dtype=torch.bool), torch.zeros((0, 4))
        gt_ids = torch.tensor([inst.id for inst in kept], dtype=torch.long)
        gt_classes = torch.tensor([self._column[inst.category_id] for inst in kept], dtype=torch.long)
        gt_boxes = gt_boxes.reshape(-1, 4)
        if self._detections is None:
            image = transform.image(self.dataset.frame(video.id, t))
            return TrainingFrame(None, gt_ids, gt_classes, gt_boxes, gt_masks, image=image)

        det = self._detections[video.id][t]
        if transform.is_identity and tuple(det.image_size) == tuple(size):
            det = Detections(det.boxes.float(), det.scores, det.labels, det.mask_tensor(), det.image_size,
                             det.class_probs, det.appearance, None, det.frame_appearance)
        else:
            boxes = transform.clamp(transform.boxes(det.boxes))
            visible = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)
            det = det[visible]
            det = Detections(boxes[visible], det.scores, det.labels, transform.masks(det.mask_tensor()), size,
                             det.class_probs, det.appearance, None, det.frame_appearance)
        return TrainingFrame(det, gt_ids, gt_classes, gt_boxes, gt_masks)


def _in_view(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``[K]`` bool: the box centre lies inside a frame of ``size`` (H, W)."""
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return (centre_x >= 0) & (centre_x < size[1]) & (centre_y >= 0) & (centre_y < size[0])


def _decode(rles: list[dict], height: int, width: int) -> Tensor:
    if not rles:
        return torch.zeros((0, height, width), dtype=torch.bool)
    decoded = mask_utils.decode(rles)  # [H, W, K]
    return torch.from_numpy(np.ascontiguousarray(decoded.transpose(2, 0, 1))).bool()


def instance_index_map(gt_masks: Tensor, size: tuple[int, int]) -> Tensor:
    """``[h, w]`` int64: ``k + 1`` where working-resolution pixel centres fall in ground-truth mask ``k``
    (the first one where masks overlap), 0 on background. ``gt_masks``: ``[K, H, W]`` bool."""
    height, width = gt_masks.shape[1:]
    rows = ((torch.arange(size[0], dtype=torch.float64) + 0.5) * (height / size[0])).long().clamp_max(height - 1)
    cols = ((torch.arange(size[1], dtype=torch.float64) + 0.5) * (width / size[1])).long().clamp_max(width - 1)
    sampled = gt_masks[:, rows][:, :, cols]  # [K, h, w]
    if sampled.shape[0] == 0:
        return torch.zeros(size, dtype=torch.long)
    first = sampled.long().argmax(0)  # first True (0 where none)
    return torch.where(sampled.any(0), first + 1, 0)
