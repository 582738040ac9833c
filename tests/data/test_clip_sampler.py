"""ClipSampler: clip shape, uniform starts, short videos, shuffling, exact resume."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gvis.config import build_dataclass
from gvis.data.clips import Clip, ClipSampler, ClipSamplerConfig
from gvis.data.ytvis import Video
from gvis.errors import ConfigError

VIDEOS = [(1, 40), (2, 10), (3, 9), (4, 25), (5, 3)]


def test_clips_have_length_stride_and_fit_the_video():
    config = ClipSamplerConfig(length=4, stride=3, clips_per_video=3)  # span 10
    sampler = ClipSampler(VIDEOS, config, seed=0)
    lengths = dict(VIDEOS)
    clips = sampler.epoch_clips(0)
    assert len(clips) == len(sampler) == 3 * 3  # videos 3 and 5 are shorter than 10: skipped
    assert Counter(c.video_id for c in clips) == {1: 3, 2: 3, 4: 3}
    for clip in clips:
        frames = np.array(clip.frame_indices)
        assert len(frames) == 4 and (np.diff(frames) == 3).all()
        assert frames[0] >= 0 and frames[-1] < lengths[clip.video_id]
    assert all(c.frame_indices == (0, 3, 6, 9) for c in clips if c.video_id == 2)  # exactly fits


def test_start_frames_are_uniform():
    sampler = ClipSampler([(1, 14)], ClipSamplerConfig(length=5, clips_per_video=20), seed=1)
    starts = Counter(clip.frame_indices[0] for epoch in range(500) for clip in sampler.epoch_clips(epoch))
    assert sorted(starts) == list(range(10))  # every start 0..9 occurs, nothing else
    assert max(starts.values()) / min(starts.values()) < 1.3  # 1000 draws each on average


def test_short_videos_rule():
    config = ClipSamplerConfig(length=4, stride=3, short_videos="shorter")
    clips = {c.video_id: c.frame_indices for c in ClipSampler(VIDEOS, config, seed=0).epoch_clips(0)}
    assert set(clips) == {1, 2, 3, 4, 5}
    assert clips[3] == (0, 3, 6) and clips[5] == (0,)
    videos = [Video(7, "a", 4, 2, ("a",) * 12, 12)]
    assert len(ClipSampler(videos, ClipSamplerConfig(length=13), seed=0)) == 0


def test_epochs_are_shuffled_and_seeded():
    many = [(v, 30) for v in range(50)]
    sampler = ClipSampler(many, ClipSamplerConfig(), seed=5)
    epoch0, epoch1 = sampler.epoch_clips(0), sampler.epoch_clips(1)
    assert [c.video_id for c in epoch0] != [c.video_id for c in epoch1]
    assert sorted(c.video_id for c in epoch0) == list(range(50))
    assert ClipSampler(many, ClipSamplerConfig(), seed=5).epoch_clips(0) == epoch0
    assert ClipSampler(many, ClipSamplerConfig(), seed=6).epoch_clips(0) != epoch0
    ordered = ClipSampler(many, ClipSamplerConfig(shuffle=False), seed=5).epoch_clips(0)
    assert [c.video_id for c in ordered] == list(range(50))


def test_resume_mid_epoch_gives_exactly_the_same_clips():
    config = ClipSamplerConfig(length=3, clips_per_video=2)
    reference = ClipSampler(VIDEOS, config, seed=9)
    expected = list(reference) + list(reference) + list(reference)  # three epochs

    first = ClipSampler(VIDEOS, config, seed=9)
    seen: list[Clip] = list(first)
    iterator = iter(first)
    seen += [next(iterator) for _ in range(4)]
    state = first.state_dict()
    assert state == {"seed": 9, "epoch": 1, "position": 4, "clips_per_epoch": 10}

    resumed = ClipSampler(VIDEOS, config, seed=0)
    resumed.load_state_dict(state)
    seen += list(resumed) + list(resumed)
    assert seen == expected
    with pytest.raises(ConfigError, match="clips per epoch"):
        ClipSampler(VIDEOS[:2], config).load_state_dict(state)


def test_config_validation():
    assert build_dataclass(ClipSamplerConfig, {"length": 6, "short_videos": "shorter"}).span == 6
    with pytest.raises(ConfigError, match="stride"):
        ClipSamplerConfig(stride=0).validate()
    with pytest.raises(ConfigError):
        build_dataclass(ClipSamplerConfig, {"short_videos": "pad"})
