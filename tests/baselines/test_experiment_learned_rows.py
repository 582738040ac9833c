"""The learned tracker's rows of experiments/dense_proposals.py (tuning-set choice, held-out rows, report) and
the input ablation of experiments/real_data.py, on the tiny synthetic set (no real data)."""
from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import pytest
import torch

from gvis.tracker.inputs import GeometryInputs

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
AGNOSTIC = Path(__file__).resolve().parents[2] / "checkpoints" / "learned-agnostic.pt"
KEYS = "output_masks=detection,assignment=exclusive"


def load_script(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))  # dense_proposals imports real_data's learned_rows
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def agnostic():
    if not AGNOSTIC.exists():
        pytest.skip("checkpoints/learned-agnostic.pt is not in this checkout (experiments/agnostic_proof.py makes it)")
    return AGNOSTIC


def test_learned_spec_names_the_checkpoint_and_its_keys(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    assert real_data.learned_spec("ckpt/a.pt:x=1,filtering.top_n=null") == (
        "learned, a.pt, x=1, filtering.top_n=null", "ckpt/a.pt", None, ["x=1", "filtering.top_n=null"])
    assert real_data.learned_spec("ckpt/a.pt") == ("learned, a.pt", "ckpt/a.pt", None, [])
    assert real_data.learned_spec("ckpt/a.pt@final-output:x=1") == (
        "learned, a.pt, final-output, x=1", "ckpt/a.pt", "final-output", ["x=1"])
    # An '@' in a folder name is part of the path (e.g. CI workspaces "ws@2"), not a preset.
    assert real_data.learned_spec("ws@2/a.pt:x=1") == ("learned, a.pt, x=1", "ws@2/a.pt", None, ["x=1"])
    assert real_data.learned_spec("ws@2/a.pt@keys/p.yaml")[1:3] == ("ws@2/a.pt", "keys/p.yaml")


def proposal_folder(tiny_set, folder: Path, dense_proposals) -> None:
    """``folder`` as the build stage leaves it: the tiny set's instances.json and the four proposal files."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.proposals import DenseProposalConfig, write_dense_proposals

    folder.mkdir(parents=True)
    (folder / "instances.json").write_text((tiny_set / "data" / "instances.json").read_text())
    dataset = YTVISDataset.from_json(folder / "instances.json")
    for name in dense_proposals.FILES:
        write_dense_proposals(folder / f"{name}.jsonl", dataset, DenseProposalConfig(scores=name.split("-")[1]), seed=1)


def cli_ap(tmp_path: Path, data: Path, detections: Path, keys: list[str]) -> float:
    """Class-agnostic AP of ``gvis track`` with the agnostic checkpoint and ``keys``, scored by ``gvis eval``."""
    from gvis.cli import main

    results = tmp_path / "cli.json"
    assert main(["track", "--tracker", "learned", "--checkpoint", str(AGNOSTIC), "--detections", str(detections),
                 "--results", str(results), *[a for key in keys for a in ("--set", key)]]) == 0
    from gvis.data.ytvis import YTVISDataset
    from gvis.eval.ytvis_ap import evaluate

    return evaluate(YTVISDataset.from_json(data), json.loads(results.read_text()), class_agnostic=True)["AP"]


def test_learned_stages_choose_on_the_tuning_set_and_report_the_choice(agnostic, tiny_set, tmp_path, monkeypatch, capsys):
    dense = load_script("dense_proposals", monkeypatch)
    work = tmp_path / "work"
    proposal_folder(tiny_set, work / "train", dense)
    proposal_folder(tiny_set, work / "test", dense)
    specs = [str(agnostic), f"{agnostic}:{KEYS},filtering.nms_overlap=mask,filtering.nms_iou=0.3"]
    monkeypatch.setattr(sys, "argv", ["dense_proposals.py", "--out", str(work), "--stage", "learned-tune",
                                      *[a for s in specs for a in ("--learned", s)]])
    assert dense.main() == 0
    tuned = json.loads((work / "learned_tuned.json").read_text())
    other = next(spec for spec in specs if spec != tuned["chosen"])
    monkeypatch.setattr(sys, "argv", ["dense_proposals.py", "--out", str(work), "--stage", "learned-eval"])
    assert dense.main() == 0
    assert [(r["spec"], r["file"]) for r in tuned["tuning"]] == [(s, f) for f in dense.FILES for s in specs]
    means = {s: sum(r["stats"]["AP"] for r in tuned["tuning"] if r["spec"] == s) / 4 for s in specs}
    assert tuned["chosen"] == max(specs, key=means.get)
    # A tuning row is what `gvis track --set ... | gvis eval --class-agnostic` gives for that file.
    second = next(r for r in tuned["tuning"] if r["spec"] == specs[1] and r["file"] == "gt-spread")
    assert second["stats"]["AP"] > 0
    assert second["stats"]["AP"] == pytest.approx(cli_ap(tmp_path, work / "train" / "instances.json",
                                                         work / "train" / "gt-spread.jsonl", specs[1].split(":")[1].split(",")))
    held_out = json.loads((work / "learned_eval.json").read_text())["rows"]
    chosen_name = "learned, learned-agnostic.pt" + (
        "" if tuned["chosen"] == specs[0] else ", " + ", ".join(specs[1].split(":")[1].split(",")))
    assert [(r["file"], r["row"]) for r in held_out] == [(f, chosen_name) for f in dense.FILES]

    # The report: the learned tuning table beside the shipped heuristic, the chosen row in the held-out table.
    heuristic_row = {"stats": {"AP": 0.5, "AP50": 0.75}, "tracks": 1, "seconds": 1.0}
    (work / "ablation.json").write_text(json.dumps([{"file": f, "row": label, "AP": 0.1, "AP50": 0.2}
                                                    for f in dense.FILES for label, _ in dense.ABLATION]))
    (work / "tuned.json").write_text(json.dumps({"values": {}, "mean_ap": 0.25, "per_file": [0.1, 0.2, 0.3, 0.4]}))
    (work / "eval.json").write_text(json.dumps({"rows": [{"file": f, "row": "iou", **heuristic_row} for f in dense.FILES],
                                                "machine": "test", "seconds": 2.0}))
    text = dense.write_report(work, tmp_path / "report.md")
    lines = text.splitlines()
    assert "| masktrack-rule, masktrack-rule-dense.yaml (the shipped config above) | 10.0 | 20.0 | 30.0 | 40.0 | 25.0 |" in lines
    first = [r["stats"]["AP"] for r in tuned["tuning"] if r["spec"] == specs[0]]
    assert ("| learned, learned-agnostic.pt | " + " | ".join(f"{100 * ap:.1f}" for ap in first)
            + f" | {100 * sum(first) / 4:.1f} |") in lines
    assert f"Chosen: `{tuned['chosen']}`." in lines
    held = lines[lines.index("## Held-out videos"):]
    assert held[4] == "| iou | 50.0 (75.0) | 50.0 (75.0) | 50.0 (75.0) | 50.0 (75.0) |"
    assert held[5].startswith(f"| {chosen_name} | {100 * held_out[0]['stats']['AP']:.1f} (")

    # Another setting beside the chosen one on the held-out set, named as compared (not chosen).
    monkeypatch.setattr(sys, "argv", ["dense_proposals.py", "--out", str(work), "--stage", "learned-eval",
                                      "--learned", other, "--learned", tuned["chosen"]])
    assert dense.main() == 0
    rows = json.loads((work / "learned_eval.json").read_text())["rows"]
    other_name = learned_spec_name(other)
    assert [r["row"] for r in rows] == [chosen_name] * 4 + [other_name] * 4
    assert [r["stats"] for r in rows[:4]] == [r["stats"] for r in held_out]  # the chosen setting's rows do not change
    lines = dense.write_report(work, tmp_path / "report.md").splitlines()
    held = lines[lines.index("## Held-out videos"):]
    assert held[2] == f"Beside the chosen learned setting, for comparison only (`--stage learned-eval --learned`): `{other_name}`."
    assert held[7].startswith(f"| {chosen_name} |") and held[8].startswith(f"| {other_name} |")

    # Videos made with a generator key off their preset (--synth-set): a check, where nothing is chosen.
    instances = json.loads((work / "train" / "instances.json").read_text())
    instances["info"]["config"]["max_aspect"] = 4.0
    (work / "train" / "instances.json").write_text(json.dumps(instances))
    lines = dense.write_report(work, tmp_path / "report.md").splitlines()
    assert lines[0] == "# Heuristics on dense class-agnostic proposals (synthetic, max_aspect 4.0)"
    assert "| masktrack-rule, the grid's best point above | 10.0 | 20.0 | 30.0 | 40.0 | 25.0 |" in lines
    assert f"Best here (nothing is chosen on this run): `{tuned['chosen']}`." in lines
    assert not any(line.startswith("It is `configs/baselines") for line in lines)
    assert "## The rule's grid (tuning set: best mean AP over the four files)" in lines


def learned_spec_name(spec: str) -> str:
    from real_data import learned_spec

    return learned_spec(spec).name


class FakeInputs:
    """Stands for GeometryInputs: node features 0..8 per row, edge features from the velocity it is given."""

    mask_grid = 5
    det_columns = GeometryInputs.det_columns
    pair_columns = GeometryInputs.pair_columns

    def det_features(self, frame):
        return torch.arange(18.0).reshape(2, 9)

    def pair_features(self, state, frame, src, dst, pair_iou):
        return torch.tensor([[1.0, 2.0 + state["velocity"].sum(), 3.0, 4.0]])


def test_ablated_inputs_neutralise_only_the_named_features(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    inputs = FakeInputs()
    moving = {"velocity": torch.tensor([[3.0, 4.0]])}
    plain = real_data.AblatedInputs(inputs, node_constant={}, edge_copy={}, still=False)
    assert plain.mask_grid == 5  # what it does not change comes from the inputs it wraps
    assert torch.equal(plain.det_features(None), torch.arange(18.0).reshape(2, 9))
    assert plain.pair_features(moving, None, None, None, None).tolist() == [[1.0, 9.0, 3.0, 4.0]]
    ablated = real_data.AblatedInputs(inputs, node_constant=real_data.NO_OVERLAPS,
                                      edge_copy={"mask_iou": "box_iou"}, still=True)
    assert ablated.det_features(None).tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0, -1.0, -1.0, -1.0, -1.0],
                                                    [9.0, 10.0, 11.0, 12.0, 13.0, -1.0, -1.0, -1.0, -1.0]]
    assert ablated.pair_features(moving, None, None, None, None).tolist() == [[1.0, 2.0, 1.0, 4.0]]
    assert moving["velocity"].tolist() == [[3.0, 4.0]]  # the tracker's own state is left alone


def test_ablation_rows_run_the_setting_with_each_input_taken_away(agnostic, tiny_set, monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.jsonl import DetectionsReader

    dataset = YTVISDataset.from_json(tiny_set / "data" / "instances.json")
    reader = DetectionsReader(tiny_set / "dets.jsonl")
    videos = list(reader.videos())
    built = []
    original = real_data.learned_rows
    monkeypatch.setattr(real_data, "learned_rows", lambda specs, categories: built.extend(specs) or original(specs, categories))
    setting = f"{agnostic}:{KEYS}"
    rows = real_data.ablation_rows(setting, dataset, videos, reader.categories)
    assert [row.name for row in rows] == [name for name, *_ in real_data.INPUT_ABLATION]
    assert built[0] == f"{setting},filtering.nms_iou=null,filtering.top_n=null"
    assert built[1:] == [f"{setting},"] * (len(real_data.INPUT_ABLATION) - 1)
    # Nothing neutralised, the wrapped tracker links exactly as the plain one.
    (_, plain), = original([setting], reader.categories)
    (_, wrapped), = original([setting], reader.categories)
    wrapped.model.inputs = real_data.AblatedInputs(wrapped.model.inputs, node_constant={}, edge_copy={}, still=False)
    from gvis.baselines.runner import run_tracker

    assert run_tracker(wrapped, videos).entries == run_tracker(plain, videos).entries


def test_ablation_table_reads_each_change_against_the_reference(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}

    def row(name, ap):
        return real_data.Row(name, {"AP": ap, "AP50": 0.1, "AR10": 0.2}, mots, 4)

    reference = row("learned", 0.05)
    lines = real_data.ablation_table(reference, [row("a", 0.0505), row("b", 0.04), row("c", 0.06)])
    cells = [line.split(" | ") for line in lines[2:]]
    assert [c[0] for c in cells] == ["| (nothing)", "| a", "| b", "| c"]
    assert [c[2] for c in cells] == ["+0.00", "+0.05", "-1.00", "+1.00"]
    assert [c[-1] for c in cells] == ["the reference |", "the setting's AP does not depend on it here |",
                                      "the setting relies on it: 1.00 AP of its result comes from it |",
                                      "it costs the setting 1.00 AP here: its AP rises without it |"]


def test_category_table_lists_categories_with_ground_truth_and_the_learned_gap(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"MOTA": 0.1, "IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}

    def row(name, car, truck, agnostic):
        stats = {s: (car + truck) / 2 for s in real_data.AP_STATS}
        return real_data.Row(name, stats, mots, 4, per_category={"car": car, "truck": truck, "bus": -1.0},
                             agnostic_ap=agnostic)

    section = real_data.Section("t", class_agnostic=False, instances={"car": 8, "truck": 1},
                                rows=[row("masktrack-rule", 0.02, 0.30, 0.03), row("iou", 0.01, 0.0, 0.01),
                                      row("learned, a.pt", 0.09, 0.20, 0.09)])
    lines = real_data.category_lines(section)
    assert lines[3] == "| | car (8) | truck (1) | mean (AP) | class-agnostic AP |"  # bus: no ground truth
    assert lines[5:8] == ["| masktrack-rule | 2.00 | 30.00 | 16.00 | 3.00 |", "| iou | 1.00 | 0.00 | 0.50 | 1.00 |",
                          "| learned, a.pt | 9.00 | 20.00 | 14.50 | 9.00 |"]
    assert lines[-1] == ("learned, a.pt against the best heuristic (masktrack-rule), per category: car +7.00, "
                         "truck -10.00; class-agnostic +6.00.")
    assert real_data.category_lines(real_data.Section("davis", class_agnostic=True, rows=section.rows)) == []


def test_hypotheses_table_compares_each_tracker_with_its_one_entry_ap(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"MOTA": 0.1, "IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}

    def row(name, ap, hypotheses):
        per_category = {"car": hypotheses[0], "truck": hypotheses[1], "bus": -1.0}
        return real_data.Row(name, {s: ap for s in real_data.AP_STATS}, mots, 4,
                             hypotheses={"AP": sum(hypotheses) / 2, "per_category": per_category})

    rows = [row("masktrack-rule", 0.10, (0.02, 0.30)), row("deepsort", 0.12, (0.04, 0.24)),
            row("learned, a.pt", 0.09, (0.10, 0.20))]
    section = real_data.Section("t", class_agnostic=False, instances={"car": 8, "truck": 1}, hypotheses=2,
                                rows=[real_data.Row("gvis oracle", {s: 0.5 for s in real_data.AP_STATS}, mots, 4), *rows])
    lines = real_data.hypotheses_lines(section)
    assert "`--category-hypotheses 2`" in lines[1]
    assert lines[3] == "| | car | truck | AP | Δ AP to one entry per track |"  # bus: no ground truth; no oracle row
    assert lines[5:8] == ["| masktrack-rule | 2.00 | 30.00 | 16.00 | +6.00 |", "| deepsort | 4.00 | 24.00 | 14.00 | +2.00 |",
                          "| learned, a.pt | 10.00 | 20.00 | 15.00 | +6.00 |"]
    # The best heuristic is chosen by its AP with hypotheses (masktrack-rule), not by its AP with one entry (deepsort).
    assert lines[-1] == "learned, a.pt against the best heuristic with hypotheses (masktrack-rule, AP 16.00): -1.00 AP."
    assert real_data.hypotheses_lines(real_data.Section("t", class_agnostic=False, rows=[section.rows[0]])) == []


def test_threshold_table_names_the_thresholds_of_a_gap(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"MOTA": 0.1, "IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}

    def row(name, per_threshold):
        stats = {s: sum(per_threshold) / 10 for s in real_data.AP_STATS}
        return real_data.Row(name, stats, mots, 4, ap_per_threshold=per_threshold)

    rule = row("masktrack-rule, masktrack-rule-dense.yaml", [1.0] * 6 + [0.5, 0.5, 0.0, 0.0])
    learned = row("learned, a.pt", [1.0] * 6 + [0.25, 0.5, 0.0, 0.1])
    section = real_data.Section("davis", class_agnostic=True, rows=[row("iou", [0.1] * 10), rule, learned])
    lines = real_data.threshold_lines(section)
    assert lines[3] == "| | 0.50 | 0.55 | 0.60 | 0.65 | 0.70 | 0.75 | 0.80 | 0.85 | 0.90 | 0.95 |"
    assert lines[5] == "| masktrack-rule, masktrack-rule-dense.yaml | " + " | ".join(["100.00"] * 6 + ["50.00", "50.00", "0.00", "0.00"]) + " |"
    assert lines[-1] == "Thresholds where they differ: 0.80 (-25.00), 0.95 (+10.00)."
    assert real_data.threshold_lines(real_data.Section("davis", class_agnostic=True, rows=[rule])) == []


def test_a_section_compares_the_learned_setting_it_names(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"MOTA": 0.1, "IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}
    rows = [real_data.Row(name, {s: ap for s in real_data.AP_STATS}, mots, 4)
            for name, ap in (("iou", 0.1), ("learned, a.pt, x=1", 0.3), ("learned, a.pt, x=2", 0.2))]
    named = real_data.Section("t", class_agnostic=True, rows=rows, compared="ckpt/a.pt:x=1")
    assert real_data.compared_setting(named) == (rows[1], rows[0])
    assert real_data.compared_setting(real_data.Section("t", class_agnostic=True, rows=rows)) == (rows[2], rows[0])


def test_final_output_videos_drop_appearance_and_set_constant_scores(tiny_set, monkeypatch):
    final = load_script("final_outputs", monkeypatch)
    from gvis.detections.jsonl import DetectionsReader

    categories, files = final.final_output_videos(tiny_set)
    given = list(DetectionsReader(tiny_set / "dets.jsonl").videos())
    assert categories == DetectionsReader(tiny_set / "dets.jsonl").categories
    assert set(files) == set(final.SCORES)
    frames = 0
    for (video_id, original), (spread_id, spread), (constant_id, constant) in zip(given, files["spread"], files["constant"]):
        assert video_id == spread_id == constant_id
        for det, s, c in zip(original, spread, constant):
            assert s.appearance is None and c.appearance is None and s.frame_appearance is None
            assert torch.equal(s.scores, det.scores) and torch.equal(c.scores, torch.ones_like(det.scores))
            assert torch.equal(c.labels, det.labels) and c.mask_rles() == det.mask_rles()
            frames += 1
    assert frames > 0 and any(det.appearance is not None for _, video in given for det in video)


def test_tuned_rule_is_the_best_grid_point_named_by_the_shipped_config_it_equals(tiny_set, tmp_path, monkeypatch):
    final = load_script("final_outputs", monkeypatch)
    import shutil
    import statistics

    from gvis.baselines.masktrack_rule import MaskTrackRuleConfig
    from gvis.config import load_config

    shutil.copy(tiny_set / "data" / "instances.json", tmp_path / "instances.json")
    shutil.copy(tiny_set / "dets.jsonl", tmp_path / "dets.jsonl")
    rule, config = final.tune_rule(tmp_path)
    means = {point: statistics.mean(aps) for point, aps in rule["points"].items()}
    assert len(means) == 32 and list(means)[0] == json.dumps({k: v[0] for k, v in final.RULE_GRID.items()})
    assert rule["tied"] == [p for p, ap in means.items() if ap >= max(means.values()) - final.AP_TIE]
    assert json.dumps(rule["values"]) == rule["tied"][0] and rule["mean_ap"] == means[rule["tied"][0]]
    shipped = {name: final.heuristic_config(tracker, file) for name, tracker, file in final.HEURISTICS
               if tracker == "masktrack-rule"}
    assert rule["shipped"] == next((name for name, c in shipped.items() if c == config), None)
    (tmp_path / "tuned.yaml").write_text(rule["yaml"])
    assert load_config(MaskTrackRuleConfig, tmp_path / "tuned.yaml") == config


def test_final_outputs_grids_start_from_the_defaults_and_the_dense_setting(monkeypatch):
    final = load_script("final_outputs", monkeypatch)
    from gvis.baselines.tuning import _with_values

    default = final.heuristic_config("masktrack-rule", None)
    configs = [_with_values(default, dict(zip(final.RULE_GRID, values)))
               for values in itertools.product(*final.RULE_GRID.values())]
    assert configs[0] == default  # the grid's first values are the rule's defaults
    assert final.heuristic_config("masktrack-rule", "masktrack-rule-dense") in configs  # the dense config is a point
    settings = final.default_learned()
    assert settings[0] == final.DENSE_SETTING and len(set(settings)) == len(final.THRESHOLDS) ** 2
    assert all(s.startswith(final.DENSE_SETTING) for s in settings)
    assert f"{final.DENSE_SETTING},match_threshold=-3,init_threshold=-4" in settings


def test_final_outputs_report_names_the_tie_the_tuned_rule_and_the_chosen_setting(monkeypatch):
    final = load_script("final_outputs", monkeypatch)
    monkeypatch.setattr(final, "git_hash", lambda: "abc")
    points = [json.dumps(dict(zip(final.RULE_GRID, values))) for values in itertools.product(*final.RULE_GRID.values())]
    aps = {point: [0.01, 0.03] for point in points}
    aps[points[5]], aps[points[9]] = [0.1, 0.2], [0.1, 0.19999]
    rule = {"values": json.loads(points[5]), "mean_ap": 0.15, "per_file": [0.1, 0.2], "points": aps,
            "tied": [points[5], points[9]], "yaml": "overlap: mask\n", "shipped": None}
    learned = final.default_learned()[:2]
    tuning = {"iou": {"spread": 0.02, "constant": 0.04}, learned[0]: {"spread": 0.1, "constant": 0.2},
              learned[1]: {"spread": 0.3, "constant": 0.1}}
    held_out = {name: {"iou": {"spread": 0.01, "constant": 0.03}, learned[1]: {"spread": 0.1 * n, "constant": 0.1},
                       learned[0]: {"spread": 0.2, "constant": 0.2}} for n, (name, _, _) in enumerate(final.HELD_OUT, start=1)}
    lines = final.report("python x", rule, tuning, learned, learned[1], held_out, 60.0).splitlines()
    text = "\n".join(lines)
    assert f"`{points[9]}` (14.9995 against 15.0000) tied with it" in text
    assert "No shipped config equals it" in text and "overlap: mask" in text and "the defaults' 2.00" in text
    assert "| iou | 2.00 | 4.00 | 3.00 |" in lines and "| (as on dense proposals) | 10.00 | 20.00 | 15.00 |" in lines
    assert "| match_threshold=-2,init_threshold=-3 | 30.00 | 10.00 | 20.00 |" in lines
    assert f"Chosen: `{learned[1]}`." in lines
    assert "| learned, the chosen setting | 20.00 | 10.00 | 15.00 | 10.00 | 15.00 | 20.00 |" in lines
    assert "| iou | 1.00 | 3.00 | 2.00 | 2.00 | 2.00 | 2.00 |" in lines
    assert "| learned, (as on dense proposals) | 20.00 | 20.00 | 20.00 | 20.00 | 20.00 | 20.00 |" in lines
    for table in ("| setting |", "| tracker |"):  # every table's separator has a cell per column
        header = next(n for n, line in enumerate(lines) if line.startswith(table))
        assert lines[header + 1].count("---") == lines[header].count("|") - 1


def test_real_data_report_says_how_the_compared_settings_were_chosen_only_when_named(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    claim = "was chosen on the synthetic data of its kind of input"
    named = real_data.report([real_data.Section("t", class_agnostic=True, compared="a.pt:x=1")], "cmd", 1.0)
    plain = real_data.report([real_data.Section("t", class_agnostic=True)], "cmd", 1.0)
    assert claim in " ".join(named.split()) and claim not in " ".join(plain.split())


def test_draw_table_averages_each_tracker_over_the_proposal_draws(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"MOTA": 0.1, "IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}

    def section(title, aps):
        names = [name for name, _, _ in real_data.HEURISTICS] + ["learned, a.pt"]
        return real_data.Section(title, class_agnostic=True, rows=[
            real_data.Row(name, {s: ap for s in real_data.AP_STATS}, mots, 4) for name, ap in zip(names, aps)])

    # Two draws of two sections; AP of masktrack-rule, its dense config, deepsort, iou, the learned setting.
    draws = [[section("v1, dense proposals, constant scores (10.0 per frame, 60 frames)", [0.1, 0.6, 0.2, 0.0, 0.5]),
              section("v2, dense proposals, constant scores (18.0 per frame, 2 frames)", [0.2, 0.2, 0.2, 0.2, 0.4])],
             [section("v1, dense proposals, constant scores (9.0 per frame, 60 frames)", [0.3, 0.4, 0.2, 0.0, 0.6]),
              section("v2, dense proposals, constant scores (17.0 per frame, 2 frames)", [0.2, 0.2, 0.2, 0.2, 0.2])]]
    lines = real_data.draw_lines(draws)
    assert lines[0].startswith("**Dense proposals over 2 draws** (`--proposal-draws 2`")
    assert lines[2] == "| | v1, constant scores | v2, constant scores | mean |"
    assert lines[5] == "| masktrack-rule, masktrack-rule-dense.yaml | 50.00 (40.00–60.00) | 20.00 (20.00–20.00) | 35.00 |"
    assert lines[8] == "| learned, a.pt | 55.00 (50.00–60.00) | 30.00 (20.00–40.00) | 42.50 |"
    # The learned setting (the last learned row) against each heuristic, section by section.
    assert "- masktrack-rule, masktrack-rule-dense.yaml: v1, constant scores +5.00, v2, constant scores +10.00; mean +7.50" in lines
    assert "- iou: v1, constant scores +55.00, v2, constant scores +10.00; mean +32.50" in lines
    assert not any("random order" in line for line in lines)  # no row's AP depends on the order of its ties
    assert real_data.draw_lines(draws[:1]) == []


def test_draw_table_reads_the_heuristics_with_their_ties_in_random_order(monkeypatch):
    real_data = load_script("real_data", monkeypatch)
    mots = {"MOTA": 0.1, "IDF1": 0.5, "IDSw": 1, "FP": 2, "FN": 3}
    rule = "masktrack-rule, masktrack-rule-dense.yaml"

    def section(title, rule_ap, rule_random_ap):
        rows = [real_data.Row(name, {s: 0.1 for s in real_data.AP_STATS}, mots, 4, random_tie_ap=0.1)
                for name, _, _ in real_data.HEURISTICS if name != rule]
        rows.append(real_data.Row(rule, {s: rule_ap for s in real_data.AP_STATS}, mots, 4, random_tie_ap=rule_random_ap))
        rows.append(real_data.Row("learned, a.pt", {s: 0.5 for s in real_data.AP_STATS}, mots, 4))
        return real_data.Section(title, class_agnostic=True, rows=rows)

    draws = [[section("v1, dense proposals, constant scores (1 per frame, 2 frames)", 0.6, 0.4)],
             [section("v1, dense proposals, constant scores (1 per frame, 2 frames)", 0.6, 0.5)]]
    lines = real_data.draw_lines(draws)
    table = lines.index(next(line for line in lines if line.startswith("**Equal scores in random order.**")))
    # Only the rule's AP depends on the order of its ties; the learned row has none (its AP as it is).
    assert lines[table + 2:table + 5] == ["| | v1, constant scores | mean |", "|---|---|---|",
                                          f"| {rule} | 45.00 (40.00–50.00) | 45.00 |"]
    assert f"- {rule}: v1, constant scores -10.00; mean -10.00" in lines  # evaluated as ranked
    assert f"- {rule}: v1, constant scores +5.00; mean +5.00" in lines  # its ties in random order
