"""``gvis train-detector``: stage-1 training of the YOLACT-style detector on single frames."""
from __future__ import annotations

import argparse

from gvis.cli._common import add_set_argument, report_training
from gvis.errors import stopped_exit_code

COMMAND = "train-detector"
HELP = "train the YOLACT-style detector on the frames of a YouTube-VIS dataset (stage 1)"
DESCRIPTION = (
    "Train the detector (docs/detector.md) on single annotated frames. CONFIG is a YAML file or a name in "
    "configs/detector/ (base, synth-small, tiny); set the data with --set data.train=DIR [--set "
    "data.val=DIR]. Writes <output_dir>/last.pt (every train.checkpoint_every steps and at the end), model.pt "
    "(weights only, for --checkpoint), train_log.csv, validation.csv and val_metrics.json (image-level mask "
    "AP every train.val_every steps). Ctrl-C or SIGTERM stops at the next step and saves; --resume continues."
)
#: Checkpoints, logs and reports keep their own atomic rules (written as the run goes, resumable).
OUTPUTS_STAGED = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="training config: a YAML path or a name in configs/detector/")
    parser.add_argument("--backbone-weights", metavar="FILE",
                        help="local state dict of the torchvision backbone to start from (nothing is downloaded)")
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last.pt")
    parser.add_argument("--overwrite", action="store_true", help="start afresh even if output_dir holds a run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout at the end")
    add_set_argument(parser, "gvis.train_detector.config:DetectorTrainConfig", "optim.lr=5e-4")


def run(args: argparse.Namespace) -> int:
    from gvis.train_detector.config import load_detector_train_config
    from gvis.train_detector.loop import DetectorTrainer

    overrides = list(args.overrides)
    if args.backbone_weights is not None:
        overrides.append(f"backbone_weights={args.backbone_weights}")
    config = load_detector_train_config(args.config, overrides)
    trainer = DetectorTrainer(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    result = trainer.run()
    report_training("train-detector", result, args.json, "validation mask AP {AP:.4f} (AP50 {AP50:.4f})")
    return stopped_exit_code(result.stopped_by)
