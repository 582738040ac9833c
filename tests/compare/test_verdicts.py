"""Verdicts of ``gvis compare`` on constructed results: paired bootstrap, the "not learned" flag, the report."""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from gvis.compare.benchmark import STATS, Benchmark
from gvis.compare.paper import PAPER_ROWS
from gvis.compare.report import Comparison, Row, assess, changes_since, markdown, paper_orderings, report_json, title
from gvis.compare.verdicts import Verdict, check_learning, late_point, validation_interval
from gvis.eval.ytvis_ap import evaluate

VIDEOS = 10


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def square(y: int) -> np.ndarray:
    mask = np.zeros((8, 8), bool)
    mask[y:y + 3, 2:5] = True
    return mask


def write_set(folder, seed: int) -> None:
    """``VIDEOS`` videos of 2 frames, one object each, at a row that depends on the video and the set."""
    folder.mkdir(parents=True)
    videos = [{"id": v, "height": 8, "width": 8, "length": 2, "file_names": [f"{v}/0.jpg", f"{v}/1.jpg"]}
              for v in range(1, VIDEOS + 1)]
    annotations = [{"id": v, "video_id": v, "category_id": 1, "iscrowd": 0, "areas": [9, 9],
                    "segmentations": [rle(square((v + seed) % 5))] * 2} for v in range(1, VIDEOS + 1)]
    (folder / "instances.json").write_text(json.dumps({"videos": videos, "annotations": annotations,
                                                       "categories": [{"id": 1, "name": "a"}]}))


def results(found: set[int], seed: int, shift: int = 0) -> list[dict]:
    """One track per video: the object itself where ``video in found``, else a false positive elsewhere."""
    entries = []
    for v in range(1, VIDEOS + 1):
        y = (v + seed) % 5 if v in found else ((v + seed) % 5 + 3) % 6
        entries.append({"video_id": v, "category_id": 1, "score": 0.9 - 0.01 * ((v + shift) % VIDEOS),
                        "segmentations": [rle(square(y))] * 2})
    return entries


@pytest.fixture
def bench(tmp_path):
    bench = Benchmark(tmp_path, test_seeds=(1, 2), test_videos=VIDEOS, val_videos=20)
    for seed, folder in zip(bench.test_seeds, bench.test_sets):
        write_set(folder, seed)
    return bench


def make_row(bench, name: str, found: dict[int, set[int]], seeds=(0, 1, 2), curve=(5.0, 8.0, 9.0, 9.5, 9.8),
             final_step: int = 300) -> Row:
    """A learned row whose training seed ``s`` found the videos ``found[s]`` of every held-out set."""
    row = Row(name, "learned", paper=PAPER_ROWS.get(name), warmup_steps=50)
    for seed in seeds:
        files = {}
        for test_seed, test in zip(bench.test_seeds, bench.test_sets):
            path = bench.work / "runs" / name / f"seed{seed}" / f"results_{test.name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results(found[seed], test_seed, shift=seed)))
            files[test.name] = path
        row.results[seed] = files
        stats = [evaluate(test / "instances.json", files[test.name]) for test in bench.test_sets]
        row.per_seed[seed] = {name: float(np.mean([s[name] for s in stats])) for name in STATS}
        row.final_steps[seed] = final_step
        row.curves[seed] = [(round(final_step * (i + 1) / len(curve)), ap) for i, ap in enumerate(curve)]
    return row


ALL = set(range(1, VIDEOS + 1))
MOST = {seed: ALL - {seed + 1} for seed in range(3)}  # 9 of 10 videos found, another one per seed
FEW = {seed: {1 + seed, 4, 7} for seed in range(3)}  # 3 of 10


def comparison(bench, seeds=(0, 1, 2), reference="proposed") -> Comparison:
    return Comparison(bench, bench.work / "runs", list(seeds), 300, 3.0, reference=reference, resamples=500)


def test_clear_differences_get_better_and_worse_identical_results_undecided(bench):
    rows = [make_row(bench, "proposed", MOST), make_row(bench, "gnn_1_block", FEW), make_row(bench, "attention", MOST)]
    assess(rows, comparison(bench))
    reference, worse, same = rows
    assert reference.status == "reference" and reference.verdict is None
    assert worse.status == "worse" and worse.verdict.high < 0
    # The point difference is the evaluator's: mean over seeds and sets of the AP differences, in AP points.
    expected = np.mean([100 * (worse.per_seed[s]["AP"] - reference.per_seed[s]["AP"]) for s in range(3)])
    assert worse.verdict.difference == pytest.approx(expected, abs=1e-9) and expected < -20
    assert worse.verdict.seeds == [0, 1, 2] and set(worse.verdict.per_set) == {"test_seed1", "test_seed2"}
    # The same results: every resample gives exactly 0.
    assert same.status == "undecided"
    assert (same.verdict.difference, same.verdict.low, same.verdict.high) == (0.0, 0.0, 0.0)
    # The resampled APs are cached beside the results, and read back the same.
    cached = sorted(p.name for p in (bench.work / "runs" / "gnn_1_block" / "seed0").iterdir())
    assert cached == ["results_test_seed1.bootstrap0-500.npy", "results_test_seed1.json",
                      "results_test_seed1.matches.npz", "results_test_seed2.bootstrap0-500.npy",
                      "results_test_seed2.json", "results_test_seed2.matches.npz"]
    first = (worse.verdict.low, worse.verdict.high)
    assess(rows, comparison(bench))
    assert (worse.verdict.low, worse.verdict.high) == first
    # The other way round: better.
    rows = [make_row(bench, "proposed", FEW), make_row(bench, "attention", MOST)]
    assess(rows, comparison(bench))
    assert rows[1].status == "better" and rows[1].verdict.low > 0


def test_verdicts_are_paired_on_seeds_both_rows_finished(bench):
    rows = [make_row(bench, "proposed", MOST), make_row(bench, "attention", FEW, seeds=(1, 2))]
    assess(rows, comparison(bench))
    assert rows[1].verdict.seeds == [1, 2] and set(rows[1].verdict.per_seed) == {1, 2}


def test_a_row_not_learned_keeps_its_numbers_and_gets_no_verdict(bench):
    rising = make_row(bench, "gnn_3_blocks", FEW, curve=(1.0, 2.0, 4.0, 6.0, 9.0))
    warmup = make_row(bench, "simple_gate", FEW, final_step=30)
    rows = [make_row(bench, "proposed", MOST), rising, warmup]
    assess(rows, comparison(bench))
    for row in (rising, warmup):
        assert row.not_learned and row.verdict is None and row.status == "– (not learned at this budget)"
        assert row.mean("AP") is not None
        # It keeps its paired difference and interval (shown, and in the JSON), without a verdict.
        assert row.difference.high < 0 and row.difference.seeds == [0, 1, 2]
    text = markdown(rows, comparison(bench), None, bench.work / "r.md")
    difference = rising.difference
    assert (f"| {difference.difference:+.1f} [{difference.low:+.1f}, {difference.high:+.1f}] | – (not learned at this "
            "budget) |") in text
    by_name = {row["name"]: row for row in report_json(rows, comparison(bench), report="r.md")["rows"]}
    assert by_name["gnn_3_blocks"]["vs_reference"] is None and "verdict" not in by_name["gnn_3_blocks"]["difference"]
    assert by_name["gnn_3_blocks"]["difference"]["interval"][1] == pytest.approx(difference.high / 100)
    assert "still moving: +3.0 AP from step 240 to 300" in rising.learning.reasons[0]
    assert "inside the 50-step warm-up" in warmup.learning.reasons[0]
    paper_orderings(rows)
    assert rising.ordering == "paper -0.1; ours not learned at this budget" and rising.agrees is None


def test_no_verdicts_when_the_reference_has_not_learned(bench):
    rows = [make_row(bench, "proposed", MOST, final_step=40), make_row(bench, "attention", FEW)]
    assess(rows, comparison(bench))
    assert rows[1].verdict is None and rows[1].status == "– (reference not learned)"
    assert rows[1].difference is not None and rows[1].difference.high < 0  # shown, not judged
    assert "**No verdicts**: the reference `proposed` has not learned" in markdown(rows, comparison(bench), None,
                                                                                 bench.work / "r.md")


@pytest.mark.parametrize("curve, flagged, change", [
    ([(60, 1.0), (120, 5.0), (180, 8.0), (240, 10.0), (300, 10.9)], False, 0.9),   # flat at the end
    ([(60, 1.0), (120, 5.0), (180, 8.0), (240, 10.0), (300, 11.5)], True, 1.5),    # still rising
    ([(60, 1.0), (120, 5.0), (180, 8.0), (240, 10.0), (300, 8.5)], True, -1.5),    # falling
])
def test_learning_check_compares_the_point_nearest_80_percent_with_the_end(curve, flagged, change):
    check = check_learning({0: curve}, {0: 300}, warmup_steps=50)
    assert check.flagged is flagged and check.late_change == pytest.approx(change)


def test_learning_check_averages_seeds_and_knows_unchecked_runs():
    # Seed 0 rises by 2, seed 1 falls by 1: the mean moves by 0.5, within tolerance.
    curves = {0: [(100, 1.0), (200, 3.0)], 1: [(100, 4.0), (200, 3.0)]}
    assert check_learning(curves, {0: 200, 1: 200}, 10).flagged is False
    # A run with no validation at its last step (trained before curves were recorded) is not checked.
    check = check_learning({0: []}, {0: 200}, 10)
    assert check.flagged is None and "not checked" in check.reasons[0]
    # ... unless its budget ended inside the warm-up anyway.
    assert check_learning({0: []}, {0: 5}, 10).flagged is True


def test_late_point_and_validation_interval():
    # A run stopped by its time limit at step 266 of 300: validations at 60, ..., 240 and 266.
    assert validation_interval(300) == 60 and validation_interval(1000) == 200 and validation_interval(3) == 1
    assert late_point([(60, 0), (120, 0), (180, 0), (240, 0), (266, 0)]) == (240, 0)
    assert late_point([(1, 0), (2, 0), (3, 0)]) == (2, 0)


def test_report_title_reading_and_json_come_from_the_configs_compared(bench):
    rows = [make_row(bench, "proposed", MOST), make_row(bench, "mean", FEW), make_row(bench, "gnn_1_block", FEW),
            make_row(bench, "no_gating", MOST, final_step=20)]
    assess(rows, comparison(bench, seeds=(0, 1)))
    assert title(rows, comparison(bench)) == ("# `mean` and `gnn_1_block`, `no_gating` against `proposed` on the "
                                              "synthetic hard benchmark")
    text = markdown(rows, comparison(bench, seeds=(0, 1)), None, bench.work / "r.md")
    assert "- **Worse** than `proposed`: `mean` (" in text and "`gnn_1_block` (" in text
    assert "**Only 2 training seeds.**" in text and "**2 rows are compared at once.**" in text
    assert "- Reproduced for 1 of the 1 rows with a decided verdict (gnn_1_block)." in text
    assert "**Not learned at this budget**" in text and "`no_gating`: the budget ends inside" in text
    assert "`no_gating` (paper: diverges; ours not learned at this budget)" in text
    result = report_json(rows, comparison(bench), report="r.md")
    by_name = {row["name"]: row for row in result["rows"]}
    assert by_name["mean"]["verdict"] == "worse" and by_name["mean"]["vs_reference"]["interval"][1] < 0
    assert by_name["no_gating"]["verdict"] == "– (not learned at this budget)"
    assert by_name["no_gating"]["learning"]["not_learned"] is True
    # One unit in the JSON: fractions throughout (the report's tables are in AP points).
    mean_row = rows[1]
    assert by_name["mean"]["mean"]["AP"] == pytest.approx(np.mean([s["AP"] for s in mean_row.per_seed.values()]))
    assert by_name["mean"]["vs_reference"]["difference"] == pytest.approx(mean_row.verdict.difference / 100)
    assert by_name["mean"]["learning"]["curves"]["0"][-1] == [300, pytest.approx(0.098)]
    assert by_name["gnn_1_block"]["paper"]["AP"] == pytest.approx(0.324)
    assert "paired bootstrap" in result["criteria"]
    # Another reference: the user's own config.
    assess(rows, comparison(bench, reference="mean"))
    assert rows[0].status == "better" and rows[1].status == "reference"
    assert title(rows, comparison(bench, reference="mean")).startswith("# `proposed`, `gnn_1_block`, `no_gating` "
                                                                        "against `mean`")


def verdict(outcome: str) -> Verdict:
    difference = {"better": 2.0, "worse": -2.0, "undecided": 0.1}[outcome]
    return Verdict(difference, difference - 1, difference + 1, outcome, [0], {0: difference}, {})


def test_paper_orderings_from_verdicts():
    rows = [Row("proposed", "learned", paper=PAPER_ROWS["proposed"])]
    for name, outcome in (("limited_gnn", "worse"), ("simple_gate", "better"), ("gnn_3_blocks", "undecided"),
                          ("scoring_learned_head", "worse")):
        rows.append(Row(name, "learned", paper=PAPER_ROWS[name], per_seed={0: {"AP": 0.1}}, verdict=verdict(outcome),
                        status=outcome))
    rows += [Row("no_gating", "learned", paper=PAPER_ROWS["no_gating"], diverged={0: {"step": 5}}),
             Row("appearance_lstm", "learned", paper=PAPER_ROWS["appearance_lstm"], diverged={0: {"step": 5}},
                 per_seed={1: {"AP": 0.1}}),
             Row("mean", "learned")]
    paper_orderings(rows)
    by_name = {r.name: r for r in rows}
    assert by_name["limited_gnn"].ordering == "paper -6.7; ours worse: agrees" and by_name["limited_gnn"].agrees
    assert by_name["simple_gate"].ordering == "paper -3.8; ours better: disagrees"
    assert by_name["simple_gate"].agrees is False
    assert by_name["gnn_3_blocks"].ordering == "paper -0.1; ours undecided" and by_name["gnn_3_blocks"].agrees is None
    assert by_name["scoring_learned_head"].ordering == "paper ±0.0 (its proposed row)"
    assert by_name["no_gating"].ordering == "agrees: diverged" and by_name["no_gating"].agrees
    assert by_name["mean"].ordering == "–" and by_name["mean"].agrees is None


def test_rows_below_the_untrained_rule_are_named(bench):
    rule = Row("MaskTrack rule, default (alpha=2, beta=10, gamma=1)", "heuristic",
               per_seed={None: dict.fromkeys(STATS, 0.3)})
    rows = [make_row(bench, "proposed", MOST), make_row(bench, "attention", FEW), rule]
    assess(rows, comparison(bench))
    few = rows[1].mean("AP")
    assert few < 30 < rows[0].mean("AP")
    assert (f"- **Below the untrained MaskTrack rule** (30.0 AP, no learning at all): `attention` ({few:.1f})."
            in markdown(rows, comparison(bench), None, bench.work / "r.md"))


def test_changes_since_a_previous_report_give_both_differences_and_diverged_rows_say_so(bench):
    # Before: the reference had not learned (no verdicts, differences shown); now it has.
    before = [make_row(bench, "proposed", MOST, curve=(1.0, 2.0, 4.0, 6.0, 9.0)), make_row(bench, "gnn_1_block", FEW),
              make_row(bench, "attention", MOST)]
    assess(before, comparison(bench))
    previous = report_json(before, comparison(bench), report="before.md")
    assert [row["verdict"] for row in previous["rows"]] == ["reference", "– (reference not learned)",
                                                            "– (reference not learned)"]
    gated = Row("no_gating", "learned", paper=PAPER_ROWS["no_gating"], warmup_steps=50,
                diverged={0: {"step": 53, "message": "not finite"}})
    now = [make_row(bench, "proposed", MOST), make_row(bench, "gnn_1_block", FEW), make_row(bench, "attention", MOST), gated]
    assess(now, comparison(bench))
    assert gated.status == "– (diverged)"
    lines = changes_since(now, previous)
    assert lines[0].endswith("2 verdicts changed, 1 unchanged.")  # proposed stays "reference"; no_gating is new
    worse = now[1].difference
    shown = f"{worse.difference:+.1f} [{worse.low:+.1f}, {worse.high:+.1f}]"
    assert f"| gnn_1_block | – (reference not learned) | {shown} | worse | {shown} |" in lines
    assert "| attention | – (reference not learned) | +0.0 [+0.0, +0.0] | undecided | +0.0 [+0.0, +0.0] |" in lines
