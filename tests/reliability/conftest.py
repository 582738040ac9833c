"""A tiny dataset with detections, copied into each test's folder, and a checker of refused commands.

Every refused command must exit 2 with exactly one ``gvis CMD: error: ...`` line on stderr (no traceback),
and leave every file of the test's folder (its inputs and earlier outputs) byte-identical, with nothing
added (no partial output, no staging folder).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from gvis.cli import main

#: The tiny training run of the resume cases: 2 steps of the tiny config, no validation.
TRAIN = ["tiny", "--no-progress", "--set", "train.steps=2", "--set", "train.checkpoint_every=1"]


def gvis(capsys, *argv) -> tuple[int, str]:
    """``gvis ARGV`` in this process: its exit code and stderr."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def lines(stderr: str) -> list[str]:
    """The lines of stderr (progress bars redraw with carriage returns)."""
    return [line.strip() for line in re.split(r"[\r\n]", stderr) if line.strip()]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path -> bytes); FIFOs and links to folders are named, not read."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files[str(path.relative_to(folder))] = path.read_bytes()
        elif not path.is_dir():
            files[str(path.relative_to(folder))] = b"<not a regular file>"
    return files


@pytest.fixture
def refused(capsys):
    """``refused(folder, argv, message)``: run ``gvis ARGV``, which must fail with one error line holding
    ``message``, exit 2 and leave ``folder`` byte-identical."""
    def check(folder: Path, argv: list, message: str) -> str:
        before = snapshot(folder)
        code, stderr = gvis(capsys, *argv)
        errors = [line for line in lines(stderr) if ": error: " in line]
        assert code == 2, stderr
        assert len(errors) == 1 and message in errors[0], stderr
        assert errors[0].startswith(f"gvis {argv[0]}: error: ") and "Traceback" not in stderr
        assert snapshot(folder) == before
        return errors[0]

    return check


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory) -> Path:
    """``data/`` (2 synthetic videos of 4-5 frames, 64x96) and ``dets.jsonl`` (simulated detections)."""
    root = tmp_path_factory.mktemp("reliability")
    assert main(["synth", "--preset", "tiny", "--videos", "2", "--seed", "5", "--out", str(root / "data"), "--set",
                 "min_frames=4", "--set", "max_frames=5", "--set", "empty_video_prob=0"]) == 0
    assert main(["detect", "--detector", "simulated", "--preset", "medium", "--data", str(root / "data"), "--out",
                 str(root / "dets.jsonl")]) == 0
    return root


@pytest.fixture
def work(tiny_set, tmp_path) -> Path:
    """A copy of the tiny set in this test's own folder."""
    shutil.copytree(tiny_set / "data", tmp_path / "data")
    shutil.copy(tiny_set / "dets.jsonl", tmp_path / "dets.jsonl")
    return tmp_path


@pytest.fixture(scope="session")
def trained_run(tiny_set, tmp_path_factory) -> Path:
    """A tiny training run stopped by SIGTERM after its first step (exit 143) and resumed to the end
    (exit 0), on detections whose cache beside them was damaged (rebuilt): ``run/``, ``dets.jsonl`` and
    ``dets.pt``, ``data/``, ``codes`` (the two exit codes)."""
    from gvis.train.loop import Trainer

    root = tmp_path_factory.mktemp("trained")
    shutil.copytree(tiny_set / "data", root / "data")
    shutil.copy(tiny_set / "dets.jsonl", root / "dets.jsonl")
    (root / "dets.pt").write_bytes(b"PK\x03\x04 a torch file cut short")
    argv = ["train", *TRAIN, "--set", f"data.train.annotations={root / 'data'}", "--set",
            f"data.train.detections={root / 'dets.jsonl'}", "--set", f"output_dir={root / 'run'}"]
    built = Trainer.__init__

    def stopped_after_one_step(self, *args, **kwargs):
        built(self, *args, **kwargs)
        self.on_step = lambda step, values: os.kill(os.getpid(), signal.SIGTERM)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "__init__", stopped_after_one_step)
        first = main(argv)
    resumed = main([*argv, "--resume"])
    (root / "codes").write_text(f"{first} {resumed}")
    return root
