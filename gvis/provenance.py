"""What a results file or checkpoint records about how it was made."""
from __future__ import annotations

import subprocess
from pathlib import Path


def _git(*argv: str) -> str | None:
    try:
        done = subprocess.run(["git", *argv], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                              timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_hash() -> str | None:
    """The commit of the gvis checkout, with ``+dirty`` when tracked files differ from it (the numbers were
    then made by code that commit does not hold); ``None`` outside a git checkout."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    return commit + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")
