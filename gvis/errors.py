"""User-facing errors.

Every error a user can cause (a bad file, a bad config key, a bad command-line value) is a
:class:`GvisError`. The CLI prints it as one line and exits non-zero; library callers catch it.
"""
from __future__ import annotations

from os import PathLike

#: Exit codes of every ``gvis`` command (``docs/reliability.md``).
EXIT_OK = 0
#: An unexpected exception: a bug in gvis, or an input it does not check yet (``GVIS_DEBUG=1`` shows the traceback).
EXIT_BUG = 1
#: A :class:`GvisError` (bad input, config or output location) or a bad command line; nothing was written.
EXIT_ERROR = 2
#: Stopped by Ctrl-C (SIGINT) / SIGTERM; a training run saved ``last.pt`` and resumes with ``--resume``.
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
#: Exit codes meaning "stopped, resumable" (also a negative return code: killed by a signal).
STOPPED_EXIT_CODES = frozenset({EXIT_SIGINT, EXIT_SIGTERM})


def stopped_exit_code(stopped_by: str | None) -> int:
    """The exit code of a training run that ended with ``stopped_by`` (``None`` or ``"time limit"``: 0)."""
    if stopped_by == "SIGINT":
        return EXIT_SIGINT
    if stopped_by in ("SIGTERM", "another process"):
        return EXIT_SIGTERM
    return EXIT_OK


class GvisError(Exception):
    """Base class of every error caused by the user's input rather than by a bug in gvis."""

    #: What the CLI exits with (:data:`EXIT_ERROR`; a stopped run's :data:`STOPPED_EXIT_CODES`).
    exit_code = EXIT_ERROR


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


class GvisWarning(UserWarning):
    """Something the user asked gvis to tolerate (e.g. ``--allow-truncated``); the CLI prints it as one line."""
