"""Configs × training seeds through the protocol of :mod:`gvis.compare.benchmark`, one folder per run.

``RUNS/<config stem>/seed<k>/`` holds one run (``RUNS`` is ``WORK/runs`` unless chosen: one folder per budget).
A run is validated on the benchmark's validation set :data:`~gvis.compare.verdicts.VALIDATIONS` times
(``validation.csv``: its learning curve). A run that ended (``summary.json`` or ``diverged.json``) is skipped,
one left by an interruption resumes from its ``last.pt``, and its held-out scores (``test_scores.json``) and
results (``results_<set>.json``, for the per-video statistics) are computed once; so a sweep may be stopped
and restarted at any point. A run folder trained for another budget (``train.steps`` or
``train.time_limit_minutes`` of its ``config.yaml``) is refused rather than mixed in.

While a sweep works on a run it holds an exclusive lock on ``<run>/.lock`` (``flock``; released when the
process ends, however it ends), and a run locked by another process is skipped: several ``gvis compare``
invocations over the same configs and work folder share the runs between them (one per CPU core), and the
last one to finish reports them all.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

from gvis.compare.benchmark import (
    SCORES,
    Benchmark,
    CommandFailed,
    Runner,
    evaluate_run,
    log,
    run_outcome,
    subprocess_runner,
    train_run,
)
from gvis.compare.verdicts import validation_interval
from gvis.errors import ConfigError


def run_folder(runs: Path, stem: str, seed: int) -> Path:
    """Where the run of config ``stem`` with training seed ``seed`` lives in the runs folder ``runs``."""
    return runs / stem / f"seed{seed}"


def results_path(folder: Path, test_set: Path) -> Path:
    """The results file a run keeps for a held-out set."""
    return folder / f"results_{test_set.name}.json"


def check_budget(folder: Path, steps: int, minutes: float) -> None:
    """:class:`~gvis.errors.ConfigError` if the run in ``folder`` was started with another budget."""
    import yaml

    path = folder / "config.yaml"
    if not path.exists():
        return
    train = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("train", {})
    found = {"train.steps": train.get("steps"), "train.time_limit_minutes": train.get("time_limit_minutes")}
    wanted = {"train.steps": steps, "train.time_limit_minutes": minutes}
    differ = [f"{key}={found[key]} (asked: {value:g})" for key, value in wanted.items() if found[key] != value]
    if differ:
        raise ConfigError(f"{folder} holds a run with another budget ({', '.join(differ)}); give this budget its "
                          "own --runs folder, or delete that run")


def resolve_configs(items: Sequence[str | Path], overrides: Sequence[str] = ()) -> dict[str, Path]:
    """Training configs (paths, or names in ``configs/train/``) by file stem, as absolute paths.

    Each is loaded once with ``overrides``, so that a bad key fails before hours of training. Runs are
    kept by stem, so two different files with one stem are a :class:`~gvis.errors.ConfigError`.
    """
    from gvis.config import find_config
    from gvis.train.loop import load_train_config

    configs: dict[str, Path] = {}
    for item in items:
        path = find_config(item, "train").resolve()
        if configs.get(path.stem, path) != path:
            raise ConfigError(f"two configs named '{path.stem}' ({configs[path.stem]} and {path}); runs are kept "
                              "by file name, so rename one")
        load_train_config(path, list(overrides))
        configs[path.stem] = path
    if not configs:
        raise ConfigError("give at least one config")
    return configs


@dataclass(frozen=True)
class RunRecord:
    """What happened to one config × seed in this sweep; ``message`` says why it failed or diverged."""

    stem: str
    seed: int
    folder: Path
    status: Literal["finished", "diverged", "failed", "busy"]
    message: str = ""


@contextmanager
def run_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder/.lock`` while the block runs; yields ``False`` (and holds
    nothing) if another process has it. Without ``fcntl`` (Windows) every lock is granted."""
    try:
        import fcntl
    except ImportError:
        yield True
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()  # releases the lock


def sweep(bench: Benchmark, runs: Path, configs: dict[str, Path], seeds: Sequence[int], steps: int, minutes: float,
          overrides: Sequence[str] = (), runner: Runner = subprocess_runner) -> list[RunRecord]:
    """Train and evaluate every config for every seed in the runs folder ``runs`` (see the module docstring);
    progress on stderr.

    A run that diverges is recorded as such; one that fails otherwise is reported and the sweep goes on.
    """
    for stem, seed in itertools.product(configs, seeds):
        check_budget(run_folder(runs, stem, seed), steps, minutes)
    records = []
    total = len(configs) * len(seeds)
    for index, (stem, seed) in enumerate(itertools.product(configs, seeds), 1):
        folder = run_folder(runs, stem, seed)
        prefix = f"[{index}/{total}] {stem} seed {seed}"
        with run_lock(folder) as locked:
            if not locked:
                log(f"{prefix}: another process is on it (skipped)")
                records.append(RunRecord(stem, seed, folder, "busy"))
                continue
            record = _run(bench, configs[stem], stem, seed, folder, prefix, steps, minutes, overrides, runner)
        records.append(record)
    return records


def _run(bench: Benchmark, config: Path, stem: str, seed: int, folder: Path, prefix: str, steps: int, minutes: float,
         overrides: Sequence[str], runner: Runner) -> RunRecord:
    """Train (or resume) and evaluate one run unless done; its :class:`RunRecord`."""
    outcome = run_outcome(folder)
    try:
        if outcome is None:
            how = "resuming" if (folder / "last.pt").exists() else "training"
            log(f"{prefix}: {how} (at most {steps} steps and {minutes:g} min)")
            outcome = train_run(config, folder, bench, seed, steps, minutes, overrides, runner,
                                val_every=validation_interval(steps))
        if outcome.status == "diverged":
            log(f"{prefix}: diverged at step {outcome.record['step']}")
            return RunRecord(stem, seed, folder, "diverged", outcome.record["message"])
        if (folder / SCORES).exists() and all(results_path(folder, test).exists() for test in bench.test_sets):
            log(f"{prefix}: done before (skipped)")
        else:
            log(f"{prefix}: evaluating on {len(bench.test_sets)} held-out sets")
            evaluate_run(folder, bench, runner, force=True, results=lambda test: results_path(folder, test))
    except CommandFailed as exc:
        log(f"{prefix}: failed: {exc}")
        return RunRecord(stem, seed, folder, "failed", str(exc))
    return RunRecord(stem, seed, folder, "finished")
