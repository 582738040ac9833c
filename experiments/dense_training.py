"""The detector-agnostic learned tracker trained on dense class-agnostic proposals, the input that
``experiments/dense_proposals.py`` measures trackers on.

The shipped agnostic checkpoint (``experiments/agnostic_proof.py``) was trained on the simulator's proposals:
at most three extra masks per object, and read dense proposals only through inference keys chosen on them
(docs/results/dense_proposals.md). This trains the same model on the dense proposals themselves:

1. 200 ``gvis synth --preset hard`` videos (generator seed 0; the dense-proposal tuning and held-out sets use
   other seeds) and one proposals file over them (``gvis.detections.proposals`` defaults): each video's
   proposals are built from its ground truth or from the ``hard`` simulated detector's masks (one draw per
   video, half each) with constant or spread scores (``scores: mixed``, half each).
2. ``gvis train agnostic-dense`` (``configs/train/agnostic-dense.yaml``: the agnostic model with the dense
   setting's inference keys, which the training rollouts follow), at most ``--minutes`` CPU minutes.

The run's ``model.pt`` is then one more ``--learned`` setting of ``experiments/dense_proposals.py --stage
learned-tune`` (the same tuning set and rule as every other setting); ``--ship PATH`` evaluates it on the
held-out proposal files of that experiment and writes it as a shipped checkpoint (+ ``.json``).

    python experiments/dense_training.py                # data (~10 min) + training (30 CPU minutes)
    python experiments/dense_training.py --quick        # smoke test: 8 videos, 10 steps
    python experiments/dense_training.py --ship checkpoints/learned-agnostic-dense.pt
    python experiments/dense_training.py --work runs/dense_elongated --synth-set max_aspect=4   # other objects

The data and the training are skipped when their outputs exist (an interrupted training resumes); --ship
evaluates and writes the checkpoint again on every call. Nothing here reads real data.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from agnostic_proof import add_training_arguments
from gvis.compare.benchmark import Benchmark, train_run
from gvis.detections.proposals import VIDEO_DRAW_KEY

REPO = Path(__file__).resolve().parent.parent
CONFIG = "agnostic-dense"
#: Share of the training videos whose proposals are built from the ground truth (else from simulated masks).
GT_FRACTION = 0.5
#: Third seed word of each video's source draw, apart from the proposals' own draws (``[seed, video, frame]``
#: and ``[seed, video, VIDEO_DRAW_KEY]``).
SOURCE_DRAW_KEY = VIDEO_DRAW_KEY + 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "dense_training", help="data and runs")
    parser.add_argument("--videos", type=int, default=200, help="training videos")
    parser.add_argument("--data-seed", type=int, default=0, help="generator seed of the training videos")
    parser.add_argument("--synth-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a key of the training videos' generator on top of the hard preset, as 'gvis synth --set' "
                             "takes it (repeatable; e.g. max_aspect=4, docs/synthetic.md)")
    add_training_arguments(parser, CONFIG)
    parser.add_argument("--ship", type=Path, metavar="PATH",
                        help="after training, evaluate on the held-out proposals of experiments/dense_proposals.py "
                             "and write the model there (+ .json)")
    parser.add_argument("--proposals", type=Path, default=REPO / "runs" / "dense_proposals",
                        help="work folder of experiments/dense_proposals.py (--ship reads its held-out set)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 8 videos, 10 steps")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.steps, args.work = 8, 10, args.work / "quick"
    return args


def make_training_data(folder: Path, videos: int, seed: int, synth_set: list[str]) -> None:
    """The videos (``gvis synth --preset hard``, keys ``synth_set`` on top) and their dense proposals
    (``dets.jsonl`` and its cache ``dets.pt``); kept when present (and checked against ``videos``, ``seed`` and
    ``synth_set``)."""
    from dense_proposals import synth_hard

    from gvis.data.ytvis import YTVISDataset
    from gvis.detections.cache import load_detections
    from gvis.detections.jsonl import DetectionsReader
    from gvis.detections.proposals import DenseProposalConfig, ground_truth_objects, write_dense_proposals
    from gvis.detections.simulate import SimulatedDetector

    if not (folder / "instances.json").exists():
        synth_hard(folder, videos, seed, synth_set)
    dataset = YTVISDataset.from_json(folder / "instances.json")
    proposals = folder / "dets.jsonl"
    meta = DetectionsReader(proposals).header["meta"] if proposals.exists() else {"seed": seed, "synth_set": synth_set}
    made = (len(dataset.videos), meta["seed"], meta.get("synth_set", []))
    if made != (videos, seed, synth_set):
        sys.exit(f"{folder} holds {made[0]} videos of seed {made[1]} made with --synth-set {made[2]}, not {videos} of "
                 f"seed {seed} with {synth_set}: give another --work")
    if not proposals.exists():  # the writer replaces it whole or not at all
        simulated = SimulatedDetector(dataset, preset="hard", seed=seed)

        def objects(video_id: int):
            if np.random.default_rng([seed, video_id, SOURCE_DRAW_KEY]).random() < GT_FRACTION:
                yield from ground_truth_objects(dataset, video_id)
                return
            for detections in simulated.detect_video(video_id):
                yield list(detections.mask_tensor().numpy())

        counts = write_dense_proposals(proposals, dataset, DenseProposalConfig(scores="mixed"), seed, objects=objects,
                                       meta={"source": f"ground truth ({GT_FRACTION:.0%} of the videos) or the hard "
                                                       "simulated detector", "synth_set": synth_set})
        print(f"{folder.name}/dets.jsonl: {counts['detections']} proposals in {counts['frames']} frames", flush=True)
    load_detections(proposals)  # its cache dets.pt, (re)built when missing or made from another file


def ship(model: Path, path: Path, test: Path) -> Path:
    """``model`` evaluated as it is (its own inference keys) on the four held-out proposal files of
    ``experiments/dense_proposals.py`` and written as a shipped checkpoint ``path`` (+ ``.json``)."""
    from dense_proposals import evaluate_learned

    from gvis.data.ytvis import YTVISDataset
    from gvis.train.checkpoint import ship_checkpoint

    dataset = YTVISDataset.from_json(test / "instances.json")
    frames = sum(video.length for video in dataset.videos)
    held_out = {row["file"]: {"stats": row["stats"], "fps": frames / row["track_seconds"], "frames": frames}
                for row in evaluate_learned(test, str(model))}
    made_by = " ".join(["python experiments/dense_training.py", *map(shlex.quote, sys.argv[1:])])
    return ship_checkpoint(model, path, held_out, made_by,
                           "class-agnostic video AP on the held-out dense proposals of experiments/dense_proposals.py "
                           "(gt/sim sources x constant/spread scores; other generator seeds than training)")


def check_held_out(test: Path) -> None:
    """Stop before any work when ``--ship`` has no held-out proposal files to score on."""
    from dense_proposals import FILES

    missing = [name for name in FILES if not (test / f"{name}.jsonl").exists()]
    if missing:
        sys.exit(f"{test}: no {', '.join(missing)} proposals; run experiments/dense_proposals.py --stage build first")


def main() -> None:
    args = parse_args()
    if args.ship:
        check_held_out(args.proposals / "test")
    bench = Benchmark(args.work.resolve(), train_videos=args.videos, train_seed=args.data_seed)
    make_training_data(bench.train_set, args.videos, args.data_seed, args.synth_set)
    outcome = train_run(CONFIG, bench.work / f"run_seed{args.seed}", bench, args.seed, args.steps, args.minutes,
                        args.overrides)
    if outcome.status == "diverged":
        sys.exit(f"training diverged: {outcome.record['message']}")
    model = outcome.folder / "model.pt"
    print(f"trained: {model} ({outcome.record['step']} steps)")
    if args.ship:
        print(f"wrote {ship(model, args.ship, args.proposals / 'test')}")


if __name__ == "__main__":
    main()
