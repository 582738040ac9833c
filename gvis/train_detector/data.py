"""Training images for stage 1: annotated frames of a YouTube-VIS dataset, augmented, as network input.

The ``k``-th image drawn is a pure function of ``(seed, k)`` (which frame: the epoch's permutation; how it
is augmented: a generator seeded with ``[seed, AUGMENT_STREAM, k]``), so :class:`FrameStream`'s state is
just ``(epoch, position, drawn)`` and a resumed run sees exactly the images an uninterrupted one would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gvis.data.ytvis import YTVISDataset
from gvis.detections.structures import tight_boxes
from gvis.detectors.yolact.losses import ImageTargets
from gvis.detectors.yolact.model import IMAGENET_MEAN, IMAGENET_STD
from gvis.errors import InputError
from gvis.train_detector.config import ImageAugmentConfig

#: Second word of the augmentation seed (keeps it apart from the permutation stream).
AUGMENT_STREAM = 1


@dataclass
class TrainingImage:
    """One network input and its targets: ``image [3, H, W]`` normalised, ``targets`` in input fractions."""

    image: Tensor
    targets: ImageTargets


def frame_list(dataset: YTVISDataset, stride: int = 1, max_videos: int | None = None,
               max_frames: int | None = None) -> list[tuple[int, int]]:
    """``(video_id, frame_index)`` of every ``stride``-th frame of the first ``max_videos`` videos, at most
    ``max_frames`` of them spread evenly over that list."""
    videos = dataset.videos if max_videos is None else dataset.videos[:max_videos]
    frames = [(v.id, t) for v in videos for t in range(0, v.length, stride)]
    if max_frames is not None and len(frames) > max_frames:
        picks = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in picks]
    return frames


def _place(x: Tensor, size: tuple[int, int], offset: tuple[int, int], fill: Tensor | float) -> Tensor:
    """``x [C, h, w]`` on a ``size`` canvas filled with ``fill``, its top-left at ``offset`` (may be
    negative: cropped)."""
    canvas = torch.empty((x.shape[0], *size), dtype=x.dtype)
    canvas[:] = fill
    (oy, ox), (h, w) = offset, x.shape[-2:]
    y0, x0 = max(oy, 0), max(ox, 0)
    y1, x1 = min(oy + h, size[0]), min(ox + w, size[1])
    if y1 > y0 and x1 > x0:
        canvas[:, y0:y1, x0:x1] = x[:, y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return canvas


def _photometric(image: Tensor, rng: np.random.Generator, config: ImageAugmentConfig) -> Tensor:
    """Brightness, contrast and saturation jitter of ``image [3, H, W]`` in [0, 1]."""
    image = image + float(rng.uniform(-config.brightness, config.brightness))
    mean = image.mean()
    image = (image - mean) * float(rng.uniform(1 - config.contrast, 1 + config.contrast)) + mean
    gray = image.mean(dim=0, keepdim=True)
    image = (image - gray) * float(rng.uniform(1 - config.saturation, 1 + config.saturation)) + gray
    return image.clamp(0.0, 1.0)


def make_training_image(frame: np.ndarray, masks: np.ndarray, classes: Sequence[int], input_size: tuple[int, int],
                        augment: ImageAugmentConfig | None, rng: np.random.Generator | None) -> TrainingImage:
    """The network input of one annotated frame.

    Args:
        frame: ``[H, W, 3]`` uint8 RGB. masks: ``[K, H, W]`` bool. classes: ``K`` class columns 1..C.
        input_size: the network's ``(H, W)``. augment, rng: the random transform (``None``: resize only).
    """
    height, width = input_size
    image = torch.from_numpy(np.array(frame, dtype=np.float32)).permute(2, 0, 1) / 255.0
    mask_tensor = torch.from_numpy(np.ascontiguousarray(masks)).float()
    scale, offset, flip = 1.0, (0, 0), False
    if augment is not None and augment.enabled:
        scale = float(rng.uniform(*augment.scale))
        flip = bool(rng.random() < augment.flip)
    scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
    if augment is not None and augment.enabled:
        offset = tuple(int(rng.integers(min(0, full - part), max(0, full - part) + 1))
                       for full, part in zip(input_size, scaled))
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    image = _place(F.interpolate(image[None], size=scaled, mode="bilinear", align_corners=False)[0], input_size, offset, mean)
    if mask_tensor.shape[0]:
        resized = F.interpolate(mask_tensor[None], size=scaled, mode="bilinear", align_corners=False)[0] > 0.5
        mask_tensor = _place(resized, input_size, offset, False)
    else:
        mask_tensor = torch.zeros((0, height, width), dtype=torch.bool)
    if flip:
        image, mask_tensor = image.flip(-1), mask_tensor.flip(-1)
    if augment is not None and augment.enabled:
        image = _photometric(image, rng, augment)
    classes_tensor = torch.as_tensor(list(classes), dtype=torch.long)
    min_pixels = augment.min_pixels if augment is not None else 1
    keep = mask_tensor.flatten(1).sum(dim=1) >= min_pixels
    mask_tensor, classes_tensor = mask_tensor[keep], classes_tensor[keep]
    boxes = tight_boxes(mask_tensor) / torch.tensor([width, height, width, height], dtype=torch.float32)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return TrainingImage((image - mean) / std, ImageTargets(boxes, classes_tensor, mask_tensor))


class FrameSource:
    """Annotated frames of one or more datasets as :class:`TrainingImage`.

    ``parts``: ``(dataset, frames)`` pairs, ``frames`` as :func:`frame_list` gives them. Every dataset must
    have the same categories in the same order (class columns follow that order), so frames of several
    presets or corpora can be mixed in one training.
    """

    def __init__(self, parts: Sequence[tuple[YTVISDataset, list[tuple[int, int]]]]) -> None:
        parts = [(dataset, frames) for dataset, frames in parts if frames]
        if not parts:
            raise InputError("no frames to train on")
        self.categories = [{"id": int(c.id), "name": str(c.name)} for c in parts[0][0].categories]
        for dataset, _ in parts[1:]:
            other = [{"id": int(c.id), "name": str(c.name)} for c in dataset.categories]
            if other != self.categories:
                raise InputError("its categories differ from the first training dataset's: the datasets of one "
                                 "detector training must share one category list", file=getattr(dataset, "_source", None),
                                 field="categories")
        self.datasets = [dataset for dataset, _ in parts]
        #: ``(dataset index, video id, frame index)`` of every training frame.
        self.frames = [(k, video_id, t) for k, (_, frames) in enumerate(parts) for video_id, t in frames]
        self._column = {c["id"]: k + 1 for k, c in enumerate(self.categories)}
        self._category = [{inst.id: inst.category_id for v in dataset.videos for inst in dataset.instances(v.id)}
                          for dataset in self.datasets]

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int, input_size: tuple[int, int], augment: ImageAugmentConfig | None = None,
              rng: np.random.Generator | None = None) -> TrainingImage:
        part, video_id, t = self.frames[index]
        dataset, category = self.datasets[part], self._category[part]
        ids, masks = dataset.frame_masks(video_id, t)
        classes = [self._column[category[int(i)]] for i in ids]
        return make_training_image(dataset.frame(video_id, t), masks, classes, input_size, augment, rng)


class FrameStream:
    """Batches of :class:`TrainingImage`: frames in a fresh random order every epoch, augmented."""

    def __init__(self, source: FrameSource, batch_size: int, input_size: tuple[int, int],
                 augment: ImageAugmentConfig, seed: int) -> None:
        self.source = source
        self.batch_size = batch_size
        self.input_size = input_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self.drawn = 0
        self._order: tuple[int, np.ndarray] | None = None

    def _next_index(self) -> int:
        if self.position >= len(self.source):
            self.epoch += 1
            self.position = 0
        if self._order is None or self._order[0] != self.epoch:
            self._order = (self.epoch, np.random.default_rng([self.seed, self.epoch]).permutation(len(self.source)))
        index = int(self._order[1][self.position])
        self.position += 1
        return index

    def next_batch(self) -> list[TrainingImage]:
        batch = []
        for _ in range(self.batch_size):
            index = self._next_index()
            rng = np.random.default_rng([self.seed, AUGMENT_STREAM, self.drawn])
            self.drawn += 1
            batch.append(self.source.image(index, self.input_size, self.augment, rng))
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "drawn": self.drawn}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.drawn = int(state["epoch"]), int(state["position"]), int(state["drawn"])
