"""A built wheel carries the shipped configs and checkpoints and runs without the checkout.

The wheel is built once (no network: the environment's setuptools, no build isolation), installed with
``pip install --no-deps --target``, and its ``gvis`` run from an empty folder with only that target and the
environment's third-party packages (torch, ...) on the path: ``python -S`` skips ``site``, so the editable
install of the checkout cannot answer an import.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import torch

from gvis.cli import main

REPO = Path(__file__).resolve().parents[2]
SHARED_MANIFEST = REPO.parent / "shared" / "data" / "real" / "MANIFEST.sha256"
#: Not part of the source a wheel is built from (``.gitignore``'s outputs, the environment, git).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "runs", "scratch", "demo_out",
                                    ".pytest_cache", "__pycache__", ".whl")
#: The tiny set: 2 synthetic videos of 4-5 frames, 64x96.
SYNTH = ["synth", "--preset", "tiny", "--videos", "2", "--seed", "5", "--out", "data", "--set", "min_frames=4",
         "--set", "max_frames=5", "--set", "empty_video_prob=0"]
DETECT = ["detect", "--detector", "simulated", "--preset", "medium", "--data", "data", "--out", "dets.jsonl"]
TRACK_LEARNED = ["track", "data", "--detections", "dets.jsonl", "--results", "learned.json"]
EVAL = ["eval", "data/instances.json", "learned.json", "--json"]

pytestmark = [pytest.mark.wheel, pytest.mark.slow]


def _can_build() -> bool:
    """pip, and setuptools' build backend with its own ``bdist_wheel`` (setuptools >= 70.1) or the ``wheel``
    package; asked of the installed metadata (importing setuptools here would replace distutils)."""
    def version(name: str) -> tuple[int, ...] | None:
        try:
            return tuple(int(part) for part in metadata.version(name).split(".")[:2])
        except (metadata.PackageNotFoundError, ValueError):
            return None

    setuptools = version("setuptools")
    return version("pip") is not None and setuptools is not None and (setuptools >= (70, 1)
                                                                      or version("wheel") is not None)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the checkout's source (so no stale ``build/`` can leak into it)."""
    if not _can_build():
        pytest.skip("no pip, or no setuptools build backend with bdist_wheel, in this environment")
    root = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, root / "source", ignore=NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--no-cache-dir", "--quiet", "-w", str(root / "dist"), str(root / "source")], check=True)
    (built,) = (root / "dist").glob("gvis-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> "Installed":
    root = tmp_path_factory.mktemp("installed")
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir", "--quiet",
                    "--target", str(target), str(wheel)], check=True)
    (root / "work").mkdir()
    if shutil.which("git"):  # as when an environment lives inside the user's own project, a repository not gvis's
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "-c", "user.name=user", "-c", "user.email=user@example.com", "commit",
                        "-q", "--allow-empty", "-m", "the user's project"], check=True)
    return Installed(target, root / "work")


class Installed:
    """The wheel installed in ``target``, run by ``python -S`` in the empty folder ``cwd`` with only ``target``
    and the environment's third-party packages on the path."""

    def __init__(self, target: Path, cwd: Path) -> None:
        paths = sysconfig.get_paths()
        third_party = dict.fromkeys([paths["purelib"], paths["platlib"]])
        self.target, self.cwd = target, cwd
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *third_party]), "OMP_NUM_THREADS": "1"}

    def python(self, *argv: str) -> str:
        """stdout of ``python -S ARGV``, which must succeed."""
        done = subprocess.run([sys.executable, "-S", *argv], cwd=self.cwd, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stderr[-3000:]}"
        return done.stdout

    def gvis(self, *argv: str) -> str:
        return self.python("-m", "gvis", *argv)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_wheel_holds_gvis_and_its_shipped_files_only(wheel):
    with zipfile.ZipFile(wheel) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    package = {name for name in members if not name.split("/")[0].endswith(".dist-info")}
    expected = {f"gvis/{path.relative_to(REPO / 'gvis').as_posix()}": path
                for path in [*(REPO / "gvis").rglob("*.py"), REPO / "gvis" / "py.typed"]}
    expected |= {f"gvis/{path.relative_to(REPO).as_posix()}": path
                 for folder in ("configs", "checkpoints") for path in (REPO / folder).rglob("*") if path.is_file()}
    assert package == set(expected)
    assert all(members[name] == path.read_bytes() for name, path in expected.items())
    if SHARED_MANIFEST.is_file():  # no real fixture, under any name
        fixtures = {line.split()[0] for line in SHARED_MANIFEST.read_text().splitlines() if line.strip()}
        assert not fixtures & {_sha256(data) for data in members.values()}


def test_installed_wheel_runs_the_commands_from_an_empty_folder(installed, tmp_path, monkeypatch, capsys):
    where = installed.python("-c", "import gvis, gvis.resources as r; print(gvis.__file__); "
                                   "print(r.shipped_folder('configs')); print(r.shipped_folder('checkpoints'))").split()
    assert all(Path(path).is_relative_to(installed.target) for path in where), where

    installed.gvis(*SYNTH)
    installed.gvis(*DETECT)
    installed.gvis(*TRACK_LEARNED)
    installed.gvis("track", "data", "--detections", "dets.jsonl", "--tracker", "masktrack-rule", "--results",
                   "rule.json")
    installed.gvis("track", "data", "--results", "pipeline.json")
    stats = json.loads(installed.gvis(*EVAL))
    trained = json.loads(installed.gvis("train", "tiny", "--no-progress", "--json", "--set", "train.steps=2", "--set",
                                        "train.checkpoint_every=1", "--set", "data.train.annotations=data", "--set",
                                        "data.train.detections=dets.jsonl", "--set", "output_dir=run"))
    work = installed.cwd

    # Shipped files are recorded by their repository-relative names, not where the wheel put them.
    learned = json.loads((work / "learned.meta.json").read_text())
    assert learned["checkpoint"] == "checkpoints/learned-synth-hard.pt"
    pipeline = json.loads((work / "pipeline.meta.json").read_text())
    assert pipeline["checkpoint"] == "checkpoints/learned-synth-hard-yolact.pt"
    assert pipeline["detector"]["checkpoint"] == "checkpoints/detector-synth-mixed.pt"
    rule = json.loads((work / "rule.meta.json").read_text())
    assert rule["tracker"] == "masktrack-rule" and rule["config"] is not None
    assert trained["step"] == 2
    assert torch.load(work / "run" / "last.pt", weights_only=True)["git_hash"] is None  # not the user's commit

    # Reference: the checkout's gvis, in this process, gives the same results and scores on the same inputs.
    monkeypatch.chdir(tmp_path)
    shutil.copytree(work / "data", tmp_path / "data")
    shutil.copy(work / "dets.jsonl", tmp_path / "dets.jsonl")
    assert main(TRACK_LEARNED) == 0
    assert json.loads((tmp_path / "learned.json").read_text()) == json.loads((work / "learned.json").read_text())
    capsys.readouterr()
    assert main(EVAL) == 0
    assert json.loads(capsys.readouterr().out) == stats
