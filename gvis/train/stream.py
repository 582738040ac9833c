"""The stream of training batches: clips drawn in sampler order, augmented, split across processes.

Every process walks the same global sequence of clips (the :class:`~gvis.data.clips.ClipSampler` order
of the run's seed). Clips in which no object stays in view after augmentation are skipped (the paper
skips batches without annotated objects); the others form global batches of ``world_size × B`` clips, and
process ``rank`` takes clips ``rank·B … rank·B + B − 1`` of each (the distributed sampler). The
augmentation of the ``k``-th clip drawn is a pure function of ``(seed, k)``, so the whole stream state
is the sampler's ``(epoch, position)`` and ``k``: :meth:`ClipStream.state_dict` resumes it exactly, and
every process can decide which clips are skipped without building the others' clips.
"""
from __future__ import annotations

import numpy as np

from gvis.data.clips import Clip, ClipSampler, ClipSamplerConfig
from gvis.errors import InputError
from gvis.train.config import AugmentConfig
from gvis.train.data import ClipTransform, TrainingFrame, TrainingVideos

#: Second word of the augmentation seed ``[seed, AUGMENT_STREAM, k]`` (keeps it apart from other streams).
AUGMENT_STREAM = 1


class ClipStream:
    """Batches of ``batch_size`` clips (lists of :class:`TrainingFrame`) for process ``rank`` of ``world_size``."""

    def __init__(self, videos: TrainingVideos, clips: ClipSamplerConfig, batch_size: int, augment: AugmentConfig,
                 seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.videos = videos
        self.sampler = ClipSampler(videos.videos, clips, seed=seed)
        if len(self.sampler) == 0:
            raise InputError(f"no video has the {clips.span} frames a training clip needs "
                             "(set data.clips.short_videos: shorter, or a shorter data.clips.length)")
        self.batch_size = batch_size
        self.augment = augment
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drawn = 0
        self._epoch_cache: tuple[int, list[Clip]] | None = None

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def _draw(self) -> tuple[Clip, ClipTransform | None]:
        """The next clip of the sampler order and its transform."""
        sampler = self.sampler
        if sampler.position >= len(sampler):
            sampler.epoch += 1
            sampler.position = 0
        if self._epoch_cache is None or self._epoch_cache[0] != sampler.epoch:
            self._epoch_cache = (sampler.epoch, sampler.epoch_clips(sampler.epoch))
        clip = self._epoch_cache[1][sampler.position]
        sampler.position += 1
        transform = None
        if self.augment.enabled:
            video = self.videos.video(clip.video_id)
            rng = np.random.default_rng([self.seed, AUGMENT_STREAM, self.drawn])
            transform = ClipTransform.sample(rng, (video.height, video.width), self.augment)
        self.drawn += 1
        return clip, transform

    def next_batch(self) -> list[list[TrainingFrame]]:
        """This process's ``batch_size`` clips of the next global batch."""
        chosen: list[tuple[Clip, ClipTransform | None]] = []
        misses = 0
        while len(chosen) < self.batch_size * self.world_size:
            clip, transform = self._draw()
            if self.videos.has_objects(clip.video_id, clip.frame_indices, transform):
                chosen.append((clip, transform))
                misses = 0
            else:
                misses += 1
                if misses > 2 * len(self.sampler) + 10:
                    raise InputError("no training clip has an annotated object in view")
        mine = chosen[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        return [self.videos.clip_frames(clip.video_id, clip.frame_indices, transform) for clip, transform in mine]

    def state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict(), "drawn": self.drawn}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.drawn = int(state["drawn"])
        self._epoch_cache = None
