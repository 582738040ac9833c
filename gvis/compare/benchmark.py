"""The benchmark protocol of the learning proof (docs/ablations.md), stage by stage, shared by ``gvis compare`` and
``experiments/learning_proof.py``.

A work folder ``WORK`` holds (each stage is skipped when its output exists, so a run may be interrupted and resumed):

============================================  ====================================================================
``WORK/train/``, ``WORK/test_seed{k}/``,      ``instances.json``, ``JPEGImages/``, ``dets.jsonl``, ``dets.pt``
``WORK/val/``                                 (``gvis synth`` + ``gvis detect --detector simulated --cache``)
``WORK/tuning.json``, ``masktrack_tuned.yaml``  ``gvis tune-baseline`` on ``WORK/train``
``WORK/heuristic_{tuned,default}.json``       the MaskTrack rule's 12 stats per held-out set
``WORK/results/``                             the rule's results files
a run folder (any path)                       the files of ``gvis train`` (with ``validation.csv`` when validated
                                              on ``WORK/val``), then ``summary.json`` (its JSON summary: the run
                                              finished) or ``diverged.json`` (it stopped on a non-finite loss), and
                                              ``test_scores.json`` (``gvis eval-tracker`` per held-out set; with
                                              ``results_<set>.json`` when the results are kept)
============================================  ====================================================================

Every stage runs a ``gvis`` sub-command through a :data:`Runner` (``argv`` → :class:`CommandResult`): by
default :func:`subprocess_runner`, a fresh process (``python -m gvis``) with one OpenMP thread (the CPU is
shared), exactly what a user would type. A caller may pass its own runner (``gvis compare --in-process`` runs
the commands in its own process); this module never imports the command line.
"""
from __future__ import annotations

import codecs
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from gvis.engine.signals import handling_signals
from gvis.errors import EXIT_SIGINT, EXIT_SIGTERM, STOPPED_EXIT_CODES, ConfigError, GvisError, InputError
from gvis.io import write_json_atomic

#: Files of a run folder.
SUMMARY, DIVERGED, SCORES = "summary.json", "diverged.json", "test_scores.json"
#: How ``gvis train`` reports a non-finite loss or gradient (``gvis.engine.optim.TrainingDiverged``).
DIVERGED_PATTERN = re.compile(r"is not finite at step (\d+)")
#: The held-out stats every report shows.
STATS = ("AP", "AP50", "AP75", "AR10")
#: Characters of a command's stderr kept for error messages.
STDERR_TAIL = 4000


def log(message: str) -> None:
    """Progress for the user, on stderr (stdout is kept for ``--json``)."""
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ commands
@dataclass(frozen=True)
class CommandResult:
    """``returncode``, the whole ``stdout`` and the tail of ``stderr`` of one ``gvis`` command."""

    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str]], CommandResult]


class CommandFailed(GvisError):
    """A ``gvis`` sub-command of the protocol exited with an error."""


class RunInterrupted(GvisError):
    """A training run was stopped by a signal; it resumes from its ``last.pt`` next time.
    ``exit_code``: the run's (130 for SIGINT, else 143)."""

    def __init__(self, message: str, exit_code: int = EXIT_SIGTERM) -> None:
        super().__init__(message)
        self.exit_code = exit_code if exit_code in STOPPED_EXIT_CODES else EXIT_SIGTERM


def run_experiment(main: Callable[[], Any]) -> int:
    """Run an ``experiments/`` script's ``main``; its exit code. A training run stopped by a signal (or
    Ctrl-C here) ends the script with 130 / 143 and a note that running it again resumes."""
    try:
        main()
    except RunInterrupted as stopped:
        print(f"stopped: {stopped}", file=sys.stderr)
        return stopped.exit_code
    except KeyboardInterrupt:
        print("stopped by Ctrl-C; run the same command again to resume", file=sys.stderr)
        return EXIT_SIGINT
    return 0


def subprocess_runner(argv: Sequence[str]) -> CommandResult:
    """``python -m gvis ARGV`` in a fresh process with ``OMP_NUM_THREADS=1``.

    Its stderr (progress bars, errors) goes through to ours as it comes; stdout is returned. The child runs
    in its own session and a SIGINT (Ctrl-C), SIGTERM or SIGHUP sent here is passed on to it once per signal
    (SIGHUP as SIGTERM): ``gvis train`` then stops at the next step boundary and saves ``last.pt`` (a second
    Ctrl-C aborts it), and ``KeyboardInterrupt`` is raised here once the child has exited. So the child
    never outlives this process to write into a run folder that a later invocation resumes.
    """
    argv = [str(a) for a in argv]
    log("$ gvis " + " ".join(argv))
    process = subprocess.Popen([sys.executable, "-m", "gvis", *argv], env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    tail: list[str] = []
    tee = threading.Thread(target=_tee_stderr, args=(process.stderr, tail), daemon=True)
    tee.start()
    with _forward_signals(process) as received:
        stdout = process.stdout.read()
        process.wait()
    tee.join()
    if received:
        raise KeyboardInterrupt
    return CommandResult(process.returncode, stdout.decode("utf-8", "replace"), "".join(tail)[-STDERR_TAIL:])


@contextmanager
def _forward_signals(process: subprocess.Popen) -> Iterator[list[int]]:
    """While the block runs, pass SIGINT / SIGTERM / SIGHUP on to ``process`` instead of acting on them;
    yields the list of those received. Signal handlers exist only in the main thread: elsewhere nothing
    is installed."""
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        if not received:
            log("stopping: waiting for the running gvis command to save and exit (Ctrl-C again to abort it)")
        received.append(signum)
        process.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    signums = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    with handling_signals(signums, forward):
        yield received


def _tee_stderr(stream: Any, tail: list[str]) -> None:
    """Copy a child's stderr to ours chunk by chunk (progress bars redraw with ``\\r``), keeping its tail."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while chunk := os.read(stream.fileno(), 4096):
        text = decoder.decode(chunk)
        sys.stderr.write(text)
        sys.stderr.flush()
        tail.append(text)
        if len(tail) > 64:
            tail[:] = ["".join(tail)[-STDERR_TAIL:]]


def gvis(argv: Sequence[Any], runner: Runner) -> str:
    """Run ``gvis ARGV`` with ``runner``; its stdout, or :class:`CommandFailed` with the error's last line."""
    argv = [str(a) for a in argv]
    result = runner(argv)
    if result.returncode != 0:
        raise CommandFailed(f"gvis {argv[0]} failed (exit {result.returncode}): {_last_line(result.stderr)}")
    return result.stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def cached_json(path: Path, force: bool, make: Callable[[], Any]) -> Any:
    """``make()``'s JSON, kept (atomically) in ``path`` and read from there by later calls."""
    if force or not path.exists():
        write_json_atomic(path, make(), indent=2)
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class Benchmark:
    """The data of one work folder: a training set, held-out sets and optionally a small validation set of
    ``gvis synth`` videos with simulated detections. Defaults are the learning proof's (``preset`` hard, 200
    training videos of generator seed 0, 50 held-out videos for each of the seeds 1, 2, 3, no validation set);
    ``gvis compare`` adds ``val_videos`` validation videos of generator seed ``val_seed`` (learning curves
    during training; never used to choose anything).

    ``synth_preset`` overrides the generator preset only (default: ``preset``; tests use tiny frames with
    the hard detector).
    """

    work: Path
    preset: str = "hard"
    train_videos: int = 200
    test_videos: int = 50
    test_seeds: tuple[int, ...] = (1, 2, 3)
    train_seed: int = 0
    synth_preset: str | None = None
    val_videos: int = 0
    val_seed: int = 100

    @property
    def train_set(self) -> Path:
        return self.work / "train"

    @property
    def test_sets(self) -> list[Path]:
        return [self.work / f"test_seed{seed}" for seed in self.test_seeds]

    @property
    def val_set(self) -> Path:
        return self.work / "val"

    @property
    def tuned_yaml(self) -> Path:
        return self.work / "masktrack_tuned.yaml"

    def describe(self) -> str:
        synth = self.synth_preset or self.preset
        seeds = f"seed{'s' if len(self.test_seeds) > 1 else ''} {', '.join(map(str, self.test_seeds))}"
        return (f"{self.train_videos} `gvis synth --preset {synth}` training videos (generator seed {self.train_seed}) "
                f"with `gvis detect --detector simulated --preset {self.preset}` detections; {self.test_videos} "
                f"held-out videos from each of the generator {seeds} with their own simulated detections"
                + (f"; learning curves on {self.val_videos} validation videos of generator seed {self.val_seed}"
                   if self.val_videos else ""))


def prepare(bench: Benchmark, runner: Runner = subprocess_runner, force: bool = False) -> None:
    """Make (or check) the training set, every held-out set and the validation set (if any)."""
    if bench.val_videos and bench.val_seed in (bench.train_seed, *bench.test_seeds):
        raise ConfigError(f"the validation set's generator seed {bench.val_seed} is also a training or held-out "
                          "seed; choose other held-out seeds")
    bench.work.mkdir(parents=True, exist_ok=True)
    synth = bench.synth_preset or bench.preset
    make_set(bench.train_set, bench.train_videos, bench.train_seed, synth, bench.preset, runner, force)
    for seed, folder in zip(bench.test_seeds, bench.test_sets):
        make_set(folder, bench.test_videos, seed, synth, bench.preset, runner, force)
    if bench.val_videos:
        make_set(bench.val_set, bench.val_videos, bench.val_seed, synth, bench.preset, runner, force)


def make_set(folder: Path, videos: int, seed: int, synth_preset: str, detector_preset: str,
             runner: Runner = subprocess_runner, force: bool = False) -> None:
    """``folder`` with ``videos`` synthetic videos of generator ``seed`` and their cached detections.

    A set already there is reused if it is the one asked for (preset, seed and video count of its
    ``instances.json`` and detections); another one raises :class:`~gvis.errors.InputError` rather than
    mixing two benchmarks in one work folder.
    """
    annotations, detections = folder / "instances.json", folder / "dets.jsonl"
    if force or not annotations.exists():
        gvis(["synth", "--preset", synth_preset, "--videos", videos, "--seed", seed, "--out", folder, "--overwrite"],
             runner)
    else:
        info = json.loads(annotations.read_text(encoding="utf-8")).get("info", {})
        _check_same(annotations, "info", {"preset": synth_preset, "seed": seed, "num_videos": videos}, info)
    if force or not (folder / "dets.pt").exists():
        gvis(["detect", "--detector", "simulated", "--preset", detector_preset, "--data", folder, "--out", detections,
              "--seed", seed, "--cache"], runner)
    else:
        with open(detections, encoding="utf-8") as handle:
            meta = json.loads(handle.readline()).get("meta", {})
        _check_same(detections, "meta", {"detector": "simulated", "preset": detector_preset, "seed": seed}, meta)


def _check_same(path: Path, field: str, wanted: dict[str, Any], found: dict[str, Any]) -> None:
    differ = {key: found.get(key) for key, value in wanted.items() if found.get(key) != value}
    if differ:
        raise InputError(f"this work folder holds another benchmark ({differ}; this one needs "
                         f"{ {key: wanted[key] for key in differ} }); use another --work or delete {path.parent}",
                         file=path, field=field)


# ------------------------------------------------------------------------------------------ the heuristic
#: The MaskTrack R-CNN rule's reference rows: its config file (``None``: its own defaults α 2, β 10, γ 1).
HEURISTICS = ("tuned", "default")


def tune_heuristic(bench: Benchmark, runner: Runner = subprocess_runner, force: bool = False,
                   grid: Sequence[str] = (), detections: Path | None = None, folder: Path | None = None) -> dict:
    """``gvis tune-baseline`` on the training set (``grid``: ``KEY=V1,V2`` axes replacing the default grid;
    ``detections``: those of the training set tuned on, default its simulated ones); its JSON plus ``seconds``
    (wall time), cached in ``FOLDER/tuning.json``; the best config in ``FOLDER/masktrack_tuned.yaml``
    (``folder``: default ``WORK``, where :meth:`Benchmark.tuned_yaml` is)."""
    train = bench.train_set
    folder = bench.work if folder is None else folder
    axes = [item for axis in grid for item in ("--grid", axis)]
    tuned_on = train / "dets.jsonl" if detections is None else detections
    command = ["tune-baseline", "--data", train, "--detections", tuned_on, "--out", folder / bench.tuned_yaml.name,
               "--json", *axes]

    def make() -> dict:
        start = time.perf_counter()
        return {**json.loads(gvis(command, runner)), "seconds": time.perf_counter() - start}

    return cached_json(folder / "tuning.json", force, make)


def evaluate_heuristic(bench: Benchmark, name: str, runner: Runner = subprocess_runner, force: bool = False) -> dict:
    """The MaskTrack rule (``name`` in :data:`HEURISTICS`) on every held-out set: ``{set: 12 stats}``, cached in
    ``WORK/heuristic_<name>.json``; results files in ``WORK/results/masktrack_<name>_<set>.json``."""
    config = ["--config", bench.tuned_yaml] if name == "tuned" else []

    def make() -> dict:
        scores = {}
        for folder in bench.test_sets:
            results = bench.work / "results" / f"masktrack_{name}_{folder.name}.json"
            gvis(["track", "--tracker", "masktrack-rule", *config, "--detections", folder / "dets.jsonl",
                  "--results", results], runner)
            scores[folder.name] = json.loads(gvis(["eval", folder / "instances.json", results, "--json"], runner))
        return scores

    return cached_json(bench.work / f"heuristic_{name}.json", force, make)


# ------------------------------------------------------------------------------------------ learned runs
@dataclass(frozen=True)
class RunOutcome:
    """How a training run ended: ``finished`` (``record`` = the ``gvis train --json`` summary) or ``diverged``
    (``record`` = ``{"message", "step"}``, the trainer's message and the step whose loss was not finite)."""

    folder: Path
    status: Literal["finished", "diverged"]
    record: dict


def run_outcome(folder: Path) -> RunOutcome | None:
    """The outcome recorded in a run folder, ``None`` if the run has not ended (never started or interrupted)."""
    for status, name in (("finished", SUMMARY), ("diverged", DIVERGED)):
        path = folder / name
        if path.exists():
            return RunOutcome(folder, status, json.loads(path.read_text(encoding="utf-8")))
    return None


def train_run(config: str | Path, folder: Path, bench: Benchmark, seed: int, steps: int, minutes: float,
              overrides: Sequence[str] = (), runner: Runner = subprocess_runner, force: bool = False,
              val_every: int = 0) -> RunOutcome:
    """``gvis train CONFIG`` on the training set into ``folder`` (training ``seed``, at most ``steps`` steps and
    ``minutes`` of training; validated on the validation set every ``val_every`` steps and at the end, 0: never),
    unless it has ended before.

    A run left by an interruption (``last.pt`` but no outcome) continues with ``--resume``; ``force`` starts
    afresh. A non-finite loss is an outcome (``diverged.json``), not an error; any other failure raises
    :class:`CommandFailed`; a run stopped by a signal raises :class:`RunInterrupted`.
    """
    if not force and (ended := run_outcome(folder)) is not None:
        return ended
    for name in (SUMMARY, DIVERGED, SCORES):
        (folder / name).unlink(missing_ok=True)
    train = bench.train_set
    options = [f"data.train.annotations={train}", f"data.train.detections={train / 'dets.pt'}", f"seed={seed}",
               f"output_dir={folder}", f"train.steps={steps}", f"train.time_limit_minutes={minutes}",
               f"train.val_every={val_every}", *overrides]
    if val_every:
        options[:0] = [f"data.val.annotations={bench.val_set}", f"data.val.detections={bench.val_set / 'dets.pt'}"]
    resume = "--resume" if (folder / "last.pt").exists() and not force else "--overwrite"
    argv = ["train", str(config), *(item for option in options for item in ("--set", option)), resume, "--json",
            "--no-progress"]
    result = runner(argv)
    if result.returncode in STOPPED_EXIT_CODES or result.returncode < 0:  # stopped by a signal: resumable
        try:  # a run that saved and exited printed its summary; a killed one nothing
            summary = json.loads(result.stdout)
            how = f"by {summary['stopped_by']} at step {summary['step']}"
        except ValueError:
            how = f"(exit {result.returncode})"
        raise RunInterrupted(f"training in {folder} was stopped {how}; run again to resume it", result.returncode)
    if result.returncode != 0:
        diverged = DIVERGED_PATTERN.search(result.stderr)
        if diverged is None:
            raise CommandFailed(f"gvis train {config} (seed {seed}) failed (exit {result.returncode}): "
                                f"{_last_line(result.stderr)}")
        line = next(line for line in result.stderr.splitlines() if DIVERGED_PATTERN.search(line))
        record = {"message": line.strip(), "step": int(diverged.group(1))}
        write_json_atomic(folder / DIVERGED, record, indent=2)
        return RunOutcome(folder, "diverged", record)
    summary = json.loads(result.stdout)
    write_json_atomic(folder / SUMMARY, summary, indent=2)
    return RunOutcome(folder, "finished", summary)


def evaluate_run(folder: Path, bench: Benchmark, runner: Runner = subprocess_runner, force: bool = False,
                 detections: Callable[[Path], Path] = lambda test: test / "dets.jsonl",
                 results: Callable[[Path], Path] | None = None, model: Path | None = None,
                 flags: Sequence[str] = ()) -> dict:
    """:func:`checkpoint_scores` of ``model`` (default ``folder/model.pt``), cached in ``folder/test_scores.json``."""
    return checkpoint_scores(folder / "model.pt" if model is None else model, bench, folder / SCORES, runner, force,
                             detections, results, flags)


def checkpoint_scores(checkpoint: Path, bench: Benchmark, cache: Path, runner: Runner = subprocess_runner,
                      force: bool = False, detections: Callable[[Path], Path] = lambda test: test / "dets.jsonl",
                      results: Callable[[Path], Path] | None = None, flags: Sequence[str] = ()) -> dict:
    """``gvis eval-tracker`` of ``checkpoint`` on every held-out set: ``{set: {"stats", "fps", "frames"}}``,
    cached in ``cache``. ``detections(set folder)``: the detections tracked (default: the benchmark's simulated
    ones); ``results(set folder)``: where to keep the results too (default: nowhere); ``flags``: further
    options of ``gvis eval-tracker`` (e.g. ``--class-agnostic``)."""
    return cached_json(cache, force, lambda: {
        test.name: json.loads(gvis(["eval-tracker", "--checkpoint", checkpoint, "--data", test,
                                    "--detections", detections(test), "--json", *flags,
                                    *([] if results is None else ["--results", results(test)])], runner))
        for test in bench.test_sets})
