"""Which checkpoint ``gvis track --tracker learned`` uses, and what it refuses: the class-specific shipped one
for detections that fit it, else the detector-agnostic one; an explicit checkpoint that does not fit is an
error unless ``--map-categories``. Every output track's category is one of the detections file's."""
from __future__ import annotations

import json

import pytest
import torch

from gvis.cli import main
from gvis.config import to_dict
from gvis.detections.jsonl import DetectionsWriter
from gvis.errors import InputError
from gvis.tracker.online import CheckpointInputs, LearnedTracker, category_order, tracker_checkpoint
from gvis.train import checkpoint as shipped

from tracker_helpers import ALWAYS, detections, tiny_model

SYNTH_NAMES = ["disc", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent"]
SYNTH = [{"id": k, "name": name} for k, name in enumerate(SYNTH_NAMES, start=1)]
FORTY = [{"id": k, "name": f"category {k}"} for k in range(1, 41)]
IMAGE = (48, 64)


def write_detections(path, categories, appearance_dim=None, labels=(7, 23, 40), class_probs=False, videos=2, frames=4):
    """A small ``.jsonl``: per frame three moving boxes with ``labels`` (ids of ``categories``)."""
    generator = torch.Generator().manual_seed(0)
    columns = {c["id"]: k + 1 for k, c in enumerate(categories)}
    with DetectionsWriter(path, categories, appearance_dim) as writer:
        for video in range(1, videos + 1):
            for t in range(frames):
                boxes = [[4 + 2 * t + 18 * k, 6 + t, 16 + 2 * t + 18 * k, 20 + t] for k in range(3)]
                probs = None
                if class_probs:
                    probs = torch.full((3, len(categories) + 1), 0.05 / len(categories))
                    probs[:, 0] = 0.15
                    for row, label in enumerate(labels):
                        probs[row, columns[label]] += 0.8
                    probs = probs / probs.sum(1, keepdim=True)
                appearance = None if appearance_dim is None else torch.randn(3, appearance_dim, generator=generator)
                det = detections(boxes, scores=[0.9, 0.8, 0.7], labels=list(labels), appearance=appearance,
                                 image_size=IMAGE, class_probs=probs)
                if appearance is not None:
                    det.frame_appearance = appearance.mean(0)
                writer.write(video, t, det)
    return path


def save(model, path, categories=None):
    """A checkpoint of ``model`` trained (so it says) on ``categories`` (ids and names)."""
    checkpoint = tracker_checkpoint(model)
    if categories is not None:
        checkpoint["categories"] = categories
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def agnostic(tmp_path_factory):
    """A random-weight detector-agnostic model that starts and continues every track (ALWAYS)."""
    model = tiny_model("inputs={type: geometry, grid: 8}", "appearance={type: none}", "scorer={type: label_vote}",
                       *ALWAYS, num_classes=1)
    return save(model, tmp_path_factory.mktemp("agnostic") / "agnostic.pt", [{"id": 1, "name": "object"}])


@pytest.fixture
def shipped_agnostic(agnostic, monkeypatch):
    monkeypatch.setattr(shipped, "SHIPPED_AGNOSTIC", agnostic)
    return agnostic


def track(capsys, *argv):
    """``gvis track --tracker learned ARGV``: (exit code, stderr lines without progress bars)."""
    code = main(["track", "--tracker", "learned", *map(str, argv)])
    err = capsys.readouterr().err.replace("\r", "\n")
    return code, [line for line in err.splitlines() if line.startswith("gvis track")]


def categories_of(results) -> set[int]:
    return {entry["category_id"] for entry in json.loads(results.read_text())}


@pytest.mark.parametrize("kind", ["40 categories, no appearance", "synthetic categories, appearance width 32"])
def test_detections_that_fit_no_class_specific_checkpoint_get_the_agnostic_one(kind, shipped_agnostic, tmp_path, capsys):
    if kind.startswith("40"):
        dets, categories = write_detections(tmp_path / "d.jsonl", FORTY), FORTY
    else:
        dets, categories = write_detections(tmp_path / "d.jsonl", SYNTH, 32, labels=(1, 3, 8)), SYNTH
    code, lines = track(capsys, "--detections", dets, "--results", tmp_path / "r.json")
    assert code == 0
    assert len(lines) == 1 and f"using {shipped_agnostic} (detector-agnostic" in lines[0]
    if shipped.SHIPPED_CHECKPOINT.is_file():  # the reason names what did not fit
        assert ("40 categories" if kind.startswith("40") else "appearance width is 32") in lines[0]
    found = categories_of(tmp_path / "r.json")
    assert found and found <= {c["id"] for c in categories}
    assert json.loads((tmp_path / "r.meta.json").read_text())["checkpoint"] == str(shipped_agnostic)


def test_detections_that_fit_the_class_specific_checkpoint_get_it(shipped_agnostic, tmp_path, capsys, monkeypatch):
    specific = save(tiny_model(*ALWAYS, "appearance_dim=16", num_classes=8), tmp_path / "specific.pt", SYNTH)
    monkeypatch.setattr(shipped, "SHIPPED_CHECKPOINT", specific)
    dets = write_detections(tmp_path / "d.jsonl", SYNTH, 16, labels=(1, 3, 8))
    code, lines = track(capsys, "--detections", dets, "--results", tmp_path / "r.json")
    assert code == 0 and lines == [f"gvis track: using {specific} (the detections' categories and appearance width fit it)"]
    # The same categories in another order do not fit it.
    dets = write_detections(tmp_path / "o.jsonl", SYNTH[::-1], 16, labels=(1, 3, 8))
    code, lines = track(capsys, "--detections", dets, "--results", tmp_path / "o.json")
    assert code == 0 and f"using {shipped_agnostic}" in lines[0] and "category 1 of the detections is id 8 'crescent'" in lines[0]


def test_an_explicit_checkpoint_that_does_not_fit_is_one_line_naming_both(tmp_path, capsys):
    specific = save(tiny_model("appearance={type: none}", num_classes=8), tmp_path / "specific.pt", SYNTH)
    dets = write_detections(tmp_path / "d.jsonl", FORTY)
    results = tmp_path / "r.json"
    code, lines = track(capsys, "--checkpoint", specific, "--detections", dets, "--results", results)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"gvis track: error: {specific}: does not fit the detections of {dets}: ")
    assert lines[0].endswith("the detections have 40 categories (category 1, category 2, category 3, ...), the "
                             "checkpoint 8 categories (disc, square, triangle, ...)")  # too many to map
    assert not results.exists()
    # 40 categories cannot be mapped onto 8, nor appearance of one width onto another.
    code, lines = track(capsys, "--checkpoint", specific, "--detections", dets, "--results", results, "--map-categories")
    assert code == 2 and "cannot map 40 categories" in lines[0] and not results.exists()
    with_appearance = save(tiny_model("appearance_dim=16", num_classes=8), tmp_path / "a16.pt", SYNTH)
    dets_32 = write_detections(tmp_path / "a.jsonl", SYNTH, 32, labels=(1, 3, 8))
    code, lines = track(capsys, "--checkpoint", with_appearance, "--detections", dets_32, "--results", results,
                        "--map-categories")
    assert code == 2 and lines[0].endswith("the detections' appearance width is 32, the checkpoint reads 16")


def test_map_categories_by_name_and_by_position(tmp_path, capsys):
    trained = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "fox"}]
    specific = save(tiny_model(*ALWAYS, "appearance={type: none}", "scorer={type: detector_average}", num_classes=3),
                    tmp_path / "specific.pt", trained)
    same = write_detections(tmp_path / "same.jsonl", trained, labels=(1, 2, 3), class_probs=True)
    code, _ = track(capsys, "--checkpoint", specific, "--detections", same, "--results", tmp_path / "same.json")
    assert code == 0
    reference = json.loads((tmp_path / "same.json").read_text())
    assert {e["category_id"] for e in reference} == {1, 2, 3}

    # The same categories in another order: refused, then mapped by name (class_probs columns follow).
    reordered = write_detections(tmp_path / "reordered.jsonl", trained[::-1], labels=(1, 2, 3), class_probs=True)
    code, lines = track(capsys, "--checkpoint", specific, "--detections", reordered, "--results", tmp_path / "x.json")
    assert code == 2 and lines[0].endswith("gvis track --map-categories maps them (by name, else by position)")
    code, _ = track(capsys, "--checkpoint", specific, "--detections", reordered, "--results", tmp_path / "byname.json",
                    "--map-categories")
    assert code == 0
    by_name = json.loads((tmp_path / "byname.json").read_text())
    assert [(e["category_id"], round(e["score"], 5)) for e in by_name] == \
           [(e["category_id"], round(e["score"], 5)) for e in reference]

    # Other names, as many: by position; output categories are the detections'.
    others = [{"id": 11, "name": "x"}, {"id": 12, "name": "y"}, {"id": 13, "name": "z"}]
    renamed = write_detections(tmp_path / "renamed.jsonl", others, labels=(11, 12, 13), class_probs=True)
    code, _ = track(capsys, "--checkpoint", specific, "--detections", renamed, "--results", tmp_path / "pos.json",
                    "--map-categories")
    assert code == 0
    by_position = json.loads((tmp_path / "pos.json").read_text())
    assert [(e["category_id"] - 10, round(e["score"], 5)) for e in by_position] == \
           [(e["category_id"], round(e["score"], 5)) for e in reference]


def test_checkpoint_inputs_and_category_order():
    specific = tracker_checkpoint(tiny_model("appearance_dim=16", num_classes=3))
    specific["categories"] = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "fox"}]
    expected = CheckpointInputs.of(specific)
    assert not expected.class_free and expected.appearance_dim == 16
    assert expected.mismatch(specific["categories"], 16) is None
    assert expected.mismatch([{"id": 1, "name": "cat"}, {"id": 2, "name": "cow"}, {"id": 3, "name": "fox"}], 16) == \
        "category 2 of the detections is id 2 'cow', the checkpoint's is id 2 'dog'"
    assert expected.mismatch([1, 2, 3], 16) is None  # ids only: names are not compared
    assert expected.mismatch(specific["categories"], None) == \
        "the detections have no appearance vectors, the checkpoint reads width 16"
    assert category_order(specific["categories"], [{"id": 9, "name": n} for n in ("fox", "cat", "dog")]) == [1, 2, 0]
    assert category_order(specific["categories"], [4, 5, 6]) == [0, 1, 2]
    with pytest.raises(InputError, match="cannot map 2 categories"):
        category_order(specific["categories"], [4, 5])

    agnostic = tracker_checkpoint(tiny_model("inputs={type: geometry}", "appearance={type: none}",
                                             "scorer={type: label_vote}", num_classes=1))
    expected = CheckpointInputs.of(agnostic)
    assert expected.class_free and expected.appearance_dim is None
    assert expected.mismatch(FORTY, 512) is None and expected.describe() == "any categories, no appearance"


def test_the_learned_tracker_refuses_other_categories_unless_mapped(tmp_path):
    trained = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    path = save(tiny_model("appearance={type: none}", num_classes=2), tmp_path / "c.pt", trained)
    with pytest.raises(InputError, match="c.pt: field 'categories': category 1 of the detections is id 2 'dog'"):
        LearnedTracker(trained[::-1], checkpoint=path)
    tracker = LearnedTracker(trained[::-1], checkpoint=path, map_categories=True)
    assert tracker.batched.category_ids == [1, 2]  # class columns in the checkpoint's order


def test_the_agnostic_model_tracks_any_categories(agnostic):
    tracker = LearnedTracker(FORTY, checkpoint=agnostic)
    assert tracker.model.num_classes == 40 and tracker.model.class_free
    tracks = tracker.update(detections([[0, 0, 10, 10], [20, 20, 30, 30]], labels=[17, 40], image_size=IMAGE))
    assert tracks.labels.tolist() == [17, 40]
    assert to_dict(tracker.config)["inputs"] == {"type": "geometry", "grid": 8}


def test_the_shipped_agnostic_checkpoint_is_the_default_for_forty_categories(tmp_path, capsys):
    if not shipped.SHIPPED_AGNOSTIC.is_file():
        pytest.skip("checkpoints/learned-agnostic.pt is not in this checkout (experiments/agnostic_proof.py makes it)")
    dets = write_detections(tmp_path / "d.jsonl", FORTY, frames=6)
    code, lines = track(capsys, "--detections", dets, "--results", tmp_path / "r.json")
    assert code == 0 and len(lines) == 1 and "using checkpoints/learned-agnostic.pt (detector-agnostic" in lines[0]
    assert categories_of(tmp_path / "r.json") <= {c["id"] for c in FORTY}
