"""Opening a dataset folder or annotation file (``--data DIR``, a tracker's INPUT, ``data.train``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gvis.errors import InputError

if TYPE_CHECKING:
    from gvis.data.ytvis import YTVISDataset


def annotation_path(path: str | os.PathLike) -> Path:
    """``DIR/instances.json`` for a dataset folder, or ``path`` itself for a JSON file."""
    path = Path(path)
    if path.is_dir():
        path = path / "instances.json"
        if not path.is_file():
            raise InputError("not a dataset folder: no instances.json in it", file=path.parent)
    elif not path.is_file():
        raise InputError("no such dataset folder or annotation file", file=path)
    return path


def open_dataset(path: str | os.PathLike) -> "YTVISDataset":
    """The :class:`~gvis.data.ytvis.YTVISDataset` of a dataset folder or annotation file."""
    from gvis.data.ytvis import YTVISDataset

    return YTVISDataset.from_json(annotation_path(path))
