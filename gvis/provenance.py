"""What a results file or checkpoint records about how it was made."""
from __future__ import annotations

import hashlib
import subprocess
from typing import TYPE_CHECKING, Mapping

from gvis.resources import checkout

if TYPE_CHECKING:
    from torch import Tensor


def _git(*argv: str) -> str | None:
    """``git ARGV`` in the gvis checkout; ``None`` for an installed gvis (whatever repository holds it)."""
    repository = checkout()
    if repository is None:
        return None
    try:
        done = subprocess.run(["git", *argv], cwd=repository, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_hash() -> str | None:
    """The commit of the gvis checkout, with ``+dirty`` when tracked files differ from it (the numbers were
    then made by code that commit does not hold); ``None`` outside a git checkout and for an installed gvis."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    return commit + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")


def weights_fingerprint(state: Mapping[str, "Tensor"]) -> str:
    """SHA-256 (hex) of a state dict's weights, not of a file's bytes: for every key in sorted order, the key,
    the shape and the values, floating-point tensors rounded to float16 and others as int64 — so a
    checkpoint and its float16-shipped copy, or the same weights saved twice, have the same fingerprint.
    """
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu()
        values = tensor.to(torch.float16 if tensor.is_floating_point() else torch.int64).contiguous()
        digest.update(f"{key} {tuple(tensor.shape)} {values.dtype}\n".encode())
        digest.update(values.numpy().tobytes())
    return digest.hexdigest()
