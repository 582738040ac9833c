"""The simulated detector: noise-free = ground truth, determinism, statistics of the noisy presets."""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from gvis.cli import main
from gvis.data.ytvis import YTVISDataset
from gvis.detections.jsonl import DetectionsReader, DetectionsWriter
from gvis.detections.simulate import SimulatedDetector, SimulatorConfig, load_simulator_config
from gvis.errors import ConfigError
from gvis.registry import DETECTORS
from ytvis_samples import CATEGORIES, make_ytvis, ytvis_dir  # noqa: F401  (fixture)


def _decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def test_noise_free_equals_ground_truth():
    raw = make_ytvis(num_videos=2)
    detector = SimulatedDetector(YTVISDataset.from_dict(raw), noise_free=True, seed=3)
    columns = {c["id"]: k + 1 for k, c in enumerate(CATEGORIES)}
    for video in raw["videos"]:
        annotations = [a for a in raw["annotations"] if a["video_id"] == video["id"]]
        latents = {}
        for t, frame in enumerate(detector.simulate_video(video["id"])):
            present = [a for a in annotations if a["segmentations"][t] is not None]
            dets = frame.detections
            assert frame.kinds == ["tp"] * len(present) and frame.missed == []
            assert frame.instance_ids == [a["id"] for a in present]
            for n, ann in enumerate(present):
                truth = _decode(ann["segmentations"][t])
                assert np.array_equal(dets.mask_tensor()[n].numpy(), truth)
                x, y, w, h = ann["bboxes"][t]
                assert dets.boxes[n].tolist() == [x, y, x + w, y + h]
                assert dets.labels[n] == ann["category_id"] and dets.scores[n] == 1.0
                expected_probs = torch.zeros(len(CATEGORIES) + 1)
                expected_probs[columns[ann["category_id"]]] = 1.0
                assert torch.equal(dets.class_probs[n], expected_probs)
                latents.setdefault(ann["id"], dets.appearance[n])
                assert torch.equal(dets.appearance[n], latents[ann["id"]])  # no noise, no drift
            assert dets.frame_appearance.shape == (64,)


def _file_bytes(tmp_path, dataset, name, **kwargs) -> bytes:
    detector = SimulatedDetector(dataset, **kwargs)
    path = tmp_path / name
    with DetectionsWriter(path, detector.categories, detector.appearance_dim, meta=detector.meta) as writer:
        for video in dataset.videos:
            for t, detections in enumerate(detector.detect_video(video.id)):
                writer.write(video.id, t, detections)
    return path.read_bytes()


def test_deterministic_per_seed_and_independent_of_other_videos(tmp_path):
    raw = make_ytvis(num_videos=3)
    dataset = YTVISDataset.from_dict(raw)
    first = _file_bytes(tmp_path, dataset, "a.jsonl", preset="hard", seed=5)
    assert first == _file_bytes(tmp_path, dataset, "b.jsonl", preset="hard", seed=5)
    assert first != _file_bytes(tmp_path, dataset, "c.jsonl", preset="hard", seed=6)
    # The last video alone gets the same detections as inside the whole dataset.
    alone = YTVISDataset.from_dict({**raw, "videos": raw["videos"][-1:],
                                    "annotations": [a for a in raw["annotations"] if a["video_id"] == raw["videos"][-1]["id"]]})
    last_alone = _file_bytes(tmp_path, alone, "d.jsonl", preset="hard", seed=5).splitlines()[1:]
    assert first.splitlines()[-len(last_alone):] == last_alone


@pytest.fixture(scope="module")
def medium_frames():
    """Medium-preset frames of 16 videos × 16 frames, with their ground truth."""
    raw = make_ytvis(num_videos=16, length=16, seed=1)
    dataset = YTVISDataset.from_dict(raw)
    detector = SimulatedDetector(dataset, preset="medium", seed=0)
    frames = [(video.id, t, frame) for video in dataset.videos for t, frame in enumerate(detector.simulate_video(video.id))]
    return raw, dataset, frames


def test_medium_preset_statistics(medium_frames):
    raw, _, frames = medium_frames
    category = {a["id"]: a["category_id"] for a in raw["annotations"]}
    seen, missed = defaultdict(int), defaultdict(int)
    kinds, confused, tp_scores, fp_scores = defaultdict(int), 0, [], []
    for _, _, frame in frames:
        for instance_id, (_, visibility) in frame.visible.items():
            group = ("large" if category[instance_id] in (1, 2) else "small") + ("-occluded" if visibility < 0.9 else "")
            seen[group] += 1
            missed[group] += instance_id in frame.missed
        dets = frame.detections
        for n, kind in enumerate(frame.kinds):
            kinds[kind] += 1
            (tp_scores if kind == "tp" else fp_scores).append(float(dets.scores[n]))
            confused += kind == "tp" and int(dets.labels[n]) != frame.true_labels[n]
        # class_probs agree with label and score: the label's entry is the score and the largest foreground one.
        if len(dets):
            columns = torch.tensor([[c["id"] for c in CATEGORIES].index(int(label)) + 1 for label in dets.labels])
            assert torch.allclose(dets.class_probs[torch.arange(len(dets)), columns], dets.scores)
            assert torch.equal(dets.class_probs[:, 1:].argmax(1) + 1, columns)
            assert torch.allclose(dets.class_probs.sum(1), torch.ones(len(dets)), atol=1e-5)
            assert (dets.class_probs >= 0).all() and (dets.scores[:-1] >= dets.scores[1:]).all()
    rate = {group: missed[group] / seen[group] for group in seen}
    assert rate["large"] < 0.1 < rate["small"] < rate["small-occluded"], rate
    assert rate["small-occluded"] > rate["small"] + 0.15, rate
    assert kinds["duplicate"] > 0 and kinds["background"] > 0 and kinds["merge"] > 0, kinds
    assert 0 < confused < 0.25 * kinds["tp"]
    # Mis-calibrated scores: false detections outscore some true ones, but true ones are higher on average.
    assert max(fp_scores) > min(tp_scores) and np.mean(tp_scores) > np.mean(fp_scores) + 0.2


def test_missed_are_the_visible_objects_without_a_true_detection():
    # A true detection dropped for its low score leaves its object missed, like one the detector never drew.
    dataset = YTVISDataset.from_dict(make_ytvis(num_videos=3, length=12, seed=2))
    visible = missed = 0
    for min_score in (0.05, 0.6):
        detector = SimulatedDetector(dataset, preset="hard", seed=0, overrides=[f"score.min_score={min_score}"])
        for video in dataset.videos:
            for frame in detector.simulate_video(video.id):
                detected = {i for i, kind in zip(frame.instance_ids, frame.kinds) if kind == "tp"}
                assert sorted(frame.missed) == sorted(set(frame.visible) - detected)
                assert min(frame.detections.scores.tolist(), default=1.0) >= min_score
                visible += min_score == 0.6 and len(frame.visible)
                missed += min_score == 0.6 and len(frame.missed)
    assert missed > 0.4 * visible  # most misses at this threshold are low-scored true detections


def test_duplicates_overlap_their_object(medium_frames):
    raw, _, frames = medium_frames
    truth = {(a["video_id"], a["id"]): a for a in raw["annotations"]}
    overlaps = []
    for video_id, t, frame in frames:
        for n, kind in enumerate(frame.kinds):
            if kind == "duplicate":
                gt = _decode(truth[(video_id, frame.instance_ids[n])]["segmentations"][t])
                mask = frame.detections.mask_tensor()[n].numpy()
                overlaps.append((mask & gt).sum() / mask.sum())
    assert overlaps and np.mean(overlaps) > 0.6


def test_other_segmenters_settings():
    """The agnostic preset: one category, no appearance, per-video constant or tempered scores, more duplicates."""
    dataset = YTVISDataset.from_dict(make_ytvis(num_videos=12, length=8, seed=3))
    hard = SimulatedDetector(dataset, preset="hard", seed=0)
    agnostic = SimulatedDetector(dataset, preset="agnostic", seed=0)
    assert agnostic.categories == [{"id": 1, "name": "object"}] and agnostic.appearance_dim == 0
    assert hard.categories == [{"id": c["id"], "name": c["name"]} for c in CATEGORIES]
    config = load_simulator_config("agnostic")
    assert config.miss == load_simulator_config("hard").miss and config.duplicates.count == 3
    constant_videos, duplicates = 0, {"hard": 0, "agnostic": 0}
    for video in dataset.videos:
        scores = []
        for name, detector in (("hard", hard), ("agnostic", agnostic)):
            for frame in detector.simulate_video(video.id):
                duplicates[name] += frame.kinds.count("duplicate")
                if name == "agnostic":
                    dets = frame.detections
                    assert dets.appearance is None and dets.frame_appearance is None
                    assert dets.labels.tolist() == [1] * len(dets)
                    assert torch.allclose(dets.class_probs, torch.stack([1 - dets.scores, dets.scores], 1), atol=1e-6)
                    scores += dets.scores.tolist()
        constant_videos += bool(scores) and set(scores) == {1.0}
    assert 0 < constant_videos < len(dataset.videos)  # 30 % of the videos on average
    assert duplicates["agnostic"] > 3 * duplicates["hard"] > 0
    # A video's score regime comes from a stream of its own: the same temperature in every run, and with the
    # temperature at 1 the scores are the hard preset's.
    assert SimulatedDetector(dataset, preset="agnostic", seed=0)._score_temperature(3) == agnostic._score_temperature(3)
    untempered = SimulatedDetector(dataset, preset="hard", seed=0, overrides=["class_agnostic=true"])
    video = dataset.videos[0].id
    for ours, theirs in zip(untempered.detect_video(video), hard.detect_video(video)):
        assert torch.equal(ours.scores, theirs.scores) and torch.equal(ours.boxes, theirs.boxes)
    with pytest.raises(ConfigError, match="score.temperature"):
        load_simulator_config("agnostic", ["score.temperature=[2.0, 1.0]"])


def test_look_alikes_have_nearby_appearance(medium_frames):
    raw, dataset, frames = medium_frames
    noise_free = SimulatedDetector(dataset, noise_free=True, seed=0)
    # Hand-made videos: instances 1, 2 are look-alike discs (category 1, group 0); 3 is a square.
    for video in dataset.videos:
        first = next(noise_free.simulate_video(video.id))
        latent = {i: first.detections.appearance[n] for n, i in enumerate(first.instance_ids)}
        disc_a, disc_b, square = sorted(latent)[:3]
        look_alike = (latent[disc_a] - latent[disc_b]).norm()
        assert look_alike < 0.5 * (latent[disc_a] - latent[square]).norm()
    # With noise: the same instance in consecutive frames is closer than two look-alikes.
    by_instance = defaultdict(list)
    for video_id, t, frame in frames:
        for n, kind in enumerate(frame.kinds):
            if kind == "tp":
                by_instance[(video_id, frame.instance_ids[n])].append((t, frame.detections.appearance[n]))
    same, alike = [], []
    for (video_id, instance_id), items in by_instance.items():
        same += [(b[1] - a[1]).norm().item() for a, b in zip(items, items[1:])]
        partner = by_instance.get((video_id, instance_id + 1)) if instance_id % 4 == 1 else None  # ids 1,2 / 5,6 / ...
        if partner:
            other = dict((t, v) for t, v in partner)
            alike += [(v - other[t]).norm().item() for t, v in items if t in other]
    assert np.mean(same) < np.mean(alike)


def test_real_dataset_without_synth_keys():
    dataset = YTVISDataset.from_dict(make_ytvis(num_videos=1, synth=False))
    frames = list(SimulatedDetector(dataset, preset="hard", seed=0).simulate_video(10))
    assert all(visibility == 1.0 for frame in frames for _, visibility in frame.visible.values())
    perfect = list(SimulatedDetector(dataset, noise_free=True).simulate_video(10))
    assert [len(f.detections) for f in perfect] == [4, 4, 3, 4, 4, 4, 4, 4]  # the small disc vanishes in frame 2


def test_real_fixture_noise_free(real_data):
    dataset = YTVISDataset.from_json(real_data / "davis2017_tennis_2frames" / "ytvis_gt.json")
    video = dataset.videos[0]
    frames = list(SimulatedDetector(dataset, noise_free=True).detect_video(video.id))
    ids, masks = dataset.frame_masks(video.id, 0)
    assert len(frames) == video.length and torch.equal(frames[0].mask_tensor(), torch.from_numpy(masks))
    assert len(list(SimulatedDetector(dataset, preset="medium").detect_video(video.id))) == video.length


def test_presets_overrides_and_bad_keys():
    defaults = load_simulator_config()
    assert defaults == SimulatorConfig() == load_simulator_config("medium")
    easy, hard = load_simulator_config("easy"), load_simulator_config("hard")
    assert easy.miss.base_rate < defaults.miss.base_rate < hard.miss.base_rate
    assert load_simulator_config("hard", ["appearance.dim=16", "miss.base_rate=0.5"]).appearance.dim == 16
    with pytest.raises(ConfigError, match="miss.bas_rate"):
        load_simulator_config(None, ["miss.bas_rate=0.1"])
    with pytest.raises(ConfigError, match="miss.base_rate"):
        load_simulator_config(None, ["miss.base_rate=1.5"])
    with pytest.raises(ConfigError, match="no config 'extreme'"):
        load_simulator_config("extreme")


def test_registry():
    dataset = YTVISDataset.from_dict(make_ytvis(num_videos=1))
    detector = DETECTORS.build("simulated", dataset=dataset, preset="easy", overrides=["appearance.dim=8"], seed=1)
    assert detector.appearance_dim == 8 and next(detector.detect_video(10)).appearance.shape[1] == 8
    with pytest.raises(ValueError, match="unknown detector 'nope'; options: .*simulated"):
        DETECTORS.get("nope")


def test_cli_detect(ytvis_dir, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "dets.jsonl"
    assert main(["detect", "--data", str(ytvis_dir), "--out", str(out), "--preset", "hard", "--seed", "2",
                 "--set", "appearance.dim=8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    reader = DetectionsReader(out)
    assert reader.header["appearance_dim"] == 8 and reader.header["meta"]["preset"] == "hard"
    assert reader.validate() == {k: summary[k] for k in ("videos", "frames", "detections")}
    assert main(["detect", "--ann", str(ytvis_dir / "instances.json"), "--out", str(tmp_path / "nf.jsonl"),
                 "--noise-free", "--cache"]) == 0
    assert (tmp_path / "nf.pt").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--detector", "nope"], "unknown detector 'nope'; options: " + ", ".join(DETECTORS.names())),
    (["--set", "miss.base_rate=2"], "miss.base_rate"),
    (["--preset", "extreme"], "no config 'extreme'"),
])
def test_cli_detect_errors(ytvis_dir, tmp_path, capsys, arguments, message):  # noqa: F811
    out = tmp_path / "dets.jsonl"
    assert main(["detect", "--data", str(ytvis_dir), "--out", str(out), *arguments]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not out.exists()
