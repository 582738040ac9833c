"""Two training processes under torchrun (gloo on CPU, DistributedDataParallel) keep identical replicas
and train as one process on the same global batch would."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

from gvis.seed import seed_everything
from gvis.tracker.model import RecurrentGraphTracker
from gvis.train.checkpoint import load_checkpoint
from gvis.train.loop import Trainer

#: Run by torchrun in each process: train, then save this replica's weights (only rank 0 writes the run).
WORKER = """
import os, sys, torch
from gvis.train.loop import Trainer, load_train_config
config = load_train_config("tiny", sys.argv[2:])
trainer = Trainer(config, progress=False)
trainer.run()
torch.save(trainer.model.state_dict(), os.path.join(sys.argv[1], f"rank{trainer.dist.rank}.pt"))
"""


def test_two_processes_keep_identical_replicas(tiny_config, tmp_path):
    # Clips of exactly 3 frames (the shortest tiny video), so both processes hold as many frames as the
    # halves of one process's batch, and the averaged gradients equal that process's.
    common = ("train.steps=3", "train.checkpoint_every=0", "data.clips.length=3")
    distributed = tiny_config(*common, "data.batch_size=2", output="ddp")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    overrides = [f"data.train.annotations={distributed.data.train.annotations}",
                 f"data.train.detections={distributed.data.train.detections}",
                 f"output_dir={distributed.output_dir}", *common, "data.batch_size=2"]
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(tmp_path), *overrides],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    saved = load_checkpoint(os.path.join(distributed.output_dir, "last.pt"))
    assert saved["step"] == 3 and all(torch.equal(saved["model"][name], rank0[name]) for name in rank0)

    single = Trainer(tiny_config(*common, "data.batch_size=4", output="single"), progress=False)
    single.run()
    reference = single.model.state_dict()
    assert all(torch.allclose(reference[name], rank0[name], rtol=1e-4, atol=1e-5) for name in rank0)
    # ...while the weights moved far more than that tolerance (the comparison is not vacuous).
    seed_everything(single.config.seed)
    initial = RecurrentGraphTracker(single.config.model, num_classes=single.model.num_classes).state_dict()
    assert max(float((initial[name] - reference[name]).abs().max()) for name in reference) > 3e-4
