"""Crash-safe file writing (write to a temporary file in the same folder, then rename), tagged torch files,
and the file policy of a command (:class:`CommandFiles`: inputs are never replaced, outputs appear at the end).

Temporary files and staging folders carry the id of the process that made them, so one left behind by a
killed process (``kill -9``, a power cut) is removed by the next write to the same place.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Iterator

from gvis.errors import InputError

#: Suffixes of frame images: an output may not replace one in a frame folder a command reads.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_STAGING_PREFIX = ".gvis-staging-"
#: Errors of the disk rather than of a file: blamed on the outputs being written.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_stale(folder: Path, pattern: re.Pattern) -> None:
    """Remove the entries of ``folder`` matching ``pattern`` (group 1: a process id) left by dead processes."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            match = pattern.fullmatch(entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    On an exception (a crash, Ctrl-C) the temporary file is removed and ``path`` is untouched, so a
    reader never sees a half-written results file or checkpoint. Inside a :class:`CommandFiles` block the
    file goes to the command's staging folder instead and replaces ``path`` when the command succeeds.
    """
    path = Path(path)
    _remove_stale(path.parent, re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[^.]+\.tmp"))
    files = CommandFiles.active()
    if files is not None:
        path = files.stage(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates the file 0600; give it the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """Serialise ``obj`` as JSON to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=indent)


class CommandFiles:
    """The files one command reads and writes, under one policy (``docs/reliability.md``):

    - **inputs are never replaced**: an output that is an input (same resolved path or same inode), or that
      would replace an annotation file or a frame the command reads, is refused (:class:`InputError`)
      before anything is written; new files inside an input folder are fine;
    - **outputs appear at the end**: inside ``with CommandFiles():`` every file written with
      :func:`atomic_open` (so every gvis writer) goes to a staging folder beside its target, and all of them
      are moved into place when the block ends without an error, unless :meth:`discard` was called; on
      any error the staging folders are removed and every earlier output stays as it was;
    - **one-line errors for the disk**: an unwritable, missing or full output location is an
      :class:`InputError` naming the output.

    Inputs are declared with :meth:`reads` (a file, a dataset folder or a frame folder), outputs with
    :meth:`writes` (checked at once) or simply by writing them.
    """

    _stack: list["CommandFiles"] = []
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._inputs: list[tuple[str, Path]] = []  # (label, file)
        self._frame_folders: list[tuple[str, Path, bool]] = []  # (label, resolved folder, whole tree?)
        self._outputs: dict[Path, str | None] = {}  # resolved target -> label (None: not declared)
        self._staging: dict[Path, Path] = {}  # resolved target folder -> its staging folder
        self._created: list[Path] = []  # output folders this command made (removed again on failure)
        self._done = False

    @classmethod
    def active(cls) -> "CommandFiles | None":
        """The innermost open :class:`CommandFiles` block of this process, if any."""
        with cls._lock:
            return cls._stack[-1] if cls._stack else None

    # ------------------------------------------------------------------------------------ declaring
    def reads(self, label: str, path: str | os.PathLike | None) -> None:
        """Declare an input (``label`` names it in errors: ``--detections``, ``GT``, ...). A folder holding
        ``instances.json`` is a dataset (that file and everything under its ``JPEGImages/``), any other
        folder a frame folder (its images); an annotation ``.json`` also protects ``JPEGImages/`` beside it."""
        if path is None:
            return
        path = Path(path)
        if path.is_dir():
            if (path / "instances.json").is_file():
                self._inputs.append((label, path / "instances.json"))
                self._frame_folders.append((label, (path / "JPEGImages").resolve(), True))
            else:
                self._frame_folders.append((label, path.resolve(), False))
        else:
            self._inputs.append((label, path))
            if path.suffix == ".json" and (path.parent / "JPEGImages").is_dir():
                self._frame_folders.append((label, (path.parent / "JPEGImages").resolve(), True))
        for target, output_label in self._outputs.items():
            self._check_output(output_label, target)

    def writes(self, label: str, path: str | os.PathLike | None) -> None:
        """Declare an output file: refused at once if it is a folder, an input or another output; its
        folder is made (and checked to be writable) now."""
        if path is None:
            return
        target = Path(path).resolve()
        if target in self._outputs:
            raise InputError(f"is also given as {self._outputs[target]}: two outputs cannot be one file",
                             file=path, field=label)
        self._check_output(label, Path(path))
        self._outputs[target] = label
        self._staging_folder(Path(path), label)

    # ------------------------------------------------------------------------------------- staging
    def stage(self, path: str | os.PathLike) -> Path:
        """Where to write the output ``path`` now: its place in the staging folder beside it (``path``
        itself when it already lies in a staging folder of this command)."""
        path = Path(path)
        if path.parent.resolve() in self._staging.values():
            return path
        target = path.resolve()
        if target not in self._outputs:  # an output the command did not declare (a sidecar, a cache)
            self._check_output(None, path)
            self._outputs[target] = None
        return self._staging_folder(path, self._outputs[target]) / path.name

    def _staging_folder(self, target: Path, label: str | None) -> Path:
        """The staging folder beside ``target`` (made now, with any missing folder above it)."""
        folder = target.parent.resolve()
        if folder not in self._staging:
            try:
                self._created.extend(parent for parent in (folder, *folder.parents) if not parent.exists())
                folder.mkdir(parents=True, exist_ok=True)
                _remove_stale(folder, re.compile(re.escape(_STAGING_PREFIX) + r"(\d+)-\w+"))
                self._staging[folder] = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=folder))
            except OSError as exc:
                raise InputError(f"cannot write here: {exc.strerror or exc}", file=target, field=label) from None
        return self._staging[folder]

    def _check_output(self, label: str | None, target: Path) -> None:
        """``InputError`` if writing ``target`` would replace an input or a folder."""
        if target.is_dir():
            raise InputError("is a folder: give a file name", file=target, field=label)
        resolved = target.resolve()
        for input_label, source in self._inputs:
            if resolved == source.resolve() or (target.exists() and source.exists() and os.path.samefile(target, source)):
                named = "" if resolved == source.resolve() else f" ({source})"
                raise InputError(f"is the input {input_label}{named}: an output never replaces an input",
                                 file=target, field=label)
        if not target.exists():
            return
        for input_label, folder, whole_tree in self._frame_folders:
            inside = resolved.parent == folder if not whole_tree else folder in resolved.parents
            if inside and (whole_tree or resolved.suffix.lower() in IMAGE_SUFFIXES):
                raise InputError(f"would replace a frame of the input {input_label} ({folder})", file=target,
                                 field=label)

    # ----------------------------------------------------------------------------------- ending
    def commit(self) -> None:
        """Move every staged file into place (all are checked first), then remove the staging folders."""
        if self._done:
            return
        moves = []
        for folder, staging in self._staging.items():
            for staged in sorted(staging.iterdir()):
                target = folder / staged.name
                self._check_output(self._outputs.get(target.resolve()), target)
                moves.append((staged, target))
        for staged, target in moves:
            os.replace(staged, target)
        self.discard()

    def discard(self) -> None:
        """Remove the staging folders and the (still empty) output folders this command made: none of
        this command's outputs appears."""
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        for folder in self._created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._staging.clear()
        self._done = True

    def _target_of(self, filename: Any) -> Path | None:
        """The output a path inside a staging folder (a staged file or its temporary file) stands for."""
        if not filename:
            return None
        path = Path(os.fsdecode(filename))
        for folder, staging in self._staging.items():
            if path.parent.resolve() == staging:
                name = path.name
                match = re.fullmatch(r"\.(.+)\.\d+\.[^.]+\.tmp", name)
                return folder / (match.group(1) if match else name)
        return None

    def __enter__(self) -> "CommandFiles":
        with self._lock:
            self._stack.append(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> bool:
        with self._lock:
            self._stack.remove(self)
        if exc is None:
            self.commit()
            return False
        target = None
        if isinstance(exc, OSError):
            target = self._target_of(exc.filename) or self._target_of(exc.filename2)
        outputs = ", ".join(map(str, self._outputs))
        self.discard()
        if target is not None:
            raise InputError(f"cannot write: {exc.strerror or exc}", file=target,
                             field=self._outputs.get(target.resolve())) from None
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
            raise InputError(f"cannot write: {exc.strerror}", file=outputs) from None
        return False


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_parts(content: dict[str, Any], parts: dict[str, type | tuple[type, ...]], source: str | os.PathLike,
                what: str = "checkpoint") -> None:
    """``InputError`` naming ``source`` and the key of the first of ``parts`` (key -> type) that ``content``
    lacks or holds with another type."""
    for key, kind in parts.items():
        if key not in content:
            raise InputError(f"{what} has no '{key}'", file=source, field=key)
        if not isinstance(content[key], kind) or (kind in (int, float, (int, float)) and isinstance(content[key], bool)):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputError(f"{what}'s '{key}' must be a {names}, got {type(content[key]).__name__}", file=source,
                             field=key)


def check_training_state(checkpoint: dict[str, Any], parts: dict[str, type | tuple[type, ...]],
                         source: str | os.PathLike) -> None:
    """``InputError`` naming ``source`` unless a checkpoint to resume holds its training state ``parts``
    (key -> type); an exported model (``model.pt``) holds none."""
    if not all(key in checkpoint for key in parts):
        raise InputError("holds no training state (an exported model such as model.pt): it cannot be resumed",
                         file=source)
    check_parts(checkpoint, parts, source)


def staged_path(path: str | os.PathLike) -> Path:
    """Where an output of the running command is until the command ends (to read back what it wrote)."""
    files = CommandFiles.active()
    return Path(path) if files is None else files.stage(path)


def check_finite_tensors(tree: Any, source: str | os.PathLike, prefix: str = "") -> None:
    """``InputError`` naming ``source`` and the key of the first tensor (or float) in ``tree`` (dicts,
    lists) holding NaN or inf."""
    import torch

    if isinstance(tree, torch.Tensor):
        if tree.is_floating_point() and not bool(torch.isfinite(tree).all()):
            raise InputError("holds NaN or inf values", file=source, field=prefix or "<tensor>")
    elif isinstance(tree, dict):
        for key, value in tree.items():
            check_finite_tensors(value, source, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            check_finite_tensors(value, source, f"{prefix}[{index}]")


def save_tagged(path: str | os.PathLike, content: dict[str, Any], file_format: str, version: int) -> Path:
    """``torch.save`` of ``content`` with ``format`` / ``version`` added, written atomically; returns the path."""
    import torch

    path = Path(path)
    with atomic_open(path, "wb") as handle:
        torch.save({"format": file_format, "version": version, **content}, handle)
    return path


def load_tagged(path: str | os.PathLike, file_format: str, version: int, what: str,
                map_location: Any = "cpu") -> dict[str, Any]:
    """A file written by :func:`save_tagged` with this ``format`` and ``version`` (``weights_only``);
    ``InputError`` naming the file and ``what`` it should be otherwise."""
    import torch

    path = Path(path)
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"no such {what}", file=path) from None
    except Exception as exc:  # truncated, not a torch file, unexpected pickle content
        raise InputError(f"cannot read {what}: {first_line(exc)}", file=path) from None
    if not isinstance(content, dict) or content.get("format") != file_format:
        raise InputError(f"not a {file_format} file", file=path, field="format")
    if content.get("version") != version:
        raise InputError(f"{what} version {content.get('version')}, this gvis reads {version}", file=path,
                         field="version")
    check_finite_tensors(content, path)
    return content


def first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message (torch's run on for lines of advice), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(exc).__name__
