"""``gvis compare`` end to end on a tiny benchmark, its resumability, divergence detection and the table."""
from __future__ import annotations

import json
import re

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
from gvis.compare.paper import PAPER_ROWS
from gvis.compare.report import Row, compare_orderings
from gvis.compare.sweep import run_folder, run_lock, sweep
from gvis.config import CONFIG_DIR
from gvis.errors import InputError

ABLATIONS = CONFIG_DIR / "ablations"
TINY = ["model.gnn.width=16", "model.gnn.gate_hidden=8", "model.gnn.residual_hidden=8", "data.batch_size=2",
        "data.clips.length=4", "data.clips.short_videos=shorter", "model.init_threshold=-3.0"]
COLUMNS = ["config", "changes (vs configs/train/base.yaml)", "AP", "AP50", "AP75", "AR10", "training", "steps",
           "tracker ms/frame", "parameters", "paper mAP", "vs proposed: paper / ours"]


def compare_argv(work, configs, steps=3):
    argv = ["compare", *map(str, configs), "--seeds", "1", "--steps", str(steps), "--train-videos", "8",
            "--test-videos", "4", "--test-seeds", "1", "--synth-preset", "tiny", "--tune-grid", "alpha=0,2",
            "--tune-grid", "beta=10", "--tune-grid", "gamma=1", "--work", str(work), "--out", str(work / "ab.md"),
            "--png", str(work / "ab.png"), "--in-process", "--json"]
    for item in TINY:
        argv += ["--set", item]
    return argv


def table(markdown: str) -> list[list[str]]:
    """The cells of the first markdown table."""
    lines = [line for line in markdown.split("\n\n")[2].splitlines()]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("|---")]


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
    return code, json.loads(captured.out), captured.err


def test_compare_table_skip_resume_and_divergence(swept, capsys):
    work, configs = swept
    code, result, log = run_compare(capsys, compare_argv(work, configs))
    assert code == 0
    markdown = (work / "ab.md").read_text()
    cells = table(markdown)
    assert cells[0] == COLUMNS
    rows = {row[0]: row for row in cells[1:]}
    tuning = json.loads((work / "tuning.json").read_text())["best"]["values"]
    tuned = f"MaskTrack rule, tuned (alpha={tuning['alpha']}, beta={tuning['beta']}, gamma={tuning['gamma']})"
    assert list(rows) == ["proposed", "gnn_1_block", "nan_loss — diverged (1/1 seeds)", tuned,
                          "MaskTrack rule, default (alpha=2, beta=10, gamma=1)"]
    assert all(len(row) == len(COLUMNS) for row in rows.values())

    proposed, one_block, diverged = rows["proposed"], rows["gnn_1_block"], rows["nan_loss — diverged (1/1 seeds)"]
    assert proposed[1] == "–" and proposed[-2] == "35.3 (Tables 1, 4)" and proposed[-1] == "reference"
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", proposed[2]) and proposed[7] == "3"
    assert one_block[1] == "model.gnn.blocks=[gated, residual]" and one_block[-2] == "32.4 (Table 4)"
    assert re.fullmatch(r"paper -2\.9, ours [+-]\d+\.\d: (agrees|disagrees)( \(within noise\))?", one_block[-1])
    assert int(one_block[9].replace(",", "")) < int(proposed[9].replace(",", ""))  # fewer parameters
    assert diverged[1] == "model.loglik_offset=1.0e+39" and diverged[2:8] == ["–"] * 6
    assert diverged[-1] == "– (no paper number)"
    # The heuristic rows are the cached held-out scores (mean over the held-out sets, in percent).
    default = json.loads((work / "heuristic_default.json").read_text())["test_seed1"]
    assert rows["MaskTrack rule, default (alpha=2, beta=10, gamma=1)"][2] == f"{100 * default['AP']:.1f}"

    by_name = {row["name"]: row for row in result["rows"]}
    assert by_name["proposed"]["steps"] == [3] and by_name["proposed"]["paper"]["AP"] == 35.3
    assert by_name["nan_loss"]["diverged"]["0"]["step"] == 1
    assert "not finite" in by_name["nan_loss"]["diverged"]["0"]["message"]
    runs = work / "runs"
    assert json.loads((runs / "nan_loss" / "seed0" / DIVERGED).read_text())["step"] == 1
    assert not (runs / "nan_loss" / "seed0" / SUMMARY).exists()
    assert (work / "ab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![AP per config](ab.png)" in markdown

    # A second invocation trains and evaluates nothing and writes the same table.
    ended = [runs / "proposed" / "seed0" / SUMMARY, runs / "proposed" / "seed0" / SCORES,
             runs / "gnn_1_block" / "seed0" / SCORES, runs / "nan_loss" / "seed0" / DIVERGED]
    stamps = [path.stat().st_mtime_ns for path in ended]
    code, _, log = run_compare(capsys, compare_argv(work, configs))
    assert code == 0
    assert log.count("done before (skipped)") == 2 and "training" not in log and "evaluating" not in log
    assert [path.stat().st_mtime_ns for path in ended] == stamps
    assert table((work / "ab.md").read_text()) == cells

    # An interrupted run (last.pt, no outcome) resumes where it stopped.
    for name in (SUMMARY, SCORES):
        (runs / "proposed" / "seed0" / name).unlink()
    code, result, log = run_compare(capsys, compare_argv(work, configs[:1], steps=5))
    assert code == 0 and "proposed seed 0: resuming" in log
    steps = [line.split(",")[0] for line in (runs / "proposed" / "seed0" / "train_log.csv").read_text().split()[1:]]
    assert steps == ["1", "2", "3", "4", "5"]
    assert result["rows"][0]["steps"] == [5]

    # The work folder holds this benchmark only: another size is refused, not mixed in.
    with pytest.raises(InputError, match="another benchmark"):
        prepare(Benchmark(work, train_videos=9, test_videos=4, test_seeds=(1,), synth_preset="tiny"))


def row(name, aps, diverged=()):
    result = Row(name, "learned", paper=PAPER_ROWS.get(name))
    result.per_seed = {seed: {"AP": ap} for seed, ap in enumerate(aps)}
    result.diverged = {seed: {"step": 1} for seed in diverged}
    return result


def test_orderings_against_the_paper():
    rows = [row("proposed", [0.30, 0.32]), row("limited_gnn", [0.20, 0.22]), row("simple_gate", [0.35, 0.36]),
            row("gnn_3_blocks", [0.305, 0.311]), row("no_gating", [], diverged=[0, 1]),
            row("no_appearance", [], diverged=[0]), row("attention", [0.4]), row("scoring_learned_head", [0.25]),
            row("mlp_node_updates", []), row("appearance_lstm", [0.2], diverged=[1])]
    compare_orderings(rows)
    by_name = {r.name: r for r in rows}
    assert by_name["proposed"].ordering == "reference"
    # 21.0 vs 31.0: paper 28.6 - 35.3 = -6.7.
    assert by_name["limited_gnn"].ordering == "paper -6.7, ours -10.0: agrees" and by_name["limited_gnn"].agrees
    assert by_name["simple_gate"].ordering == "paper -3.8, ours +4.5: disagrees"
    # 30.8 vs 31.0: below, by less than proposed's std (1.41).
    assert by_name["gnn_3_blocks"].ordering == "paper -0.1, ours -0.2: agrees (within noise)"
    assert by_name["no_gating"].ordering == "agrees: diverged" and by_name["no_gating"].agrees
    assert by_name["no_appearance"].ordering == "paper -0.8, ours diverged: disagrees"
    assert by_name["attention"].ordering == "– (no paper number)" and by_name["attention"].agrees is None
    assert by_name["scoring_learned_head"].ordering == "paper ±0.0 (its proposed row), ours -6.0"
    assert by_name["scoring_learned_head"].agrees is None
    assert by_name["mlp_node_updates"].ordering == "– (not run)" and by_name["mlp_node_updates"].agrees is None
    # A seed that diverged does not count as a result; the others do.
    assert by_name["appearance_lstm"].ordering == "paper -1.3, ours -11.0: agrees"


def test_partly_diverged_no_gating_is_not_counted():
    rows = [row("proposed", [0.30]), row("no_gating", [0.2, 0.25], diverged=[2])]
    compare_orderings(rows)
    assert rows[1].ordering == "partly: 1 of 3 seeds diverged" and rows[1].agrees is None


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
    with pytest.raises(RunInterrupted, match="stopped \\(exit 143\\)"):
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
    records = sweep(bench, configs, [0, 1], 5, 1.0, runner=runner)
    assert [(r.stem, r.seed, r.status) for r in records] == [("a", 0, "failed"), ("a", 1, "failed"),
                                                             ("b", 0, "failed"), ("b", 1, "failed")]
    assert "RuntimeError: boom" in records[0].message and len(runner.calls) == 4


def test_a_run_locked_by_another_sweep_is_skipped(tmp_path):
    bench = Benchmark(tmp_path, test_seeds=())
    runner = fake_runner(1, stderr="RuntimeError: boom\n")
    configs = {"a": tmp_path / "a.yaml"}
    with run_lock(run_folder(tmp_path, "a", 1)) as locked:  # as if another gvis compare were training it
        assert locked
        records = sweep(bench, configs, [0, 1], 5, 1.0, runner=runner)
    assert [(r.seed, r.status) for r in records] == [(0, "failed"), (1, "busy")] and len(runner.calls) == 1
    records = sweep(bench, configs, [1], 5, 1.0, runner=runner)  # released: this time it runs
    assert records[0].status == "failed" and len(runner.calls) == 2


def test_subprocess_runner_reports_exit_status_and_output():
    ok = subprocess_runner(["--version"])
    assert ok.returncode == 0 and ok.stdout.startswith("gvis ")
    bad = subprocess_runner(["compare"])  # argparse: CONFIG is required
    assert bad.returncode == 2 and "required" in bad.stderr and bad.stdout == ""
