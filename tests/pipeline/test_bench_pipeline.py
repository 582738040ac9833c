"""``gvis bench pipeline --json``: the shape docs/pipeline.md describes (figures are not checked: no timed tests)."""
from __future__ import annotations

import json

from gvis.cli import main


def test_bench_pipeline_json_shape(capsys):
    code = main(["bench", "pipeline", "--backbones", "resnet18", "--sizes", "64x96", "--frames", "2", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result["device"], str) and result["threads"] >= 1
    (row,) = result["rows"]
    assert row["backbone"] == "resnet18" and row["size"] == [64, 96] and row["frames"] == 2
    assert set(row["ms"]) == {"detector", "appearance", "tracker", "post", "io"}
    assert all(value > 0 for value in row["ms"].values())
    compute = sum(row["ms"][k] for k in ("detector", "appearance", "tracker", "post"))
    assert abs(row["fps_end_to_end"] - 1000 / compute) < 0.01 * row["fps_end_to_end"]
    assert row["fps_with_io"] < row["fps_end_to_end"]
    # Random weights, thresholds at 0: top_n = 16 detections a frame; the 24 track slots full after the warm-up.
    assert row["detections_per_frame"] == 16 and row["tracks_per_frame"] == 24


def test_bench_pipeline_bad_arguments(capsys):
    for argv, message in [(["--backbones", "vgg"], "unknown backbone 'vgg'"), (["--sizes", "8x8"], "at least 32"),
                          (["--frames", "0"], "at least 1")]:
        assert main(["bench", "pipeline", *argv]) == 2
        assert message in capsys.readouterr().err
