"""``gvis eval`` output: the readable table and the ``--json`` contract."""
from __future__ import annotations

import json

import pytest

from gvis.cli import main
from gvis.eval.ytvis_ap import STAT_NAMES


def written_case(tmp_path, vis_case, masks):
    case = vis_case(categories=((1, "person"), (2, "dog"))).video(1, frames=2)
    case.instance(1, [masks.rect(4, 4, 0, 2, 0, 2)] * 2)
    case.predict(1, [masks.rect(4, 4, 0, 2, 0, 2), None], score=0.9)  # video IoU 0.5
    return case.write(tmp_path)


def test_json_output(tmp_path, vis_case, masks, capsys):
    gt_path, results_path = written_case(tmp_path, vis_case, masks)
    assert main(["eval", str(gt_path), str(results_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert list(stats) == list(STAT_NAMES)
    assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == 0.0 and stats["APm"] == -1
    assert main(["eval", str(gt_path), str(results_path), "--json", "--per-category"]) == 0
    assert json.loads(capsys.readouterr().out)["per_category"] == pytest.approx({"person": 0.1, "dog": -1.0})


def test_table_output(tmp_path, vis_case, masks, capsys):
    gt_path, results_path = written_case(tmp_path, vis_case, masks)
    assert main(["eval", str(gt_path), str(results_path), "--per-category"]) == 0
    out = capsys.readouterr().out
    assert "AP50   1.0000  precision  IoU 0.50" in out
    assert "APm        -1" in out
    assert "person    0.1000" in out


def test_bad_input_is_one_line(tmp_path, vis_case, masks, capsys):
    gt_path, results_path = written_case(tmp_path, vis_case, masks)
    results_path.write_text("[{")
    assert main(["eval", str(gt_path), str(results_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("gvis eval: error: ") and str(results_path) in error and "\n" not in error
    assert main(["eval", str(results_path.with_name("absent.json")), str(results_path)]) == 2
    assert "absent.json" in capsys.readouterr().err


def test_tie_orders_report_the_ap_with_equal_scores_drawn(tmp_path, vis_case, masks, capsys):
    # A tie across videos: the official order puts video 1's false positive first (AP 51/101 / 2); drawn,
    # video 2's true positive comes first in some orders (AP 51/101).
    case = vis_case().video(1, frames=1).video(2, frames=1)
    case.instance(1, [masks.rect(4, 4, 0, 2, 0, 2)]).instance(2, [masks.rect(4, 4, 0, 2, 0, 2)])
    case.predict(2, [masks.rect(4, 4, 0, 2, 0, 2)], score=0.5).predict(1, [masks.rect(4, 4, 2, 4, 2, 4)], score=0.5)
    gt_path, results_path = case.write(tmp_path)
    assert main(["eval", str(gt_path), str(results_path), "--json", "--tie-orders", "20"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["AP"] == pytest.approx(51 / 101 / 2)
    ties = stats["random_ties"]
    assert ties["orders"] == 20 and ties["lowest"] == pytest.approx(51 / 101 / 2) and ties["highest"] == pytest.approx(51 / 101)
    assert ties["lowest"] < ties["AP"] < ties["highest"]
    assert main(["eval", str(gt_path), str(results_path), "--tie-orders", "20"]) == 0
    assert (f"AP with equal scores in 20 random orders: mean {ties['AP']:.4f} (lowest {51 / 101 / 2:.4f}, "
            f"highest {51 / 101:.4f})") in capsys.readouterr().out
    assert main(["eval", str(gt_path), str(results_path), "--tie-orders", "-1"]) == 2
    assert "--tie-orders must be >= 0" in capsys.readouterr().err


def test_tie_orders_without_equal_scores_report_the_ap_itself(tmp_path, vis_case, masks, capsys):
    gt_path, results_path = written_case(tmp_path, vis_case, masks)
    assert main(["eval", str(gt_path), str(results_path), "--json", "--tie-orders", "3"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["random_ties"] == {"orders": 3, "AP": stats["AP"], "lowest": stats["AP"], "highest": stats["AP"]}
