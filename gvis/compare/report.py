"""The comparison table (markdown) and bar chart of ``gvis compare``, read from the files of a work folder.

A learned row is one config: per training seed, the mean over the held-out sets of each stat; the table
shows mean ± std over seeds, training time and steps, tracker ms/frame (``gvis eval-tracker``, one video at
a time), parameter count, the paper's number and whether our ordering against ``proposed`` agrees with the
paper's. Runs that diverged are reported as such; statistics use the seeds that finished.
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gvis.compare.benchmark import SCORES, STATS, Benchmark, run_outcome
from gvis.compare.paper import PAPER_ROWS, REFERENCE, PaperRow
from gvis.compare.sweep import RunRecord, run_folder
from gvis.io import atomic_open


@dataclass
class Row:
    """One row of the table. ``per_seed``: seed → stat → fraction (mean over held-out sets); heuristic rows
    have one entry (seed ``None``: they are deterministic)."""

    name: str
    kind: str
    changes: str = ""
    per_seed: dict[int | None, dict[str, float]] = field(default_factory=dict)
    diverged: dict[int, dict] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    ms_per_frame: list[float] = field(default_factory=list)
    parameters: int | None = None
    paper: PaperRow | None = None
    ordering: str = "–"
    """Our ordering against the reference row vs the paper's (set by :func:`compare_orderings`)."""
    agrees: bool | None = None

    def values(self, stat: str) -> list[float]:
        return [100 * stats[stat] for stats in self.per_seed.values()]

    def mean(self, stat: str) -> float | None:
        values = self.values(stat)
        return statistics.mean(values) if values else None

    def std(self, stat: str) -> float:
        values = self.values(stat)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "changes": self.changes,
            "per_seed": {"rule" if k is None else str(k): v for k, v in self.per_seed.items()},
            "mean": {s: self.mean(s) for s in STATS}, "std": {s: self.std(s) for s in STATS},
            "diverged": {str(k): v for k, v in self.diverged.items()}, "failed": {str(k): v for k, v in self.failed.items()},
            "missing": self.missing, "train_seconds": self.train_seconds, "steps": self.steps,
            "ms_per_frame": self.ms_per_frame, "parameters": self.parameters,
            "paper": None if self.paper is None else {"name": self.paper.name, "table": self.paper.table, "AP": self.paper.ap},
            "ordering": self.ordering, "agrees": self.agrees,
        }


def config_changes(path: Path, reference: Path | None = None) -> str:
    """``key=value; ...`` of what config ``path`` changes against ``reference`` (``configs/train/base.yaml``)."""
    import yaml

    from gvis.config import find_config, to_dict
    from gvis.train.loop import config_differences, load_train_config

    old = to_dict(load_train_config(reference or find_config("base", "train")))
    new = to_dict(load_train_config(path))
    changes = []
    for key in config_differences(old, new):
        value = new
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        changes.append(f"{key}={text.removesuffix('...').strip()}")
    return "; ".join(changes)


def collect_learned(bench: Benchmark, configs: dict[str, Path], seeds: Sequence[int],
                    records: Sequence[RunRecord] = ()) -> list[Row]:
    """The rows of the learned configs, from their run folders (``records``: failures of this sweep): the
    paper's rows in ``PAPER_ROWS`` order (its tables' order), then any other config in the order given."""
    import torch

    failures = {(r.stem, r.seed): r.message for r in records if r.status == "failed"}
    names = [test.name for test in bench.test_sets]
    paper_order = list(PAPER_ROWS)
    ordered = sorted(configs, key=lambda stem: paper_order.index(stem) if stem in paper_order else len(paper_order))
    rows = []
    for stem in ordered:
        path = configs[stem]
        row = Row(stem, "learned", changes=config_changes(path), paper=PAPER_ROWS.get(stem))
        for seed in seeds:
            folder = run_folder(bench.work, stem, seed)
            outcome = run_outcome(folder)
            if (stem, seed) in failures:
                row.failed[seed] = failures[(stem, seed)]
            elif outcome is not None and outcome.status == "diverged":
                row.diverged[seed] = outcome.record
            elif outcome is None or not (folder / SCORES).exists():
                row.missing.append(seed)
            else:
                scores = json.loads((folder / SCORES).read_text(encoding="utf-8"))
                row.per_seed[seed] = {s: statistics.mean(scores[n]["stats"][s] for n in names) for s in STATS}
                row.ms_per_frame.append(statistics.mean(1000 / scores[n]["fps"] for n in names))
                row.train_seconds.append(outcome.record["train_seconds"])
                row.steps.append(outcome.record["step"])
                if row.parameters is None:
                    state = torch.load(folder / "model.pt", weights_only=True, map_location="cpu")["model"]
                    row.parameters = sum(tensor.numel() for tensor in state.values())
        rows.append(row)
    return rows


def heuristic_rows(bench: Benchmark, tuning: dict, heuristics: dict[str, dict]) -> list[Row]:
    """The MaskTrack R-CNN rule, tuned on the training set and with its own defaults (α 2, β 10, γ 1)."""
    best = tuning["best"]["values"]
    names = [test.name for test in bench.test_sets]
    labels = {"tuned": "MaskTrack rule, tuned (" + ", ".join(f"{k}={v}" for k, v in best.items()) + ")",
              "default": "MaskTrack rule, default (alpha=2, beta=10, gamma=1)"}
    rows = []
    for name, scores in heuristics.items():
        row = Row(labels[name], "heuristic", changes="no learning")
        row.per_seed[None] = {s: statistics.mean(scores[n][s] for n in names) for s in STATS}
        rows.append(row)
    return rows


def compare_orderings(rows: Sequence[Row]) -> None:
    """Set ``ordering`` / ``agrees`` of every learned row with a paper number against the ``proposed`` row.

    The paper puts ``proposed`` above every other row (or the row diverged); ours agrees when our mean AP
    is below ``proposed``'s too (or every seed diverged). A row whose paper number *is* the proposed row's
    (``scoring_learned_head``) has no ordering to agree with, nor has a row not run yet, nor a
    "diverges" row where only some seeds diverged (``partly``). "within noise" marks differences no larger than
    the larger of the two rows' seed standard deviations.
    """
    reference = next((r for r in rows if r.name == REFERENCE and r.kind == "learned"), None)
    for row in rows:
        if row.kind != "learned":
            continue
        if row is reference:
            row.ordering = "reference"
            continue
        if row.paper is None:
            row.ordering = "– (no paper number)"
            continue
        if reference is None or reference.mean("AP") is None:
            row.ordering = f"– ({REFERENCE} has no result)"
            continue
        if not row.per_seed and not row.diverged:
            row.ordering = "– (not run)"
            continue
        if row.paper.ap is None:
            ran = len(row.diverged) + len(row.per_seed)
            if row.diverged and row.per_seed:  # some evidence each way: not counted
                row.ordering = f"partly: {len(row.diverged)} of {ran} seeds diverged"
            else:
                row.agrees = bool(row.diverged)
                row.ordering = "agrees: diverged" if row.agrees else "disagrees: trained without diverging"
            continue
        paper_delta = row.paper.ap - PAPER_ROWS[REFERENCE].ap
        if row.mean("AP") is None:
            row.agrees = False
            row.ordering = f"paper {paper_delta:+.1f}, ours diverged: disagrees"
            continue
        ours = row.mean("AP") - reference.mean("AP")
        if paper_delta == 0:  # the paper's number is its proposed row's: no ordering to agree with
            row.ordering = f"paper ±0.0 (its {REFERENCE} row), ours {ours:+.1f}"
            continue
        row.agrees = (ours < 0) == (paper_delta < 0) and ours != 0
        noise = " (within noise)" if abs(ours) <= max(row.std("AP"), reference.std("AP")) else ""
        row.ordering = f"paper {paper_delta:+.1f}, ours {ours:+.1f}: {'agrees' if row.agrees else 'disagrees'}{noise}"


def _mean_std(row: Row, stat: str) -> str:
    mean = row.mean(stat)
    if mean is None:
        return "–"
    return f"{mean:.1f}" if row.kind == "heuristic" else f"{mean:.1f} ± {row.std(stat):.1f}"


def _status(row: Row, seeds: int) -> str:
    notes = []
    if row.diverged:
        notes.append(f"diverged ({len(row.diverged)}/{seeds} seeds)")
    if row.failed:
        notes.append(f"failed ({len(row.failed)}/{seeds})")
    if row.missing:
        notes.append(f"not run ({len(row.missing)}/{seeds})")
    return "; ".join(notes)


def _paper_cell(row: Row) -> str:
    if row.paper is None:
        return "–"
    return f"{'diverges' if row.paper.ap is None else f'{row.paper.ap:.1f}'} ({row.paper.table})"


def markdown(rows: Sequence[Row], bench: Benchmark, seeds: Sequence[int], steps: int, minutes: float,
             command: str, png: Path | None, doc: Path, overrides: Sequence[str] = (), mask_stride: int | None = None,
             seconds: float | None = None) -> str:
    """The report (``doc`` is where it will be written, for the image link)."""
    from gvis.provenance import git_hash

    learned = [r for r in rows if r.kind == "learned"]
    lines = [
        "# Ablations: the paper's Tables 1 and 4 on the synthetic benchmark",
        "",
        f"Generated by `{command}` (git {git_hash() or 'unknown'}"
        + (f"; {seconds / 60:.0f} min in this invocation" if seconds is not None else "") + "). "
        f"Data: {bench.describe()}. Each learned row is one config trained for at most {steps} steps and "
        f"{minutes:g} min of training per run (training seed{'s' if len(seeds) > 1 else ''} "
        f"{', '.join(map(str, seeds))}; final checkpoint, no "
        "model selection"
        + (f"; mask head at 1/{mask_stride} of the frame" if mask_stride else "")
        + (f"; with {' '.join('--set ' + o for o in overrides)}" if overrides else "")
        + "), then evaluated on every held-out set (video AP, YouTube-VIS 2019 metric). A seed's number is the "
        "mean over the held-out sets; the table gives mean ± std over seeds. The MaskTrack R-CNN rule is tuned "
        "on the same training videos (`gvis tune-baseline`). The paper's mAP is on YouTube-VIS with a YOLACT "
        "detector and 95k training iterations: compare orderings, not levels.",
        "",
        "| config | changes (vs configs/train/base.yaml) | AP | AP50 | AP75 | AR10 | training | steps "
        "| tracker ms/frame | parameters | paper mAP | vs proposed: paper / ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        status = _status(row, len(seeds)) if row.kind == "learned" else ""
        train = f"{statistics.mean(row.train_seconds) / 60:.1f} min" if row.train_seconds else "–"
        step = f"{statistics.mean(row.steps):.0f}" if row.steps else "–"
        speed = f"{statistics.mean(row.ms_per_frame):.1f}" if row.ms_per_frame else "–"
        params = f"{row.parameters:,}" if row.parameters is not None else "–"
        stats = " | ".join(_mean_std(row, s) for s in STATS)
        name = f"{row.name}" + (f" — {status}" if status else "")
        lines.append(f"| {name} | {row.changes or '–'} | {stats} | {train} | {step} | {speed} | {params} "
                     f"| {_paper_cell(row)} | {row.ordering} |")
    lines += ["", "## Reading", ""]
    compared = [r for r in learned if r.agrees is not None]
    if compared:
        agree = [r.name for r in compared if r.agrees]
        lines.append(f"Our ordering agrees with the paper's for {len(agree)} of {len(compared)} rows"
                     + (f" ({', '.join(agree)})" if agree else "") + ".")
        lines.append("")
        for row in compared:
            if not row.agrees:
                lines.append(f"- **{row.name}** ({row.paper.name}): {row.ordering}. Why it may differ here: "
                             f"{row.paper.caveat}.")
        lines += [
            "",
            "In general: the benchmark is synthetic (8 shape categories, a simulated detector whose errors are "
            "known), each run trains for minutes where the paper trained 150 epochs, and on 200 videos where the "
            "paper had 1867; differences within a row's seed spread are not evidence either way. Nothing in the "
            "benchmark was tuned to make a row agree.",
        ]
    else:
        lines.append(f"No ordering to compare (the `{REFERENCE}` config and paper rows are needed).")
    per_seed_rows = [r for r in learned if r.per_seed or r.diverged]
    if per_seed_rows:
        lines += ["", "AP per training seed (mean over the held-out sets):", "",
                  "| config | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                  "|---|" + "---|" * len(seeds)]
        for row in per_seed_rows:
            cells = [f"{100 * row.per_seed[s]['AP']:.1f}" if s in row.per_seed else
                     f"diverged at step {row.diverged[s]['step']}" if s in row.diverged else "–" for s in seeds]
            lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    failed = [(r.name, seed, message) for r in learned for seed, message in r.failed.items()]
    if failed:
        lines += ["", "Failed runs (rerun the command to retry them):", ""]
        lines += [f"- {name} seed {seed}: {message}" for name, seed, message in failed]
    if png is not None:
        lines += ["", f"![AP per config]({os.path.relpath(png, doc.parent)})", "",
                  "Left: held-out AP, mean ± std over training seeds (vertical lines: the MaskTrack rule). Right: AP "
                  f"difference to `{REFERENCE}`, ours (bars, ± the row's std) and the paper's (diamonds)."]
    return "\n".join(lines) + "\n"


def bar_chart(rows: Sequence[Row], png: Path, preset: str = "hard") -> None:
    """Two panels: AP mean ± std per learned row; AP difference to ``proposed``, ours and the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learned = [r for r in rows if r.kind == "learned"]
    reference = next((r for r in learned if r.name == REFERENCE and r.mean("AP") is not None), None)
    positions = list(range(len(learned)))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.42 * len(learned) + 1.6), sharey=True)
    means = [r.mean("AP") or 0.0 for r in learned]
    axes[0].barh(positions, means, xerr=[r.std("AP") for r in learned], color="tab:blue", capsize=3)
    for position, row in zip(positions, learned):
        if row.mean("AP") is None:
            axes[0].text(0, position, " diverged" if row.diverged else " not run", va="center", fontsize=8)
    for row, style in zip((r for r in rows if r.kind == "heuristic"), ("--", ":")):
        axes[0].axvline(row.mean("AP"), color="gray", linestyle=style, label=row.name)
    axes[0].set_yticks(positions, [r.name for r in learned])
    axes[0].set_xlabel(f"held-out AP (synthetic {preset})")
    if any(r.kind == "heuristic" for r in rows):
        axes[0].legend(fontsize=7, loc="lower right")
    if reference is not None:
        ours = [(r.mean("AP") - reference.mean("AP")) if r.mean("AP") is not None else 0.0 for r in learned]
        axes[1].barh(positions, ours, xerr=[r.std("AP") for r in learned], color="tab:orange", capsize=3,
                     label="ours")
        paper = [(p, r.paper.ap - PAPER_ROWS[REFERENCE].ap) for p, r in zip(positions, learned)
                 if r.paper is not None and r.paper.ap is not None]
        if paper:
            axes[1].scatter([d for _, d in paper], [p for p, _ in paper], marker="D", color="black", zorder=3,
                            label="paper (YouTube-VIS)")
        axes[1].axvline(0, color="gray", linewidth=0.8)
        axes[1].legend(fontsize=7, loc="lower right")
    axes[1].set_xlabel(f"AP difference to {REFERENCE}")
    fig.tight_layout()
    with atomic_open(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
