"""``gvis export``: the learned tracker's frame step (GNN + heads) as a ``torch.export`` program."""
from __future__ import annotations

import argparse

COMMAND = "export"
HELP = "export a learned tracker's frame step (GNN + heads, tensors in and out) as a torch.export .pt2 program"
DESCRIPTION = (
    "Export the GNN, associator, recurrent gates and scorer of a learned-tracker checkpoint with torch.export, "
    "tracks, detections and pairs as dynamic dimensions (each at least 1); track bookkeeping stays in Python. "
    "Before writing, the program is run at every --check size (tracks x detections, random inputs) and compared "
    "with the eager model; a size the program does not take (e.g. 0 tracks) is an error. See docs/export.md."
)

READS = ("checkpoint",)
WRITES = ("out",)

#: Largest difference from eager the check accepts (the program runs the same kernels: it is 0 on CPU).
TOLERANCE = 1e-5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint of a learned tracker")
    parser.add_argument("--out", required=True, metavar="STEP.pt2", help="the exported program")
    parser.add_argument("--check", default="1x1,24x16", metavar="TxN,...",
                        help="tracks x detections at which to compare the program with eager (default 1x1,24x16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    import torch

    from gvis.cli._common import parse_sizes, print_json
    from gvis.errors import InputError
    from gvis.tracker.export import ExportedStep, StepCore, example_inputs, export_step, save_step
    from gvis.tracker.online import load_model

    sizes = parse_sizes(args.check, "--check")
    model = load_model(args.checkpoint)
    try:
        program = export_step(model)
    except ValueError as exc:  # a model whose step is not exported (a rule associator)
        raise InputError(str(exc), file=args.checkpoint, field="config.model") from None
    exported, eager = ExportedStep(program, "exported step"), StepCore(model)
    checks = []
    for tracks, dets in sizes:
        inputs = example_inputs(model, tracks, dets, generator=torch.Generator().manual_seed(tracks * 1000 + dets))
        try:
            got = exported(*inputs)
        except InputError as exc:  # a size outside the exported range
            raise InputError(f"{tracks}x{dets}: {exc.reason}", field="--check") from None
        with torch.no_grad():
            expected = eager(*inputs)
        difference = max((float((a.double() - b.double()).abs().max()) if a.numel() else 0.0)
                         for a, b in zip(torch.utils._pytree.tree_leaves(tuple(got)),
                                         torch.utils._pytree.tree_leaves(expected)))
        if difference > TOLERANCE:
            raise RuntimeError(f"exported step differs from eager by {difference:.3g} at {tracks}x{dets}")
        checks.append({"tracks": tracks, "dets": dets, "max_abs_difference": difference})
    save_step(program, args.out)
    if args.json:
        print_json({"out": str(args.out), "checks": checks})
    else:
        print(f"gvis export: wrote {args.out}; equal to eager at "
              + ", ".join(f"{c['tracks']}x{c['dets']} (max |diff| {c['max_abs_difference']:.1g})" for c in checks))
    return 0
