"""The report of ``gvis compare`` (markdown, JSON and chart), read from the files of a work folder.

A learned row is one config: per training seed, the mean over the held-out sets of each stat; the table
shows mean ± std over seeds, the paired difference to the reference config with its 95 % interval and
verdict (:mod:`gvis.compare.verdicts`), whether the row learned within its budget, training time and steps,
tracker ms/frame (``gvis eval-tracker``, one video at a time), parameter count, and for the paper's rows the
paper's number and whether its ordering is reproduced. Runs that diverged are reported as such; statistics
use the seeds that finished.
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
from gvis.compare.sweep import RunRecord, results_path, run_folder
from gvis.compare.verdicts import (
    CURVE_TOLERANCE,
    LATE_FRACTION,
    LEVEL,
    MIN_SEEDS,
    RESAMPLES,
    VALIDATIONS,
    LearningCheck,
    PairedBootstrap,
    Verdict,
    ap_fraction,
    check_learning,
    read_curve,
)
from gvis.io import atomic_open


@dataclass
class Row:
    """One row of the table. ``per_seed``: seed → stat → fraction (mean over held-out sets); heuristic rows
    have one entry (seed ``None``: they are deterministic). ``results``: seed → held-out set → results file;
    ``final_steps``, ``curves``: per seed, the step reached and the validation curve; ``warmup_steps`` of the
    row's config. :func:`assess` sets ``learning``, ``verdict``, ``status`` (the verdict cell) and the paper
    comparison (``ordering``, ``agrees``)."""

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
    results: dict[int | None, dict[str, Path]] = field(default_factory=dict)
    final_steps: dict[int, int] = field(default_factory=dict)
    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    warmup_steps: int = 0
    learning: LearningCheck | None = None
    #: The paired difference to the reference, for every row with results; ``verdict``: the same where it
    #: decides (both learned), else ``None``.
    difference: Verdict | None = None
    verdict: Verdict | None = None
    status: str = "–"
    ordering: str = "–"
    agrees: bool | None = None

    def values(self, stat: str) -> list[float]:
        return [100 * stats[stat] for stats in self.per_seed.values()]

    def mean(self, stat: str) -> float | None:
        values = self.values(stat)
        return statistics.mean(values) if values else None

    def std(self, stat: str) -> float:
        values = self.values(stat)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def not_learned(self) -> bool:
        return self.learning is not None and self.learning.flagged is True

    def to_json(self) -> dict[str, Any]:
        """The row, every AP a fraction (``per_seed`` already is; means, spreads, the paper's mAP, verdict and
        curves are converted from the table's points)."""
        return {
            "name": self.name, "kind": self.kind, "changes": self.changes,
            "per_seed": {"rule" if k is None else str(k): v for k, v in self.per_seed.items()},
            "mean": {s: ap_fraction(self.mean(s)) for s in STATS}, "std": {s: ap_fraction(self.std(s)) for s in STATS},
            "diverged": {str(k): v for k, v in self.diverged.items()}, "failed": {str(k): v for k, v in self.failed.items()},
            "missing": self.missing, "train_seconds": self.train_seconds, "steps": self.steps,
            "ms_per_frame": self.ms_per_frame, "parameters": self.parameters,
            "paper": None if self.paper is None else {"name": self.paper.name, "table": self.paper.table,
                                                      "AP": ap_fraction(self.paper.ap)},
            "verdict": self.status, "vs_reference": None if self.verdict is None else self.verdict.to_json(),
            "difference": None if self.difference is None else self.difference.to_json(verdict=False),
            "learning": None if self.learning is None else self.learning.to_json(),
            "ordering": self.ordering, "agrees": self.agrees,
        }


@dataclass
class Comparison:
    """What was compared and how: the benchmark, the runs folder, seeds, budget, reference config, the
    command line and the overrides, for the report's text."""

    bench: Benchmark
    runs: Path
    seeds: Sequence[int]
    steps: int
    minutes: float
    reference: str = REFERENCE
    command: str = "gvis compare"
    overrides: Sequence[str] = ()
    mask_stride: int | None = None
    seconds: float | None = None
    resamples: int = RESAMPLES


def config_changes(path: Path, reference: Path | None = None) -> str:
    """``key=value; ...`` of what config ``path`` changes against ``reference`` (``configs/train/base.yaml``)."""
    import yaml

    from gvis.config import find_config, to_dict
    from gvis.engine.state import config_differences
    from gvis.train.loop import load_train_config

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


def collect_learned(bench: Benchmark, runs: Path, configs: dict[str, Path], seeds: Sequence[int],
                    records: Sequence[RunRecord] = ()) -> list[Row]:
    """The rows of the learned configs, from their run folders in ``runs`` (``records``: failures of this
    sweep): the paper's rows in ``PAPER_ROWS`` order (its tables' order), then any other config in the order
    given."""
    import torch
    import yaml

    failures = {(r.stem, r.seed): r.message for r in records if r.status == "failed"}
    names = [test.name for test in bench.test_sets]
    paper_order = list(PAPER_ROWS)
    ordered = sorted(configs, key=lambda stem: paper_order.index(stem) if stem in paper_order else len(paper_order))
    rows = []
    for stem in ordered:
        path = configs[stem]
        row = Row(stem, "learned", changes=config_changes(path), paper=PAPER_ROWS.get(stem))
        for seed in seeds:
            folder = run_folder(runs, stem, seed)
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
                row.final_steps[seed] = outcome.record["step"]
                row.curves[seed] = read_curve(folder)
                kept = {test.name: results_path(folder, test) for test in bench.test_sets}
                if all(p.exists() for p in kept.values()):
                    row.results[seed] = kept
                config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
                row.warmup_steps = int(config["optim"]["warmup_steps"])
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
        row.results[None] = {n: bench.work / "results" / f"masktrack_{name}_{n}.json" for n in names}
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------ verdicts
def assess(rows: Sequence[Row], comparison: Comparison) -> None:
    """Learning checks, verdicts against ``comparison.reference`` and the paper's orderings of every row."""
    for row in rows:
        if row.kind == "learned" and row.final_steps:
            row.learning = check_learning(row.curves, row.final_steps, row.warmup_steps)
    _verdicts(rows, comparison)
    if comparison.reference == REFERENCE:
        paper_orderings(rows)


def _verdicts(rows: Sequence[Row], comparison: Comparison) -> None:
    """``difference`` of every row with results against the reference, and ``verdict`` and ``status`` (no
    verdict where the row or the reference has not learned)."""
    bench = comparison.bench
    reference = next((r for r in rows if r.name == comparison.reference and r.kind == "learned"), None)
    if reference is None or not reference.results:
        for row in rows:
            row.status = "reference" if row is reference else "– (no reference results)"
        return
    gts = {test.name: test / "instances.json" for test in bench.test_sets}
    bootstrap = PairedBootstrap({name: len(json.loads(gt.read_text(encoding="utf-8"))["videos"])
                                 for name, gt in gts.items()}, resamples=comparison.resamples)

    def scores(row: Row) -> dict[int, Any]:
        per_seed = {seed: bootstrap.score(files, gts) for seed, files in row.results.items()}
        if None in per_seed:  # a deterministic rule: the same results paired with every seed
            return {seed: per_seed[None] for seed in reference.results}
        return per_seed

    reference_scores = scores(reference)
    judged = [] if reference.not_learned else [r for r in rows if r is not reference and r.results and not r.not_learned]
    for row in rows:
        if row is not reference and row.results:
            row.difference = bootstrap.compare(scores(row), reference_scores, family=max(1, len(judged)))
        if row is reference:
            row.status = "reference"
        elif not row.results:
            row.status = "– (diverged)" if row.diverged else "– (no results)"
        elif reference.not_learned:
            row.status = "– (reference not learned)"
        elif row.not_learned:
            row.status = "– (not learned at this budget)"
        else:
            row.verdict = row.difference
            row.status = row.verdict.outcome if row.verdict is not None else "– (no seed shared with the reference)"


def paper_orderings(rows: Sequence[Row]) -> None:
    """``ordering`` / ``agrees`` of every learned paper row against ``proposed``, from its verdict.

    The paper puts ``proposed`` above every other row (or the row diverged). Ours agrees when the verdict is
    worse (or every seed diverged), disagrees when it is better (or no seed diverged where the paper's runs
    did); undecided, not learned, no paper number of its own (``scoring_learned_head``) and "diverges" rows
    where only some seeds diverged, or that trained too briefly to learn, are not counted.
    """
    for row in rows:
        if row.kind != "learned" or row.paper is None or row.name == REFERENCE:
            continue
        if row.paper.ap is None:
            ran = len(row.diverged) + len(row.per_seed)
            if not ran:
                row.ordering = "– (not run)"
            elif row.diverged and row.per_seed:  # some evidence each way: not counted
                row.ordering = f"partly: {len(row.diverged)} of {ran} seeds diverged"
            elif row.not_learned:  # too short a training to say it would not diverge
                row.ordering = "paper: diverges; ours not learned at this budget"
            else:
                row.agrees = bool(row.diverged)
                row.ordering = "agrees: diverged" if row.agrees else "disagrees: trained without diverging"
            continue
        paper_delta = row.paper.ap - PAPER_ROWS[REFERENCE].ap
        if paper_delta == 0:
            row.ordering = f"paper ±0.0 (its {REFERENCE} row)"
        elif row.verdict is None or row.verdict.outcome == "undecided":
            ours = "diverged" if row.diverged and not row.per_seed else row.status.strip("– ()")
            row.ordering = f"paper {paper_delta:+.1f}; ours {ours}"
        else:
            row.agrees = (row.verdict.outcome == "worse") == (paper_delta < 0)
            row.ordering = (f"paper {paper_delta:+.1f}; ours {row.verdict.outcome}: "
                            f"{'agrees' if row.agrees else 'disagrees'}")


# ------------------------------------------------------------------------------------------ text
def title(rows: Sequence[Row], comparison: Comparison) -> str:
    """The report's title, from the configs actually compared."""
    others = [r for r in rows if r.kind == "learned" and r.name != comparison.reference]
    paper = [r.name for r in others if r.paper is not None]
    new = [r.name for r in others if r.paper is None]
    parts = [", ".join(f"`{name}`" for name in new)] if new else []
    if paper:
        if len(paper) == len(PAPER_ROWS) - (comparison.reference in PAPER_ROWS):
            parts.append("the rows of the paper's Tables 1 and 4")
        elif len(paper) <= 4:
            parts.append(", ".join(f"`{name}`" for name in paper))
        else:
            parts.append(f"{len(paper)} rows of the paper's Tables 1 and 4")
    what = " and ".join(parts) or "no other config"
    return f"# {what[0].upper() + what[1:]} against `{comparison.reference}` on the synthetic {comparison.bench.preset} benchmark"


def criteria(comparison: Comparison) -> str:
    """How verdicts and the "not learned" flag are decided (printed in every report)."""
    level = f"{100 * LEVEL:.0f} %"
    return (
        f"**Verdicts.** Each row is compared with `{comparison.reference}` on the training seeds both finished "
        "(paired by seed) and on the same held-out videos. Video AP is a dataset-level metric (no video has an "
        f"AP of its own), so its uncertainty is measured by a paired bootstrap: {comparison.resamples} resamples "
        "(fixed generator seed) draw the videos of every held-out set and the paired training seeds with "
        "replacement, the same video draws for every row, and recompute every AP. Δ AP is the mean over seeds of "
        f"row − `{comparison.reference}` (each AP the mean over the held-out sets, as in the table); its {level} "
        f"interval is the percentile interval of the resampled Δ. **better**: the whole interval above 0; "
        "**worse**: below 0; **undecided**: it contains 0. **Not learned at this budget**: the row's validation "
        f"AP (mean over seeds; {comparison.bench.val_videos} validation videos, {VALIDATIONS} points per run) at "
        f"the point nearest {100 * LATE_FRACTION:.0f} % of the steps reached and at the end differ by more than "
        f"{CURVE_TOLERANCE:g} AP, or a run ends inside the learning-rate warm-up; such a row keeps its numbers "
        "and gets no verdict (its difference, shown with its interval, measures how fast it learns, not where "
        "it ends); so does every row when the reference has not learned.")


def warnings(rows: Sequence[Row], comparison: Comparison) -> list[str]:
    """Too few seeds; several rows compared at once (with the verdicts that survive Bonferroni)."""
    notes = []
    if len(comparison.seeds) < MIN_SEEDS:
        notes.append(f"**Only {len(comparison.seeds)} training seed{'s' if len(comparison.seeds) > 1 else ''}.** "
                     "The intervals then barely measure how much a result changes from one training run to "
                     f"the next; use `--seeds {MIN_SEEDS}` or more before drawing conclusions.")
    judged = [r for r in rows if r.verdict is not None]
    if len(judged) > 1:
        decided = [r for r in judged if r.verdict.outcome != "undecided"]
        kept = [r.name for r in decided if r.verdict.family_outcome == r.verdict.outcome]
        notes.append(
            f"**{len(judged)} rows are compared at once.** At {100 * LEVEL:.0f} % each, a row that does not differ "
            f"from `{comparison.reference}` still gets better or worse about once in "
            f"{1 / (1 - LEVEL):.0f} comparisons: about {len(judged) * (1 - LEVEL):.1f} such verdicts are expected "
            f"by chance here. At the Bonferroni level (each interval at 1 − {1 - LEVEL:g}/{len(judged)}), "
            f"{len(kept)} of the {len(decided)} better/worse verdicts remain"
            + (f" ({', '.join(kept)})" if kept else "") + ".")
    return notes


def _mean_std(row: Row, stat: str) -> str:
    mean = row.mean(stat)
    if mean is None:
        return "–"
    return f"{mean:.1f}" if row.kind == "heuristic" else f"{mean:.1f} ± {row.std(stat):.1f}"


def _difference(row: Row) -> str:
    difference = row.difference
    return "–" if difference is None else f"{difference.difference:+.1f} [{difference.low:+.1f}, {difference.high:+.1f}]"


def _learned_cell(row: Row) -> str:
    check = row.learning
    if check is None:
        return "–"
    change = "" if check.late_change is None else f" ({check.late_change:+.1f})"
    if check.flagged is None:
        return "not checked"
    return ("**no**" if check.flagged else "yes") + change


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


def _named(rows: Sequence[Row], with_difference: bool = True) -> str:
    return ", ".join(f"`{r.name}`" + (f" ({_difference(r)})" if with_difference and r.verdict else "") for r in rows)


def reading(rows: Sequence[Row], comparison: Comparison) -> list[str]:
    """The "Reading" section: the verdicts, the rows not learned, and the paper's orderings, from the rows."""
    ref = comparison.reference
    lines = []
    reference = next((r for r in rows if r.status == "reference"), None)
    if reference is None or not reference.results:
        lines.append(f"- **No verdicts**: the reference config `{ref}` has no finished run with kept results here "
                     "(compare it too, or choose another with `--reference`).")
    elif reference.not_learned:
        lines.append(f"- **No verdicts**: the reference `{ref}` has not learned at this budget "
                     f"({', '.join(reference.learning.reasons)}), so every difference (shown, with its interval) "
                     "measures learning speed as much as the variant; give the runs a longer budget (`--steps`, "
                     "`--minutes`, in their own `--runs` folder).")
    groups = {outcome: [r for r in rows if r.verdict is not None and r.verdict.outcome == outcome]
              for outcome in ("better", "worse", "undecided")}
    for outcome, members in groups.items():
        if members:
            lines.append(f"- **{outcome.capitalize()}** than `{ref}`" if outcome != "undecided" else
                         "- **Undecided** (the interval contains 0)")
            lines[-1] += f": {_named(members)}."
    flagged = [r for r in rows if r.not_learned and r is not reference]
    if flagged:
        lines.append("- **Not learned at this budget** (no verdict; their differences measure learning speed): "
                     + "; ".join(f"`{r.name}`: {', '.join(r.learning.reasons)}" for r in flagged) + ".")
    untrained = next((r for r in rows if r.kind == "heuristic" and r.name.startswith("MaskTrack rule, default")), None)
    below = [r for r in rows if r.kind == "learned" and untrained is not None and r.mean("AP") is not None
             and r.mean("AP") < untrained.mean("AP")]
    if below:
        lines.append(f"- **Below the untrained MaskTrack rule** ({untrained.mean('AP'):.1f} AP, no learning at all): "
                     + ", ".join(f"`{r.name}` ({r.mean('AP'):.1f})" for r in below) + ". Whatever their verdict, "
                     "these rows have barely learned to track at this budget: a longer budget may change them most.")
    unchecked = [r for r in rows if r.learning is not None and r.learning.flagged is None]
    if unchecked:
        lines.append("- **Learning not checked** (runs without a validation curve, e.g. trained before curves were "
                     "recorded; delete them to retrain): " + _named(unchecked, with_difference=False) + ".")
    compared = [r for r in rows if r.agrees is not None]
    if ref == REFERENCE and any(r.paper is not None and r.name != REFERENCE for r in rows if r.kind == "learned"):
        lines += ["", "The paper's orderings (its rows against its proposed model):", ""]
        if compared:
            agree = [r.name for r in compared if r.agrees]
            lines.append(f"- Reproduced for {len(agree)} of the {len(compared)} rows with a decided verdict"
                         + (f" ({', '.join(agree)})" if agree else "") + ".")
            for row in compared:
                if not row.agrees:
                    lines.append(f"- **{row.name}** ({row.paper.name}): {row.ordering}. Why it may differ here: "
                                 f"{row.paper.caveat}.")
        open_rows = [r for r in rows if r.kind == "learned" and r.paper is not None and r.agrees is None
                     and r.name != REFERENCE and r.paper.ap != PAPER_ROWS[REFERENCE].ap]
        if open_rows:
            lines.append("- Not resolved here (undecided, not learned, partly diverged or not run): "
                         + ", ".join(f"`{r.name}` ({r.ordering})" for r in open_rows) + ".")
        lines += [
            "",
            "In general: the benchmark is synthetic (8 shape categories, a simulated detector whose errors are "
            "known), each run trains for minutes where the paper trained 150 epochs, and on 200 videos where the "
            "paper had 1867. Nothing in the benchmark was tuned to make a row agree.",
        ]
    return lines


def _previous_difference(row: dict) -> str:
    """A previous report's JSON row's paired difference, as :func:`_difference` shows it (in AP points)."""
    paired = row.get("difference") or row.get("vs_reference")  # reports before "difference" had only verdicts
    if paired is None:
        return "–"
    low, high = paired["interval"]
    return f"{100 * paired['difference']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def changes_since(rows: Sequence[Row], previous: dict) -> list[str]:
    """Rows whose verdict differs from a previous report's JSON (``--since``), with both differences."""
    before = {row["name"]: row for row in previous.get("rows", [])}
    changed = [(r, before[r.name]) for r in rows if r.name in before and before[r.name]["verdict"] != r.status]
    same = [r.name for r in rows if r.name in before and before[r.name]["verdict"] == r.status]
    lines = [f"Against the previous report ({previous.get('command', 'unknown command')}): "
             f"{len(changed)} verdict{'s' if len(changed) != 1 else ''} changed, {len(same)} unchanged."]
    if changed:
        lines += ["", "| config | before | Δ before [interval] | now | Δ now [interval] |", "|---|---|---|---|---|"]
        lines += [f"| {row.name} | {old['verdict']} | {_previous_difference(old)} | {row.status} | {_difference(row)} |"
                  for row, old in changed]
    return lines


def markdown(rows: Sequence[Row], comparison: Comparison, png: Path | None, doc: Path,
             previous: dict | None = None) -> str:
    """The report (``doc`` is where it will be written, for the image link; ``previous``: an earlier
    report's JSON whose verdicts are compared with these)."""
    from gvis.provenance import git_hash

    bench, seeds = comparison.bench, comparison.seeds
    learned = [r for r in rows if r.kind == "learned"]
    lines = [
        title(rows, comparison),
        "",
        f"Generated by `{comparison.command}` (git {git_hash() or 'unknown'}"
        + (f"; {comparison.seconds / 60:.0f} min in this invocation" if comparison.seconds is not None else "")
        + "). "
        f"Data: {bench.describe()}. Each learned row is one config trained for at most {comparison.steps} steps "
        f"and {comparison.minutes:g} min of training per run (training seed{'s' if len(seeds) > 1 else ''} "
        f"{', '.join(map(str, seeds))}; final checkpoint, no model selection"
        + (f"; mask head at 1/{comparison.mask_stride} of the frame" if comparison.mask_stride else "")
        + (f"; with {' '.join('--set ' + o for o in comparison.overrides)}" if comparison.overrides else "")
        + "), then evaluated on every held-out set (video AP, YouTube-VIS 2019 metric). A seed's number is the "
        "mean over the held-out sets; the table gives mean ± std over seeds. The MaskTrack R-CNN rule is tuned "
        "on the same training videos (`gvis tune-baseline`)."
        + (" The paper's mAP is on YouTube-VIS with a YOLACT detector and 95k training iterations: compare "
           "orderings, not levels." if any(r.paper is not None for r in learned) else ""),
        "",
        criteria(comparison),
        "",
        *[line for note in warnings(rows, comparison) for line in (note, "")],
        f"| config | changes (vs configs/train/base.yaml) | AP | AP50 | AP75 | AR10 | Δ AP vs {comparison.reference} "
        f"[{100 * LEVEL:.0f} % interval] | verdict | learned (Δ val AP, last {100 * (1 - LATE_FRACTION):.0f} %) "
        "| training | steps | tracker ms/frame | parameters | paper mAP | paper's ordering |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        status = _status(row, len(seeds)) if row.kind == "learned" else ""
        train = f"{statistics.mean(row.train_seconds) / 60:.1f} min" if row.train_seconds else "–"
        step = f"{statistics.mean(row.steps):.0f}" if row.steps else "–"
        speed = f"{statistics.mean(row.ms_per_frame):.1f}" if row.ms_per_frame else "–"
        params = f"{row.parameters:,}" if row.parameters is not None else "–"
        stats = " | ".join(_mean_std(row, s) for s in STATS)
        name = f"{row.name}" + (f" — {status}" if status else "")
        lines.append(f"| {name} | {row.changes or '–'} | {stats} | {_difference(row)} | {row.status} "
                     f"| {_learned_cell(row)} | {train} | {step} | {speed} | {params} | {_paper_cell(row)} "
                     f"| {row.ordering} |")
    lines += ["", "## Reading", "", *reading(rows, comparison)]
    if previous is not None:
        lines += ["", "## Verdicts that changed", "", *changes_since(rows, previous)]
    per_seed_rows = [r for r in learned if r.per_seed or r.diverged]
    if per_seed_rows:
        lines += ["", f"AP per training seed (mean over the held-out sets; in brackets the paired difference to "
                  f"`{comparison.reference}`):", "",
                  "| config | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                  "|---|" + "---|" * len(seeds)]
        for row in per_seed_rows:
            cells = []
            for s in seeds:
                if s in row.per_seed:
                    paired = row.difference.per_seed.get(s) if row.difference is not None else None
                    cells.append(f"{100 * row.per_seed[s]['AP']:.1f}" + ("" if paired is None else f" ({paired:+.1f})"))
                else:
                    cells.append(f"diverged at step {row.diverged[s]['step']}" if s in row.diverged else "–")
            lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    failed = [(r.name, seed, message) for r in learned for seed, message in r.failed.items()]
    if failed:
        lines += ["", "Failed runs (rerun the command to retry them):", ""]
        lines += [f"- {name} seed {seed}: {message}" for name, seed, message in failed]
    if png is not None:
        lines += ["", f"![AP, differences and learning curves per config]({os.path.relpath(png, doc.parent)})", "",
                  "Left: held-out AP per config, mean over training seeds (bars) and each seed (dots); vertical "
                  f"lines: the MaskTrack rule. Middle: Δ AP to `{comparison.reference}` with its "
                  f"{100 * LEVEL:.0f} % interval (grey: no verdict, the row or the reference not learned) and the paper's difference "
                  "(diamonds). Right: validation AP during training, each seed's points and their mean."]
    return "\n".join(lines) + "\n"


def report_json(rows: Sequence[Row], comparison: Comparison, **paths: str) -> dict[str, Any]:
    """The ``--json`` object (also written beside the report): paths, reference, criteria, warnings, rows."""
    return {**paths, "command": comparison.command, "reference": comparison.reference,
            "criteria": criteria(comparison), "warnings": warnings(rows, comparison),
            "bootstrap": {"resamples": comparison.resamples, "level": LEVEL},
            "rows": [row.to_json() for row in rows]}


# ------------------------------------------------------------------------------------------ chart
def chart(rows: Sequence[Row], png: Path, comparison: Comparison) -> None:
    """Per learned row: AP (mean and seeds), Δ AP to the reference with its interval, the learning curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learned = [r for r in rows if r.kind == "learned"]
    count = max(1, len(learned))
    height = 0.45 * count + 1.2
    fig = plt.figure(figsize=(15, height))
    grid = fig.add_gridspec(count, 3, width_ratios=(1.2, 1.2, 1), hspace=0.15, wspace=0.25, bottom=0.8 / height,
                            top=1 - 0.15 / height)
    ap_axis = fig.add_subplot(grid[:, 0])
    delta_axis = fig.add_subplot(grid[:, 1], sharey=ap_axis)
    positions = list(range(len(learned)))[::-1]
    ap_axis.barh(positions, [r.mean("AP") or 0.0 for r in learned], color="tab:blue", alpha=0.6)
    for position, row in zip(positions, learned):
        ap_axis.scatter(row.values("AP"), [position] * len(row.per_seed), color="black", s=10, zorder=3)
        if row.mean("AP") is None:
            ap_axis.text(0, position, " diverged" if row.diverged else " not run", va="center", fontsize=8)
    handles = []
    for row, style in zip((r for r in rows if r.kind == "heuristic"), ("--", ":")):
        handles.append(ap_axis.axvline(row.mean("AP"), color="gray", linestyle=style, label=row.name))
    ap_axis.set_yticks(positions, [r.name for r in learned])
    ap_axis.set_ylim(-0.5, count - 0.5)
    ap_axis.set_xlabel(f"held-out AP (synthetic {comparison.bench.preset})")
    for position, row in zip(positions, learned):
        if row.difference is not None:
            difference, verdict = row.difference, row.verdict
            color = ("tab:gray" if verdict is None else
                     {"better": "tab:green", "worse": "tab:red"}.get(verdict.outcome, "tab:orange"))
            delta_axis.errorbar(difference.difference, position, xerr=[[difference.difference - difference.low],
                                                                       [difference.high - difference.difference]],
                                fmt="o", color=color, capsize=3)
        if (comparison.reference == REFERENCE and row.paper is not None and row.paper.ap is not None
                and row.paper.ap != PAPER_ROWS[REFERENCE].ap):  # not the paper's proposed row itself
            delta_axis.scatter(row.paper.ap - PAPER_ROWS[REFERENCE].ap, position, marker="D", color="black", zorder=3)
    delta_axis.axvline(0, color="gray", linewidth=0.8)
    delta_axis.set_xlabel(f"Δ AP to {comparison.reference} ({100 * LEVEL:.0f} % interval); ◆ the paper's")
    delta_axis.tick_params(labelleft=False)
    steps = max([point[0] for r in learned for curve in r.curves.values() for point in curve] or [comparison.steps])
    top = max([1.0] + [point[1] for r in learned for curve in r.curves.values() for point in curve])
    for index, row in enumerate(learned):
        axis = fig.add_subplot(grid[index, 2])
        for _, curve in sorted(row.curves.items()):
            axis.plot([p[0] for p in curve], [p[1] for p in curve], ".", color="tab:blue", markersize=3)
        if row.curves and len({len(c) for c in row.curves.values()}) == 1:
            curves = list(row.curves.values())
            axis.plot([p[0] for p in curves[0]], [statistics.mean(c[i][1] for c in curves) for i in range(len(curves[0]))],
                      color="red" if row.not_learned else "tab:blue", linewidth=1)
        axis.set_xlim(0, steps * 1.02)
        axis.set_ylim(0, top * 1.1)
        axis.tick_params(labelsize=6, labelbottom=index == len(learned) - 1, labelleft=False, length=2)
        if index == len(learned) - 1:
            axis.set_xlabel(f"step (validation AP, 0–{top * 1.1:.0f}; red: not learned)")
    if handles:  # above the panels, off the bars
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.05, 1.0), fontsize=7, frameon=False, ncol=2)
    with atomic_open(png, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
