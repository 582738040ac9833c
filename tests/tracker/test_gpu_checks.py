"""The CPU-side parts of experiments/gpu_checks.py: the parity check run CPU against CPU, the comparison
and the page on hand-made figures, the parts' runner, and the one-line exit without CUDA."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "gpu_checks.py"


@pytest.fixture(scope="module")
def gpu_checks():
    spec = importlib.util.spec_from_file_location("gpu_checks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_the_script_prints_one_line_and_exits_1():
    """As a user runs it: a fresh interpreter, CUDA hidden, nothing else on stderr (no import warnings)."""
    import os
    import sys

    done = subprocess.run([sys.executable, str(SCRIPT), "--out", os.devnull], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(SCRIPT.parents[1])},
                          cwd=SCRIPT.parents[1], timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "gpu_checks: no CUDA device (torch.cuda.is_available() is False); nothing was run\n"


def test_without_cuda_main_returns_1_and_writes_nothing(gpu_checks, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu.md"
    assert gpu_checks.main(["--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "gpu_checks: no CUDA device (torch.cuda.is_available() is False); nothing was run\n"
    assert not out.exists()


def test_parity_of_the_cpu_with_itself_is_exact(gpu_checks):
    """The same step on the same device: every difference 0, every decision equal, the exported step too."""
    result = gpu_checks.step_parity("cpu", "cpu", cases=[(2, 3, 1), (1, 2, 2)])
    assert result["ok"]
    assert [(row["tracks"], row["dets"], row["videos"]) for row in result["rows"]] == [(2, 3, 1), (1, 2, 2)]
    for row in result["rows"]:
        for key in ("association", "initialisation", "h", "c", "class_logits", "mask_logits", "pixels", "exported"):
            assert row[key] == 0.0, key
        assert row["assigned"] is True and row["track_id"] is True


def test_parity_inputs_have_the_papers_mask_size(gpu_checks):
    model = gpu_checks.paper_model()
    state, frame = gpu_checks.parity_inputs(model, 3, 2, 2, seed=0)
    assert state.num_tracks == 6 and frame.num_detections == 4
    assert [tuple(inputs.shape) for inputs in frame.mask_inputs] == [(2, 2, 120, 216)] * 2  # 480x864 / 4


def test_compare_reports_each_kind_of_difference(gpu_checks):
    expected = {"h": torch.tensor([1.0, 2.0]), "assigned": torch.tensor([0, -1]),
                "pixels": torch.tensor([True, False, False, True])}
    same = gpu_checks.compare(expected, expected)
    assert same == {"ok": True, "h": 0.0, "assigned": True, "pixels": 0.0}
    got = {"h": torch.tensor([1.0, 2.5]), "assigned": torch.tensor([0, 1]),
           "pixels": torch.tensor([True, True, False, True])}
    assert gpu_checks.compare(got, expected) == {"ok": False, "h": 0.5, "assigned": False, "pixels": 0.25}
    small = {**expected, "h": torch.tensor([1.0, 2.0 + 5e-5])}
    assert gpu_checks.compare(small, expected)["ok"]  # within the 1e-4 tolerance
    assert gpu_checks.compare({**expected, "h": torch.zeros(3)}, expected)["h"] == "shape (3,) vs (2,)"


def test_run_part_reports_output_failure_and_timeout(gpu_checks):
    def finished(command, **kwargs):
        return subprocess.CompletedProcess(command, 0, stdout="| table |\n", stderr="progress\n")

    def failed(command, **kwargs):
        return subprocess.CompletedProcess(command, 2, stdout="", stderr="progress\ngvis bench: error: boom\n")

    def slow(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    assert gpu_checks.run_part("train", finished)["output"] == "| table |"
    assert gpu_checks.run_part("train", failed)["error"] == "exit 2: gvis bench: error: boom"
    limit = gpu_checks.LIMITS["tracker"]
    assert gpu_checks.run_part("tracker", slow) == {"ok": False, "command": gpu_checks.COMMANDS["tracker"],
                                                    "error": f"did not finish in {limit} s"}


def test_page_from_hand_made_figures(gpu_checks):
    row = {"tracks": 24, "dets": 16, "videos": 1, "ok": True, "association": 1.5e-6, "initialisation": 0.0,
           "h": 2e-7, "c": 3e-7, "class_logits": 1e-6, "mask_logits": 4e-6, "pixels": 0.0, "assigned": True,
           "track_id": True, "exported": 0.0}
    parity = {"device": "Fake GPU", "reference": "Fake CPU", "tolerance": 1e-4, "pixel_tolerance": 1e-4,
              "rows": [row], "ok": True}
    command = gpu_checks.COMMANDS
    parts = {"tracker": {"ok": True, "command": command["tracker"], "seconds": 61.2, "output": "| tracker table |"},
             "train": {"ok": False, "command": command["train"], "error": "did not finish in 120 s"},
             "pipeline": {"ok": True, "command": command["pipeline"], "seconds": 90.0, "output": "| fps table |"}}
    page = gpu_checks.render_page(parity, parts, "2026-12-06", "abc123")
    assert page.startswith("# GPU checks (`experiments/gpu_checks.py`)\n\nFake GPU; 2026-12-06, git abc123.")
    assert "## Parity of the tracker step, CUDA against CPU: passed" in page
    assert "| 24x16x1 | 1.5e-06 | 0 | 2e-07 | 3e-07 | 1e-06 | 4e-06 | 0 | yes | 0 | yes |" in page
    assert "`python -m gvis bench tracker --device cuda` (61 s)\n\n| tracker table |" in page
    assert "`python -m gvis bench train --device cuda`: **failed**, did not finish in 120 s." in page
    assert "Written to the GPU section of [pipeline.md](pipeline.md).\n\n| fps table |" in page
    header = next(line for line in page.splitlines() if line.startswith("| tracks x dets x videos"))
    rule = page.splitlines()[page.splitlines().index(header) + 1]
    assert rule.count("---") == header.count("|") - 1
