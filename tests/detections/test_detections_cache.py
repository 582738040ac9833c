"""The binary cache of a .jsonl: same detections, rebuilt when its source changes."""
from __future__ import annotations

import dataclasses

import torch

from gvis.data.ytvis import YTVISDataset
from gvis.detections.cache import DetectionsCache, load_detections, write_cache
from gvis.detections.jsonl import DetectionsReader, DetectionsWriter
from gvis.detections.simulate import SimulatedDetector
from ytvis_samples import make_ytvis


def _simulate(path, seed, drop_class_probs=False):
    dataset = YTVISDataset.from_dict(make_ytvis(num_videos=2, length=5))
    detector = SimulatedDetector(dataset, preset="hard", seed=seed)
    with DetectionsWriter(path, detector.categories, detector.appearance_dim) as writer:
        for video in dataset.videos:
            for t, detections in enumerate(detector.detect_video(video.id)):
                if drop_class_probs and t % 2:
                    detections = dataclasses.replace(detections, class_probs=None, frame_appearance=None)
                writer.write(video.id, t, detections)
    return dataset


def test_cache_matches_reader(tmp_path):
    path = tmp_path / "dets.jsonl"
    _simulate(path, seed=0, drop_class_probs=True)
    cache = DetectionsCache(write_cache(path))
    reader = DetectionsReader(path)
    category_ids = [c["id"] for c in reader.categories]
    assert cache.header == reader.header
    for (video_id, expected), (cached_id, got) in zip(reader.videos(), cache.videos()):
        assert video_id == cached_id and len(expected) == len(got)
        for a, b in zip(expected, got):
            a = a.with_class_probs(category_ids)
            for name in ("boxes", "scores", "labels", "class_probs", "appearance"):
                assert torch.equal(getattr(a, name), getattr(b, name)), name
            assert (a.frame_appearance is None) == (b.frame_appearance is None)
            if a.frame_appearance is not None:
                assert torch.equal(a.frame_appearance, b.frame_appearance)
            assert torch.equal(a.mask_tensor(), b.mask_tensor())


def test_stale_cache_is_rebuilt(tmp_path):
    path = tmp_path / "dets.jsonl"
    _simulate(path, seed=0)
    first = load_detections(path)
    assert (tmp_path / "dets.pt").exists()
    _simulate(path, seed=1)
    second = load_detections(path)
    assert second.source_sha256 != first.source_sha256
    (_, frames), = [next(DetectionsReader(path).videos())]
    assert torch.equal(second.video(second.video_ids[0])[0].boxes, frames[0].boxes)
