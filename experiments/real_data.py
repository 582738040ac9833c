"""Real-data report: re-linking real masks with every tracker (writes docs/results/real_data.md).

1. **BDD100K MOTS** (``../shared/data/real/bdd100k_mots_b1c66a42-6f7d68ca``): a real tracker's output on one
   video (100 frames, 1280x720, all scores 1.0) loses its track ids (``gvis results-to-detections``) and
   every tracker links the masks again; next to the original tracks and ``gvis oracle`` (the masks linked
   by the ground truth). Video AP (official, per category) and the MOTS metrics of BDD100K (MOTA, IDF1, ...;
   ``gvis eval --mots``, which reproduces Scalabel's figures for the original tracks).
2. **Dense class-agnostic proposals** from the ground truth of the two DAVIS fixtures and of the OVIS one
   (:data:`PROPOSAL_FIXTURES`), perturbed, split and duplicated into >= 10 overlapping proposals per object
   and frame (``gvis.detections.proposals``, default settings, seed 0; one category "object", no appearance,
   identities removed), with constant and with spread scores, re-linked the same way; class-agnostic video
   AP and MOTS metrics. ``--proposal-draws K`` builds them K times (seeds 0..K-1) and adds each tracker's AP
   over the draws, and that of the heuristics with their equal scores in random order (:func:`draw_lines`).

Heuristics run with their default configs and with the rule's config tuned on synthetic data
(``configs/baselines/masktrack-rule-dense.yaml``: ``experiments/dense_proposals.py`` tunes it on dense proposals,
and ``experiments/final_outputs.py`` names the shipped config the rule's grid picks on a segmenter's final
output); nothing is chosen on these fixtures. The learned tracker's rows:
``--learned CHECKPOINT[@PRESET][:KEY=VALUE,...]`` (repeatable; see :func:`learned_rows`);
``--final`` and ``--dense`` name the ones chosen on each kind of synthetic input, which the BDD100K and the
dense-proposal summary lines compare with the heuristics; ``--ablate`` one of them: its inputs taken away one at a
time on BDD100K MOTS (:data:`INPUT_ABLATION`).

    .venv/bin/python experiments/real_data.py [--shared DIR] [--learned C.pt[@PRESET][:KEY=VALUE,...]] [--final SETTING]
        [--dense SETTING] [--ablate SETTING] [--category-hypotheses K] [--proposal-draws K]
        [--out docs/results/real_data.md]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

REPO = Path(__file__).resolve().parent.parent
BDD = "bdd100k_mots_b1c66a42-6f7d68ca"
#: Fixtures whose ground truth (the file named) becomes dense proposals: two DAVIS ones (one object per video)
#: and an OVIS one (10 heavily occluded fish in 3 frames).
PROPOSAL_FIXTURES = {"davis2016_train_2seq": "ytvis_gt.json", "davis2017_tennis_2frames": "ytvis_gt.json",
                     "ovis_85aa3b0e_3frames": "annotations_train.json"}
PROPOSAL_SEED = 0
#: Random orders of a row's equal scores whose mean AP the draws table reports (``random_tie_aps``, seed 0).
TIE_ORDERS = 10
#: AP differences below this (half the tables' 0.01-point step) are read as none.
SAME_AP = 5e-5
#: (row name, tracker, config name in configs/baselines/ or None for configs/baselines/<tracker>.yaml).
HEURISTICS = [
    ("masktrack-rule", "masktrack-rule", None),
    ("masktrack-rule, masktrack-rule-dense.yaml", "masktrack-rule", "masktrack-rule-dense"),
    ("deepsort", "deepsort", None),
    ("iou", "iou", None),
]
AP_STATS = ("AP", "AP50", "AP75", "AR1", "AR10")
MOT_COLUMNS = ("MOTA", "IDF1", "IDSw", "FP", "FN")


@dataclass
class Row:
    name: str
    stats: dict
    mots: dict
    tracks: int
    seconds: float | None = None
    note: str = ""
    #: Where AP is per category: each category's AP (-1 without ground truth) and the class-agnostic AP.
    per_category: dict[str, float] | None = None
    agnostic_ap: float | None = None
    #: With ``--category-hypotheses K > 1``, where AP is per category: ``{"AP", "per_category"}`` of the same
    #: tracking written with K entries per track.
    hypotheses: dict | None = None
    #: Where AP is class-agnostic: the AP at each IoU threshold 0.50:0.05:0.95 (their mean is the AP).
    ap_per_threshold: list[float] | None = None
    #: Where AP is class-agnostic: the mean AP over :data:`TIE_ORDERS` random orders of the row's equal scores
    #: (the AP itself without ties). The evaluator orders ties by video id and results order, not the tracker.
    random_tie_ap: float | None = None


@dataclass
class Section:
    title: str
    class_agnostic: bool
    rows: list[Row] = field(default_factory=list)
    #: Ground-truth instances per category name (for the per-category table of a section scored per category).
    instances: dict[str, int] = field(default_factory=dict)
    #: Category hypotheses per track of the section's second scoring (``--category-hypotheses``; 1: none).
    hypotheses: int = 1
    #: The learned setting the section's summary lines compare with the heuristics (``None``: the last learned row).
    compared: str | None = None
    #: The learned setting of the input ablation (``--ablate``) and its rows, or ``None``.
    ablated: str | None = None
    ablation: list[Row] = field(default_factory=list)


def heuristic_config(tracker_name: str, config_name: str | None):
    """A heuristic tracker's config as ``gvis track`` loads it: ``configs/baselines/<config_name>.yaml``, else
    ``configs/baselines/<tracker_name>.yaml`` where it exists, else the defaults."""
    from gvis.config import CONFIG_DIR, find_config, load_config
    from gvis.registry import TRACKERS

    schema = TRACKERS.get(tracker_name).config_class
    default = CONFIG_DIR / "baselines" / f"{tracker_name}.yaml"
    path = find_config(config_name, "baselines") if config_name else (default if default.exists() else None)
    return load_config(schema, path)


def heuristic(tracker_name: str, config_name: str | None, categories: list):
    """A heuristic tracker with its config loaded as ``gvis track`` loads it (:func:`heuristic_config`)."""
    from gvis.registry import TRACKERS

    return TRACKERS.build(tracker_name, categories=categories, config=heuristic_config(tracker_name, config_name))


# ------------------------------------------------------------------------------------------------
# THE LEARNED TRACKER'S ROWS. The detector-agnostic learned tracker is added here: every
# `--learned CHECKPOINT` becomes one row of every table, built by this function. A checkpoint that cannot
# take these detections (class list, appearance width) stops the script with gvis's own error.
# ------------------------------------------------------------------------------------------------
class LearnedSpec(NamedTuple):
    """A setting of the learned tracker: ``CHECKPOINT[@PRESET][:KEY=VALUE,...]``."""

    name: str
    """The row name: ``learned, <checkpoint file>[, <preset>][, <key=value>...]``."""
    checkpoint: str
    preset: str | None
    """Inference keys from a YAML (a name in ``configs/inference/`` or a ``.yaml`` path; ``gvis track
    --inference``)."""
    overrides: list[str]
    """Inference keys as ``gvis track --set`` takes them, applied after the preset."""


def learned_spec(spec: str) -> LearnedSpec:
    """The :class:`LearnedSpec` of ``CHECKPOINT[@PRESET][:KEY=VALUE,...]``."""
    head, _, settings = spec.partition(":")
    checkpoint, _, preset = head.rpartition("@")
    # A preset is a name (no folder) or a .yaml path; any other '@' belongs to the checkpoint's path.
    if not checkpoint or not (preset.endswith((".yaml", ".yml")) or Path(preset).name == preset):
        checkpoint, preset = head, ""
    overrides = [item for item in settings.split(",") if item]
    name = ", ".join(["learned", Path(checkpoint).name, *([preset] if preset else []), *overrides])
    return LearnedSpec(name, checkpoint, preset or None, overrides)


def learned_rows(checkpoints: list[str], categories: list) -> list[tuple[str, object]]:
    """``(row name, tracker)`` of the learned tracker for each ``CHECKPOINT[@PRESET][:KEY=VALUE,...]``
    (:func:`learned_spec`)."""
    from gvis.registry import TRACKERS

    rows = []
    for spec in checkpoints:
        name, checkpoint, preset, overrides = learned_spec(spec)
        rows.append((name, TRACKERS.build("learned", categories=categories, checkpoint=checkpoint,
                                          inference=preset, overrides=overrides)))
    return rows


# ------------------------------------------------------------------------------------------------
# INPUT ABLATION of one learned setting on BDD100K MOTS (`--ablate SETTING`): the setting with one of its
# inputs taken away at inference, to show where its AP comes from (and where it is lost).
# ------------------------------------------------------------------------------------------------
#: The ``geometry`` inputs' detection columns (``GeometryInputs.det_columns``) holding the detection's
#: overlaps with the other detections of its frame (o, k, o', c).
OVERLAP_COLUMNS = ("overlap_before", "inside_before", "overlap_any", "contains_any")


class AblatedInputs:
    """A learned tracker's ``geometry`` inputs with features neutralised at inference: node columns
    ``node_constant`` set to a constant, edge columns ``edge_copy`` (target → source) copied from another
    edge column, and with ``still`` every track's velocity 0 (its predicted box is its last box). Columns
    are named as in the inputs' ``det_columns`` and ``pair_columns``."""

    def __init__(self, inputs, node_constant: dict[str, float], edge_copy: dict[str, str], still: bool) -> None:
        self.inputs, self.still = inputs, still
        self.node_constant = {inputs.det_columns.index(name): value for name, value in node_constant.items()}
        self.edge_copy = {inputs.pair_columns.index(target): inputs.pair_columns.index(source)
                          for target, source in edge_copy.items()}

    def __getattr__(self, name: str):
        return getattr(self.inputs, name)

    def det_features(self, frame):
        features = self.inputs.det_features(frame).clone()
        for column, value in self.node_constant.items():
            features[:, column] = value
        return features

    def pair_features(self, state: dict, frame, src, dst, pair_iou):
        if self.still:
            state = {**state, "velocity": state["velocity"].new_zeros(state["velocity"].shape)}
        features = self.inputs.pair_features(state, frame, src, dst, pair_iou).clone()
        for target, source in self.edge_copy.items():
            features[:, target] = features[:, source]
        return features


#: AP points (%) below which an ablation row's change is read as no dependence.
ABLATION_NOISE = 0.3
NO_OVERLAPS = {column: -1.0 for column in OVERLAP_COLUMNS}  # 2·0 − 1: "overlaps no other detection"
#: (row name, extra inference keys, AblatedInputs arguments or None, what the row takes away).
INPUT_ABLATION = [
    ("filtering off", ["filtering.nms_iou=null", "filtering.top_n=null"], None,
     "the filtering of the detections before the model (every mask reaches the model)"),
    ("no frame overlaps", [], {"node_constant": NO_OVERLAPS, "edge_copy": {}, "still": False},
     "the detection's overlaps with the other detections of its frame (o, k, o', c set to 'none')"),
    ("no mask IoU to the track", [], {"node_constant": {}, "edge_copy": {"mask_iou": "box_iou"}, "still": False},
     "the mask IoU with the track's last mask (replaced by the box IoU)"),
    ("no masks", [], {"node_constant": NO_OVERLAPS, "edge_copy": {"mask_iou": "box_iou"}, "still": False},
     "every mask input (both of the above: the model sees boxes only)"),
    ("no motion", [], {"node_constant": {}, "edge_copy": {}, "still": True},
     "motion (every track's velocity 0: its predicted box is its last box)"),
]


def ablation_rows(setting: str, dataset, videos: list, categories: list) -> list[Row]:
    """The rows of :data:`INPUT_ABLATION` for the learned ``setting`` (``CHECKPOINT[@PRESET][:KEY=VALUE,...]``)."""
    from gvis.baselines.runner import run_tracker, tracker_threads

    rows = []
    for name, keys, neutralised, _ in INPUT_ABLATION:
        (_, tracker), = learned_rows([setting + ("," if ":" in setting else ":") + ",".join(keys)], categories)
        if neutralised is not None:
            tracker.model.inputs = AblatedInputs(tracker.model.inputs, **neutralised)
        start = time.perf_counter()
        with tracker_threads(tracker):
            entries = run_tracker(tracker, videos).entries
        rows.append(score(name, dataset, entries, False, time.perf_counter() - start))
    return rows


def ablation_table(reference: Row, rows: list[Row]) -> list[str]:
    """The ablation ``rows`` against the ``reference`` (the setting with all its inputs), a verdict each."""
    lines = ["| without | AP | Δ AP | AP50 | AR10 | IDF1 | IDSw | FP | FN | tracks | takes away | so |",
             "|---" * 12 + "|"]
    for row, what in [(reference, "nothing: the setting as given")] + [(r, a[3]) for r, a in zip(rows, INPUT_ABLATION)]:
        change = 100 * (row.stats["AP"] - reference.stats["AP"])
        if row is reference:
            verdict = "the reference"
        elif abs(change) < ABLATION_NOISE:
            verdict = "the setting's AP does not depend on it here"
        elif change < 0:
            verdict = f"the setting relies on it: {-change:.2f} AP of its result comes from it"
        else:
            verdict = f"it costs the setting {change:.2f} AP here: its AP rises without it"
        lines.append(f"| {'(nothing)' if row is reference else row.name} | {100 * row.stats['AP']:.2f} | {change:+.2f} | "
                     f"{100 * row.stats['AP50']:.2f} | {100 * row.stats['AR10']:.2f} | {100 * row.mots['IDF1']:.2f} | "
                     f"{row.mots['IDSw']} | {row.mots['FP']} | {row.mots['FN']} | {row.tracks} | {what} | {verdict} |")
    return lines


def score(name: str, dataset, entries: list, class_agnostic: bool, seconds: float | None = None, note: str = "") -> Row:
    from gvis.eval.clear_mot import evaluate_mots
    from gvis.eval.ytvis_ap import evaluate, has_equal_scores, match_videos, random_tie_aps

    stats = evaluate(dataset, entries, per_category=not class_agnostic, class_agnostic=class_agnostic)
    per_category = stats.pop("per_category", None)
    agnostic_ap = None if class_agnostic else evaluate(dataset, entries, class_agnostic=True)["AP"]
    row = Row(name, stats, evaluate_mots(dataset, entries, class_agnostic=class_agnostic), len(entries), seconds, note,
              per_category, agnostic_ap)
    if class_agnostic:
        row.ap_per_threshold = match_videos(dataset, entries, class_agnostic=True).ap_per_threshold()[0].tolist()
        row.random_tie_ap = (sum(random_tie_aps(dataset, entries, TIE_ORDERS, class_agnostic=True)) / TIE_ORDERS
                             if has_equal_scores(entries) else stats["AP"])
    return row


def relink(section: Section, dataset, videos: list, categories: list, learned: list[str], hypotheses: int = 1) -> None:
    """Append the oracle, every heuristic and the learned rows for detections ``videos``; ``hypotheses > 1``
    (a section scored per category): each tracker's AP with that many category hypotheses per track too."""
    from gvis.baselines.runner import run_tracker, tracker_threads
    from gvis.eval.oracle import oracle_link
    from gvis.eval.ytvis_ap import evaluate

    section.rows.append(score("gvis oracle", dataset, oracle_link(dataset, videos), section.class_agnostic,
                              note="the masks linked by the ground truth"))
    trackers = [(name, heuristic(tracker, config, categories)) for name, tracker, config in HEURISTICS]
    for name, tracker in trackers + learned_rows(learned, categories):
        start = time.perf_counter()
        with tracker_threads(tracker):
            run = run_tracker(tracker, videos, category_hypotheses=hypotheses)
        row = score(name, dataset, run.track_entries, section.class_agnostic, time.perf_counter() - start)
        if hypotheses > 1:
            stats = evaluate(dataset, run.entries, per_category=True)
            row.hypotheses = {"AP": stats["AP"], "per_category": stats["per_category"]}
        section.rows.append(row)


def bdd_section(folder: Path, learned: list[str], compared: str | None = None, ablate: str | None = None,
                hypotheses: int = 1) -> Section:
    from gvis.data.ytvis import YTVISDataset
    from gvis.eval.results import load_results
    from gvis.eval.results_to_detections import check_results, detections_from_results

    dataset = YTVISDataset.from_json(folder / "ytvis_gt.json")
    original = load_results(folder / "ytvis_results.json")
    frames: dict[int, list] = {}
    for video_id, _, detections in detections_from_results(check_results(original, dataset, folder / "ytvis_results.json"), dataset):
        frames.setdefault(video_id, []).append(detections)
    section = Section(f"BDD100K MOTS {BDD.split('_')[-1]}: the original tracker's masks re-linked", class_agnostic=False,
                      hypotheses=hypotheses, compared=compared)
    names = {c.id: c.name for c in dataset.categories}
    for instance in (instance for video in dataset.videos for instance in dataset.instances(video.id)
                     if not instance.iscrowd):  # crowd regions are ignored by the metrics
        section.instances[names[instance.category_id]] = section.instances.get(names[instance.category_id], 0) + 1
    section.rows.append(score("original tracks", dataset, original, False, note="Scalabel: MOTA 64.31, IDF1 74.52"))
    categories = [{"id": c.id, "name": c.name} for c in dataset.categories]
    relink(section, dataset, list(frames.items()), categories, learned, hypotheses)
    if ablate is not None:
        section.ablated, section.ablation = ablate, ablation_rows(ablate, dataset, list(frames.items()), categories)
    return section


def proposal_sections(ground_truths: list[Path], work: Path, learned: list[str], compared: str | None = None,
                      draw: int = 0) -> list[Section]:
    """One section per score kind and fixture (``ground_truths``: its YouTube-VIS file): the proposals built with
    seed ``PROPOSAL_SEED + draw``, re-linked."""
    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detections.proposals import DenseProposalConfig, write_dense_proposals

    sections = []
    for scores in ("constant", "spread"):
        for ground_truth in ground_truths:
            name = ground_truth.parent.name
            dataset = YTVISDataset.from_json(ground_truth)
            path = work / f"{name}-{scores}{f'-draw{draw}' if draw else ''}.jsonl"
            counts = write_dense_proposals(path, dataset, DenseProposalConfig(scores=scores), PROPOSAL_SEED + draw,
                                           meta={"source": str(ground_truth)})
            reader = DetectionsReader(path)
            section = Section(f"{name}, dense proposals, {scores} scores ({counts['detections'] / counts['frames']:.1f} "
                              f"per frame, {counts['frames']} frames)", class_agnostic=True, compared=compared)
            relink(section, dataset, list(reader.videos()), reader.categories, learned)
            sections.append(section)
    return sections


def draw_lines(draws: list[list[Section]]) -> list[str]:
    """The dense-proposal sections' class-agnostic AP over several draws of the proposals (``draws[k]``: the sections of
    draw ``k``, in the same order; draw 0 is the tables'): per row and section the mean over draws (lowest and
    highest), then the compared learned setting against each heuristic, then the same for the rows whose equal
    scores the evaluator's order ranks (:func:`tie_ap`); nothing with one draw."""
    if len(draws) < 2:
        return []
    first = draws[0]
    labels = [section.title.split(" (")[0].replace(", dense proposals", "") for section in first]

    def over_draws(rows: list[Row], value: Callable[[Row], float]) -> tuple[list[str], dict[str, list[float]]]:
        """A table line per row: ``value(row)`` per section, mean over the draws (lowest–highest); and the means."""
        lines, means = [], {}
        for row in rows:
            per_section = [[100 * value(next(r for r in draw[position].rows if r.name == row.name)) for draw in draws]
                           for position in range(len(first))]
            means[row.name] = [sum(values) / len(values) for values in per_section]
            cells = [f"{mean:.2f} ({min(values):.2f}–{max(values):.2f})" for mean, values in zip(means[row.name], per_section)]
            lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {sum(means[row.name]) / len(means[row.name]):.2f} |")
        return lines, means

    def gap_lines(names: list[str], reference_ap: list[float], ap: dict[str, list[float]]) -> list[str]:
        """A line per name: ``reference_ap`` minus ``ap[name]``, section by section and on average."""
        lines = []
        for name in names:
            gaps = [a - b for a, b in zip(reference_ap, ap[name])]
            lines.append(f"- {name}: " + ", ".join(f"{label} {gap:+.2f}" for label, gap in zip(labels, gaps))
                         + f"; mean {sum(gaps) / len(gaps):+.2f}")
        return lines

    header = ["| | " + " | ".join(labels) + " | mean |", "|---" * (len(labels) + 2) + "|"]
    rows, mean_ap = over_draws(first[0].rows, lambda row: row.stats["AP"])
    lines = [f"**Dense proposals over {len(draws)} draws** (`--proposal-draws {len(draws)}`: the proposals of "
             f"each fixture built again with seeds {PROPOSAL_SEED}..{PROPOSAL_SEED + len(draws) - 1}, everything else "
             "the same; the tables above are the first draw). One draw decides an AP threshold by the order of two "
             "tracks' scores, so the mean over draws is the steadier figure. Class-agnostic AP, mean over the draws "
             "(lowest–highest); last column: the mean of the sections.", "", *header, *rows]
    compared = compared_setting(first[0])
    if compared is None:
        return lines + [""]
    reference = compared[0].name
    heuristics = [name for name, _, _ in HEURISTICS]
    lines += ["", f"{reference} minus each heuristic, mean over the draws per section:", "",
              *gap_lines(heuristics, mean_ap[reference], mean_ap)]
    tied = [row for row in first[0].rows if row.name in heuristics and any(
        r.random_tie_ap is not None and abs(r.random_tie_ap - r.stats["AP"]) >= SAME_AP
        for draw in draws for section in draw for r in section.rows if r.name == row.name)]
    if tied:
        rows, random_ap = over_draws(tied, tie_ap)
        reference_ap = over_draws([compared[0]], tie_ap)[1][reference]
        lines += ["", "**Equal scores in random order.** These heuristics report tracks with equal scores (with constant "
                  "proposal scores, every long track of the rule scores the same), which the evaluator, like the official "
                  "one, ranks by video id and then in the order of the results file (for the rule: the order in which "
                  "its tracks started). Their AP with the equal scores in random order instead (`ties_in_random_order`, "
                  f"mean of {TIE_ORDERS} orders per draw), as above:", "", *header, *rows, "",
                  f"{reference} (its own ties, if any, in random order too) minus each of them with its ties in "
                  "random order:", "", *gap_lines([row.name for row in tied], reference_ap, random_ap)]
    return lines + [""]


def tie_ap(row: Row) -> float:
    """The row's AP with its ties in random order (its AP where that was not measured)."""
    return row.stats["AP"] if row.random_tie_ap is None else row.random_tie_ap


def table(section: Section) -> list[str]:
    ap = "class-agnostic " if section.class_agnostic else ""
    header = [f"{ap}{s}" if s == "AP" else s for s in AP_STATS] + list(MOT_COLUMNS) + ["tracks", "s"]
    lines = [f"**{section.title}**", "", "| | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for row in section.rows:
        cells = [f"{100 * row.stats[s]:.2f}" for s in AP_STATS]
        cells += [f"{100 * row.mots[s]:.2f}" if s in ("MOTA", "IDF1") else str(row.mots[s]) for s in MOT_COLUMNS]
        cells += [str(row.tracks), "" if row.seconds is None else f"{row.seconds:.1f}"]
        name = row.name + (f" ({row.note})" if row.note else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + category_lines(section) + hypotheses_lines(section) + threshold_lines(section) + ablation_lines(section)


def compared_setting(section: Section, ap=lambda row: row.stats["AP"]) -> tuple[Row, Row] | None:
    """The learned setting a section's summary lines read (``section.compared``, else the last learned row) and
    the heuristic with the best ``ap(row)``; ``None`` without a learned row."""
    heuristics = {name for name, _, _ in HEURISTICS}
    learned = [row for row in section.rows if row.name.startswith("learned")]
    if not learned:
        return None
    reference = (next(row for row in learned if row.name == learned_spec(section.compared).name) if section.compared
                 else learned[-1])
    return reference, max((row for row in section.rows if row.name in heuristics), key=ap)


def category_lines(section: Section) -> list[str]:
    """Per-category AP and class-agnostic AP of every row of a section scored per category: the AP column is
    the mean over the categories with ground truth, so a category with few instances moves it as much as
    one with many."""
    if section.class_agnostic or not section.instances:
        return []
    shown = [name for name in section.rows[0].per_category if section.instances.get(name)]
    lines = ["", f"*Per category.* The AP above is the mean of these {len(shown)} columns (ground-truth instances in "
             "brackets), each one category's video AP; the class-agnostic AP scores every track against every "
             "instance whatever the category (`gvis eval --class-agnostic`).", "",
             "| | " + " | ".join(f"{name} ({section.instances[name]})" for name in shown) + " | mean (AP) | class-agnostic AP |",
             "|---" * (len(shown) + 3) + "|"]
    for row in section.rows:
        cells = [f"{100 * row.per_category[name]:.2f}" for name in shown]
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {100 * row.stats['AP']:.2f} | {100 * row.agnostic_ap:.2f} |")
    compared = compared_setting(section)
    if compared is not None:
        reference, best = compared
        deltas = ", ".join(f"{name} {100 * (reference.per_category[name] - best.per_category[name]):+.2f}" for name in shown)
        lines += ["", f"{reference.name} against the best heuristic ({best.name}), per category: {deltas}; "
                  f"class-agnostic {100 * (reference.agnostic_ap - best.agnostic_ap):+.2f}."]
    return lines


def hypotheses_lines(section: Section) -> list[str]:
    """Per-category AP of every tracker with K category hypotheses per track (``--category-hypotheses``),
    next to its AP with one; nothing without them."""
    rows = [row for row in section.rows if row.hypotheses is not None]
    if not rows:
        return []
    shown = [name for name in rows[0].hypotheses["per_category"] if section.instances.get(name)]
    lines = ["", f"*With category hypotheses* (`--category-hypotheses {section.hypotheses}`, K chosen on synthetic data: "
             "[category_hypotheses.md](category_hypotheses.md)). The same tracking of every tracker, each track also "
             "reported for up to K − 1 other categories its detections were labelled with, scored by their share "
             "(docs/evaluation.md, \"Category hypotheses\"). The oracle and the original tracks keep one entry.", "",
             "| | " + " | ".join(shown) + " | AP | Δ AP to one entry per track |", "|---" * (len(shown) + 3) + "|"]
    for row in rows:
        cells = [f"{100 * row.hypotheses['per_category'][name]:.2f}" for name in shown]
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {100 * row.hypotheses['AP']:.2f} | "
                     f"{100 * (row.hypotheses['AP'] - row.stats['AP']):+.2f} |")
    compared = compared_setting(section, lambda row: row.hypotheses is not None and row.hypotheses["AP"])
    if compared is not None:
        reference, best = compared
        lines += ["", f"{reference.name} against the best heuristic with hypotheses ({best.name}, AP "
                  f"{100 * best.hypotheses['AP']:.2f}): {100 * (reference.hypotheses['AP'] - best.hypotheses['AP']):+.2f} AP."]
    return lines


def threshold_lines(section: Section) -> list[str]:
    """Where AP is class-agnostic: the AP of the learned setting and of the best heuristic at each IoU threshold,
    so that a gap reads as which thresholds it comes from; nothing without a learned row."""
    compared = compared_setting(section)
    if compared is None or compared[0].ap_per_threshold is None:
        return []
    reference, best = compared
    thresholds = [f"{0.5 + 0.05 * t:.2f}" for t in range(len(reference.ap_per_threshold))]
    lines = ["", f"*AP per IoU threshold* (`VideoMatches.ap_per_threshold`; the AP is their mean): {reference.name} "
             f"against the best heuristic ({best.name}).", "",
             "| | " + " | ".join(thresholds) + " |", "|---" * (len(thresholds) + 1) + "|"]
    for row in (best, reference):
        lines.append(f"| {row.name} | " + " | ".join(f"{100 * ap:.2f}" for ap in row.ap_per_threshold) + " |")
    differ = [f"{t} ({100 * (a - b):+.2f})" for t, a, b in zip(thresholds, reference.ap_per_threshold, best.ap_per_threshold)
              if abs(a - b) >= SAME_AP]
    lines += ["", "Thresholds where they differ: " + (", ".join(differ) if differ else "none") + "."]
    return lines


def ablation_lines(section: Section) -> list[str]:
    """The input ablation of a section (``--ablate``), after its table; nothing without one."""
    if section.ablated is None:
        return []
    _, best = compared_setting(section)
    reference = next(row for row in section.rows if row.name == learned_spec(section.ablated).name)
    gap = 100 * (reference.stats["AP"] - best.stats["AP"])
    return [
        "",
        f"*Where the learned setting's AP comes from (input ablation, `--ablate {section.ablated}`).* The same",
        "checkpoint and keys with one input taken away at inference (weights unchanged; `AblatedInputs`: node or",
        "edge columns of the `geometry` inputs set to their 'nothing' value, or the filtering off). The fixture's",
        "scores are all 1.0, so the score input is constant already and has no row. A drop of AP says the setting",
        f"uses that input on these masks, a rise that the input misleads it here; changes under {ABLATION_NOISE} AP",
        f"are read as none. The setting against the best heuristic ({best.name}, AP {100 * best.stats['AP']:.2f}):",
        f"{gap:+.2f} AP.",
        "",
        *ablation_table(reference, section.ablation),
    ]


def report(sections: list[Section], command: str, seconds: float, draws: list[list[Section]] | None = None) -> str:
    lines = [
        "# Real data: re-linking with every tracker",
        "",
        f"Generated by `{command}` ({seconds:.0f} s on this machine: {platform.machine()}, {platform.system()},",
        "a shared 2-core CPU, 1 torch thread per tracker). Do not edit by hand.",
        "",
        "Heuristics run with their default configs (`configs/baselines/<tracker>.yaml`) and with the rule's config",
        "tuned on synthetic dense proposals (`masktrack-rule-dense.yaml`, [dense_proposals.md](dense_proposals.md));",
        "[final_outputs.md](final_outputs.md) names the shipped config the rule's grid picks on synthetic final outputs.",
        *(["The learned setting each section compares with the heuristics (`--final` for BDD100K, whose masks are a",
           "tracker's final output, about one mask per object; `--dense` for the dense proposals) was chosen on the",
           "synthetic data of its kind of input."] if any(section.compared for section in sections) else []),
        "No weight, threshold or config was chosen on these fixtures. AP columns: YouTube-VIS video AP (%),",
        "per category on BDD100K, class-agnostic on the dense proposals (one \"object\" category). MOTS columns:",
        "CLEAR MOT / IDF1 on masks with BDD100K's rules (`gvis eval --mots`; mask IoU >= 0.5, crowd regions",
        "ignored; per category on BDD100K, all as one on the proposals). The oracle links each frame's masks to the",
        "ground-truth instance they overlap (IoU >= 0.5; `gvis oracle`): the ceiling of any tracker's *linking*",
        "of these masks. Where one object has many proposals (DAVIS, OVIS), the oracle takes the best-scoring matching",
        "one per frame, with constant scores the first in the file, so a tracker that picks better masks can",
        "score above it. MOTA counts every reported mask that matches no object as a false positive, whatever",
        "its score; the DAVIS ground truth annotates only the main object, so background and part proposals",
        "that a tracker keeps as tracks drive MOTA below 0 there (compare FP and IDF1, not MOTA, on DAVIS).",
        "",
    ]
    for section in sections:
        lines += table(section) + [""]
    lines += draw_lines(draws or [])
    lines += [
        "The learned detector-agnostic tracker's rows: `experiments/real_data.py --learned CHECKPOINT`",
        "(function `learned_rows`); none was given for this run.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the folder whose data/real holds the real fixtures (default: the folder shared beside the checkout)")
    parser.add_argument("--learned", action="append", default=[], metavar="CHECKPOINT",
                        help="add a row of the learned tracker with this checkpoint (repeatable); "
                             "CHECKPOINT@PRESET takes inference keys from configs/inference/PRESET.yaml (or a path), "
                             "CHECKPOINT:KEY=VALUE,... sets them one by one (docs/tracker.md)")
    parser.add_argument("--final", metavar="SETTING", help="the learned setting chosen on synthetic final outputs "
                        "(experiments/final_outputs.py), which BDD100K's summary lines compare with the heuristics "
                        "(one of the --learned settings; default: the last)")
    parser.add_argument("--dense", metavar="SETTING", help="the learned setting chosen on synthetic dense proposals "
                        "(experiments/dense_proposals.py), which the dense-proposal sections' summary lines compare (one of the "
                        "--learned settings; default: the last)")
    parser.add_argument("--ablate", metavar="SETTING", help="also ablate the inputs of this learned setting "
                        "on BDD100K MOTS (one of the --learned settings; a small table under its section)")
    parser.add_argument("--category-hypotheses", type=int, default=1, metavar="K",
                        help="on BDD100K MOTS also score every tracker with K category hypotheses per track "
                             "(K chosen on synthetic data: experiments/category_hypotheses.py)")
    parser.add_argument("--proposal-draws", type=int, default=1, metavar="K",
                        help="build the dense proposals K times (seeds 0..K-1) and add a table of each tracker's AP "
                             "over the draws (default 1: the first draw only)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_data", help="folder for the built proposals")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "real_data.md", help="report to write")
    args = parser.parse_args()
    for flag in ("final", "dense", "ablate"):
        if getattr(args, flag) is not None and getattr(args, flag) not in args.learned:
            parser.error(f"--{flag} must be one of the --learned settings")
    if args.proposal_draws < 1:
        parser.error(f"--proposal-draws must be at least 1, got {args.proposal_draws}")
    real = args.shared / "data" / "real"
    if not (real / BDD).is_dir():
        print(f"fixtures not found: {real}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from gvis.io import atomic_open

    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    sections = [bdd_section(real / BDD, args.learned, args.final, args.ablate, args.category_hypotheses)]
    ground_truths = [real / name / file for name, file in PROPOSAL_FIXTURES.items()]
    draws = [proposal_sections(ground_truths, args.work, args.learned, args.dense)]
    draws += [proposal_sections(ground_truths, args.work, args.learned, args.dense, draw)
              for draw in tqdm(range(1, args.proposal_draws), desc="proposal draws", unit="draw")]
    sections += draws[0]
    command = "python experiments/real_data.py" + "".join(f" --learned {c}" for c in args.learned) + "".join(
        f" --{flag} {getattr(args, flag)}" for flag in ("final", "dense", "ablate") if getattr(args, flag)) + (
        f" --category-hypotheses {args.category_hypotheses}" if args.category_hypotheses > 1 else "") + (
        f" --proposal-draws {args.proposal_draws}" if args.proposal_draws > 1 else "")
    text = report(sections, command, time.perf_counter() - started, draws)
    if args.learned:
        text = text.replace("none was given for this run.", "this run: " + ", ".join(args.learned) + ".")
    with atomic_open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
