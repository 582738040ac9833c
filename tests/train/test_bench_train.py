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
    result = run_benchmark(batches=(1, 2), repeats=1, image_size=(96, 128))
    assert result["threads"] == 1
    assert result["setup"]["image_size"] == [96, 128] and result["setup"]["mask_size"] == [12, 16]  # base: stride 8
    assert [(row["impl"], row["batch"]) for row in result["rows"]] == [("pyg", 1), ("dense", 1), ("pyg", 2), ("dense", 2)]
    assert all(row["clips_per_s"] > 0 for row in result["rows"])


def test_clips_at_another_frame_size_are_the_default_clips_scaled():
    default = random_clips(count=2, length=2)
    paper = random_clips(count=2, length=2, image_size=(480, 864))
    scale = torch.tensor([864 / 320, 480 / 240] * 2)
    for small_clip, large_clip in zip(default, paper):
        for small, large in zip(small_clip, large_clip):
            assert large.detections.image_size == (480, 864)
            assert torch.equal(large.detections.boxes, small.detections.boxes * scale)
            assert torch.equal(large.gt_boxes, small.gt_boxes * scale)
            assert torch.equal(large.gt_ids, small.gt_ids)
            # A mask is its box: a pixel is in it when its centre is.
            x1, y1, x2, y2 = large.detections.boxes[0].tolist()
            mask = large.detections.masks[0]
            assert mask.shape == (480, 864)
            inside = [(y, x) for y in range(480) for x in (0, 431, 863) if y1 <= y + 0.5 < y2 and x1 <= x + 0.5 < x2]
            assert all(mask[y, x] for y, x in inside)
            assert int(mask.sum()) == len([y for y in range(480) if y1 <= y + 0.5 < y2]) * len(
                [x for x in range(864) if x1 <= x + 0.5 < x2])
