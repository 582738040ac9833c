"""The simulated detector on the synthetic benchmark (``gvis synth --preset tiny``)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from gvis.cli import main
from gvis.data.ytvis import YTVISDataset
from gvis.detections.jsonl import DetectionsReader
from gvis.detections.simulate import SimulatedDetector

pytest.importorskip("gvis.data.synth")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "tiny"
    assert main(["synth", "--preset", "tiny", "--videos", "8", "--seed", "0", "--out", str(folder)]) == 0
    return folder


def test_noise_free_detections_are_the_ground_truth(synth_dir, tmp_path):
    out = tmp_path / "nf.jsonl"
    assert main(["detect", "--data", str(synth_dir), "--out", str(out), "--noise-free"]) == 0
    dataset = YTVISDataset.from_json(synth_dir / "instances.json")
    reader = DetectionsReader(out)
    for video_id, frames in reader.videos():
        instances = dataset.instances(video_id)
        assert len(frames) == dataset.video(video_id).length
        for t, detections in enumerate(frames):
            present = [inst for inst in instances if inst.segmentations[t] is not None]
            assert [r["counts"].encode() for r in detections.masks] == [inst.segmentations[t]["counts"] for inst in present]
            assert detections.labels.tolist() == [inst.category_id for inst in present]
            assert detections.scores.tolist() == [1.0] * len(present)


def test_noisy_detector_uses_synth_annotations(synth_dir):
    dataset = YTVISDataset.from_json(synth_dir / "instances.json")
    perfect = SimulatedDetector(dataset, noise_free=True)
    noisy = SimulatedDetector(dataset, preset="hard", seed=0)
    visibilities, alike, other = [], [], []
    for video in dataset.videos:
        for frame in noisy.simulate_video(video.id):
            visibilities += [v for _, v in frame.visible.values()]
        latent = {}
        for frame in perfect.simulate_video(video.id):
            for n, instance_id in enumerate(frame.instance_ids):
                latent.setdefault(instance_id, frame.detections.appearance[n].numpy())
        group = {inst.id: (inst.category_id, inst.extra["synth"]["look_alike_group"]) for inst in dataset.instances(video.id)}
        members = defaultdict(list)
        for instance_id in latent:
            members[group[instance_id]].append(instance_id)
        ids = sorted(latent)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                distance = float(np.linalg.norm(latent[a] - latent[b]))
                if group[a] == group[b]:
                    alike.append(distance)
                elif group[a][0] != group[b][0]:
                    other.append(distance)
    assert min(visibilities) < 0.9  # occlusion reaches the detector through full_areas
    assert alike and other and max(alike) < min(other)
