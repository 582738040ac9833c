"""Grid search of a heuristic tracker's settings by video AP on training videos (``gvis tune-baseline``).

The learned tracker is compared with a *tuned* MaskTrack R-CNN rule: every point of a grid over config
keys (default: ``alpha``, ``beta``, ``gamma``) tracks the same detections, is scored with the YouTube-VIS
video AP (:func:`gvis.eval.ytvis_ap.evaluate`), and the best point becomes a config YAML. Ties in AP go to
the point listed first (grid order), so the search is deterministic.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from gvis.baselines.runner import run_tracker
from gvis.config import build_dataclass, to_dict
from gvis.detections.structures import Detections
from gvis.errors import ConfigError

#: The default grid: MaskTrack R-CNN's coefficients (2, 10, 1) and values around them.
DEFAULT_GRID: dict[str, list[float]] = {
    "alpha": [0.0, 1.0, 2.0, 4.0, 8.0],
    "beta": [0.0, 10.0],
    "gamma": [0.0, 1.0, 3.0],
}


@dataclass
class GridPoint:
    """One evaluated setting: the grid values, the resulting config and the 12 YTVIS stats."""

    values: dict[str, Any]
    config: Any
    stats: dict[str, float]


def parse_grid(items: Sequence[str], base: dict[str, list[float]] | None = None) -> dict[str, list[Any]]:
    """``["alpha=0,1,2", "filtering.top_n=8,16"]`` → ``{"alpha": [0, 1, 2], ...}`` on top of ``base``.

    Values are parsed as YAML scalars (``null``, ``true``, numbers).
    """
    import yaml

    grid = dict(DEFAULT_GRID if base is None else base)
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"--grid: expected KEY=V1,V2,..., got '{item}'")
        grid[key.strip()] = [yaml.safe_load(value) for value in raw.split(",")]
    return grid


def _with_values(config: Any, values: dict[str, Any]) -> Any:
    """A copy of dataclass ``config`` with dotted ``values`` set (ConfigError naming a bad key)."""
    tree = to_dict(config)
    for dotted, value in values.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--grid: key '{dotted}': '{part}' is not a section")
            node = node[part]
        node[leaf] = value
    sources = {key: "--grid" for key in values}
    return build_dataclass(type(config), tree, sources)


def grid_search(
    tracker_factory: Callable[[Any], Any],
    base_config: Any,
    grid: dict[str, list[Any]],
    videos: Sequence[tuple[int, Sequence[Detections]]],
    ground_truth: Any,
    progress: Callable[[], None] | None = None,
    class_agnostic: bool = False,
) -> list[GridPoint]:
    """Evaluate every point of ``grid`` (cartesian product, in grid order); returns them best AP first.

    Args:
        tracker_factory: builds a tracker from a config (e.g. ``lambda c: TRACKERS.build(name, categories=..., config=c)``).
        base_config: the config the grid values are set on.
        videos: ``(video_id, frames)`` of the training videos, held in memory (tracked once per point).
        ground_truth: a ``YTVISDataset`` or annotation path for :func:`gvis.eval.ytvis_ap.evaluate`.
        class_agnostic: score with every category as one (for class-agnostic detections).
    """
    from gvis.eval.ytvis_ap import evaluate

    keys = list(grid)
    points = []
    for combination in itertools.product(*(grid[key] for key in keys)):
        values = dict(zip(keys, combination))
        config = _with_values(base_config, values)
        entries = run_tracker(tracker_factory(config), videos).entries
        stats = evaluate(ground_truth, entries, class_agnostic=class_agnostic)
        points.append(GridPoint(values, config, {k: float(v) for k, v in stats.items() if k != "per_category"}))
        if progress is not None:
            progress()
    order = sorted(range(len(points)), key=lambda i: (-points[i].stats["AP"], i))
    return [points[i] for i in order]


#: A tolerance for :func:`best_mean_point`: mean APs (fractions) closer than this, 0.01 AP points, are equal for
#: any purpose (one more true positive on a few videos moves AP by far more).
AP_TIE = 1e-4


@dataclass
class MeanGridChoice:
    """The point of a grid with the best mean AP over several :func:`grid_search` runs (e.g. one per file).

    - ``values``: the chosen point's grid values; ``config``: its config (from the first run).
    - ``aps``: every point (``grid_key(values)``) → its AP in each run, in grid order.
    - ``tied``: the points whose mean AP is within the tolerance of the best mean, the chosen one first.
    """

    values: dict[str, Any]
    config: Any
    aps: dict[str, list[float]]
    tied: list[str]

    @property
    def mean_ap(self) -> float:
        """The chosen point's mean AP over the runs."""
        return sum(self.aps[grid_key(self.values)]) / len(self.aps[grid_key(self.values)])


def grid_key(values: dict[str, Any]) -> str:
    """A grid point's values as one string (JSON, keys in grid order), to index points by."""
    return json.dumps(values)


def best_mean_point(grid: dict[str, list[Any]], runs: Sequence[Sequence[GridPoint]], tolerance: float = 0.0) -> MeanGridChoice:
    """The point of ``grid`` whose mean AP over ``runs`` (each :func:`grid_search` over the same grid) is best.

    Points whose mean is within ``tolerance`` of the best mean (AP as a fraction: ``1e-4`` is 0.01 AP points)
    tie, and the first of them in grid order is chosen, so a difference smaller than any result could carry
    does not pick an arbitrary point.
    """
    keys = list(grid)
    aps: dict[str, list[float]] = {grid_key(dict(zip(keys, combo))): [] for combo in itertools.product(*grid.values())}
    configs = {}
    for points in runs:
        for point in points:
            aps[grid_key(point.values)].append(point.stats["AP"])
            configs.setdefault(grid_key(point.values), point.config)
    if any(len(values) != len(runs) for values in aps.values()):
        raise ValueError("best_mean_point: every run must score every point of the grid once")
    means = {key: sum(values) / len(values) for key, values in aps.items()}
    top = max(means.values())
    tied = [key for key, mean in means.items() if mean >= top - tolerance]
    return MeanGridChoice(json.loads(tied[0]), configs[tied[0]], aps, tied)


def format_table(points: Sequence[GridPoint], limit: int | None = None) -> str:
    """A text table of the grid points (best first): grid values, AP, AP50, AP75, AR10."""
    keys = list(points[0].values) if points else []
    header = [*keys, "AP", "AP50", "AP75", "AR10"]
    lines = ["  ".join(f"{h:>8}" for h in header)]
    for point in points[:limit]:
        cells = [f"{point.values[k]!s:>8}" for k in keys]
        cells += [f"{100 * point.stats[s]:8.2f}" for s in ("AP", "AP50", "AP75", "AR10")]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def config_yaml(point: GridPoint, note: str) -> str:
    """The best config as YAML (complete, so it does not depend on later default changes), with a comment."""
    import yaml

    comment = "".join(f"# {line}\n" for line in note.splitlines())
    return comment + yaml.safe_dump(to_dict(point.config), sort_keys=False)

