"""``gvis train``: train the learned tracker on cached detections (single process or under torchrun)."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, print_json

COMMAND = "train"
HELP = "train the learned tracker from precomputed detections (.jsonl or its cache) and ground truth"
DESCRIPTION = (
    "Train the recurrent graph tracker frame by frame over batches of clips, exactly as it runs at test "
    "time (docs/training.md). CONFIG is a YAML file or a name in configs/train/ (base, tiny). Writes "
    "<output_dir>/last.pt (every train.checkpoint_every steps and at the end), model.pt (weights and "
    "config only, for gvis track --checkpoint), best.pt (best validation AP), train_log.csv, "
    "validation.csv, val_results.json and TensorBoard scalars when tensorboard is installed. Ctrl-C or "
    "SIGTERM stops at the next step boundary and saves; --resume continues exactly. Several processes: "
    "torchrun --nproc_per_node=K -m gvis train CONFIG."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="training config: a YAML path or a name in configs/train/")
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last.pt")
    parser.add_argument("--overwrite", action="store_true", help="start afresh even if output_dir holds a run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout at the end")
    add_set_argument(parser)


def run(args: argparse.Namespace) -> int:
    import math

    from gvis.train.loop import Trainer, load_train_config

    config = load_train_config(args.config, args.overrides)
    trainer = Trainer(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    result = trainer.run()
    if trainer.dist.rank != 0:
        return 0
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
    if args.json:
        print_json(summary)
    else:
        how = f"stopped by {result.stopped_by}" if result.stopped_by else "done"
        ap = f", validation AP {last['stats']['AP']:.4f}" if last else ""
        print(f"train: {how} at step {result.step} ({result.train_seconds:.0f} s){ap}; saved {result.checkpoint}")
    return 0
