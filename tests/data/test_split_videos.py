"""gvis split: a deterministic held-out split by videos."""
from __future__ import annotations

import json

import pytest

from gvis.cli import main
from gvis.data.split import split_videos, write_split
from gvis.data.ytvis import YTVISDataset
from gvis.errors import InputError


def _raw(num_videos: int) -> dict:
    videos = [{"id": 100 + v, "width": 4, "height": 2, "file_names": [f"v{v}/0.jpg", f"v{v}/1.jpg"]}
              for v in range(num_videos)]
    annotations = [{"id": 1 + 2 * v + k, "video_id": 100 + v, "category_id": 1 + k,
                    "segmentations": [{"size": [2, 4], "counts": "08"}, None]}
                   for v in range(num_videos) for k in range(2)]
    return {"info": {"x": 1}, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "videos": videos, "annotations": annotations}


def test_split_is_a_deterministic_partition(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_raw(30)))
    dataset = YTVISDataset.from_json(path)
    train, held = split_videos(dataset, holdout=7, seed=3)
    train_ids = [v["id"] for v in train["videos"]]
    held_ids = [v["id"] for v in held["videos"]]
    assert len(held_ids) == 7 and sorted(train_ids + held_ids) == list(range(100, 130))
    assert train_ids == sorted(train_ids) and held_ids == sorted(held_ids)  # file order kept
    for part, ids in ((train, train_ids), (held, held_ids)):
        assert part["categories"] == dataset.raw["categories"] and part["info"] == {"x": 1}
        assert sorted({a["video_id"] for a in part["annotations"]}) == ids  # annotations follow videos
        assert len(part["annotations"]) == 2 * len(ids)
    assert split_videos(dataset, holdout=7, seed=3) == (train, held)
    assert split_videos(dataset, holdout=7, seed=4)[1] != held
    # The choice depends on the ids, not on the order of videos in the file.
    shuffled = _raw(30)
    shuffled["videos"].reverse()
    reordered = YTVISDataset.from_dict(shuffled)
    assert sorted(v["id"] for v in split_videos(reordered, 7, 3)[1]["videos"]) == held_ids


def test_cli_writes_both_files_and_they_load(tmp_path, capsys):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_raw(10)))
    out = tmp_path / "out"
    assert main(["split", str(path), "--holdout", "4", "--seed", "0", "--out-dir", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train"]["videos"] == 6 and summary["holdout"]["videos"] == 4
    assert summary["holdout"]["annotations"] == 8
    train = YTVISDataset.from_json(out / "train.json")
    held = YTVISDataset.from_json(out / "holdout.json")
    assert len(train) == 6 and len(held) == 4
    assert sorted(p.name for p in out.iterdir()) == ["holdout.json", "train.json"]  # no temp files left
    first = (out / "holdout.json").read_bytes()
    write_split(path, 4, 0, out)
    assert (out / "holdout.json").read_bytes() == first


def test_holdout_larger_than_the_file_is_an_error(tmp_path, capsys):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_raw(3)))
    with pytest.raises(InputError, match="cannot hold out 4 videos: the file has 3") as info:
        write_split(path, 4, 0, tmp_path / "out")
    assert str(path) in str(info.value) and "field 'videos'" in str(info.value)
    assert main(["split", str(path), "--holdout", "4", "--out-dir", str(tmp_path / "out")]) == 2
    assert "cannot hold out" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_split_of_a_test_set_without_annotations(tmp_path):
    raw = _raw(5)
    del raw["annotations"]
    train, held = split_videos(YTVISDataset.from_dict(raw), 2, 0)
    assert "annotations" not in train and len(held["videos"]) == 2
