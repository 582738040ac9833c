"""The training engine: what ``gvis train`` (the tracker, :mod:`gvis.train`) and ``gvis train-detector``
(the detector, :mod:`gvis.train_detector`) share, defined once.

:class:`~gvis.engine.trainer.TrainingEngine` runs the loop (time limit, periodic validation and
checkpoints, progress bar, stop on SIGINT / SIGTERM, final save), resumes a run from ``last.pt`` and
writes the logs; a trainer subclass builds its data and model and says what one step computes. Around it:
:mod:`~gvis.engine.optim` (the learning-rate schedule and the one optimiser update),
:mod:`~gvis.engine.state` (random generator states, resumable config changes), :mod:`~gvis.engine.signals`,
:mod:`~gvis.engine.logs` and :mod:`~gvis.engine.distributed` (``torchrun``). Devices and CPU threads are
:mod:`gvis.runtime`'s; checkpoint files are written atomically by :func:`gvis.io.save_tagged`.

The engine knows no model: it imports neither the trainers nor the layers they train.
"""
