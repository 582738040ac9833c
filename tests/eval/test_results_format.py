"""Results writer (tracker output -> official results file) and results reading errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from gvis import __version__
from gvis.detections.structures import Tracks
from gvis.errors import InputError
from gvis.eval.results import VideoResults, load_results, write_results
from gvis.eval.ytvis_ap import evaluate


def tracks(rows: list[tuple[int, int, float, np.ndarray | None]], size=(6, 5)) -> Tracks:
    """``rows`` of (track id, label, score, mask or None for an all-False mask)."""
    masks = [torch.zeros(size, dtype=torch.bool) if m is None else torch.from_numpy(m) for *_, m in rows]
    return Tracks(
        track_ids=torch.tensor([r[0] for r in rows], dtype=torch.long),
        det_indices=torch.tensor([-1 if r[3] is None else 0 for r in rows], dtype=torch.long),
        labels=torch.tensor([r[1] for r in rows], dtype=torch.long),
        scores=torch.tensor([r[2] for r in rows], dtype=torch.float32),
        masks=torch.stack(masks) if masks else torch.zeros((0, *size), dtype=torch.bool),
    )


def decode(rle: dict) -> np.ndarray:
    return mask_utils.decode([{"size": rle["size"], "counts": rle["counts"].encode()}])[:, :, 0].astype(bool)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools' decode on numpy 2
def test_video_results_entries(masks):
    a, b, c = masks.rect(6, 5, 0, 2, 0, 2), masks.rect(6, 5, 3, 6, 1, 4), masks.rect(6, 5, 1, 3, 2, 5)
    results = VideoResults(video_id=12)
    results.add_frame(tracks([(7, 1, 0.9, a), (3, 2, 0.4, None)]))
    results.add_frame(tracks([(7, 2, 0.8, b), (3, 2, 0.5, c), (9, 1, 0.3, None)]))
    results.add_frame(tracks([(3, 1, 0.6, None)]))
    results.add_frame(tracks([]))
    entries = results.entries()
    # Track 9 never had a mask: no entry. Class and score are the last ones reported.
    assert [(e["video_id"], e["category_id"]) for e in entries] == [(12, 2), (12, 1)]
    assert [e["score"] for e in entries] == pytest.approx([0.8, 0.6])
    assert [[s is not None for s in e["segmentations"]] for e in entries] == [
        [True, True, False, False], [False, True, False, False],
    ]
    first, second = entries
    assert np.array_equal(decode(first["segmentations"][0]), a)
    assert np.array_equal(decode(first["segmentations"][1]), b)
    assert np.array_equal(decode(second["segmentations"][1]), c)
    assert isinstance(first["segmentations"][0]["counts"], str) and first["segmentations"][0]["size"] == [6, 5]


def test_video_results_rejects_inconsistent_frames(masks):
    results = VideoResults(video_id=1)
    results.add_frame(tracks([(1, 1, 0.5, masks.rect(6, 5, 0, 1, 0, 1))]))
    with pytest.raises(ValueError, match="masks are"):
        results.add_frame(tracks([(1, 1, 0.5, None)], size=(4, 4)))
    with pytest.raises(ValueError, match="repeats a track id"):
        results.add_frame(tracks([(1, 1, 0.5, None), (1, 1, 0.5, None)]))


def test_write_results_and_sidecar(tmp_path, masks):
    results = VideoResults(video_id=3)
    results.add_frame(tracks([(1, 1, 0.25, masks.rect(6, 5, 0, 3, 0, 3))]))
    path = tmp_path / "out" / "run.json"
    sidecar = write_results(path, results.entries(), meta={"seed": 3, "config": {"tracker": "iou"}})
    assert sidecar == tmp_path / "out" / "run.meta.json"
    assert json.loads(path.read_text()) == results.entries()
    meta = json.loads(sidecar.read_text())
    assert meta["seed"] == 3 and meta["config"] == {"tracker": "iou"} and meta["gvis_version"] == __version__
    assert {"git_hash", "command", "time"} <= set(meta)
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json", "run.meta.json"]  # no temp files left


def test_round_trip_through_the_evaluator(tmp_path, vis_case, masks):
    # Ground-truth masks fed through the writer as tracker output score AP = AR = 1.
    case = vis_case(categories=((1, "person"), (4, "dog"))).video(5, frames=3, height=6, width=5)
    person = [masks.rect(6, 5, 0, 2, 0, 2), masks.rect(6, 5, 1, 3, 0, 2), None]
    dog = [None, masks.rect(6, 5, 3, 6, 2, 5), masks.rect(6, 5, 2, 6, 2, 5)]
    case.instance(5, person, category_id=1).instance(5, dog, category_id=4)
    results = VideoResults(video_id=5)
    for t in range(3):
        results.add_frame(tracks([(1, 1, 1.0, person[t]), (2, 4, 0.7, dog[t])]))
    gt_path, _ = case.write(tmp_path)
    write_results(tmp_path / "results.json", results.entries())
    stats = evaluate(gt_path, tmp_path / "results.json")
    assert stats["AP"] == pytest.approx(1.0) and stats["AR1"] == pytest.approx(1.0)


def reading_error(tmp_path, vis_case, masks, entries=None, text=None) -> str:
    case = vis_case().video(1, frames=2).instance(1, [masks.rect(4, 4, 0, 2, 0, 2)] * 2)
    gt_path, results_path = case.write(tmp_path)
    results_path.write_text(text if text is not None else json.dumps(entries))
    with pytest.raises(InputError) as error:
        evaluate(gt_path, results_path)
    message = str(error.value)
    assert message.startswith(str(results_path)), message
    return message


GOOD = {"video_id": 1, "category_id": 1, "score": 0.5,
        "segmentations": [{"size": [4, 4], "counts": "02208"}, None]}


@pytest.mark.parametrize("change, field, reason", [
    ({"video_id": 8}, "results[1].video_id", "unknown video id 8"),
    ({"category_id": "1"}, "results[1].category_id", "must be an integer"),
    ({"score": None}, "results[1].score", "finite number"),
    ({"score": float("nan")}, "results[1].score", "finite number"),
    ({"segmentations": "none"}, "results[1].segmentations", "must be a list"),
    ({"segmentations": [None, {"size": [4, 5], "counts": "02208"}]}, "results[1].segmentations[1]", "RLE size [4, 5] disagrees"),
    ({"segmentations": [None, {"size": [4, 4], "counts": "0220"}]}, "results[1].segmentations[1]", "corrupt compressed RLE"),
    ({"segmentations": [None, {"size": [4, 4], "counts": [3, 4]}]}, "results[1].segmentations[1]", "sum to 7"),
    ({"segmentations": [None, {"counts": "02208"}]}, "results[1].segmentations[1]", "no 'size'"),
    ({"segmentations": [None, 5]}, "results[1].segmentations[1]", "RLE object or a list of polygons"),
])
def test_bad_entries_name_file_entry_and_field(tmp_path, vis_case, masks, change, field, reason):
    assert masks.rle(masks.rect(4, 4, 0, 2, 0, 2))["counts"] == "02208"
    message = reading_error(tmp_path, vis_case, masks, entries=[GOOD, {**GOOD, **change}])
    assert f"field '{field}'" in message and reason in message, message


def test_missing_key_and_non_object(tmp_path, vis_case, masks):
    entry = {k: v for k, v in GOOD.items() if k != "score"}
    assert "field 'results[0].score': missing key 'score'" in reading_error(tmp_path, vis_case, masks, entries=[entry])
    assert "field 'results[0]'" in reading_error(tmp_path, vis_case, masks, entries=[[1, 2]])


def test_bad_json_and_wrong_layout(tmp_path, vis_case, masks):
    message = reading_error(tmp_path, vis_case, masks, text='[{"video_id": 1,\n "score": ')
    assert ":2: not valid JSON" in message  # names the line
    assert "JSON list of entries" in reading_error(tmp_path, vis_case, masks, text='{"annotations": []}')
    with pytest.raises(InputError, match="cannot read"):
        load_results(tmp_path / "missing.json")


def frame_detections(labels: list[int], size=(6, 5)):
    """Detections of one frame with these labels (the masks do not matter here)."""
    from gvis.detections.structures import Detections

    n = len(labels)
    return Detections(boxes=torch.zeros((n, 4)), scores=torch.ones(n), labels=torch.tensor(labels, dtype=torch.long),
                      masks=torch.zeros((n, *size), dtype=torch.bool), image_size=size)


def test_category_hypotheses_report_other_labels_by_share(masks):
    """A track reported as category 2 whose detections were labelled 1, 2, 2, 3 in frames 0-3: K = 1 gives one
    entry; K = 2 adds category 1 (tie with 3: the lower id) at s · 1/4; K = 3 also category 3; K = 5 no more."""
    box = masks.rect(6, 5, 0, 2, 0, 2)
    labels_per_frame = [1, 2, 2, 3]
    by_k = {k: VideoResults(video_id=4, category_hypotheses=k) for k in (1, 2, 3, 5)}
    for label in labels_per_frame:
        # The detection the track holds is row 1 of the frame; row 0 (label 8) belongs to no track.
        rows = tracks([(5, 2, 0.8, box)])
        rows.det_indices[:] = 1
        for results in by_k.values():
            results.add_frame(rows, frame_detections([8, label]))
    summary = {k: [(e["category_id"], round(e["score"], 6)) for e in r.entries()] for k, r in by_k.items()}
    assert summary[1] == [(2, pytest.approx(0.8))]
    assert summary[2] == [(2, pytest.approx(0.8)), (1, pytest.approx(0.2))]
    assert summary[3] == summary[5] == [(2, pytest.approx(0.8)), (1, pytest.approx(0.2)), (3, pytest.approx(0.2))]
    assert all(e["segmentations"] == by_k[1].entries()[0]["segmentations"] for e in by_k[5].entries())
    assert by_k[5].entries(hypotheses=False) == by_k[1].entries()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_category_hypothesis_finds_a_misclassified_object(tmp_path, masks):
    """Hand-computed: one object of category 1, tracked over 3 frames by a track voted category 2 (two of its
    three detections were mislabelled). One entry per track scores AP 0 on category 1 (the only one with
    ground truth); with K = 2 the category-1 hypothesis matches the object exactly: AP 1."""
    from gvis.data.ytvis import YTVISDataset

    box = masks.rect(6, 5, 1, 4, 1, 4)
    rle = mask_utils.encode(np.asfortranarray(box.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    dataset = YTVISDataset.from_dict({
        "videos": [{"id": 1, "width": 5, "height": 6, "length": 3, "file_names": [f"{i}.jpg" for i in range(3)]}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0, "segmentations": [rle] * 3,
                         "areas": [9] * 3, "bboxes": [[1, 1, 3, 3]] * 3}],
    })
    aps = {}
    for k in (1, 2):
        results = VideoResults(video_id=1, category_hypotheses=k)
        for label in (2, 1, 2):
            rows = tracks([(1, 2, 0.9, box)])
            results.add_frame(rows, frame_detections([label]))
        aps[k] = evaluate(dataset, results.entries())["AP"]
    assert aps == {1: pytest.approx(0.0), 2: pytest.approx(1.0)}


def test_category_hypotheses_need_detections_and_k_at_least_1(masks):
    with pytest.raises(ValueError, match="at least 1"):
        VideoResults(video_id=1, category_hypotheses=0)
    results = VideoResults(video_id=1, category_hypotheses=2)
    with pytest.raises(ValueError, match="needs each frame's detections"):
        results.add_frame(tracks([(1, 1, 0.5, masks.rect(6, 5, 0, 1, 0, 1))]))
