"""Grid parsing and config edits of the baseline grid search; the runner's stream checks."""
from __future__ import annotations

import pytest

from gvis.baselines.masktrack_rule import MaskTrackRuleConfig
from gvis.baselines.runner import group_videos
from gvis.baselines.tuning import DEFAULT_GRID, GridPoint, _with_values, format_table, parse_grid
from gvis.errors import ConfigError, InputError


def test_parse_grid_replaces_and_adds_axes():
    grid = parse_grid(["alpha=0,2.5", "filtering.top_n=8,null"])
    assert grid["alpha"] == [0, 2.5] and grid["filtering.top_n"] == [8, None]
    assert grid["beta"] == DEFAULT_GRID["beta"]
    with pytest.raises(ConfigError, match="KEY=V1,V2"):
        parse_grid(["alpha"])


def test_grid_values_are_validated_config_edits():
    config = _with_values(MaskTrackRuleConfig(), {"alpha": 4, "filtering.top_n": 8})
    assert config.alpha == 4.0 and config.filtering.top_n == 8 and config.beta == 10.0
    with pytest.raises(ConfigError, match="unknown key 'delta'"):
        _with_values(MaskTrackRuleConfig(), {"delta": 1})
    with pytest.raises(ConfigError, match="alpha"):
        _with_values(MaskTrackRuleConfig(), {"alpha": "big"})


def test_table_lists_points_in_given_order():
    stats = {"AP": 0.5, "AP50": 0.75, "AP75": 0.25, "AR10": 0.6}
    table = format_table([GridPoint({"alpha": 2.0}, None, stats), GridPoint({"alpha": 0.0}, None, {**stats, "AP": 0.1})])
    lines = table.splitlines()
    assert lines[0].split() == ["alpha", "AP", "AP50", "AP75", "AR10"]
    assert lines[1].split() == ["2.0", "50.00", "75.00", "25.00", "60.00"]
    assert lines[2].split()[:2] == ["0.0", "10.00"]


def test_group_videos_checks_the_frame_stream():
    stream = [(1, 0, "a"), (1, 1, "b"), (2, 0, "c")]
    assert [(v, list(f)) for v, f in group_videos(stream)] == [(1, ["a", "b"]), (2, ["c"])]
    with pytest.raises(InputError, match="expected frame 1, got 2"):
        [list(f) for _, f in group_videos([(1, 0, "a"), (1, 2, "b")])]
    with pytest.raises(InputError, match="consecutive"):
        [list(f) for _, f in group_videos([(1, 0, "a"), (2, 0, "b"), (1, 1, "c")])]
    # A consumer that stops early still gets the next video.
    assert [v for v, _ in group_videos(stream)] == [1, 2]


def test_class_agnostic_tuning_scores_proposals_of_one_category(tiny_set, tmp_path, capsys):
    """Class-agnostic proposals (one "object" category the ground truth lacks) score 0 with the official,
    per-category AP and above 0 with --class-agnostic."""
    import json

    from gvis.cli import main
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.proposals import DenseProposalConfig, write_dense_proposals

    dataset = YTVISDataset.from_json(tiny_set / "data" / "instances.json")
    proposals = tmp_path / "p.jsonl"
    assert 99 not in {c.id for c in dataset.categories}
    write_dense_proposals(proposals, dataset, DenseProposalConfig(scores="constant", category_id=99), seed=0)
    best = {}
    for flags in ([], ["--class-agnostic"]):
        assert main(["tune-baseline", "--data", str(tiny_set / "data"), "--detections", str(proposals),
                     "--grid", "alpha=2", "--grid", "beta=10", "--grid", "gamma=1", "--json", *flags]) == 0
        best[bool(flags)] = json.loads(capsys.readouterr().out)["best"]["stats"]["AP"]
    assert best[False] == 0.0 and best[True] > 0.0


def test_best_mean_point_breaks_ties_within_the_tolerance_by_grid_order():
    from gvis.baselines.tuning import GridPoint, best_mean_point, grid_key

    grid = {"a": [1, 2], "b": ["x", "y"]}

    def run(aps):  # grid_search returns the points best first; best_mean_point must not depend on that order
        points = [GridPoint({"a": a, "b": b}, f"config {a}{b}", {"AP": ap}) for (a, b), ap in aps.items()]
        return sorted(points, key=lambda p: -p.stats["AP"])

    runs = [run({(1, "x"): 0.10, (1, "y"): 0.30, (2, "x"): 0.31, (2, "y"): 0.05}),
            run({(1, "x"): 0.10, (1, "y"): 0.20, (2, "x"): 0.19, (2, "y"): 0.05})]
    exact = best_mean_point(grid, runs)  # means 0.10, 0.25, 0.25, 0.05: an exact tie, the first in grid order
    assert exact.values == {"a": 1, "b": "y"} and exact.config == "config 1y" and exact.mean_ap == 0.25
    assert list(exact.aps) == [grid_key({"a": a, "b": b}) for a in (1, 2) for b in ("x", "y")]
    assert exact.aps[grid_key({"a": 2, "b": "x"})] == [0.31, 0.19]
    runs[1][0].stats["AP"] = 0.2001  # (1, y) now leads (2, x) by 0.00005
    assert best_mean_point(grid, runs).tied == [grid_key({"a": 1, "b": "y"})]
    runs[1][0].stats["AP"] = 0.1999  # (2, x) leads by 0.00005: strictly better, but within a tolerance of 1e-4
    assert best_mean_point(grid, runs).values == {"a": 2, "b": "x"}
    tolerant = best_mean_point(grid, runs, tolerance=1e-4)
    assert tolerant.values == {"a": 1, "b": "y"} and tolerant.tied == [grid_key({"a": 1, "b": "y"}), grid_key({"a": 2, "b": "x"})]
    with pytest.raises(ValueError, match="every run"):
        best_mean_point(grid, [runs[0][:3]])
