"""The CSV logs of a training run (``train_log.csv``, ``validation.csv``)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from gvis.io import atomic_open


class CsvLog:
    """An append-only CSV log that first drops rows past ``step`` (a resumed run repeats them)."""

    def __init__(self, path: Path, columns: tuple[str, ...], step: int) -> None:
        kept: list[list[str]] = []
        if path.exists() and step > 0:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            if rows and tuple(rows[0]) == columns:
                kept = [row for row in rows[1:] if row and int(row[0]) <= step]
        with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([list(columns), *kept])
        self.columns = columns
        self.handle = open(path, "a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)

    def write(self, values: dict[str, Any]) -> None:
        self.writer.writerow([_format(values.get(column, "")) for column in self.columns])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _format(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
