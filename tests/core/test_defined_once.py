"""What every training shares is written once (gvis/engine, gvis/runtime.py, gvis/io.py): each call that
makes it happen has exactly one caller in gvis/ (read with ast), and both trainers inherit the engine's
loop, resume and update instead of defining their own."""
from __future__ import annotations

import ast

import pytest

from gvis.engine.trainer import TrainingEngine
from gvis.train.loop import Trainer
from gvis.train_detector.loop import DetectorTrainer
from gvis_sources import attribute_call, callers, calling_functions, name_call

UPDATE = "gvis.engine.optim:optimizer_step"
RESUME = "gvis.engine.trainer:TrainingEngine._resume"
SETUP = "gvis.engine.trainer:setup_runtime"

#: ``(what, the call, the one function of gvis allowed to make it)``.
ONCE = [
    ("thread pinning", attribute_call("set_num_threads"), "gvis.runtime:pin_threads"),
    ("signal handlers", attribute_call("signal", lambda owner: owner == "signal"),
     "gvis.engine.signals:handling_signals"),
    ("stop on Ctrl-C / SIGTERM", name_call("StopOnSignal"), "gvis.engine.trainer:TrainingEngine.run"),
    ("zero_grad", attribute_call("zero_grad"), UPDATE),
    ("backward", attribute_call("backward"), UPDATE),
    ("gradient clipping", attribute_call("clip_grad_norm_"), UPDATE),
    ("optimiser step", attribute_call("step", lambda owner: "optimizer" in owner), UPDATE),
    ("scheduler step", attribute_call("step", lambda owner: "scheduler" in owner), UPDATE),
    ("learning-rate schedule", attribute_call("LambdaLR"), "gvis.engine.trainer:TrainingEngine._setup"),
    ("checkpoint writing", attribute_call("save", lambda owner: owner == "torch"), "gvis.io:save_tagged"),
    ("random state saved", name_call("rng_state"), "gvis.engine.trainer:TrainingEngine._training_state"),
    ("random state restored", name_call("set_rng_state"), RESUME),
    ("optimiser / schedule restored",
     attribute_call("load_state_dict", lambda owner: owner in ("optimizer", "scheduler")), RESUME),
    ("device resolution", name_call("resolve_device"), SETUP),
    ("process group", name_call("init_distributed"), SETUP),
    ("training logs", name_call("CsvLog"), "gvis.engine.trainer:TrainingEngine._open_logs"),
    ("TensorBoard", name_call("SummaryWriter"), "gvis.engine.trainer:TrainingEngine._open_logs"),
]


def test_the_scan_finds_each_call_and_its_function():
    # Hand-written source with known answers: two callers of set_num_threads (one a method), and an
    # optimizer step told apart from a scheduler step and from a plain step() call.
    tree = ast.parse(
        "import torch\n"
        "def a():\n    torch.set_num_threads(1)\n"
        "class B:\n    def c(self):\n        torch.set_num_threads(2)\n        self.optimizer.step()\n"
        "        self.scheduler.step()\n        step()\n")
    assert calling_functions(tree, "m", attribute_call("set_num_threads")) == ["m:a", "m:B.c"]
    assert calling_functions(tree, "m", attribute_call("step", lambda owner: "optimizer" in owner)) == ["m:B.c"]
    assert calling_functions(tree, "m", name_call("step")) == ["m:B.c"]


@pytest.mark.parametrize(("call", "only_caller"), [case[1:] for case in ONCE], ids=[case[0] for case in ONCE])
def test_defined_once(call, only_caller):
    assert callers(call) == {only_caller}


@pytest.mark.parametrize("trainer", [Trainer, DetectorTrainer])
def test_both_trainers_run_on_the_engine(trainer):
    assert issubclass(trainer, TrainingEngine)
    shared = ("__init__", "run", "_setup", "_resume", "_save", "_training_state", "_update", "_diverged",
              "_open_logs", "_log", "_log_validation", "_close_logs")
    assert [name for name in shared if name in vars(trainer)] == []
