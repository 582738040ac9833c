"""Training clips: which frames of which videos each training step sees.

A clip is ``length`` frames of one video, ``stride`` frames apart, from a uniformly random start. An
epoch has ``clips_per_video`` clips of every usable video, shuffled. The defaults are the paper's (one
clip of 10 consecutive frames per video per epoch, shuffled; ``docs/model.md`` §5 "Clip sampling").

Videos shorter than a clip's span ``(length - 1) * stride + 1`` follow ``short_videos``:

* ``"skip"`` (default, as the paper): the video gives no clips;
* ``"shorter"``: one shorter clip per draw, frames ``0, stride, 2*stride, ...`` up to the video's end.

Epoch ``e`` is a pure function of ``(seed, e)`` (``numpy.random.default_rng([seed, e])``), so the sampler
state is just ``(seed, epoch, position)``: :meth:`ClipSampler.state_dict` /
:meth:`ClipSampler.load_state_dict` resume training exactly, mid-epoch included.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Sequence

import numpy as np

from gvis.data.ytvis import Video
from gvis.errors import ConfigError


@dataclass
class ClipSamplerConfig:
    """Clip sampling settings (config section ``clips``)."""

    length: int = 10
    stride: int = 1
    clips_per_video: int = 1
    short_videos: Literal["skip", "shorter"] = "skip"
    shuffle: bool = True

    def validate(self) -> None:
        for name in ("length", "stride", "clips_per_video"):
            if getattr(self, name) < 1:
                raise ConfigError(f"clips.{name} must be >= 1, got {getattr(self, name)}")
        if self.short_videos not in ("skip", "shorter"):
            raise ConfigError(f"clips.short_videos must be 'skip' or 'shorter', got {self.short_videos!r}")

    @property
    def span(self) -> int:
        """Frames a full clip covers, first to last."""
        return (self.length - 1) * self.stride + 1


@dataclass(frozen=True)
class Clip:
    """Frames ``frame_indices`` (increasing) of video ``video_id``."""

    video_id: int
    frame_indices: tuple[int, ...]


class ClipSampler:
    """Seeded, resumable iterator over training clips.

    Args:
        videos: :class:`~gvis.data.ytvis.Video` objects or ``(video_id, num_frames)`` pairs.
        config: clip settings.
        seed: the run's seed; epoch ``e`` uses ``default_rng([seed, e])``.

    Iterating yields the rest of the current epoch, then moves to the next one (so ``for clip in
    sampler`` is one epoch); :meth:`epoch_clips` gives any epoch without touching the state.
    """

    def __init__(self, videos: Sequence[Video | tuple[int, int]], config: ClipSamplerConfig | None = None, seed: int = 0):
        self.config = config or ClipSamplerConfig()
        self.config.validate()
        pairs = [(v.id, v.length) if isinstance(v, Video) else (int(v[0]), int(v[1])) for v in videos]
        if self.config.short_videos == "skip":
            pairs = [(video_id, n) for video_id, n in pairs if n >= self.config.span]
        self._video_ids = np.array([video_id for video_id, _ in pairs], dtype=np.int64)
        self._lengths = np.array([n for _, n in pairs], dtype=np.int64)
        self.seed = seed
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        """Clips per epoch."""
        return len(self._video_ids) * self.config.clips_per_video

    def epoch_clips(self, epoch: int) -> list[Clip]:
        """All clips of ``epoch`` in the order they are served."""
        cfg = self.config
        rng = np.random.default_rng([self.seed, epoch])
        video_index = np.repeat(np.arange(len(self._video_ids)), cfg.clips_per_video)
        lengths = self._lengths[video_index]
        last_start = np.maximum(lengths - cfg.span, 0)
        starts = rng.integers(0, last_start + 1)  # uniform in [0, last_start] per clip
        if cfg.shuffle:
            order = rng.permutation(video_index.size)
            video_index, lengths, starts = video_index[order], lengths[order], starts[order]
        clips = []
        for index, n, start in zip(video_index.tolist(), lengths.tolist(), starts.tolist()):
            stop = min(start + cfg.span, n)
            clips.append(Clip(int(self._video_ids[index]), tuple(range(start, stop, cfg.stride))))
        return clips

    def __iter__(self) -> Iterator[Clip]:
        clips = self.epoch_clips(self.epoch)
        while self.position < len(clips):
            clip = clips[self.position]
            self.position += 1
            yield clip
        self.epoch += 1
        self.position = 0

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this sampler is."""
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position, "clips_per_epoch": len(self)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("clips_per_epoch", len(self)) != len(self):
            raise ConfigError(
                f"sampler state is for {state['clips_per_epoch']} clips per epoch, this sampler has {len(self)} "
                "(different data or clip settings)"
            )
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
