"""Oracle linking against hand-worked cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvis.detections.structures import Detections
from gvis.eval.oracle import match_to_instances, oracle_link
from tests.eval.conftest import rect


def _detections(masks: list[np.ndarray], scores: list[float], labels: list[int]) -> Detections:
    stacked = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, 1, 20), dtype=torch.bool)
    boxes = torch.zeros((len(masks), 4))
    return Detections(boxes, torch.tensor(scores, dtype=torch.float), torch.tensor(labels, dtype=torch.long), stacked,
                      image_size=tuple(stacked.shape[1:]))


def test_matching_goes_by_score_and_takes_each_instance_once():
    # One row of 20 pixels: instance 0 is columns 0-9, instance 1 columns 10-19.
    instances = np.stack([rect(1, 20, 0, 1, 0, 10), rect(1, 20, 0, 1, 10, 20)])
    dets = _detections([rect(1, 20, 0, 1, 2, 12),    # IoU 8/12 with instance 0, 2/18 with 1
                        rect(1, 20, 0, 1, 0, 10),    # exactly instance 0, higher score: matched first
                        rect(1, 20, 0, 1, 11, 20)],  # IoU 9/10 with instance 1
                       [0.9, 0.95, 0.5], [1, 1, 1])
    # The first detection loses instance 0 to the second and overlaps instance 1 too little.
    assert match_to_instances(dets, instances) == [-1, 0, 1]
    assert match_to_instances(dets, instances, iou_threshold=0.95) == [-1, 0, -1]
    assert match_to_instances(_detections([], [], []), instances) == []
    assert match_to_instances(dets, instances[:0]) == [-1, -1, -1]


def test_oracle_links_matched_detections_by_instance(vis_case):
    left, right = rect(4, 8, 0, 4, 0, 4), rect(4, 8, 0, 4, 4, 8)
    case = vis_case([(1, "a"), (2, "b")]).video(7, 3, height=4, width=8)
    case.instance(7, [left, left, left], category_id=1).instance(7, [right, right, None], category_id=2)
    dataset = case.dataset()
    frames = [
        _detections([right, left], [0.8, 0.6], [2, 1]),
        _detections([left, right, rect(4, 8, 0, 1, 0, 1)], [0.4, 0.6, 0.9], [2, 2, 1]),  # a background blob
        _detections([left], [0.5], [1]),
    ]
    entries = oracle_link(dataset, [(7, frames)])
    assert len(entries) == 2
    by_category = {e["category_id"]: e for e in entries}
    # Instance 1 (left): labels 1, 2, 1 -> majority 1; scores 0.6, 0.4, 0.5 -> mean 0.5.
    assert set(by_category) == {1, 2}
    assert abs(by_category[1]["score"] - 0.5) < 1e-6
    assert all(s is not None for s in by_category[1]["segmentations"])
    # Instance 2 (right): labels 2, 2; no detection in the last frame, so no mask there.
    assert abs(by_category[2]["score"] - 0.7) < 1e-6
    assert by_category[2]["segmentations"][2] is None
    # Exact masks and classes: the oracle scores the maximum.
    case.results = entries
    assert case.evaluate()["AP"] == pytest.approx(1.0)


def test_gvis_oracle_scores_and_writes_the_linking_and_checks_lengths(vis_case, tmp_path, capsys):
    import json

    from gvis.cli import main
    from gvis.detections.jsonl import DetectionsWriter

    left, right = rect(4, 8, 0, 4, 0, 4), rect(4, 8, 0, 4, 4, 8)
    case = vis_case([(1, "a"), (2, "b")]).video(3, 2, height=4, width=8)
    case.instance(3, [left, left], category_id=1).instance(3, [right, right], category_id=2)
    gt, _ = case.write(tmp_path)
    with DetectionsWriter(tmp_path / "dets.jsonl", case.gt["categories"]) as writer:
        writer.write(3, 0, _detections([left, right], [0.9, 0.8], [1, 1]))
        writer.write(3, 1, _detections([left, right], [0.6, 0.5], [1, 2]))
    assert main(["oracle", str(gt), str(tmp_path / "dets.jsonl"), "--json", "--results", str(tmp_path / "r.json")]) == 0
    stats = json.loads(capsys.readouterr().out)
    entries = json.loads((tmp_path / "r.json").read_text())
    # The right instance's labels tie (1, 2): the smaller id wins, so it is a false positive of class 1 and
    # class 2 goes unfound. Class 1: its true track (0.75) outranks the false one (0.65): AP 1; class 2: AP 0.
    assert sorted((e["category_id"], round(e["score"], 4)) for e in entries) == [(1, 0.65), (1, 0.75)]
    assert stats["AP"] == pytest.approx(0.5) and stats["AP50"] == pytest.approx(0.5)

    with DetectionsWriter(tmp_path / "short.jsonl", case.gt["categories"]) as writer:
        writer.write(3, 0, _detections([left], [0.9], [1]))
    assert main(["oracle", str(gt), str(tmp_path / "short.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "short.jsonl" in err and "the detections have 1 frames, the video has 2" in err
