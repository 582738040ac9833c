"""Helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gvis.errors import stopped_exit_code


def add_set_argument(parser: argparse.ArgumentParser, schema: str, example: str, example_for: str = "") -> None:
    """``--set key=value`` (repeatable) overrides of the keys of ``schema``.

    ``schema``: ``"module:Class"``, the config dataclass whose dotted keys ``--set`` reaches (imported only
    by whoever checks it: ``gvis --help`` stays fast); ``example``: a ``key=value`` of it for the help text,
    ``example_for`` what it applies to when that is not every run (e.g. ``"--tracker masktrack-rule"``).
    A test checks every ``--set KEY=...`` of the command's help against ``schema``.
    """
    where = f" with {example_for}" if example_for else ""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=f"override a config key, e.g. --set {example}{where} (repeatable)",
    )
    parser.set_defaults(_set_schema=schema)


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

    ``result``: the trainer's :class:`~gvis.engine.trainer.TrainResult`; ``validation_text`` formats the last
    validation's stats for the one-line summary.
    """
    import math

    last = result.validations[-1] if result.validations else None
    summary = {
        "step": result.step,
        "stopped_by": result.stopped_by,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "train_seconds": round(result.train_seconds, 2),
        "cpu_seconds": round(result.cpu_seconds, 2),
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
