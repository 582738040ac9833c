"""``gvis results-to-detections``: results (tracks) to per-frame detections, the documented recipe, bad files."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from gvis.cli import main
from gvis.detections.jsonl import DetectionsReader
from gvis.eval.ytvis_ap import evaluate

H, W = 12, 16


def _two_videos(vis_case, masks):
    """Video 1: two static-size squares moving right, the second absent in frame 1; video 2: one square."""
    case = vis_case(categories=((1, "person"), (3, "dog")))
    case.video(1, frames=3, height=H, width=W).video(2, frames=2, height=H, width=W)
    first = [masks.rect(H, W, 1, 4, t, t + 3) for t in range(3)]
    second = [masks.rect(H, W, 7, 11, 9 + t, 13 + t) if t != 1 else None for t in range(3)]
    third = [masks.rect(H, W, 2, 6, 2, 8)] * 2
    case.instance(1, first, category_id=1).instance(1, second, category_id=3).instance(2, third, category_id=3)
    case.predict(1, first, score=0.8, category_id=1).predict(1, second, score=0.6, category_id=3)
    case.predict(2, third, score=0.7, category_id=3)
    return case, (first, second, third)


def test_every_non_empty_mask_becomes_a_detection(tmp_path, vis_case, masks, capsys):
    case, (first, second, third) = _two_videos(vis_case, masks)
    case.results.append({"video_id": 2, "category_id": 1, "score": 0.5,  # an all-zero mask is no detection
                         "segmentations": [masks.rle(np.zeros((H, W), bool)), None]})
    gt_path, results_path = case.write(tmp_path)
    out = tmp_path / "d.jsonl"
    assert main(["results-to-detections", str(results_path), "--gt", str(gt_path), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"videos": 2, "frames": 5, "detections": 7}
    reader = DetectionsReader(out)
    assert reader.appearance_dim is None and [c["id"] for c in reader.categories] == [1, 3]
    frames = {(v, t): d for v, t, d in reader.frames()}
    expected = {(1, 0): [(first[0], 1, 0.8), (second[0], 3, 0.6)], (1, 1): [(first[1], 1, 0.8)],
                (1, 2): [(first[2], 1, 0.8), (second[2], 3, 0.6)], (2, 0): [(third[0], 3, 0.7)], (2, 1): [(third[1], 3, 0.7)]}
    assert sorted(frames) == sorted(expected)
    for key, rows in expected.items():
        detections = frames[key]
        assert np.array_equal(detections.mask_tensor().numpy(), np.stack([m for m, _, _ in rows]))
        assert detections.labels.tolist() == [label for _, label, _ in rows]
        assert detections.scores.tolist() == pytest.approx([score for _, _, score in rows])
        # Box = the mask's extent, x2 / y2 exclusive: the square rows y0:y1, columns x0:x1.
        for box, (mask, _, _) in zip(detections.boxes.tolist(), rows):
            ys, xs = np.nonzero(mask)
            assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_fixed_score(tmp_path, vis_case, masks):
    case, _ = _two_videos(vis_case, masks)
    gt_path, results_path = case.write(tmp_path)
    out = tmp_path / "d.jsonl"
    assert main(["results-to-detections", str(results_path), "--gt", str(gt_path), "--out", str(out), "--score", "1"]) == 0
    assert all(bool((d.scores == 1.0).all()) for _, _, d in DetectionsReader(out).frames())


def test_documented_recipe_relinks_the_tracks(tmp_path, vis_case, masks, repo_root, monkeypatch):
    text = (repo_root / "docs" / "formats.md").read_text()
    block = text.split("<!-- recipe: results-to-detections -->\n```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert [c[:2] for c in commands] == [["gvis", "results-to-detections"], ["gvis", "track"]]
    case, _ = _two_videos(vis_case, masks)
    (tmp_path / "valid.json").write_text(json.dumps(case.gt))
    (tmp_path / "other_results.json").write_text(json.dumps(case.results))
    monkeypatch.chdir(tmp_path)
    for command in commands:
        assert main(command[1:]) == 0, command
    # The ground truth's own tracks, relinked: well-separated objects that overlap from frame to frame
    # come back as the same three tracks, so the video AP is that of the ground truth itself.
    relinked = json.loads((tmp_path / "relinked.json").read_text())
    assert len(relinked) == 3
    assert evaluate(case.dataset(), relinked)["AP"] == pytest.approx(1.0)


def _corrupt(entries, index, t):
    entries[index]["segmentations"][t] = {"size": [H, W], "counts": entries[index]["segmentations"][t]["counts"] + "1"}


# (name, change to the results list or a replacement text, field named in the error)
MALFORMED = [
    ("not JSON", "[{", None),
    ("not a list", '{"video_id": 1}', None),
    ("entry missing its score", lambda e: e[1].pop("score"), "results[1].score"),
    ("unknown video", lambda e: e[2].__setitem__("video_id", 9), "results[2].video_id"),
    ("unknown category", lambda e: e[0].__setitem__("category_id", 2), "results[0].category_id"),
    ("score above 1", lambda e: e[0].__setitem__("score", 1.5), "results[0].score"),
    ("one segmentation too few", lambda e: e[2]["segmentations"].pop(), "results[2].segmentations"),
    ("mask of another size", lambda e: e[0]["segmentations"].__setitem__(1, {"size": [W, H], "counts": "0"}),
     "results[0].segmentations[1]"),
    ("corrupt RLE string", lambda e: _corrupt(e, 1, 2), "results[1].segmentations[2]"),
]


@pytest.mark.parametrize("name, change, field", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_results_file_is_one_line_and_nothing_is_written(tmp_path, vis_case, masks, capsys, name, change, field):
    case, _ = _two_videos(vis_case, masks)
    if callable(change):
        change(case.results)
    gt_path, results_path = case.write(tmp_path)
    if isinstance(change, str):
        results_path.write_text(change)
    before = results_path.read_bytes()
    out = tmp_path / "d.jsonl"
    out.write_text("previous output\n")
    code = main(["results-to-detections", str(results_path), "--gt", str(gt_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(results_path) in err and (field is None or f"field '{field}'" in err), err
    assert out.read_text() == "previous output\n" and results_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "gt.json", "results.json"]


def test_help_names_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["results-to-detections", "--help"])
    assert exit_info.value.code == 0 and "identities" in capsys.readouterr().out


def test_masks_are_the_results_rles(tmp_path, vis_case, masks):
    """The written RLE strings are the results' own (no re-encoding): area and box by pycocotools agree."""
    case, _ = _two_videos(vis_case, masks)
    gt_path, results_path = case.write(tmp_path)
    out = tmp_path / "d.jsonl"
    assert main(["results-to-detections", str(results_path), "--gt", str(gt_path), "--out", str(out)]) == 0
    _, _, detections = next(DetectionsReader(out).frames())
    assert [m["counts"] for m in detections.masks] == [case.results[0]["segmentations"][0]["counts"],
                                                        case.results[1]["segmentations"][0]["counts"]]
    assert mask_utils.area([{"size": [H, W], "counts": m["counts"].encode()} for m in detections.masks]).tolist() == [9, 16]
