"""`gvis bench tracker` runs and prints the JSON docs/tracker.md describes (figures are not checked)."""
from __future__ import annotations

import json

from gvis.cli import main


def test_bench_tracker_json_contract(capsys):
    assert main(["bench", "tracker", "--json", "--sizes", "2x2,3x1", "--batches", "1,2", "--repeats", "1", "--no-compile"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["threads"] == 1
    impls = {(row["impl"], row["scope"]) for row in result["step"]}
    assert impls == {("pyg", "gnn"), ("dense", "gnn"), ("pyg", "step"), ("dense", "step"), ("masktrack-rule", "step")}
    for row in result["step"]:
        assert set(row) == {"impl", "scope", "tracks", "dets", "ms_per_frame"} and row["ms_per_frame"] > 0
    assert {(row["impl"], row["batch"]) for row in result["batched"]} == {(i, b) for i in ("pyg", "dense") for b in (1, 2)}
    assert all(set(row) == {"impl", "batch", "frames_per_s"} for row in result["batched"])
    assert [row["tracks"] for row in result["mask_head"]] == [2, 3]
