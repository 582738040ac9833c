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


def test_bench_tracker_config_times_its_model_against_the_dense_reference_where_it_covers_it(capsys):
    """configs/train/tiny.yaml's scorer is not one the dense step implements: only its GNN is compared; with the
    paper's learned scorer the whole step and the batched rows are too."""
    argv = ["bench", "tracker", "--config", "tiny", "--json", "--sizes", "2x2", "--batches", "1", "--repeats", "1",
            "--no-compile"]
    for overrides, dense_scopes in (([], {"gnn"}), (["--set", "model.scorer.type=learned"], {"gnn", "step"})):
        assert main(argv + overrides) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["config"] == "tiny"
        assert {row["scope"] for row in result["step"] if row["impl"] == "dense"} == dense_scopes
        assert {row["impl"] for row in result["batched"]} == {"pyg"} | ({"dense"} if "step" in dense_scopes else set())


def test_bench_set_needs_a_config(capsys):
    assert main(["bench", "tracker", "--set", "model.gnn.width=8"]) == 2
    assert "--set needs --config" in capsys.readouterr().err
    assert main(["bench", "pipeline", "--config", "tiny"]) == 2
    assert "bench tracker or bench train" in capsys.readouterr().err
