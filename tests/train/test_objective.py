"""The per-frame targets the clip objective builds from the tracker's own tracks, on a hand-made clip."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import gvis.train.objective as objective
from gvis.config import find_config, load_config
from gvis.detections.structures import Detections
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig
from gvis.train.config import LossConfig
from gvis.train.data import TrainingFrame

SIZE = (40, 64)


def frame(det_boxes, gt_boxes, gt_ids=(7,), appearance_dim=64) -> TrainingFrame:
    count = len(det_boxes)
    masks = torch.zeros((count, *SIZE), dtype=torch.bool)
    gt_masks = torch.zeros((len(gt_boxes), *SIZE), dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(det_boxes):
        masks[k, y1:y2, x1:x2] = True
    for k, (x1, y1, x2, y2) in enumerate(gt_boxes):
        gt_masks[k, y1:y2, x1:x2] = True
    probs = torch.tensor([[0.1, 0.9, 0.0]] * count).reshape(count, 3)
    detections = Detections(torch.tensor(det_boxes, dtype=torch.float32).reshape(-1, 4), torch.full((count,), 0.9),
                            torch.ones(count, dtype=torch.long), masks, SIZE, class_probs=probs,
                            appearance=torch.ones((count, appearance_dim)))
    return TrainingFrame(detections, torch.tensor(gt_ids[:len(gt_boxes)], dtype=torch.long),
                         torch.full((len(gt_boxes),), 2, dtype=torch.long),
                         torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4), gt_masks)


@pytest.fixture
def captured(monkeypatch):
    """The arguments each loss function receives."""
    calls = {}

    def spy(name, real):
        def wrapper(*args, **kwargs):
            calls[name] = (*args, *kwargs.values())
            return real(*args, **kwargs)
        monkeypatch.setattr(objective, name, wrapper)

    for name in ("association_loss", "init_loss", "class_loss", "mask_loss"):
        spy(name, getattr(objective, name))
    return calls


def eager_model() -> RecurrentGraphTracker:
    """The tiny model, seeded, with every detection starting a track and every track taking its best detection
    (duplicates on purpose)."""
    torch.manual_seed(0)
    config = load_config(TrackerConfig, find_config("tiny", "model"))
    config = dataclasses.replace(config, init_threshold=float("-inf"), match_threshold=float("-inf"))
    return RecurrentGraphTracker(config, num_classes=2)


def test_targets_follow_the_first_track_of_each_object(captured):
    model = eager_model()
    box = [10, 10, 20, 20]
    clip_a = [frame([box], [box]), frame([box], [box]), frame([box, [40, 20, 50, 30]], [box])]
    clip_b = [frame([], []), frame([[30, 5, 40, 15]], [])]  # a false positive, and a clip one frame shorter
    batch = objective.collate([clip_a, clip_b], model, [1, 2], LossConfig())
    terms = objective.ClipObjective(model, LossConfig())(batch)

    # Frames: A0 (det a0) | B0 (none); A1 (a1) | B1 (fp); A2 (a2, x). Tracks after each frame, video A:
    # [t0], [t0, t1], [t0, t1, t2, t3]; video B: [], [f0].
    _, assoc_targets, num_frames = captured["association_loss"]
    assert num_frames == 5  # images: 3 of clip A, 2 of clip B
    # Edges: frame 1: (t0, a1); frame 2: (t0, a2), (t0, x), (t1, a2), (t1, x). Only the first track matches.
    assert assoc_targets.tolist() == [1, 1, 0, 0, 0]
    init_targets = captured["init_loss"][1]
    # Frame 0: a0 (new object) | frame 1: a1 (followed), fp | frame 2: a2 (followed), x (background).
    assert init_targets.tolist() == [1, 0, 0, 0, 0]
    logits, classes, weights = captured["class_loss"][:3]
    # Class-supervised rows (alive before the frame): frame 1: t0; frame 2: t0, t1 (a duplicate still gets the
    # object's class). FP track f0 starts in B's last frame, so it is never supervised.
    assert classes.tolist() == [2, 2, 2]
    w3 = objective.temporal_class_weights(3)
    assert torch.allclose(weights, torch.stack([w3[1], w3[2], w3[2]]))
    assert captured["class_loss"][3] == 2  # divided by B
    # Mask targets: the object's pixels map to channel 1 (t0) in every frame of clip A, nothing else.
    targets = captured["mask_loss"][1]
    assert len(targets) == 5
    assert [sorted(t.unique().tolist()) for t in targets] == [[0, 1], [0], [0, 1], [0], [0, 1]]
    assert terms["tracks"].item() == 3 and terms["positives"].item() == 2
    total = LossConfig()
    expected = (total.class_weight * terms["class"] + total.mask_weight * terms["mask"]
                + total.association_weight * terms["association"] + total.init_weight * terms["init"])
    assert torch.isclose(terms["loss"], expected)
    terms["loss"].backward()
    assert model.associator is not None and any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_quality_class_targets_use_the_mask_fit_of_the_track_s_detection(captured):
    model = eager_model()
    box = [10, 10, 20, 20]
    loose = [10, 10, 20, 30]  # the object's 100 pixels inside 200: mask IoU 0.5
    clip = [frame([box], [box]), frame([loose], [box]), frame([box], [box])]
    loss = LossConfig(class_target="quality")
    batch = objective.collate([clip], model, [1, 2], loss)
    assert batch.targets[1].det_fit_ids.tolist() == [7]
    assert batch.targets[1].det_fit_iou.tolist() == pytest.approx([0.5])
    objective.ClipObjective(model, loss)(batch)
    # Supervised rows: frame 1: t0 (took the loose mask: class 2 with probability 0.5); frame 2: t0 (took the
    # exact mask: 1.0) and t1, started in frame 1 by the loose detection, whose box IoU 0.5 is no match: no
    # object, background.
    classes = captured["class_loss"][1]
    assert torch.allclose(classes, torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    # The default keeps the paper's hard targets and computes no fits.
    batch = objective.collate([clip], model, [1, 2], LossConfig())
    assert batch.targets[1].det_fit_ids is None
    objective.ClipObjective(model, LossConfig())(batch)
    assert captured["class_loss"][1].tolist() == [2, 2, 0]


def test_right_assignments_counts_positives_the_hard_assignment_took():
    from gvis.tracker.model import StepOutput

    # Previous tracks 0, 1, 2; detections 0, 1; every pair an edge. Targets: track 0 -> det 1, track 1 -> det 0.
    pairs = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1]])
    targets = torch.tensor([0.0, 1, 1, 0, 0, 0])
    # New state: track 0 took det 1 (right), track 1 took det 1 too (wrong), track 2 none, det 0 started a track.
    out = StepOutput(track_det_index=pairs, association_logits=torch.zeros(6), init_logits=torch.zeros(2),
                     previous_track_id=torch.arange(3), previous_video=torch.zeros(3, dtype=torch.long),
                     track_id=torch.arange(4), video=torch.zeros(4, dtype=torch.long), class_logits=torch.zeros(4, 3),
                     assigned_det=torch.tensor([1, 1, -1, 0]), is_new=torch.tensor([False, False, False, True]),
                     previous_row=torch.tensor([0, 1, 2, -1]))
    assert objective._right_assignments(out, targets) == 1
    # A track that died (no row continues it) took nothing.
    died = dataclasses.replace(out, assigned_det=torch.tensor([1, 0]), previous_row=torch.tensor([0, 1]),
                               is_new=torch.tensor([False, False]), track_id=torch.arange(2),
                               video=torch.zeros(2, dtype=torch.long), class_logits=torch.zeros(2, 3))
    assert objective._right_assignments(died, targets) == 2
