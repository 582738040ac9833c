"""Where the files shipped with gvis are: the YAML configs and the trained checkpoints.

In the repository they live at the top level, ``configs/`` and ``checkpoints/``, beside the ``gvis``
package; an installed gvis (``pip install .``, a wheel) carries them as package data ``gvis/configs`` and
``gvis/checkpoints`` (pyproject.toml maps the folders), found through :mod:`importlib.resources`. A
checkout (run in place or installed editable) has no such copy and uses its own folders, so each checkout
or worktree reads its own files.

Metadata (results ``.meta.json``, detections headers, shipped ``.json``) records a shipped file by its
repository-relative name, e.g. ``checkpoints/detector-synth-mixed.pt``, never by where it sits on one
machine: :func:`recorded_path` writes that name and :func:`resolve_recorded` reads it back;
:func:`repository_relative` makes the metadata written beside a shipped checkpoint portable.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any

from gvis.errors import InputError

#: The shipped folders, by their repository-relative names.
SHIPPED_FOLDERS = ("configs", "checkpoints")
_CHECKOUT = Path(__file__).resolve().parent.parent


def checkout() -> Path | None:
    """The repository this gvis runs from (run in place or installed editable); ``None`` for an installed
    copy, which carries its own shipped folders."""
    return None if (_package() / SHIPPED_FOLDERS[0]).is_dir() else _CHECKOUT


def shipped_folder(name: str) -> Path:
    """The folder ``name`` (one of :data:`SHIPPED_FOLDERS`) of this gvis: the checkout's top-level folder,
    else the installed package data."""
    if name not in SHIPPED_FOLDERS:
        raise ValueError(f"no shipped folder '{name}' (known: {', '.join(SHIPPED_FOLDERS)})")
    return (checkout() or _package()) / name


def _package() -> Path:
    """The installed ``gvis`` package folder."""
    package = files("gvis")
    if not isinstance(package, Path):  # a zip import: configs inherit by file path, so gvis needs real files
        raise InputError(f"gvis is imported from an archive ({package}); install it as files (pip install)")
    return package


def shipped_file(folder: str, *parts: str) -> Path:
    """``folder/parts...`` inside :func:`shipped_folder`, e.g. ``shipped_file("checkpoints", "learned-agnostic.pt")``
    (whether or not it exists)."""
    return shipped_folder(folder).joinpath(*parts)


def recorded_path(path: str | os.PathLike) -> str:
    """How metadata records ``path``: a shipped file as its repository-relative name
    (``checkpoints/X.pt``), any other path as given."""
    resolved = Path(path).resolve()
    for name in SHIPPED_FOLDERS:
        root = shipped_folder(name).resolve()
        if resolved.is_relative_to(root):
            return str(PurePosixPath(name, *resolved.relative_to(root).parts))
    return str(path)


def resolve_recorded(recorded: str | os.PathLike) -> Path:
    """The file that metadata's ``recorded`` names: the path itself when it exists (relative to the working
    folder), else the shipped file of that repository-relative name, else the path as it is."""
    path = Path(recorded)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] not in SHIPPED_FOLDERS:
        return path
    shipped = shipped_file(*path.parts)
    return shipped if shipped.exists() else path


def repository_relative(tree: Any) -> Any:
    """A copy of the metadata ``tree`` (dicts, lists, strings, numbers) in which every string that is an
    absolute path inside this checkout (its ``runs/``, ``checkpoints/``, ...) is written relative to it
    (an installed gvis has no checkout: ``tree`` as it is)."""
    if isinstance(tree, dict):
        return {key: repository_relative(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [repository_relative(value) for value in tree]
    root = checkout()
    if isinstance(tree, str) and root is not None and os.path.isabs(tree) and Path(tree).is_relative_to(root):
        return str(PurePosixPath(*Path(tree).relative_to(root).parts))
    return tree
