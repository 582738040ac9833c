"""The training benchmark's dense variant computes the same losses as the PyG tracker (no timing asserted)."""
from __future__ import annotations

import torch

from gvis.bench.train import dense_model, random_clips, run_benchmark
from gvis.config import find_config, load_config
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig
from gvis.train.config import LossConfig
from gvis.train.objective import ClipObjective, collate


def test_padded_gnn_gives_the_same_losses_and_gradients():
    config = load_config(TrackerConfig, find_config("tiny", "model"))
    torch.manual_seed(0)
    model = RecurrentGraphTracker(config, num_classes=40)
    model.config.init_threshold = float("-inf")  # random weights: every detection starts a track
    dense = dense_model(model)
    clips = random_clips(count=3, length=3)
    loss = LossConfig()
    results = []
    for network in (model, dense):
        terms = ClipObjective(network, loss)(collate(clips, network, list(range(1, 41)), loss))
        network.zero_grad()
        terms["loss"].backward()
        results.append((terms, {name: p.grad.clone() for name, p in network.named_parameters() if p.grad is not None}))
    (graph_terms, graph_grads), (dense_terms, dense_grads) = results
    assert graph_terms["tracks"] > 0
    for name in ("loss", "class", "mask", "association", "init"):
        assert torch.allclose(graph_terms[name], dense_terms[name], rtol=1e-5, atol=1e-6), name
    for name, grad in graph_grads.items():
        assert torch.allclose(grad, dense_grads[name.replace("gnn.", "gnn.network.", 1)], rtol=1e-4, atol=1e-6), name


def test_bench_train_reports_the_contract(monkeypatch):
    import gvis.bench.train as bench

    monkeypatch.setattr(bench, "random_clips", lambda **options: random_clips(count=2, length=2, **options))
    result = run_benchmark(batches=(1, 2), repeats=1)
    assert result["threads"] == 1
    assert [(row["impl"], row["batch"]) for row in result["rows"]] == [("pyg", 1), ("dense", 1), ("pyg", 2), ("dense", 2)]
    assert all(row["clips_per_s"] > 0 for row in result["rows"])
