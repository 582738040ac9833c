"""experiments/scorer_probe.py: the linear probe, and a smoke run on a tiny checkpoint."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

from gvis.train.loop import Trainer

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "scorer_probe.py"


def load_script():
    spec = importlib.util.spec_from_file_location("scorer_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_probe_reads_a_linearly_encoded_class_and_not_noise():
    probe = load_script()
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(1, 5, (400,), generator=generator)
    noise = torch.randn(400, 6, generator=generator)
    encoded = torch.cat([torch.nn.functional.one_hot(labels, 5).float() * 3, noise], 1)  # class in columns 1..4
    assert probe.probe_accuracy(encoded[:200], labels[:200], encoded[200:], labels[200:], num_classes=4) == 1.0
    assert probe.probe_accuracy(noise[:200], labels[:200], noise[200:], labels[200:], num_classes=4) < 0.45


def test_smoke_on_a_tiny_checkpoint(tiny_config, tiny_train_set, capsys):
    config = tiny_config("train.steps=2", "model.init_threshold=-3.0", "model.scorer.type=learned",
                         "train.checkpoint_every=0")
    Trainer(config, progress=False).run()
    probe = load_script()
    assert probe.main(["--checkpoint", f"{config.output_dir}/model.pt", "--data", str(tiny_train_set / "data"),
                       "--detections", str(tiny_train_set / "dets.pt"), "--videos", "20", "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)["stages"]
    names = [stage["stage"] for stage in stages]
    assert names[:6] == ["input", "block 1 (GatedBlock)", "block 2 (ResidualBlock)", "block 3 (GatedBlock)",
                         "block 4 (ResidualBlock)", "gate"]
    # The label is the argmax of the input's class-logit columns: a linear reader exists.
    assert stages[0]["probe"] >= 0.9 > stages[0]["chance"]
    assert stages[5]["scorer"] is not None and stages[0]["fitted"] > 0 and stages[0]["held_out"] > 0
