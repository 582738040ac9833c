"""``gvis compare`` end to end on a tiny benchmark: the report, resumability, budgets, divergence detection."""
from __future__ import annotations

import json
import os
import re
import signal

import pytest

from gvis.cli import main
from gvis.compare.benchmark import (
    DIVERGED,
    SCORES,
    SUMMARY,
    Benchmark,
    CommandFailed,
    CommandResult,
    RunInterrupted,
    prepare,
    subprocess_runner,
    train_run,
)
from gvis.compare.sweep import run_folder, run_lock, sweep
from gvis.config import CONFIG_DIR
from gvis.errors import InputError

ABLATIONS = CONFIG_DIR / "ablations"
# A tiny model; no warm-up, so that 3-step runs are not flagged as stopped inside it.
TINY = ["model.gnn.width=16", "model.gnn.gate_hidden=8", "model.gnn.residual_hidden=8", "data.batch_size=2",
        "data.clips.length=4", "data.clips.short_videos=shorter", "model.init_threshold=-3.0", "optim.warmup_steps=0"]
COLUMNS = ["config", "changes (vs configs/train/base.yaml)", "AP", "AP50", "AP75", "AR10",
           "Δ AP vs proposed [95 % interval]", "verdict", "learned (Δ val AP, last 20 %)", "training", "steps",
           "tracker ms/frame", "parameters", "paper mAP", "paper's ordering"]


def compare_argv(work, configs, steps=3, *extra):
    argv = ["compare", *map(str, configs), "--seeds", "1", "--steps", str(steps), "--train-videos", "8",
            "--test-videos", "4", "--val-videos", "3", "--test-seeds", "1", "--synth-preset", "tiny", "--tune-grid",
            "alpha=0,2", "--tune-grid", "beta=10", "--tune-grid", "gamma=1", "--work", str(work), "--resamples", "200",
            "--in-process", "--json", *extra]
    for item in TINY:
        argv += ["--set", item]
    return argv


def table(markdown: str) -> list[list[str]]:
    """The cells of the first markdown table (its header first)."""
    block = markdown[markdown.index("\n|") + 1:].split("\n\n")[0].splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in block if not line.startswith("|---")]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One tiny sweep: proposed, one GNN block and a config whose loss is not finite at the first step (an
    offset that is finite as a config value but overflows float32; a NaN one is refused when loaded)."""
    root = tmp_path_factory.mktemp("compare")
    nan_config = root / "nan_loss.yaml"
    nan_config.write_text(f"_base_: {ABLATIONS / 'proposed.yaml'}\nmodel:\n  loglik_offset: 1.0e+39\n")
    configs = [ABLATIONS / "proposed.yaml", ABLATIONS / "gnn_1_block.yaml", nan_config]
    return root / "work", configs


def run_compare(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def test_compare_table_skip_budget_and_divergence(swept, capsys):
    work, configs = swept
    code, result, log = run_compare(capsys, compare_argv(work, configs))
    assert code == 0
    # The report, its JSON and the chart are the user's: in the work folder unless --out says otherwise.
    assert result["report"] == str(work / "compare.md") and result["json"] == str(work / "compare.json")
    markdown = (work / "compare.md").read_text()
    assert json.loads((work / "compare.json").read_text()) == result
    assert markdown.startswith("# `nan_loss` and `gnn_1_block` against `proposed` on the synthetic hard benchmark")
    cells = table(markdown)
    assert cells[0] == COLUMNS
    rows = {row[0]: row for row in cells[1:]}
    tuning = json.loads((work / "tuning.json").read_text())["best"]["values"]
    tuned = f"MaskTrack rule, tuned (alpha={tuning['alpha']}, beta={tuning['beta']}, gamma={tuning['gamma']})"
    assert list(rows) == ["proposed", "gnn_1_block", "nan_loss — diverged (1/1 seeds)", tuned,
                          "MaskTrack rule, default (alpha=2, beta=10, gamma=1)"]
    assert all(len(row) == len(COLUMNS) for row in rows.values())
    column = {name: index for index, name in enumerate(COLUMNS)}

    proposed, one_block, diverged = rows["proposed"], rows["gnn_1_block"], rows["nan_loss — diverged (1/1 seeds)"]
    assert proposed[1] == "–" and proposed[column["paper mAP"]] == "35.3 (Tables 1, 4)"
    assert proposed[column["verdict"]] == "reference" and proposed[column["steps"]] == "3"
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", proposed[2])
    assert one_block[1] == "model.gnn.blocks=[gated, residual]" and one_block[column["paper mAP"]] == "32.4 (Table 4)"
    assert one_block[column["verdict"]] in ("better", "worse", "undecided")
    assert re.fullmatch(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]", one_block[column["Δ AP vs proposed [95 % interval]"]])
    assert re.fullmatch(r"paper -2\.9; ours (better: disagrees|worse: agrees|undecided)", one_block[-1])
    assert int(one_block[column["parameters"]].replace(",", "")) < int(proposed[column["parameters"]].replace(",", ""))
    assert diverged[1] == "model.loglik_offset=1.0e+39" and diverged[2:6] == ["–"] * 4
    assert diverged[column["verdict"]] == "– (diverged)" and diverged[-1] == "–"
    # The heuristic rows are the cached held-out scores (mean over the held-out sets, in percent), with verdicts.
    default = json.loads((work / "heuristic_default.json").read_text())["test_seed1"]
    assert rows["MaskTrack rule, default (alpha=2, beta=10, gamma=1)"][2] == f"{100 * default['AP']:.1f}"
    assert rows[tuned][column["verdict"]] in ("better", "worse", "undecided")

    by_name = {row["name"]: row for row in result["rows"]}
    assert by_name["proposed"]["steps"] == [3] and by_name["proposed"]["paper"]["AP"] == pytest.approx(0.353)
    assert by_name["gnn_1_block"]["verdict"] == one_block[column["verdict"]]
    assert by_name["gnn_1_block"]["vs_reference"]["paired_seeds"] == [0]
    assert by_name["gnn_1_block"]["learning"]["not_learned"] is False
    # Validated at every step of a 3-step run (5 points at most, the last at the end).
    assert [step for step, _ in by_name["proposed"]["learning"]["curves"]["0"]] == [1, 2, 3]
    assert by_name["nan_loss"]["diverged"]["0"]["step"] == 1
    assert "not finite" in by_name["nan_loss"]["diverged"]["0"]["message"]
    assert "paired bootstrap" in result["criteria"] and result["reference"] == "proposed"
    runs = work / "runs"
    assert json.loads((runs / "nan_loss" / "seed0" / DIVERGED).read_text())["step"] == 1
    assert not (runs / "nan_loss" / "seed0" / SUMMARY).exists()
    assert (work / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![AP, differences and learning curves per config](compare.png)" in markdown

    # A second invocation trains and evaluates nothing and writes the same table.
    ended = [runs / "proposed" / "seed0" / SUMMARY, runs / "proposed" / "seed0" / SCORES,
             runs / "gnn_1_block" / "seed0" / SCORES, runs / "nan_loss" / "seed0" / DIVERGED]
    stamps = [path.stat().st_mtime_ns for path in ended]
    code, _, log = run_compare(capsys, compare_argv(work, configs))
    assert code == 0
    assert log.count("done before (skipped)") == 2 and "training" not in log and "evaluating" not in log
    assert [path.stat().st_mtime_ns for path in ended] == stamps
    assert table((work / "compare.md").read_text()) == cells

    # Another budget is refused in these run folders, and an unknown reference before anything runs.
    code, _, log = run_compare(capsys, compare_argv(work, configs, 5))
    assert code == 2 and "holds a run with another budget (train.steps=3 (asked: 5))" in log
    code, _, log = run_compare(capsys, compare_argv(work, configs, 3, "--reference", "mean"))
    assert code == 2 and "--reference mean: not one of the compared configs" in log

    # The work folder holds this benchmark only: another size is refused, not mixed in.
    with pytest.raises(InputError, match="another benchmark"):
        prepare(Benchmark(work, train_videos=9, test_videos=4, test_seeds=(1,), synth_preset="tiny"))


def test_an_interrupted_run_resumes_in_its_own_runs_folder(swept, capsys, monkeypatch):
    import gvis.train.loop as loop

    work, configs = swept
    real_step = loop.Trainer._train_step

    def interrupted(self):  # SIGTERM after step 2, as a Ctrl-C or a shutdown would
        values = real_step(self)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return values

    argv = compare_argv(work, configs[:1], 5, "--runs", str(work / "runs-5"))
    monkeypatch.setattr(loop.Trainer, "_train_step", interrupted)
    code, _, log = run_compare(capsys, argv)
    assert code == 143 and "stopped by SIGTERM at step 2; run again to resume it" in log
    monkeypatch.setattr(loop.Trainer, "_train_step", real_step)
    code, result, log = run_compare(capsys, argv)
    assert code == 0 and "proposed seed 0: resuming" in log
    folder = work / "runs-5" / "proposed" / "seed0"
    steps = [line.split(",")[0] for line in (folder / "train_log.csv").read_text().split()[1:]]
    assert steps == ["1", "2", "3", "4", "5"]
    assert result["rows"][0]["steps"] == [5] and result["runs"] == str(work / "runs-5")
    assert [step for step, _ in result["rows"][0]["learning"]["curves"]["0"]] == [1, 2, 3, 4, 5]


def fake_runner(returncode, stdout="", stderr=""):
    calls = []

    def run(argv):
        calls.append(list(argv))
        return CommandResult(returncode, stdout, stderr)

    run.calls = calls
    return run


def test_train_run_outcomes(tmp_path):
    bench = Benchmark(tmp_path)
    message = ("gvis train: error: the gradient norm is not finite at step 7 (loss=1, grad_norm=inf); stopped "
               "before updating the weights; the last good checkpoint is x/last.pt (step 5).")
    runner = fake_runner(2, stderr="train: 10%\r" + message + "\n")
    outcome = train_run("proposed", tmp_path / "a", bench, 0, 10, 1.0, runner=runner)
    assert outcome.status == "diverged" and outcome.record == {"message": message, "step": 7}
    assert train_run("proposed", tmp_path / "a", bench, 0, 10, 1.0, runner=fake_runner(0)).status == "diverged"
    assert runner.calls[0][:2] == ["train", "proposed"] and "--overwrite" in runner.calls[0]

    with pytest.raises(CommandFailed, match="no such key"):
        train_run("proposed", tmp_path / "b", bench, 0, 10, 1.0, runner=fake_runner(2, stderr="error: no such key\n"))
    assert not (tmp_path / "b" / DIVERGED).exists() and not (tmp_path / "b" / SUMMARY).exists()

    stopped = json.dumps({"step": 4, "stopped_by": "SIGTERM"})
    with pytest.raises(RunInterrupted, match="SIGTERM at step 4"):
        train_run("proposed", tmp_path / "c", bench, 0, 10, 1.0, runner=fake_runner(143, stdout=stopped))
    assert not (tmp_path / "c" / SUMMARY).exists()

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "last.pt").write_bytes(b"")
    done = json.dumps({"step": 10, "stopped_by": None, "train_seconds": 1.0})
    resumed = fake_runner(0, stdout=done)
    assert train_run("proposed", tmp_path / "d", bench, 0, 10, 1.0, runner=resumed).record["step"] == 10
    assert "--resume" in resumed.calls[0]


def test_sweep_goes_on_after_a_failed_run(tmp_path):
    bench = Benchmark(tmp_path, test_seeds=())
    runner = fake_runner(1, stderr="Traceback ...\nRuntimeError: boom\n")
    configs = {"a": tmp_path / "a.yaml", "b": tmp_path / "b.yaml"}
    records = sweep(bench, tmp_path / "runs", configs, [0, 1], 5, 1.0, runner=runner)
    assert [(r.stem, r.seed, r.status) for r in records] == [("a", 0, "failed"), ("a", 1, "failed"),
                                                             ("b", 0, "failed"), ("b", 1, "failed")]
    assert "RuntimeError: boom" in records[0].message and len(runner.calls) == 4


def test_a_run_locked_by_another_sweep_is_skipped(tmp_path):
    bench = Benchmark(tmp_path, test_seeds=())
    runner = fake_runner(1, stderr="RuntimeError: boom\n")
    configs = {"a": tmp_path / "a.yaml"}
    with run_lock(run_folder(tmp_path / "runs", "a", 1)) as locked:  # as if another gvis compare were training it
        assert locked
        records = sweep(bench, tmp_path / "runs", configs, [0, 1], 5, 1.0, runner=runner)
    assert [(r.seed, r.status) for r in records] == [(0, "failed"), (1, "busy")] and len(runner.calls) == 1
    records = sweep(bench, tmp_path / "runs", configs, [1], 5, 1.0, runner=runner)  # released: this time it runs
    assert records[0].status == "failed" and len(runner.calls) == 2


def test_subprocess_runner_reports_exit_status_and_output():
    ok = subprocess_runner(["--version"])
    assert ok.returncode == 0 and ok.stdout.startswith("gvis ")
    bad = subprocess_runner(["compare"])  # argparse: CONFIG is required
    assert bad.returncode == 2 and "required" in bad.stderr and bad.stdout == ""
