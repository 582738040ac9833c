"""What a checkpoint records beyond the weights: the random generators' states, and which config changes
a resumed run accepts."""
from __future__ import annotations

import random
from typing import Any, Iterable

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """The Python, NumPy (global) and torch generator states, in ``weights_only``-loadable types."""
    version, keys, gauss = random.getstate()
    name, mt_keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "keys": list(keys), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(mt_keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["keys"]), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def config_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two config dicts differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(old) + [k for k in new if k not in old]
        return [d for k in keys for d in config_differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def unresumable_changes(old: dict, new: dict, allowed: Iterable[str]) -> list[str]:
    """The keys of :func:`config_differences` that are neither in ``allowed`` nor under one of them."""
    allowed = tuple(allowed)
    return [key for key in config_differences(old, new)
            if not any(key == prefix or key.startswith(prefix + ".") for prefix in allowed)]
