"""The exported frame step (gvis/tracker/export.py, docs/export.md): equal to eager, refuses what it was not
exported for, and is the weighted part of ``RecurrentGraphTracker.step``."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gvis.cli import main
from gvis.errors import InputError
from gvis.tracker.export import (ExportedStep, StepCore, example_inputs, export_step, load_step, save_step,
                                 step_inputs)
from gvis.tracker.features import prepare_frame
from gvis.tracker.model import start_candidates
from gvis.tracker.online import label_columns, load_model, tracker_checkpoint

from tracker_helpers import ALWAYS, random_detections, tiny_model

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"

#: (tracks, detections, videos): the smallest graph, a video of the paper's sizes, several videos.
SIZES = [(1, 1, 1), (24, 16, 1), (3, 2, 2), (1, 5, 3)]

#: Models whose step differs in what the program carries or decides: the tiny paper model (learned scorer, no
#: scorer state), a scorer with per-track state, the detector-agnostic inputs without appearance (Fe0 = 0), and
#: one-to-one assignment with no new track on a taken detection.
MODELS = {
    "learned": (),
    "exclusive": ("assignment=exclusive", "claimed_start_tracks=false"),
    "label_vote": ("inputs={type: geometry, grid: 8}", "appearance={type: none}", "scorer={type: label_vote}"),
    "learned_evidence": ("scorer={type: learned_evidence}", "gate={type: simple}"),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request):
    model = tiny_model(*ALWAYS, *MODELS[request.param], seed=5)
    return model, export_step(model)


def leaves(outputs) -> list[torch.Tensor]:
    return torch.utils._pytree.tree_leaves(tuple(outputs))


@pytest.mark.parametrize("tracks,dets,videos", SIZES)
def test_exported_step_equals_eager(exported, tracks, dets, videos):
    model, program = exported
    inputs = example_inputs(model, tracks, dets, videos, torch.Generator().manual_seed(tracks * 7 + dets))
    with torch.no_grad():
        expected = StepCore(model)(*inputs)
    got = ExportedStep(program)(*inputs)
    assert len(leaves(got)) == len(leaves(expected))
    for a, b in zip(leaves(got), leaves(expected)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def frame_of(model, counts, generator):
    uses = model.uses_appearance
    return prepare_frame([random_detections(n, generator, appearance_dim=64 if uses else None) for n in counts],
                         label_columns([1, 2, 3]), 3, 64, uses, mask_grid=model.inputs.mask_grid)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_program_gives_what_the_eager_step_computes(name, generator):
    """Independent reference: ``model.step``'s own outputs. Its existing tracks are the program's track rows,
    its new tracks the program's rows of their detections, its association and class logits the program's."""
    model = tiny_model(*ALWAYS, *MODELS[name], seed=5)
    step = ExportedStep(export_step(model))
    state = model.initial_state(2)
    state, _ = model.step(state, frame_of(model, [4, 2], generator))  # ALWAYS: every detection starts a track
    state, _ = model.step(state, frame_of(model, [1, 3], generator))
    frame = frame_of(model, [3, 8], generator)  # 5 tracks per video: fewer detections, then more
    out = step(*step_inputs(model, state, frame))
    with torch.no_grad():
        next_state, reference = model.step(state, frame)
    close = dict(rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.association, reference.association_logits, **close)
    torch.testing.assert_close(out.initialisation, reference.init_logits, **close)
    old = ~reference.is_new
    previous, det = reference.previous_row[old], reference.assigned_det[reference.is_new]
    assert reference.is_new.any() and old.any()
    assert torch.equal(out.assigned[previous], reference.assigned_det[old])
    for rows, h, c, logits in ((old, out.track_h[previous], out.track_c[previous], out.track_class_logits[previous]),
                               (reference.is_new, out.new_h[det], out.new_c[det], out.new_class_logits[det])):
        torch.testing.assert_close(h, next_state.h[rows], **close)
        torch.testing.assert_close(c, next_state.c[rows], **close)
        torch.testing.assert_close(logits, next_state.class_logits[rows], **close)
    torch.testing.assert_close(out.empty_h, next_state.empty_h, **close)
    torch.testing.assert_close(out.empty_c, next_state.empty_c, **close)
    # No max_tracks: every detection that may start a track starts one.
    starts = start_candidates(model.config, out.initialisation, out.assigned)
    assert sorted(starts.nonzero().flatten().tolist()) == sorted(det.tolist())
    taken = out.assigned[out.assigned >= 0]
    if model.config.assignment == "exclusive":  # one track per detection; the taken ones start none
        assert 0 < taken.unique().numel() == taken.numel() < state.num_tracks
        assert not starts[taken].any() and int(starts.sum()) == frame.num_detections - taken.numel()
    else:  # every track takes a detection (ALWAYS), several may take one, and every detection starts a track
        assert taken.numel() == state.num_tracks and bool(starts.all())


def test_saved_program_loads_and_refuses_inputs_outside_its_range(exported, tmp_path):
    model, program = exported
    path = save_step(program, tmp_path / "step.pt2")
    step = load_step(path)
    inputs = example_inputs(model, 2, 3)
    with torch.no_grad():
        expected = StepCore(model)(*inputs)
    for a, b in zip(leaves(step(*inputs)), leaves(expected)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    no_tracks = example_inputs(model, 0, 3)
    with pytest.raises(InputError, match=r"step\.pt2: track_x dimension 0 is 0, the program was exported for 1 or more"):
        step(*no_tracks)
    with pytest.raises(InputError, match=r"det_x dimension 0 is 0, the program was exported for 1 or more"):
        step(*example_inputs(model, 2, 0))
    narrow = (*inputs[:2], inputs[2][:, :-1], *inputs[3:])
    width = inputs[2].shape[1]
    with pytest.raises(InputError, match=rf"det_x dimension 1 is {width - 1}, the program was exported for {width}$"):
        step(*narrow)
    with pytest.raises(InputError, match=r"track_c dimension 0 is 1 but track_x dimension 0 is 2; they must agree"):
        step(inputs[0], inputs[1][:1], *inputs[2:])


def test_rule_associator_is_not_exported():
    with pytest.raises(ValueError, match="associator 'masktrack' is a rule"):
        StepCore(tiny_model("associator={type: masktrack}"))


def test_load_step_names_a_file_that_is_not_a_program(tmp_path):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a program")
    with pytest.raises(InputError, match=r"bad\.pt2: cannot load an exported program"):
        load_step(bad)


def test_cli_exports_checks_and_refuses_sizes_outside_the_range(tmp_path, capsys):
    model = tiny_model(*ALWAYS, seed=5)
    checkpoint = tmp_path / "model.pt"
    torch.save(tracker_checkpoint(model, [1, 2, 3]), checkpoint)
    out = tmp_path / "step.pt2"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--check", "1x1,4x3"]) == 0
    assert "equal to eager at 1x1 (max |diff| 0), 4x3 (max |diff| 0)" in capsys.readouterr().out
    inputs = example_inputs(load_model(checkpoint), 4, 3)
    with torch.no_grad():
        expected = StepCore(model)(*inputs)
    for a, b in zip(leaves(load_step(out)(*inputs)), leaves(expected)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    refused = tmp_path / "refused.pt2"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(refused), "--check", "1x1,0x3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("gvis export: error: field '--check': 0x3: track_x dimension 0 is 0, "
                   "the program was exported for 1 or more")
    assert not refused.exists()


@pytest.mark.parametrize("name", ["learned-synth-hard", "learned-agnostic"])
def test_shipped_checkpoints_export(name):
    path = CHECKPOINTS / f"{name}.pt"
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    model = load_model(path)
    step = ExportedStep(export_step(model))
    inputs = example_inputs(model, 24, 16)
    with torch.no_grad():
        expected = StepCore(model)(*inputs)
    for a, b in zip(leaves(step(*inputs)), leaves(expected)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_docs_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/export.md's load-and-run block, on a tiny checkpoint exported by the command."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    model = tiny_model(*ALWAYS, seed=5)
    torch.save(tracker_checkpoint(model, [1, 2, 3]), tmp_path / "model.pt")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--checkpoint", "model.pt", "--out", "step.pt2", "--check", "2x2"]) == 0
    exec(example.replace("checkpoints/learned-synth-hard.pt", "model.pt"), {})  # noqa: S102 (the docs' own code)
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    starts = int(printed.split("torch.Size([")[-1].split(",")[0]) - 24
    assert printed.startswith("torch.Size([384]) torch.Size([24]) torch.Size([")
    assert 0 <= starts <= 16
