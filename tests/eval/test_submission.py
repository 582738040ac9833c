"""``gvis submit``: checks against the ground truth and the zip the server takes."""
from __future__ import annotations

import json
import zipfile

import pytest

from gvis.cli import main
from gvis.errors import InputError
from gvis.eval.submission import write_submission


@pytest.fixture
def split(tmp_path, vis_case, masks):
    """A 2-video ground truth (3 and 2 frames of 4x4) and one valid results entry per video."""
    square = masks.rect(4, 4, 0, 2, 0, 2)
    case = vis_case(categories=((1, "person"), (2, "dog"))).video(1, frames=3).video(2, frames=2)
    case.instance(1, [square] * 3).instance(2, [square] * 2, category_id=2)
    case.predict(1, [square, None, square], score=0.75)
    case.results.append({"video_id": 2, "category_id": 2, "score": 1, "segmentations": [
        {"size": [4, 4], "counts": [0, 2, 2, 2, 10]}, []]})  # uncompressed RLE and an empty frame
    return case


def submit_error(tmp_path, case, change: dict, index: int = 1) -> str:
    case.results[index].update(change)
    gt_path, results_path = case.write(tmp_path)
    with pytest.raises(InputError) as error:
        write_submission(gt_path, results_path, tmp_path / "sub.zip")
    assert not (tmp_path / "sub.zip").exists()
    message = str(error.value)
    assert message.startswith(str(results_path)), message
    return message


def test_valid_submission_zip(tmp_path, split):
    gt_path, results_path = split.write(tmp_path)
    summary = write_submission(gt_path, results_path, tmp_path / "out" / "sub.zip")
    assert summary == {"path": str(tmp_path / "out" / "sub.zip"), "entries": 2, "videos": 2,
                       "videos_with_results": 2, "archive_member": "results.json"}
    with zipfile.ZipFile(tmp_path / "out" / "sub.zip") as archive:
        assert archive.namelist() == ["results.json"]
        entries = json.loads(archive.read("results.json"))
    assert entries[0] == split.results[0]
    # Uncompressed RLE became the same mask in compressed form; [] became null.
    assert entries[1]["segmentations"] == [split.results[0]["segmentations"][0], None]
    assert entries[1]["score"] == 1.0 and entries[1]["category_id"] == 2


@pytest.mark.parametrize("change, field, reason", [
    ({"video_id": 3}, "results[1].video_id", "unknown video id 3"),
    ({"category_id": 5}, "results[1].category_id", "unknown category id 5"),
    ({"score": 1.5}, "results[1].score", "must lie in [0, 1]"),
    ({"score": -0.1}, "results[1].score", "must lie in [0, 1]"),
    ({"segmentations": [None]}, "results[1].segmentations", "1 segmentations for a video of 2 frames"),
    ({"segmentations": [None, {"size": [4, 3], "counts": "0"}]}, "results[1].segmentations[1]", "RLE size [4, 3]"),
    ({"segmentations": [None, {"size": [4, 4], "counts": "02207"}]}, "results[1].segmentations[1]", "corrupt compressed RLE"),
])
def test_submission_checks_name_entry_and_field(tmp_path, split, change, field, reason):
    message = submit_error(tmp_path, split, change)
    assert f"field '{field}'" in message and reason in message, message


def test_submit_command(tmp_path, split, capsys):
    gt_path, results_path = split.write(tmp_path)
    assert main(["submit", str(gt_path), str(results_path), "--out", str(tmp_path / "sub.zip")]) == 0
    assert "2 entries for 2 of 2 videos" in capsys.readouterr().out
    split.results[0]["score"] = 2
    split.write(tmp_path)
    assert main(["submit", str(gt_path), str(results_path), "--out", str(tmp_path / "bad.zip")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "results[0].score" in error and str(results_path) in error
    assert not (tmp_path / "bad.zip").exists()
