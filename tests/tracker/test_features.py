"""Initial features of the frame graph on hand-made frames (docs/model.md §0 and §1)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from gvis.errors import InputError
from gvis.tracker.features import (
    area_fractions,
    box_masks,
    class_logits,
    detection_mask_logits,
    frame_descriptor,
    normalize_boxes,
    pair_box_iou,
    prepare_frame,
)
from gvis.tracker.online import label_columns
from gvis.tracker.state import MATCHED

from tracker_helpers import detections, tiny_model

COLUMNS = label_columns([3, 7])  # category 3 → column 1, category 7 → column 2


def test_class_logits_from_probabilities_and_from_labels():
    probs = torch.tensor([[0.1, 0.0, 0.9], [0.5, 0.25, 0.25]])
    det = detections([[0, 0, 4, 4], [1, 1, 5, 5]], labels=[7, 3], class_probs=probs)
    assert torch.allclose(class_logits(det, COLUMNS, 2), probs.clamp_min(1e-6).log())
    det = detections([[0, 0, 4, 4], [1, 1, 5, 5]], scores=[0.8, 0.3], labels=[7, 3])
    expected = torch.tensor([[0.2, 1e-6, 0.8], [0.7, 0.3, 1e-6]]).log()
    assert torch.allclose(class_logits(det, COLUMNS, 2), expected)
    with pytest.raises(InputError, match="category id 5"):
        class_logits(detections([[0, 0, 4, 4]], labels=[5]), COLUMNS, 2)
    with pytest.raises(InputError, match="class_probs"):
        class_logits(detections([[0, 0, 4, 4]], class_probs=[[0.5, 0.5]]), COLUMNS, 2)


def test_boxes_map_to_minus_one_one_and_iou_smoothing():
    boxes = torch.tensor([[50.0, 25.0, 150.0, 75.0], [0.0, 0.0, 200.0, 100.0]])
    image = torch.tensor([[100, 200], [100, 200]])  # (H, W)
    assert torch.allclose(normalize_boxes(boxes, image), torch.tensor([[-0.5, -0.5, 0.5, 0.5], [-1.0, -1.0, 1.0, 1.0]]))
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    iou = pair_box_iou(a, b)
    assert math.isclose(iou[0].item(), (50 + 1e-7) / (150 + 1e-7), rel_tol=1e-6)
    assert iou[1].item() < 1e-8  # an unmatched track's all-zero box


def test_masks_at_the_working_resolution():
    det = detections([[0, 0, 8, 8], [0, 0, 16, 4]], image_size=(16, 16))
    logits = detection_mask_logits(det, (2, 2), binary_logit=4.0)
    assert torch.allclose(logits[0], torch.tensor([[4.0, -4.0], [-4.0, -4.0]]))
    assert torch.allclose(logits[1], torch.tensor([[0.0, 0.0], [-4.0, -4.0]]))  # half of each top block
    det.mask_logits = torch.full((2, 4, 4), 3.0)
    assert torch.allclose(detection_mask_logits(det, (2, 2)), torch.full((2, 2, 2), 3.0))
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [0.0, 0.0, 16.0, 16.0]])
    assert torch.equal(box_masks(boxes, (16, 16), (2, 2)), torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]))


def test_frame_descriptor_fallbacks():
    det = detections([[0, 0, 4, 4], [1, 1, 5, 5]], appearance=[[1.0, 2.0], [3.0, 6.0]])
    assert torch.equal(frame_descriptor(det, 2), torch.tensor([2.0, 4.0]))
    det.frame_appearance = torch.tensor([9.0, 9.0])
    assert torch.equal(frame_descriptor(det, 2), torch.tensor([9.0, 9.0]))
    assert torch.equal(frame_descriptor(detections([]), 2), torch.zeros(2))


def test_prepare_frame_flattens_videos_and_checks_appearance():
    first = detections([[0, 0, 4, 4]], labels=[3], appearance=[[1.0, 1.0]])
    second = detections([[1, 1, 3, 3], [2, 2, 6, 6]], labels=[7, 3], appearance=[[0.0, 1.0], [2.0, 3.0]])
    frame = prepare_frame([first, None, second], COLUMNS, 2, appearance_dim=2, use_appearance=True, mask_stride=8)
    assert frame.present.tolist() == [True, False, True]
    assert frame.video.tolist() == [0, 2, 2] and frame.index.tolist() == [0, 0, 1]
    assert torch.equal(frame.frame_appearance, torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 2.0]]))
    assert frame.mask_inputs[1] is None and frame.mask_inputs[2].shape == (2, 2, 6, 8)
    assert frame.node_features().shape == (3, 3 + 4)
    with pytest.raises(InputError, match="appearance"):
        prepare_frame([detections([[0, 0, 4, 4]], labels=[3])], COLUMNS, 2, appearance_dim=2, use_appearance=True)
    with pytest.raises(InputError, match="Da = 3"):
        prepare_frame([first], COLUMNS, 2, appearance_dim=3, use_appearance=True)
    # Without an appearance model, appearance is neither needed nor read.
    plain = prepare_frame([detections([[0, 0, 4, 4]], labels=[3])], COLUMNS, 2, appearance_dim=2, use_appearance=False)
    assert plain.appearance.shape == (1, 0) and plain.frame_appearance.shape == (1, 0)


def test_graph_inputs_on_a_hand_made_frame():
    """Track 0 matched last frame (box + Gaussian known), track 1 unmatched; two detections."""
    model = tiny_model("appearance_dim=2", "loglik_offset=-4.0", "loglik_scale=0.01", num_classes=2, dtype=torch.float64)
    det = detections([[0, 0, 10, 10], [20, 20, 30, 40]], scores=[0.9, 0.6], labels=[3, 7],
                     appearance=[[1.0, 0.0], [0.0, 2.0]], image_size=(48, 64))
    frame = prepare_frame([det], COLUMNS, 2, appearance_dim=2, use_appearance=True, dtype=torch.float64)
    state = model.initial_state(1)
    mean = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    var = torch.tensor([[1.0, 0.5], [2.0, 2.0]], dtype=torch.float64)
    state = dataclasses.replace(
        state, video=torch.tensor([0, 0]), track_id=torch.tensor([0, 1]), h=torch.randn(2, model.dim, dtype=torch.float64),
        c=torch.zeros(2, model.dim, dtype=torch.float64), box=torch.tensor([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64),
        status=torch.tensor([MATCHED, 2], dtype=torch.int8), frames_since_matched=torch.tensor([0, 3]),
        class_logits=torch.zeros(2, 3, dtype=torch.float64), appearance={"mean": mean, "var": var},
    )
    empty = {"mean": torch.tensor([[0.5, 0.5]], dtype=torch.float64), "var": torch.tensor([[1.0, 1.0]], dtype=torch.float64)}
    inputs = model.graph_inputs(state, frame, empty)

    def ll(x, mu, sigma2):
        return -0.5 * (2 * math.log(2 * math.pi) + sum(math.log(s) for s in sigma2)
                       + sum((a - b) ** 2 / s for a, b, s in zip(x, mu, sigma2)))

    xs = ([1.0, 0.0], [0.0, 2.0])
    assert inputs.track_det_index.tolist() == [[0, 0, 1, 1], [0, 1, 0, 1]]
    expected_edges = []
    for m in range(2):
        for n in range(2):
            iou = (50 + 1e-7) / (150 + 1e-7) if (m, n) == (0, 0) else 0.0
            expected_edges.append([-4 + 0.01 * ll(xs[n], mean[m].tolist(), var[m].tolist()), -1 + 2 * iou])
    assert torch.allclose(inputs.track_det_attr, torch.tensor(expected_edges, dtype=torch.float64), atol=1e-9)
    expected_empty = [[-4 + 0.01 * ll(x, [0.5, 0.5], [1.0, 1.0])] for x in xs]
    assert torch.allclose(inputs.empty_det_attr, torch.tensor(expected_empty, dtype=torch.float64))
    det_x = torch.tensor([[math.log(0.1), math.log(0.9), math.log(1e-6), -1, -1, 10 * 2 / 64 - 1, 10 * 2 / 48 - 1],
                          [math.log(0.4), math.log(1e-6), math.log(0.6), 20 * 2 / 64 - 1, 20 * 2 / 48 - 1, 30 * 2 / 64 - 1, 40 * 2 / 48 - 1]],
                         dtype=torch.float64)
    assert torch.allclose(inputs.det_x, det_x, atol=1e-6)
    assert torch.equal(inputs.track_x, state.h) and torch.equal(inputs.empty_x, state.empty_h)
    assert inputs.empty_det_index.tolist() == [[0, 0], [0, 1]]


def test_area_fractions_count_cells_and_equal_area_pooling():
    masks = torch.zeros((1, 4, 6), dtype=torch.bool)
    masks[0, :2, :3] = True  # the top-left 2x3 block
    masks[0, 3, 5] = True
    # 2x2 cells of 2x3 pixels: full, empty / empty, 1 of 6.
    assert torch.equal(area_fractions(masks, (2, 2)), torch.tensor([[[1.0, 0.0], [0.0, 1 / 6]]]))
    generator = torch.Generator().manual_seed(0)
    for (height, width), size in [((480, 864), (60, 108)), ((480, 864), (120, 216)), ((60, 90), (20, 30)),
                                  ((42, 42), (6, 6)), ((50, 70), (7, 9)), ((48, 64), (8, 8))]:
        random = torch.rand(3, height, width, generator=generator) < 0.4
        pooled = F.interpolate(random.float().unsqueeze(1), size=size, mode="area").squeeze(1)
        assert torch.equal(area_fractions(random, size), pooled), (height, width, size)
    wide = torch.rand(2, 16, 40, generator=generator) < 0.5
    strided = wide[:, :, ::2]  # not contiguous
    assert torch.equal(area_fractions(strided, (4, 5)),
                       F.interpolate(strided.float().unsqueeze(1), size=(4, 5), mode="area").squeeze(1))


def test_area_fractions_of_tall_cells_do_not_overflow():
    """Cells of 300 rows: a column of a full cell counts 300, more than a byte holds."""
    masks = torch.ones((1, 600, 4), dtype=torch.bool)
    masks[0, 300:, 2:] = False
    assert torch.equal(area_fractions(masks, (2, 2)), torch.tensor([[[1.0, 1.0], [1.0, 0.0]]]))
