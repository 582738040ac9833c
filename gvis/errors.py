"""User-facing errors.

Every error a user can cause (a bad file, a bad config key, a bad command-line value) is a
:class:`GvisError`. The CLI prints it as one line and exits non-zero; library callers catch it.
"""
from __future__ import annotations

from os import PathLike


class GvisError(Exception):
    """Base class of every error caused by the user's input rather than by a bug in gvis."""


class InputError(GvisError, ValueError):
    """Bad input data. The message names where the problem is: file, line, video and field.

    >>> str(InputError("expected a list", file="ann.json", video_id=3, field="segmentations"))
    "ann.json: video 3: field 'segmentations': expected a list"
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike | None = None,
        line: int | None = None,
        video_id: int | str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.line = line
        self.video_id = video_id
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file if line is None else f"{self.file}:{line}")
        elif line is not None:
            where.append(f"line {line}")
        if video_id is not None:
            where.append(f"video {video_id}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(": ".join(where + [message]))


class ConfigError(GvisError, ValueError):
    """A bad configuration: unknown key, wrong type, bad value. The message names file and key."""
