"""``gvis eval-tracker`` on a trained checkpoint agrees with ``gvis track`` + ``gvis eval``."""
from __future__ import annotations

import json

import pytest
from pycocotools import mask as mask_utils

from gvis.cli import main
from gvis.tracker.online import LearnedTracker
from gvis.train.loop import Trainer


def assert_same_entries(got, expected):
    """Same tracks and classes; scores and masks equal up to float rounding (batched matrix products can
    move a score by 1e-7 and flip a pixel whose track logit ties with the background)."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert (a["video_id"], a["category_id"]) == (b["video_id"], b["category_id"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)
        for mask_a, mask_b in zip(a["segmentations"], b["segmentations"]):
            assert (mask_a is None) == (mask_b is None)
            if mask_a is not None:
                pixels_a, pixels_b = (mask_utils.decode({**m, "counts": m["counts"].encode()}).astype(bool)
                                      for m in (mask_a, mask_b))
                assert (pixels_a ^ pixels_b).sum() <= max(2, 0.01 * (pixels_a | pixels_b).sum())


@pytest.fixture(scope="module")
def trained(tiny_train_set, tmp_path_factory):
    from gvis.train.loop import load_train_config

    out = tmp_path_factory.mktemp("trained")
    config = load_train_config("tiny", [
        f"data.train.annotations={tiny_train_set / 'data'}", f"data.train.detections={tiny_train_set / 'dets.pt'}",
        f"output_dir={out}", "train.steps=4", "model.init_threshold=-3.0", "model.match_threshold=-3.0", "model.background_mask_logit=-2.0",
        # validation on the training set itself: only the plumbing is under test here
        f"data.val.annotations={tiny_train_set / 'data'}", f"data.val.detections={tiny_train_set / 'dets.jsonl'}",
        "train.val_every=2"])
    result = Trainer(config, progress=False).run()
    assert [v["step"] for v in result.validations] == [2, 4]
    return out


def test_eval_tracker_matches_track_then_eval(trained, tiny_train_set, tmp_path, capsys):
    data, dets = tiny_train_set / "data", tiny_train_set / "dets.jsonl"
    assert main(["eval-tracker", "--checkpoint", str(trained / "model.pt"), "--data", str(data), "--detections",
                 str(dets), "--json", "--results", str(tmp_path / "one.json")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"stats", "fps", "frames"} and summary["fps"] > 0
    assert list(summary["stats"]) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    frames = sum(len(v["file_names"]) for v in json.loads((data / "instances.json").read_text())["videos"])
    assert summary["frames"] == frames
    entries = json.loads((tmp_path / "one.json").read_text())
    assert entries, "the trained tiny model should start some tracks"
    meta = json.loads((tmp_path / "one.meta.json").read_text())
    assert {"config", "seed", "git_hash", "step"} <= set(meta) and meta["step"] == 4

    # Tracking four videos at a time gives the same results.
    assert main(["eval-tracker", "--checkpoint", str(trained / "last.pt"), "--data", str(data), "--detections",
                 str(tiny_train_set / "dets.pt"), "--slots", "4", "--json", "--results", str(tmp_path / "four.json")]) == 0
    assert json.loads(capsys.readouterr().out)["stats"] == summary["stats"]
    assert_same_entries(json.loads((tmp_path / "four.json").read_text()), entries)

    # The online tracker (gvis track) loads the same checkpoint and writes the same results.
    assert main(["track", "--tracker", "learned", "--checkpoint", str(trained / "model.pt"), "--detections", str(dets),
                 "--results", str(tmp_path / "track.json")]) == 0
    assert_same_entries(json.loads((tmp_path / "track.json").read_text()), entries)
    capsys.readouterr()
    assert main(["eval", str(data / "instances.json"), str(tmp_path / "track.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == summary["stats"]


def test_eval_tracker_category_hypotheses_match_track(trained, tiny_train_set, tmp_path, capsys):
    data, dets = tiny_train_set / "data", tiny_train_set / "dets.jsonl"
    paths = {k: tmp_path / f"{k}.json" for k in ("one", "eval", "track")}
    common = ["--checkpoint", str(trained / "model.pt"), "--detections", str(dets)]
    assert main(["eval-tracker", *common, "--data", str(data), "--results", str(paths["one"])]) == 0
    assert main(["eval-tracker", *common, "--data", str(data), "--category-hypotheses", "2",
                 "--results", str(paths["eval"])]) == 0
    assert main(["track", "--tracker", "learned", *common, "--category-hypotheses", "2",
                 "--results", str(paths["track"])]) == 0
    entries = {k: json.loads(p.read_text()) for k, p in paths.items()}
    assert_same_entries(entries["eval"], entries["track"])
    assert len(entries["eval"]) > len(entries["one"])  # the hard preset's detections confuse categories
    assert json.loads((tmp_path / "eval.meta.json").read_text())["category_hypotheses"] == 2
    capsys.readouterr()
    for flag in ("--category-hypotheses", "--threads", "--max-videos"):
        assert main(["eval-tracker", *common, "--data", str(data), flag, "0"]) == 2
        err = capsys.readouterr().err
        assert "must be at least 1" in err and len(err.strip().splitlines()) == 1


def test_eval_tracker_inference_keys_match_track(trained, tiny_train_set, tmp_path, capsys):
    data, dets = tiny_train_set / "data", tiny_train_set / "dets.jsonl"
    common = ["--checkpoint", str(trained / "model.pt"), "--detections", str(dets)]
    keys = ["--set", "output_masks=detection", "--set", "filtering.vote_iou=0.5", "--set", "score_prior_frames=2"]
    assert main(["eval-tracker", *common, "--data", str(data), *keys, "--results", str(tmp_path / "eval.json")]) == 0
    assert main(["track", "--tracker", "learned", *common, *keys, "--results", str(tmp_path / "track.json")]) == 0
    assert main(["eval-tracker", *common, "--data", str(data), "--results", str(tmp_path / "plain.json")]) == 0
    entries = {k: json.loads((tmp_path / f"{k}.json").read_text()) for k in ("eval", "track", "plain")}
    assert_same_entries(entries["eval"], entries["track"])
    assert [e["score"] for e in entries["eval"]] != [e["score"] for e in entries["plain"]]  # the keys took effect
    meta = json.loads((tmp_path / "eval.meta.json").read_text())
    assert meta["model_config"]["filtering"]["vote_iou"] == 0.5 and meta["overrides"] == keys[1::2]
    # The same keys from a preset file: the same tracks from both commands.
    preset = tmp_path / "keys.yaml"
    preset.write_text("output_masks: detection\nfiltering:\n  vote_iou: 0.5\nscore_prior_frames: 2\n")
    assert main(["eval-tracker", *common, "--data", str(data), "--inference", str(preset),
                 "--results", str(tmp_path / "preset_eval.json")]) == 0
    assert main(["track", "--tracker", "learned", *common, "--inference", str(preset),
                 "--results", str(tmp_path / "preset_track.json")]) == 0
    for name in ("preset_eval", "preset_track"):
        assert_same_entries(json.loads((tmp_path / f"{name}.json").read_text()), entries["eval"])
    assert json.loads((tmp_path / "preset_eval.meta.json").read_text())["inference"] == str(preset)
    capsys.readouterr()
    # A key training fixed is refused in one line.
    assert main(["eval-tracker", *common, "--data", str(data), "--set", "gnn.width=8"]) == 2
    err = capsys.readouterr().err
    assert "not an inference key" in err and len(err.strip().splitlines()) == 1


def test_eval_tracker_with_one_or_two_threads_gives_the_same_results(trained, tiny_train_set, tmp_path, capsys):
    common = ["eval-tracker", "--checkpoint", str(trained / "model.pt"), "--data", str(tiny_train_set / "data"),
              "--detections", str(tiny_train_set / "dets.jsonl"), "--json"]
    stats = []
    for threads in ("1", "2"):
        assert main([*common, "--threads", threads]) == 0
        stats.append(json.loads(capsys.readouterr().out)["stats"])
    assert stats[0] == stats[1]


def test_learned_tracker_reads_training_checkpoints(trained, tiny_train_set):
    categories = json.loads((tiny_train_set / "data" / "instances.json").read_text())["categories"]
    for name in ("last.pt", "model.pt", "best.pt"):
        tracker = LearnedTracker.from_checkpoint(trained / name, categories)
        assert tracker.config.init_threshold == -3.0 and tracker.config.gnn.width == 16


def test_track_without_checkpoint_uses_the_shipped_one(trained, tiny_train_set, tmp_path, monkeypatch):
    import gvis.train.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "SHIPPED_CHECKPOINT", trained / "model.pt")
    results = tmp_path / "shipped.json"
    assert main(["track", "--tracker", "learned", "--detections", str(tiny_train_set / "dets.jsonl"),
                 "--results", str(results)]) == 0
    meta = json.loads((tmp_path / "shipped.meta.json").read_text())
    assert meta["checkpoint"] == str(trained / "model.pt")
    assert json.loads(results.read_text())  # the trained tiny model's tracks, not a random model's


@pytest.mark.parametrize("name", ["SHIPPED_CHECKPOINT", "SHIPPED_DETECTOR_TRACKER", "SHIPPED_AGNOSTIC"])
def test_shipped_checkpoint_loads_and_stays_small(repo_root, name):
    from gvis.train import checkpoint as shipped

    path = getattr(shipped, name)
    if not path.is_file():
        pytest.skip("this shipped checkpoint is not in this checkout (experiments/learning_proof.py, "
                    "experiments/pipeline_proof.py --ship, experiments/agnostic_proof.py make them)")
    assert path.stat().st_size <= 5 * 2**20
    loaded = shipped.load_checkpoint(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert {"config", "seed", "steps", "git_hash", "validation"} <= set(meta)
    assert meta["steps"] == loaded["step"] and meta["seed"] == loaded["seed"]
    tracker = LearnedTracker.from_checkpoint(path, loaded["categories"])
    if name == "SHIPPED_AGNOSTIC":  # any categories: YouTube-VIS's 40, say
        assert tracker.model.class_free and not tracker.model.uses_appearance
        forty = LearnedTracker.from_checkpoint(path, [{"id": k, "name": f"c{k}"} for k in range(1, 41)])
        assert forty.model.num_classes == 40
