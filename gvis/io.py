"""Crash-safe file writing (write to a temporary file in the same folder, then rename) and tagged torch files."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    On an exception (a crash, Ctrl-C) the temporary file is removed and ``path`` is untouched, so a
    reader never sees a half-written results file or checkpoint.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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

    from gvis.errors import InputError

    path = Path(path)
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"no such {what}", file=path) from None
    except Exception as exc:  # truncated, not a torch file, unexpected pickle content
        raise InputError(f"cannot read {what}: {exc}", file=path) from None
    if not isinstance(content, dict) or content.get("format") != file_format:
        raise InputError(f"not a {file_format} file", file=path, field="format")
    if content.get("version") != version:
        raise InputError(f"{what} version {content.get('version')}, this gvis reads {version}", file=path,
                         field="version")
    return content
