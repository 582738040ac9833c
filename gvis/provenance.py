"""What a results file or checkpoint records about how it was made."""
from __future__ import annotations

import subprocess
from pathlib import Path


def git_hash() -> str | None:
    """The commit of the gvis checkout, or ``None`` outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None
