"""The learned tracker behind the online API, end to end on simulated detections of the synthetic benchmark."""
from __future__ import annotations

import warnings

import pytest
import torch

from gvis.cli import main
from gvis.data.ytvis import YTVISDataset
from gvis.detections.simulate import SimulatedDetector
from gvis.errors import InputError
from gvis.eval.results import VideoResults, write_results
from gvis.eval.ytvis_ap import evaluate
from gvis.registry import TRACKERS
from gvis.tracker.model import TrackerConfig
from gvis.tracker.online import (
    INFERENCE_KEYS,
    BatchedLearnedTracker,
    LearnedTracker,
    default_config,
    tracker_checkpoint,
    with_inference_overrides,
)

from tracker_helpers import ALWAYS, copy_detection_masks, detections, tiny_config, tiny_model

# Bounded so that "every detection starts a track" stays small; freeing exercised on long videos.
SETTINGS = (*ALWAYS, "max_tracks=12", "max_inactive_frames=3")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A tiny synthetic dataset and its simulated (hard) detections, video by video."""
    folder = tmp_path_factory.mktemp("synth") / "tiny"
    assert main(["synth", "--preset", "tiny", "--videos", "5", "--seed", "1", "--out", str(folder)]) == 0
    dataset = YTVISDataset.from_json(folder / "instances.json")
    detector = SimulatedDetector(dataset, preset="hard", seed=0)
    videos = [(video.id, list(detector.detect_video(video.id))) for video in dataset.videos]
    return dataset, videos


def learned(dataset, *overrides):
    """Random weights, except a mask head that passes the detections' masks through."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = LearnedTracker(dataset.categories, config=tiny_config(*SETTINGS, *overrides))
    copy_detection_masks(tracker.model)
    return tracker


def track_video(tracker, frames):
    tracker.reset()
    return [tracker.update(frame) for frame in frames]


def test_end_to_end_results_are_valid_ytvis(synthetic, tmp_path):
    dataset, videos = synthetic
    tracker = learned(dataset)
    category_ids = {c.id for c in dataset.categories}
    entries = []
    for video_id, frames in videos:
        results = VideoResults(video_id)
        seen: list[set] = []
        for det, tracks in zip(frames, track_video(tracker, frames)):
            count = len(tracks)
            assert tracks.masks.shape == (count, *det.image_size) and tracks.masks.dtype == torch.bool
            assert len(set(tracks.track_ids.tolist())) == count
            assert ((tracks.det_indices >= -1) & (tracks.det_indices < len(det))).all()
            assert not tracks.masks[~tracks.matched].any()  # unmatched tracks have no mask
            # A matched track's mask lies inside its detection's box (the mask head copies the detection).
            for mask, index in zip(tracks.masks[tracks.matched], tracks.det_indices[tracks.matched]):
                x1, y1, x2, y2 = det.boxes[index].tolist()
                ys, xs = mask.nonzero(as_tuple=True)
                if len(ys):
                    assert xs.min() >= x1 - 8 and xs.max() <= x2 + 8 and ys.min() >= y1 - 8 and ys.max() <= y2 + 8
            assert set(tracks.labels.tolist()) <= category_ids
            assert ((tracks.scores >= 0) & (tracks.scores <= 1)).all()
            seen.append(set(tracks.track_ids.tolist()))
            results.add_frame(tracks)
        # Ids are stable: a track is reported in consecutive frames until it is freed, never again after;
        # new tracks get new ids, increasing in order of creation.
        for track_id in set().union(*seen):
            frames_with = [t for t, ids in enumerate(seen) if track_id in ids]
            assert frames_with == list(range(frames_with[0], frames_with[-1] + 1))
        created = [min(t for t, ids in enumerate(seen) if i in ids) for i in sorted(set().union(*seen))]
        assert created == sorted(created)
        entries += results.entries()
    assert entries, "the tracker should report tracks"
    stats = evaluate(dataset, entries)
    assert set(stats) >= {"AP", "AP50", "AP75", "AR1", "AR10"} and 0 <= stats["AP"] <= 1
    write_results(tmp_path / "results.json", entries)
    assert evaluate(dataset, tmp_path / "results.json")["AP"] == stats["AP"]


def test_batched_form_equals_online_form(synthetic):
    dataset, videos = synthetic
    tracker = learned(dataset)
    online = {video_id: track_video(tracker, frames) for video_id, frames in videos}
    batched = BatchedLearnedTracker(tracker.model, dataset.categories, num_videos=3)
    # Three slots; a slot whose video ended gets None until the batch is done (videos of different lengths).
    for start in range(0, len(videos), 3):
        chunk = videos[start:start + 3] + [(None, [])] * (3 - len(videos[start:start + 3]))
        batched.reset()
        length = max(len(frames) for _, frames in chunk)
        for t in range(length):
            outputs = batched.update([frames[t] if t < len(frames) else None for _, frames in chunk])
            for (video_id, frames), tracks in zip(chunk, outputs):
                if t >= len(frames):
                    assert tracks is None
                    continue
                expected = online[video_id][t]
                assert torch.equal(tracks.track_ids, expected.track_ids)
                assert torch.equal(tracks.det_indices, expected.det_indices)
                assert torch.equal(tracks.labels, expected.labels)
                assert torch.allclose(tracks.scores, expected.scores, atol=1e-5)
                assert (tracks.masks != expected.masks).sum() <= 1e-3 * tracks.masks.numel()


def test_score_prior_scales_scores_by_the_frames_with_a_detection(synthetic):
    """``score_prior_frames: k`` changes only the reported scores: s · n / (n + k), n counted here from the
    tracks' own det_indices, per video (the batched form with two slots included)."""
    dataset, videos = synthetic
    plain, prior = learned(dataset), learned(dataset, "score_prior_frames=2")
    prior.model.load_state_dict(plain.model.state_dict())
    checked = 0
    for _, frames in videos:
        hits: dict[int, int] = {}
        for ours, theirs in zip(track_video(prior, frames), track_video(plain, frames)):
            assert torch.equal(ours.track_ids, theirs.track_ids) and torch.equal(ours.det_indices, theirs.det_indices)
            assert torch.equal(ours.labels, theirs.labels) and torch.equal(ours.masks, theirs.masks)
            for row, (track_id, det) in enumerate(zip(ours.track_ids.tolist(), ours.det_indices.tolist())):
                hits[track_id] = hits.get(track_id, 0) + (det >= 0)
                n = hits[track_id]
                assert float(ours.scores[row]) == pytest.approx(float(theirs.scores[row]) * n / (n + 2), abs=1e-6)
                checked += 1
    assert checked > 20
    batched = BatchedLearnedTracker(prior.model, dataset.categories, num_videos=2)
    (first_id, first), (second_id, second) = videos[:2]
    online = {first_id: track_video(prior, first), second_id: track_video(prior, second)}
    for t in range(min(len(first), len(second))):
        for video_id, tracks in zip((first_id, second_id), batched.update([first[t], second[t]])):
            assert torch.allclose(tracks.scores, online[video_id][t].scores, atol=1e-6)


def test_zero_detection_frames_and_detections_without_appearance():
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = LearnedTracker(categories, config=tiny_config(*ALWAYS, "appearance={type: none}"))
    frames = [detections([]), detections([[2, 2, 10, 10], [20, 5, 30, 15]], labels=[1, 3]), detections([]),
              detections([[3, 2, 11, 10]], labels=[2])]
    outputs = track_video(tracker, frames)
    assert len(outputs[0]) == 0 and outputs[0].masks.shape == (0, 48, 64)
    assert outputs[1].track_ids.tolist() == [0, 1] and outputs[1].det_indices.tolist() == [0, 1]
    assert outputs[2].det_indices.tolist() == [-1, -1]
    assert outputs[3].det_indices.tolist() == [0, 0, 0]  # both tracks claim it, and it starts a third
    # A model that reads appearance refuses detections without it, naming the field.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gaussian = LearnedTracker(categories, config=tiny_config())
    with pytest.raises(InputError, match="appearance"):
        gaussian.update(frames[1])


def test_detection_masks_show_each_detection_once():
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = LearnedTracker(categories, config=tiny_config(*ALWAYS, "appearance={type: none}",
                                                                "output_masks=detection"))
    frames = [detections([[2, 2, 10, 10], [20, 5, 30, 15]], labels=[1, 3]), detections([]),
              detections([[3, 2, 11, 10]], labels=[2])]
    first, second, third = track_video(tracker, frames)
    assert torch.equal(first.masks, frames[0].mask_tensor())  # full resolution, no mask head
    assert not second.masks.any()                              # unmatched tracks show nothing
    # All three tracks take detection 0 (two claim it, one starts on it): only the best-scored shows it.
    assert third.det_indices.tolist() == [0, 0, 0]
    best = int(torch.argmax(third.scores))
    assert third.masks.sum(dim=(1, 2)).nonzero().flatten().tolist() == [best]
    assert torch.equal(third.masks[best], frames[2].mask_tensor()[0])


def test_detection_masks_are_the_voted_ones():
    # One object proposed three times: A (score 1.0) and two copies shifted 2 columns right (0.8 each; mask IoU
    # with A 360/440). Mask NMS keeps A; with vote_iou the copies outvote A's left columns (docs: filtering),
    # so the track reports A's index with the copies' mask.
    categories = [{"id": 1, "name": "a"}]
    frame = detections([[12, 10, 32, 30], [10, 10, 30, 30], [12, 10, 32, 30]], scores=[0.8, 1.0, 0.8])
    masks = {}
    for vote in ("null", "0.5"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracker = LearnedTracker(categories, config=tiny_config(
                *ALWAYS, "appearance={type: none}", "output_masks=detection",
                f"filtering={{nms_overlap: mask, nms_iou: 0.7, vote_iou: {vote}}}"))
        tracks = tracker.update(frame)
        assert tracks.det_indices.tolist() == [1]
        masks[vote] = tracks.masks[0]
    assert torch.equal(masks["null"], frame.mask_tensor()[1])
    assert torch.equal(masks["0.5"], frame.mask_tensor()[0])


def test_filtering_maps_detection_indices_back(synthetic):
    dataset, _ = synthetic
    tracker = learned(dataset, "filtering={score_threshold: 0.5, nms_iou: null, top_n: 2}")
    cat = dataset.categories[0].id
    frame = detections([[0, 0, 8, 8], [10, 0, 18, 8], [20, 0, 28, 8], [30, 0, 38, 8]], scores=[0.2, 0.9, 0.6, 0.7],
                       labels=[cat] * 4, appearance=torch.randn(4, 64) * 0.1)
    tracks = tracker.update(frame)
    assert sorted(tracks.det_indices.tolist()) == [1, 3]  # the two best above 0.5, in the caller's numbering


def saved_model(folder, categories):
    """A tiny model with random weights and its checkpoint file in ``folder``."""
    model = tiny_model(*SETTINGS, num_classes=len(categories), seed=7)
    path = folder / "tracker.pt"
    torch.save(tracker_checkpoint(model, categories), path)
    return model, path


def test_checkpoint_round_trip_and_registry(tmp_path, synthetic):
    dataset, videos = synthetic
    categories = dataset.categories
    model, path = saved_model(tmp_path, categories)
    tracker = TRACKERS.build("learned", categories=categories, checkpoint=str(path))
    reference = BatchedLearnedTracker(model, categories, num_videos=1)
    video_id, frames = videos[0]
    for frame in frames[:4]:
        ours, theirs = tracker.update(frame), reference.update([frame])[0]
        assert torch.equal(ours.track_ids, theirs.track_ids) and torch.allclose(ours.scores, theirs.scores)
    with pytest.raises(InputError, match="no such checkpoint"):
        LearnedTracker.from_checkpoint(tmp_path / "missing.pt", categories)
    with pytest.raises(InputError, match="tracker.pt: field 'categories': the detections have 7 categories "
                                         r"\(disc, square, triangle, ...\), the checkpoint 8 categories \(1, 2, 3, ...\)$"):
        LearnedTracker.from_checkpoint(path, categories[:-1])
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        LearnedTracker.from_checkpoint(tmp_path / "junk.pt", categories)
    with pytest.warns(UserWarning, match="random weights"):
        TRACKERS.build("learned", categories=categories)


def test_inference_keys_set_on_a_checkpoint(tmp_path, synthetic):
    from gvis.cli.track import build_tracker
    from gvis.errors import ConfigError

    dataset, videos = synthetic
    categories = dataset.categories
    model, path = saved_model(tmp_path, categories)
    overrides = ["output_masks=detection", "assignment=exclusive", "filtering.top_n=3"]
    tracker = build_tracker("learned", categories, None, overrides, str(path))
    config = tracker.model.config
    assert (config.output_masks, config.assignment, config.filtering.top_n) == ("detection", "exclusive", 3)
    # The rest of the checkpoint's config and its weights are untouched.
    assert config.filtering.nms_iou == model.config.filtering.nms_iou and config.gnn == model.config.gnn
    assert all(torch.equal(a, b) for a, b in zip(tracker.model.state_dict().values(), model.state_dict().values()))
    # Same weights, same frames: the overridden tracker equals a reference whose config was set by hand.
    model.config.output_masks, model.config.assignment, model.config.filtering.top_n = "detection", "exclusive", 3
    reference = BatchedLearnedTracker(model, categories, num_videos=1)
    for frame in videos[0][1][:4]:
        ours, theirs = tracker.update(frame), reference.update([frame])[0]
        assert torch.equal(ours.track_ids, theirs.track_ids) and torch.equal(ours.masks, theirs.masks)
        assert len(set(ours.det_indices[ours.det_indices >= 0].tolist())) <= 3  # top 3 detections only
    with pytest.raises(ConfigError, match="key 'gnn' is not an inference key"):
        build_tracker("learned", categories, None, ["gnn.width=8"], str(path))
    with pytest.raises(ConfigError, match="assignment"):
        build_tracker("learned", categories, None, ["assignment=sometimes"], str(path))
    with pytest.raises(ConfigError, match="score_prior_frames must be >= 0"):
        build_tracker("learned", categories, None, ["score_prior_frames=-1"], str(path))


def test_inference_presets_hold_inference_keys_only():
    from gvis.config import CONFIG_DIR, load_yaml_tree

    presets = sorted((CONFIG_DIR / "inference").glob("*.yaml"))
    assert presets
    for preset in presets:
        tree, _ = load_yaml_tree(preset)
        assert tree and set(tree) <= set(INFERENCE_KEYS), preset.name
        with_inference_overrides(default_config(), [], preset.stem)  # valid values too


def test_shipped_presets_equal_the_settings_docs_name():
    """docs/tracker.md: ``dense-proposals`` is the dense setting's --set list, ``final-output`` adds the thresholds."""
    dense = ["output_masks=detection", "assignment=exclusive", "claimed_start_tracks=false",
             "filtering.nms_overlap=mask", "filtering.nms_rank=support", "filtering.nms_iou=0.3",
             "score_prior_frames=1", "filtering.vote_iou=0.5"]
    final = [*dense, "match_threshold=-3", "init_threshold=-3"]
    for preset, keys in (("dense-proposals", dense), ("final-output", final)):
        assert with_inference_overrides(default_config(), [], preset) == with_inference_overrides(default_config(), keys)


def test_inference_preset_then_set_on_a_checkpoint(tmp_path, synthetic):
    from gvis.cli.track import build_tracker
    from gvis.errors import ConfigError

    dataset, _ = synthetic
    categories = dataset.categories
    _, path = saved_model(tmp_path, categories)
    preset = tmp_path / "preset.yaml"
    preset.write_text("_base_: base.yaml\nmatch_threshold: -3\n")
    (tmp_path / "base.yaml").write_text("assignment: exclusive\nmatch_threshold: -1\nfiltering:\n  top_n: 5\n")
    tracker = build_tracker("learned", categories, None, ["filtering.top_n=4"], str(path), inference=str(preset))
    config = tracker.model.config
    # The preset (with its base) applies, then --set; the checkpoint's other filtering keys stay.
    assert (config.assignment, config.match_threshold, config.filtering.top_n) == ("exclusive", -3, 4)
    assert config.filtering.nms_iou == TrackerConfig().filtering.nms_iou
    # A whole section given on the command line merges into the preset's, key by key.
    tracker = build_tracker("learned", categories, None, ["filtering={nms_iou: 0.4}"], str(path), inference=str(preset))
    assert (tracker.model.config.filtering.top_n, tracker.model.config.filtering.nms_iou) == (5, 0.4)
    (tmp_path / "bad.yaml").write_text("gnn:\n  width: 8\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: key 'gnn' is not an inference key"):
        build_tracker("learned", categories, None, [], str(path), inference=str(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match="no config 'nonesuch'.*known in configs/inference"):
        build_tracker("learned", categories, None, [], str(path), inference="nonesuch")
    with pytest.raises(ConfigError, match="tracker 'iou' takes no --inference"):
        build_tracker("iou", categories, None, [], None, inference=str(preset))
