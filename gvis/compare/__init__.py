"""Comparing tracker configurations on the synthetic benchmark: the paper's ablations and your own variants.

- :mod:`gvis.compare.benchmark`: the protocol of the learning proof (cached data sets, the tuned MaskTrack
  rule, one training run, its held-out scores), shared by ``gvis compare`` and
  ``experiments/learning_proof.py``;
- :mod:`gvis.compare.sweep`: configs × seeds, resumable, one folder per run;
- :mod:`gvis.compare.paper`: the paper's numbers for each config of ``configs/ablations/``;
- :mod:`gvis.compare.verdicts`: paired bootstrap verdicts against a reference config and the "not learned at
  this budget" check of learning curves;
- :mod:`gvis.compare.report`: the report (markdown, JSON) and the chart.

Everything heavy is imported inside functions, so ``gvis --help`` stays fast.
"""
