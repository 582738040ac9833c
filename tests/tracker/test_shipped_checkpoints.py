"""The shipped class-specific checkpoints give, to the last digit recorded, the outputs they gave when they were
recorded (``learned-synth-hard.pt`` before the detector-agnostic configuration existed, git be305be; the
detector pair's tracker when it was shipped) on a hand-made sequence of six frames (three moving boxes with
appearance vectors, synthetic categories)."""
from __future__ import annotations

import pytest
import torch

from gvis.detections.structures import Detections
from gvis.tracker.online import BatchedLearnedTracker, LearnedTracker, load_model
from gvis.train.checkpoint import SHIPPED_CHECKPOINT, SHIPPED_DETECTOR_TRACKER

CATEGORIES = [{"id": k, "name": name} for k, name in enumerate(
    ["disc", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent"], start=1)]

#: Per frame: track ids, detection index, label, score (5 decimals), pixels of all track masks.
SYNTH_HARD_TRACKS = [
    [[0, 1, 2], [0, 1, 2], [1, 3, 5], [0.85375, 0.612, 0.45659], 3191],
    [[0, 1, 2], [-1, 1, -1], [1, 3, 5], [0.84732, 0.73457, 0.64211], 1083],
    [[0, 1, 2, 3], [-1, -1, 2, 1], [1, 3, 5, 3], [0.85134, 0.78371, 0.68995, 0.57647], 2028],
    [[0, 1, 2, 3, 4], [0, -1, -1, -1, 2], [1, 3, 5, 3, 5], [0.89541, 0.78956, 0.748, 0.72006, 0.54388], 1661],
    [[0, 1, 2, 3, 4, 5, 6, 7], [0, -1, -1, 1, -1, 0, 1, 2], [1, 3, 5, 3, 5, 1, 3, 5], [0.92071, 0.80295, 0.77316, 0.7563, 0.7343, 0.89666, 0.75614, 0.6466], 2423],
    [[0, 1, 2, 3, 4, 5, 6, 7], [0, -1, -1, -1, -1, -1, -1, -1], [1, 3, 5, 3, 5, 1, 3, 5], [0.93201, 0.81366, 0.78518, 0.79587, 0.77671, 0.93559, 0.85849, 0.80264], 1059],
]
#: Per frame: the initialisation logits of the three detections, then the first three association logits.
STEP_LOGITS = {
    "learned-synth-hard.pt": [
        [3.732, 4.0356, 2.6717],
        [-4.1208, -6.2693, -3.9526, -4.7694, -52.2673, -41.8173],
        [-3.9169, -0.4341, -3.8104, -2.6511, -47.9465, -40.6561],
        [-2.5692, -2.316, -1.279, 0.0611, -48.6138, -40.7551],
        [-1.0182, -1.8008, -1.8769, -1.3218, -127.9931, -90.8786],
        [-2.2577, -2.6632, -2.4177, -1.1004, -118.4447, -97.9743],
    ],
    "learned-synth-hard-yolact.pt": [  # recorded when the tracker trained behind detector-synth-mixed.pt was shipped
        [-2.533, -1.9734, -5.6553],
        [-4.7929, -6.8072, -6.2369, -10.5271, 0.5599, -11.4089],
        [-5.0327, -6.5463, -6.1231, -10.7587, 0.3218, -11.5243],
        [-5.3809, -6.4607, -6.1344, -11.1905, 0.0722, -11.7138],
        [-5.4378, -6.4345, -6.1318, -11.507, 0.0575, -11.8458],
        [-5.4177, -6.4408, -6.1341, -11.387, -0.0299, -11.8888],
    ],
}


def frames() -> list[Detections]:
    generator = torch.Generator().manual_seed(7)
    latent = torch.randn(3, 64, generator=generator)
    sequence = []
    for t in range(6):
        boxes, appearance = [], []
        for k in range(3):
            x, y = 20 + 60 * k + 4 * t, 30 + 10 * k + 2 * t
            boxes.append([x, y, x + 36, y + 30])
            appearance.append(latent[k] + 0.1 * torch.randn(64, generator=generator))
        masks = torch.zeros((3, 120, 240), dtype=torch.bool)
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            masks[k, y1:y2, x1:x2] = True
        sequence.append(Detections(boxes=torch.tensor(boxes, dtype=torch.float32), scores=torch.tensor([0.9, 0.7, 0.5]),
                                   labels=torch.tensor([1, 3, 5]), masks=masks, image_size=(120, 240),
                                   appearance=torch.stack(appearance)))
    return sequence


def shipped(path):
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this checkout")
    return path


def test_shipped_tracker_tracks_as_before():
    tracker = LearnedTracker(CATEGORIES, checkpoint=shipped(SHIPPED_CHECKPOINT))
    for det, (ids, rows, labels, scores, pixels) in zip(frames(), SYNTH_HARD_TRACKS):
        tracks = tracker.update(det)
        assert (tracks.track_ids.tolist(), tracks.det_indices.tolist(), tracks.labels.tolist()) == (ids, rows, labels)
        assert tracks.scores.tolist() == pytest.approx(scores, abs=1e-5)
        assert int(tracks.masks.sum()) == pixels


@pytest.mark.parametrize("path", [SHIPPED_CHECKPOINT, SHIPPED_DETECTOR_TRACKER], ids=lambda p: p.name)
def test_shipped_checkpoints_score_as_before(path):
    model = load_model(shipped(path), num_classes=len(CATEGORIES))
    batched = BatchedLearnedTracker(model, CATEGORIES, num_videos=1)
    with torch.no_grad():
        for det, expected in zip(frames(), STEP_LOGITS[path.name]):
            frame, _ = batched.prepare([det])
            batched.state, out = model.step(batched.state, frame)
            got = out.init_logits.tolist() + out.association_logits.tolist()[:3]
            assert got == pytest.approx(expected, abs=1e-4)
