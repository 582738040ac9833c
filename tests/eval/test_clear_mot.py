"""CLEAR MOT / IDF1 on masks: hand-computed cases and Scalabel's own figures on the BDD100K MOTS fixture."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gvis.cli import main
from gvis.eval.clear_mot import evaluate_mots

H, W = 6, 12


def test_switch_miss_and_false_positive_by_hand(vis_case, masks):
    # One object (2x2 at columns 0-1) over 5 frames. Hypothesis A holds it in frames 0-1, B in frames 2
    # and 4 (a switch in frame 2; frame 3 is a miss); in frame 4 B is 2x3 (IoU 4/6) and C is a false
    # positive elsewhere.
    obj = masks.rect(H, W, 0, 2, 0, 2)
    wide = masks.rect(H, W, 0, 2, 0, 3)
    other = masks.rect(H, W, 4, 6, 8, 12)
    case = vis_case().video(1, frames=5, height=H, width=W)
    case.instance(1, [obj] * 5)
    case.predict(1, [obj, obj, None, None, None], score=0.9)
    case.predict(1, [None, None, obj, None, wide], score=0.8)
    case.predict(1, [None, None, None, None, other], score=0.7)
    stats = evaluate_mots(case.dataset(), case.results)
    assert {k: stats[k] for k in ("GT", "FN", "FP", "IDSw", "MT", "PT", "ML", "FM")} == {
        "GT": 5, "FN": 1, "FP": 1, "IDSw": 1, "MT": 1, "PT": 0, "ML": 0, "FM": 1}  # tracked 4/5 = 0.8: MT
    assert stats["MOTA"] == pytest.approx(1 - 3 / 5)
    assert stats["MOTP"] == pytest.approx((1 + 1 + 1 + 4 / 6) / 4)
    # IDTP: the object paired with A or B, 2 frames either way; 5 object frames, 5 hypothesis frames.
    assert stats["IDF1"] == pytest.approx(2 * 2 / (5 + 5))


def test_a_match_continues_while_it_can(vis_case, masks):
    # Frame 1: A still overlaps the object (IoU 4/6 >= 0.5) while B fits it exactly; A keeps it, B is a
    # false positive, no switch. Frame 2: A is gone, B takes over: a switch.
    obj = masks.rect(H, W, 0, 2, 0, 2)
    case = vis_case().video(1, frames=3, height=H, width=W)
    case.instance(1, [obj] * 3)
    case.predict(1, [obj, masks.rect(H, W, 0, 2, 0, 3), None], score=0.9)
    case.predict(1, [None, obj, obj], score=0.8)
    stats = evaluate_mots(case.dataset(), case.results)
    assert (stats["FP"], stats["IDSw"], stats["FN"]) == (1, 1, 0)


def test_iou_below_half_is_no_match(vis_case, masks):
    case = vis_case().video(1, frames=1, height=H, width=W)
    case.instance(1, [masks.rect(H, W, 0, 2, 0, 2)])
    case.predict(1, [masks.rect(H, W, 0, 2, 0, 5)], score=0.9)  # IoU 4/10
    stats = evaluate_mots(case.dataset(), case.results)
    assert (stats["FN"], stats["FP"], stats["MOTA"]) == (1, 1, -1.0)


def test_crowd_regions_swallow_unmatched_hypotheses_only(vis_case, masks):
    crowd = masks.rect(H, W, 0, 6, 6, 12)
    case = vis_case().video(1, frames=1, height=H, width=W)
    case.instance(1, [masks.rect(H, W, 0, 2, 0, 2)])
    case.instance(1, [crowd], iscrowd=1)
    case.predict(1, [masks.rect(H, W, 0, 2, 0, 2)], score=0.9)  # matches the object
    case.predict(1, [masks.rect(H, W, 0, 2, 6, 9)], score=0.8)  # inside the crowd: ignored
    case.predict(1, [masks.rect(H, W, 3, 5, 4, 8)], score=0.7)  # half in the crowd (IoF 0.5, not above): FP
    stats = evaluate_mots(case.dataset(), case.results)
    assert (stats["GT"], stats["FP"], stats["FN"], stats["IDF1"]) == (1, 1, 0, pytest.approx(2 / (1 + 2)))


def test_categories_are_separate_unless_class_agnostic(vis_case, masks):
    obj = masks.rect(H, W, 0, 2, 0, 2)
    case = vis_case(categories=((1, "car"), (2, "truck"))).video(1, frames=2, height=H, width=W)
    case.instance(1, [obj, obj], category_id=1)
    case.predict(1, [obj, obj], score=0.9, category_id=2)
    assert (evaluate_mots(case.dataset(), case.results)["FN"], evaluate_mots(case.dataset(), case.results)["FP"]) == (2, 2)
    agnostic = evaluate_mots(case.dataset(), case.results, class_agnostic=True)
    assert (agnostic["FN"], agnostic["FP"], agnostic["MOTA"], agnostic["IDF1"]) == (0, 0, 1.0, 1.0)


def test_eval_cli_reports_mots(tmp_path, vis_case, masks, capsys):
    obj = masks.rect(H, W, 0, 2, 0, 2)
    case = vis_case().video(1, frames=2, height=H, width=W)
    case.instance(1, [obj, obj])
    case.predict(1, [obj, None], score=0.9)
    gt_path, results_path = case.write(tmp_path)
    assert main(["eval", str(gt_path), str(results_path), "--mots", "--json"]) == 0
    mots = json.loads(capsys.readouterr().out)["mots"]
    assert (mots["MOTA"], mots["FN"], mots["PT"]) == (0.5, 1, 1)
    assert main(["eval", str(gt_path), str(results_path), "--mots"]) == 0
    assert "MOTA    50.00" in capsys.readouterr().out


def test_bdd100k_mots_matches_scalabel(real_data):
    """Scalabel's tests/eval/mots_test.py scores these predictions (PROVENANCE.md): the same figures."""
    folder = real_data / "bdd100k_mots_b1c66a42-6f7d68ca"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    stats = evaluate_mots(folder / "ytvis_gt.json", folder / "ytvis_results.json")
    assert stats["MOTA"] == pytest.approx(0.6430611079383209)
    assert stats["MOTP"] == pytest.approx(0.8357249803157146)
    assert stats["IDF1"] == pytest.approx(0.7451573849878935)
    assert {k: stats[k] for k in ("FP", "FN", "IDSw", "MT", "PT", "ML", "FM")} == {
        "FP": 201, "FN": 399, "IDSw": 25, "MT": 56, "PT": 19, "ML": 11, "FM": 42}
    # Scalabel's empty-prediction test: every non-crowd label a miss, every track mostly lost.
    empty = evaluate_mots(folder / "ytvis_gt.json", [])
    assert (empty["FN"], empty["ML"], empty["MOTA"], empty["IDF1"]) == (1751, 86, 0.0, 0.0)
    assert np.isnan(empty["MOTP"])
