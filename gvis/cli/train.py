"""``gvis train``: train the learned tracker on cached detections, or behind the frozen detector (stage 2);
single process or under torchrun."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, report_training
from gvis.errors import stopped_exit_code

COMMAND = "train"
HELP = "train the learned tracker from precomputed detections (.jsonl or its cache) and ground truth, or behind the frozen detector (stage 2)"
DESCRIPTION = (
    "Train the recurrent graph tracker frame by frame over batches of clips, exactly as it runs at test "
    "time (docs/training.md). CONFIG is a YAML file or a name in configs/train/ (base, tiny, stage2). "
    "A config with a 'detector' section runs stage 2: the frozen detector on the clips' frames, its "
    "appearance network trained with the tracker, detector.pt written at the end. Writes "
    "<output_dir>/last.pt (every train.checkpoint_every steps and at the end), model.pt (weights and "
    "config only, for gvis track --checkpoint), best.pt (best validation AP), train_log.csv, "
    "validation.csv, val_results.json and TensorBoard scalars when tensorboard is installed. Ctrl-C or "
    "SIGTERM stops at the next step boundary and saves; --resume continues exactly. Several processes: "
    "torchrun --nproc_per_node=K -m gvis train CONFIG."
)
#: Checkpoints, logs and reports keep their own atomic rules (written as the run goes, resumable).
OUTPUTS_STAGED = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="training config: a YAML path or a name in configs/train/")
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last.pt")
    parser.add_argument("--overwrite", action="store_true", help="start afresh even if output_dir holds a run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout at the end")
    add_set_argument(parser, "gvis.train.config:TrainConfig", "optim.lr=1e-3")


def run(args: argparse.Namespace) -> int:
    from gvis.train.loop import Trainer, load_train_config

    config = load_train_config(args.config, args.overrides)
    trainer = Trainer(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    result = trainer.run()
    if trainer.dist.rank == 0:
        report_training("train", result, args.json, "validation AP {AP:.4f}")
    return stopped_exit_code(result.stopped_by)
