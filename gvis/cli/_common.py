"""Helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gvis.errors import stopped_exit_code


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """``--set key=value`` (repeatable) overrides of config keys."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.lr=1e-4 (repeatable)",
    )


def parse_sizes(text: str, field: str, minimum: int = 0) -> tuple[tuple[int, int], ...]:
    """``"5x5,10x10"`` → ``((5, 5), (10, 10))``, each value >= ``minimum``; ``InputError`` naming ``field``."""
    from gvis.errors import InputError

    try:
        sizes = tuple(tuple(int(v) for v in item.split("x")) for item in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(len(size) != 2 or min(size) < minimum for size in sizes):
        raise InputError(f"expected sizes like 5x5,10x10 (each at least {minimum}), got '{text}'", field=field)
    return sizes  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """The one JSON object a ``--json`` command prints on stdout."""
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def report_training(command: str, result: Any, as_json: bool, validation_text: str) -> None:
    """What ``gvis train`` / ``gvis train-detector`` print at the end of a run.

    ``result``: the trainer's result (``step``, ``stopped_by``, ``checkpoint``, ``train_seconds``, optional
    ``cpu_seconds``, ``losses``, ``validations``); ``validation_text`` formats the last validation's stats
    for the one-line summary.
    """
    import math

    last = result.validations[-1] if result.validations else None
    summary = {
        "step": result.step,
        "stopped_by": result.stopped_by,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "train_seconds": round(result.train_seconds, 2),
        **({"cpu_seconds": round(result.cpu_seconds, 2)} if hasattr(result, "cpu_seconds") else {}),
        "losses": {k: (v if math.isfinite(v) else None) for k, v in result.losses.items()},
        "validation": last,
    }
    if as_json:
        print_json(summary)
        return
    how = f"stopped by {result.stopped_by}" if result.stopped_by else "done"
    if stopped_exit_code(result.stopped_by):
        how += " (resumable: run again with --resume)"
    validation = f", {validation_text.format(**last['stats'])}" if last else ""
    print(f"{command}: {how} at step {result.step} ({result.train_seconds:.0f} s){validation}; saved {result.checkpoint}")
