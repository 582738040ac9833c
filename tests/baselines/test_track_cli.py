"""``gvis track`` and ``gvis tune-baseline`` end to end on a tiny synthetic set."""
from __future__ import annotations

import csv
import json

import av
import pytest
import yaml

from gvis.cli import main
from gvis.eval.ytvis_ap import evaluate


def test_track_writes_results_meta_csv_and_overlay(tiny_set, tmp_path, capsys):
    data, dets = tiny_set / "data", tiny_set / "dets.jsonl"
    code = main(["track", str(data), "--tracker", "masktrack-rule", "--detections", str(dets), "--set", "alpha=3",
                 "--results", str(tmp_path / "r.json"), "--tracks-csv", str(tmp_path / "t.csv"),
                 "--overlay", str(tmp_path / "o.mp4"), "--overlay-all", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    instances = json.loads((data / "instances.json").read_text())
    total = sum(v["length"] for v in instances["videos"])
    assert summary["frames"] == total and summary["videos"] == len(instances["videos"])
    entries = json.loads((tmp_path / "r.json").read_text())
    assert len(entries) == summary["tracks"] > 0
    assert 0 <= evaluate(data / "instances.json", tmp_path / "r.json")["AP"] <= 1
    meta = json.loads((tmp_path / "r.meta.json").read_text())
    assert "masktrack-rule" in json.dumps(meta) and '"alpha": 3.0' in json.dumps(meta)
    with open(tmp_path / "t.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) == {"video_id", "frame_index", "track_id", "det_index", "category_id", "score",
                                     "x1", "y1", "x2", "y2"}
    assert all(int(r["det_index"]) >= 0 and float(r["x2"]) > float(r["x1"]) for r in rows)
    with av.open(str(tmp_path / "o.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == total


def test_track_category_hypotheses(tiny_set, tmp_path, capsys):
    """With K = 3 every track keeps its K = 1 entry, and gets at most two more, each in another category, with
    the same masks and a lower score."""
    dets = str(tiny_set / "dets.jsonl")
    entries = {}
    for k in (1, 3):
        assert main(["track", "--tracker", "iou", "--detections", dets, "--category-hypotheses", str(k),
                     "--results", str(tmp_path / f"k{k}.json"), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        entries[k] = json.loads((tmp_path / f"k{k}.json").read_text())
        assert summary["entries"] == len(entries[k]) and json.loads((tmp_path / f"k{k}.meta.json").read_text())[
            "category_hypotheses"] == k
    assert summary["tracks"] == len(entries[1])
    by_masks: dict[str, list[dict]] = {}
    for entry in entries[3]:
        by_masks.setdefault(json.dumps([entry["video_id"], entry["segmentations"]]), []).append(entry)
    assert len(entries[3]) > len(entries[1])  # the tiny set's detector confuses classes
    for own in entries[1]:
        group = by_masks[json.dumps([own["video_id"], own["segmentations"]])]
        assert group[0] == own and len(group) <= 3
        assert len({e["category_id"] for e in group}) == len(group)
        assert all(e["score"] < own["score"] for e in group[1:])


@pytest.mark.parametrize("tracker", ["masktrack-rule", "iou"])
def test_same_input_same_results(tiny_set, tmp_path, tracker):
    for name, threads in (("a", []), ("b", []), ("c", ["--threads", "2"])):
        assert main(["track", "--tracker", tracker, "--detections", str(tiny_set / "dets.jsonl"), *threads,
                     "--results", str(tmp_path / f"{name}.json")]) == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "c.json").read_bytes()


def test_track_errors_are_one_line(tiny_set, tmp_path, capsys):
    dets = str(tiny_set / "dets.jsonl")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    frames = tmp_path / "frames"
    frames.mkdir()
    cases = [
        ([str(video), "--tracker", "iou", "--detections", dets, "--results", "r.json"], "clip.mp4: cannot read the video"),
        ([str(frames), "--tracker", "iou", "--detections", dets, "--results", "r.json"], "frames: no frame images"),
        ([str(tiny_set / "data"), "--tracker", "iou", "--detector", "nope", "--results", "r.json"], "unknown detector 'nope'"),
        (["--tracker", "iou", "--detections", dets], "nothing to write"),
        (["--tracker", "iou", "--detections", dets, "--overlay", "o.mp4"], "--overlay needs INPUT"),
        (["--tracker", "nope", "--detections", dets, "--json"], "unknown tracker 'nope'"),
        (["--tracker", "iou", "--detections", dets, "--json", "--set", "iou_treshold=0.5"], "unknown key 'iou_treshold'"),
        (["--tracker", "iou", "--detections", dets, "--json", "--category-hypotheses", "0"], "at least 1, got 0"),
        (["--tracker", "iou", "--detections", dets, "--json", "--threads", "0"], "--threads must be at least 1"),
    ]
    for argv, message in cases:
        code = main(["track", *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_track_checks_video_lengths_against_input(tiny_set, tmp_path, capsys):
    instances = json.loads((tiny_set / "data" / "instances.json").read_text())
    instances["videos"][0]["length"] += 1
    instances["videos"][0]["file_names"].append(instances["videos"][0]["file_names"][-1])
    (tmp_path / "instances.json").write_text(json.dumps(instances))
    code = main(["track", str(tmp_path), "--tracker", "iou", "--detections", str(tiny_set / "dets.jsonl"), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "frame_index" in err and f"video {instances['videos'][0]['id']}" in err


def test_tune_baseline_picks_the_best_setting(tiny_set, tmp_path, capsys):
    out = tmp_path / "best.yaml"
    code = main(["tune-baseline", "--data", str(tiny_set / "data"), "--detections", str(tiny_set / "dets.jsonl"),
                 "--grid", "alpha=0,4", "--grid", "beta=0,10", "--grid", "gamma=1", "--out", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["rows"]) == 4
    best_ap = max(row["stats"]["AP"] for row in report["rows"])
    assert report["best"]["stats"]["AP"] == best_ap == report["rows"][0]["stats"]["AP"]
    written = yaml.safe_load(out.read_text())
    assert {k: written[k] for k in ("alpha", "beta", "gamma")} == report["best"]["values"]
    # The written config is a complete tracker config: gvis track takes it as is and reproduces the AP.
    assert main(["track", "--tracker", "masktrack-rule", "--config", str(out), "--detections",
                 str(tiny_set / "dets.jsonl"), "--results", str(tmp_path / "r.json")]) == 0
    assert evaluate(tiny_set / "data" / "instances.json", tmp_path / "r.json")["AP"] == pytest.approx(best_ap)


def test_tracker_threads_prefers_the_given_count():
    import torch

    from gvis.baselines.runner import tracker_threads

    class OneThread:
        num_threads = 1

    from gvis.runtime import pinned_threads

    with pinned_threads(2):  # not 1 already, whatever the environment set
        with tracker_threads(OneThread()):
            assert torch.get_num_threads() == 1
        with tracker_threads(OneThread(), 3):
            assert torch.get_num_threads() == 3
        with tracker_threads(object()):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 2
