"""Helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """``--set key=value`` (repeatable) overrides of config keys."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.lr=1e-4 (repeatable)",
    )


def print_json(obj: Any) -> None:
    """The one JSON object a ``--json`` command prints on stdout."""
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
