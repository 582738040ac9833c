"""The training loop: exact resume after a signal, NaN guard, atomic checkpoints, and that it learns."""
from __future__ import annotations

import csv
import os
import signal

import pytest
import torch

import gvis.train.objective as objective
from gvis.errors import ConfigError
from gvis.train.checkpoint import load_checkpoint
from gvis.engine.optim import TrainingDiverged
from gvis.train.loop import Trainer


def weights(path):
    return load_checkpoint(path)["model"]


def log_losses(path):
    with open(path, newline="") as handle:
        return [(int(row["step"]), row["loss"], row["grad_norm"]) for row in csv.DictReader(handle)]


def test_signal_stop_and_resume_equal_an_uninterrupted_run(tiny_config):
    steps = 6
    full = Trainer(tiny_config(f"train.steps={2 * steps}", "train.checkpoint_every=4", output="full"), progress=False).run()
    assert full.step == 2 * steps and full.stopped_by is None

    def interrupt(step, values):
        if step == steps:
            os.kill(os.getpid(), signal.SIGTERM)

    config = tiny_config(f"train.steps={2 * steps}", "train.checkpoint_every=4", output="parts")
    first = Trainer(config, progress=False, on_step=interrupt).run()
    assert (first.step, first.stopped_by) == (steps, "SIGTERM")
    assert load_checkpoint(first.checkpoint)["step"] == steps
    with pytest.raises(ConfigError, match="already holds"):
        Trainer(config, progress=False).run()
    second = Trainer(config, resume=True, progress=False).run()
    assert second.step == 2 * steps
    expected, resumed = weights(full.checkpoint), weights(second.checkpoint)
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)
    assert log_losses(full.checkpoint.parent / "train_log.csv") == log_losses(second.checkpoint.parent / "train_log.csv")
    checkpoint = load_checkpoint(second.checkpoint)
    assert {"optimizer", "scheduler", "stream", "rng", "config", "seed", "git_hash", "categories"} <= set(checkpoint)
    assert load_checkpoint(second.checkpoint.parent / "model.pt").keys().isdisjoint({"optimizer", "rng"})


def test_resume_refuses_another_config(tiny_config):
    Trainer(tiny_config("train.steps=1"), progress=False).run()
    with pytest.raises(ConfigError, match="optim.lr"):
        Trainer(tiny_config("train.steps=2", "optim.lr=3e-3"), resume=True, progress=False).run()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch):
    real = objective.ClipObjective.forward
    calls = []

    def poisoned(self, batch):
        terms = real(self, batch)
        calls.append(1)
        if len(calls) == 5:
            terms = {**terms, "mask": terms["mask"] * float("nan")}
            terms["loss"] = terms["loss"] + terms["mask"]
        return terms

    monkeypatch.setattr(objective.ClipObjective, "forward", poisoned)
    config = tiny_config("train.steps=10", "train.checkpoint_every=3")
    with pytest.raises(TrainingDiverged, match=r"not finite at step 5 .*mask=nan.*last\.pt \(step 3\)"):
        Trainer(config, progress=False).run()
    assert load_checkpoint(os.path.join(config.output_dir, "last.pt"))["step"] == 3


def test_checkpoints_are_atomic(tiny_config, monkeypatch):
    config = tiny_config("train.steps=2", "train.checkpoint_every=1")
    Trainer(config, progress=False).run()
    path = os.path.join(config.output_dir, "last.pt")
    before = open(path, "rb").read()
    real_save = torch.save

    def crash(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)
        handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        Trainer(tiny_config("train.steps=3", "train.checkpoint_every=1"), resume=True, progress=False).run()
    assert open(path, "rb").read() == before
    assert not [name for name in os.listdir(config.output_dir) if name.startswith(".")]  # no temp file left


def test_thirty_steps_lower_the_loss_of_a_fixed_batch(tiny_config):
    # Whole videos (clips longer than any tiny video), no augmentation, two videos: every step sees the
    # same batch. Tracks start from step 0 (init threshold below the initial head bias), so the loss
    # measures the same kind of decisions throughout.
    config = tiny_config("train.steps=30", "optim.lr=3e-3", "data.train.max_videos=2", "data.augment.enabled=false",
                         "data.clips.length=8", "data.clips.shuffle=false", "model.init_threshold=-3.0",
                         "train.checkpoint_every=0")
    Trainer(config, progress=False).run()
    losses = [float(loss) for _, loss, _ in log_losses(os.path.join(config.output_dir, "train_log.csv"))]
    assert len(losses) == 30
    assert losses[-1] < 0.7 * losses[0]
    assert sum(losses[-5:]) < sum(losses[:5])


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_time_limit_stops_on_either_clock_and_records_both(tiny_config, clock):
    done = Trainer(tiny_config("train.steps=2", "train.checkpoint_every=0", output="timed"), progress=False).run()
    assert done.stopped_by is None and 0 < done.cpu_seconds and 0 < done.train_seconds
    assert load_checkpoint(done.checkpoint)["cpu_seconds"] == done.cpu_seconds
    config = tiny_config("train.steps=5", "train.time_limit_minutes=1e-9", f"train.time_limit_clock={clock}",
                         "train.checkpoint_every=0", output=f"limited-{clock}")
    stopped = Trainer(config, progress=False).run()
    assert (stopped.stopped_by, stopped.step) == ("time limit", 0)



def test_validation_is_outside_the_time_budget_and_ends_a_time_limited_run(tiny_config, tiny_train_set, monkeypatch):
    # A fake clock advanced 30 s by every training step (its forward pass) and 100 s by every validation.
    import gvis.engine.trainer as engine
    import gvis.train.loop as loop

    class Clock:
        now = 0.0

        @classmethod
        def perf_counter(cls):
            return cls.now

        process_time = perf_counter

    def advancing(method, seconds):
        def run(self, *args):
            Clock.now += seconds
            return method(self, *args)
        return run

    monkeypatch.setattr(engine, "time", Clock)
    monkeypatch.setattr(loop, "time", Clock)
    monkeypatch.setattr(objective.ClipObjective, "forward", advancing(objective.ClipObjective.forward, 30.0))
    monkeypatch.setattr(loop.Trainer, "validate", advancing(loop.Trainer.validate, 100.0))
    val = [f"data.val.annotations={tiny_train_set / 'data'}", f"data.val.detections={tiny_train_set / 'dets.pt'}",
           "data.val.max_videos=2", "train.checkpoint_every=0"]
    # 4 steps (120 s) and 2 validations (200 s) within a 3-minute budget: validation does not count.
    done = Trainer(tiny_config("train.steps=4", "train.val_every=2", "train.time_limit_minutes=3", *val, output="v"),
                   progress=False).run()
    assert done.stopped_by is None and [v["step"] for v in done.validations] == [2, 4]
    assert done.train_seconds == 120 and done.cpu_seconds == 120
    # A 1-minute budget ends the run after 2 steps, before its first periodic validation (step 3): the run is
    # validated where it stopped.
    stopped = Trainer(tiny_config("train.steps=5", "train.val_every=3", "train.time_limit_minutes=1", *val,
                                  output="w"), progress=False).run()
    assert (stopped.stopped_by, stopped.step) == ("time limit", 2) and [v["step"] for v in stopped.validations] == [2]


def test_validation_does_not_change_the_weights(tiny_config, tiny_train_set):
    # gvis compare validates its runs for learning curves; the trained weights must be those of a run without.
    plain = Trainer(tiny_config("train.steps=4", "train.checkpoint_every=0", output="plain"), progress=False).run()
    validated = Trainer(tiny_config("train.steps=4", "train.checkpoint_every=0", "train.val_every=2",
                                    f"data.val.annotations={tiny_train_set / 'data'}",
                                    f"data.val.detections={tiny_train_set / 'dets.pt'}", "data.val.max_videos=3",
                                    output="validated"), progress=False).run()
    assert [v["step"] for v in validated.validations] == [2, 4]
    expected, got = weights(plain.checkpoint), weights(validated.checkpoint)
    assert all(torch.equal(expected[name], got[name]) for name in expected)


def test_rollout_keys_steer_training_and_the_checkpoint_keeps_the_models(tiny_config):
    """Rollouts under ``rollout``'s keys train exactly like a model configured with them; the checkpoint keeps
    the model's own keys, which are what inference follows."""
    paper = ("assignment=best", "claimed_start_tracks=true")
    keys_on = ("model.assignment=exclusive", "model.claimed_start_tracks=false")

    # Every detection may start a track and every track takes a detection: the rules decide which.
    thresholds = ("model.init_threshold=-1e9", "model.match_threshold=-1e9")

    def run(*overrides, output):
        summary = Trainer(tiny_config("train.steps=4", *thresholds, *overrides, output=output), progress=False).run()
        return load_checkpoint(summary.checkpoint)

    as_model = run(*(f"model.{key}" for key in paper), output="model")
    as_rollout = run(*keys_on, *(f"rollout.{key}" for key in paper), output="rollout")
    without = run(*keys_on, output="without")
    assert all(torch.equal(as_model["model"][name], as_rollout["model"][name]) for name in as_model["model"])
    assert any(not torch.equal(without["model"][name], as_rollout["model"][name]) for name in without["model"])
    model_keys = as_rollout["config"]["model"]
    assert (model_keys["assignment"], model_keys["claimed_start_tracks"]) == ("exclusive", False)
    with pytest.raises(ConfigError, match="rollout: key 'mask_stride' is not an inference key"):
        tiny_config("rollout.mask_stride=8")


def test_non_finite_validation_scores_stop_the_run_as_diverged(tiny_config, tiny_train_set, monkeypatch):
    # Finite weights can overflow on whole videos (no gate): validation is where it shows, and gvis compare
    # must read the run as diverged (its pattern: "is not finite at step N"), not as a failed command.
    import gvis.train.evaluation as evaluation
    from gvis.compare.benchmark import DIVERGED_PATTERN

    real = evaluation.track_videos

    def overflowing(*args, **kwargs):
        entries, frames, seconds = real(*args, **kwargs)
        return [{**entry, "score": float("nan")} for entry in entries], frames, seconds

    monkeypatch.setattr(evaluation, "track_videos", overflowing)
    config = tiny_config("train.steps=4", "train.val_every=2", "train.checkpoint_every=1",
                         f"data.val.annotations={tiny_train_set / 'data'}",
                         f"data.val.detections={tiny_train_set / 'dets.pt'}", "data.val.max_videos=2")
    with pytest.raises(TrainingDiverged, match=r"validation output is not finite at step 2: the tracker's scores are "
                                               r"not finite for \d+ of \d+ tracks .*last\.pt \(step 1\)") as stopped:
        Trainer(config, progress=False).run()
    assert DIVERGED_PATTERN.search(str(stopped.value)).group(1) == "2"
    assert not os.path.exists(os.path.join(config.output_dir, "model.pt"))
