"""Detection-inputs models on hand-made frames: the paper's class-logit inputs and the detector-agnostic
``geometry`` inputs (mask grids, soft IoUs, ranked overlaps, the per-track box / velocity / mask state)."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.registry import DETECTION_INPUTS
from gvis.tracker.features import grid_masks, iou_feature, pair_box_iou, prepare_frame
from gvis.tracker.inputs import grid_intersection, grid_iou
from gvis.tracker.online import label_columns

from tracker_helpers import detections

# A 40 x 80 frame on a 4 x 4 grid: every cell is 10 rows x 20 columns, so boxes on those lines fill whole cells.
IMAGE = (40, 80)
A, B, C = [0, 0, 40, 20], [20, 0, 60, 20], [0, 0, 20, 10]  # A: 4 cells; B: 4 cells, 2 shared with A; C: A's first cell


def frame_of(*videos, grid: int = 4):
    """The prepared frame of one detection list per video (one category, id 1)."""
    return prepare_frame(list(videos), label_columns([1]), 1, appearance_dim=0, use_appearance=False, mask_grid=grid)


def test_mask_grid_is_the_covered_fraction_of_each_cell():
    det = detections([A, [0, 0, 10, 10]], image_size=IMAGE)
    grid = grid_masks(det, 4).reshape(2, 4, 4)
    expected_a = torch.zeros(4, 4)
    expected_a[:2, :2] = 1.0
    assert torch.equal(grid[0], expected_a)
    assert grid[1, 0, 0].item() == 0.5 and grid[1].sum().item() == 0.5  # half of the first cell
    assert grid_masks(detections([], image_size=IMAGE), 4).shape == (0, 16)


def test_grid_iou_of_whole_cells_is_the_mask_iou():
    grids = grid_masks(detections([A, B, C], image_size=IMAGE), 4)
    iou = grid_iou(grids, grids)
    assert torch.allclose(iou, torch.tensor([[1.0, 1 / 3, 1 / 4], [1 / 3, 1.0, 0.0], [1 / 4, 0.0, 1.0]]))
    assert grid_iou(torch.zeros(1, 16), torch.zeros(1, 16)).item() == 0.0  # empty masks do not overlap



def test_min_grid_overlap_is_exact_for_a_mask_with_itself_and_for_nested_masks():
    # Whole cells: both estimates are the mask IoU.
    grids = grid_masks(detections([A, B, C], image_size=IMAGE), 4)
    assert torch.allclose(grid_iou(grids, grids, "min"), grid_iou(grids, grids, "product"))
    # A small mask covering a quarter of each of its 4 cells (5 x 10 pixels of each 10 x 20 cell), and the
    # same mask shifted inside those cells. Product: the mask's IoU with itself is (4/16) / (2 - 4/16) = 1/7.
    small = torch.zeros(1, 16)
    small[0, [0, 1, 4, 5]] = 0.25
    half = small * 2  # a mask holding the small one, covering half of each of those cells
    assert grid_iou(small, small, "product").item() == pytest.approx(1 / 7)
    assert grid_iou(small, small, "min").item() == pytest.approx(1.0)
    assert grid_iou(small, half, "min").item() == pytest.approx(0.5)  # nested: area ratio 1 / 2
    assert grid_iou(small, half, "product").item() == pytest.approx(0.5 / 2.5)
    assert grid_iou(torch.zeros(0, 16), half, "min").shape == (0, 1)
    # Against the per-cell minimum of every pair (the [A, B, G²] reference the cdist form avoids).
    generator = torch.Generator().manual_seed(0)
    first, second = torch.rand(5, 16, generator=generator), torch.rand(3, 16, generator=generator)
    reference = torch.minimum(first.unsqueeze(1), second.unsqueeze(0)).sum(-1)
    assert torch.allclose(grid_intersection(first, second, "min"), reference, atol=1e-5)
    # The inputs use it for the frame overlaps and the track-detection mask IoU.
    inputs = DETECTION_INPUTS.build("geometry", num_classes=1, grid=4, grid_overlap="min")
    # Half of cell 0, ranked first, inside all of cell 0: IoU 1/2; all of the first inside the second.
    frame = frame_of(detections([[0, 0, 10, 10], [0, 0, 20, 10]], scores=[0.9, 0.8], image_size=IMAGE))
    assert inputs.det_features(frame)[:, 5:].tolist() == [[-1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="grid_overlap"):
        DETECTION_INPUTS.build("geometry", num_classes=1, grid=4, grid_overlap="max")


def test_geometry_detection_features():
    inputs = DETECTION_INPUTS.build("geometry", num_classes=1, grid=4)
    # B and C score alike: B (earlier row) ranks before C. A ranks before both.
    frame = frame_of(detections([A, B, C], scores=[0.9, 0.8, 0.8], image_size=IMAGE))
    # 2x - 1 of: score, box x1 y1 x2 y2 in [-1, 1]; against the ones ranked before it: largest IoU, largest part
    # of it inside one; against all others: largest IoU, largest part of another inside it.
    expected = 2 * torch.tensor([
        [0.9, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 1 / 3, 1.0],        # A: nothing before it; holds all of C
        [0.8, 0.25, 0.0, 0.75, 0.5, 1 / 3, 0.5, 1 / 3, 0.5],    # B: vs A IoU 1/3, half inside A; holds half of A
        [0.8, 0.0, 0.0, 0.25, 0.25, 0.25, 1.0, 0.25, 0.25],     # C: all inside A (IoU 1/4); holds a quarter of A
    ]) - 1
    assert inputs.det_node_dim == 9 and inputs.class_free
    assert torch.allclose(inputs.det_features(frame), expected, atol=1e-6)
    # Detections of another video are not compared.
    two_videos = frame_of(detections([A], scores=[0.9], image_size=IMAGE), detections([C], scores=[0.5], image_size=IMAGE))
    assert torch.allclose(inputs.det_features(two_videos)[:, 5:], torch.full((2, 4), -1.0))



def test_geometry_support_adds_what_each_detection_stands_for():
    geometry = DETECTION_INPUTS.build("geometry", num_classes=1, grid=4)
    inputs = DETECTION_INPUTS.build("geometry_support", num_classes=1, grid=4)
    det = detections([A, B, C], scores=[0.9, 0.8, 0.8], image_size=IMAGE)
    assert inputs.det_node_dim == geometry.det_node_dim + 1 and inputs.det_columns[-1] == "support"
    assert inputs.class_free and inputs.pair_dim == geometry.pair_dim
    # Not filtered by NMS: each detection stands for itself, sigma = its score.
    features = inputs.det_features(frame_of(det))
    assert torch.equal(features[:, :-1], geometry.det_features(frame_of(det)))
    assert torch.allclose(features[:, -1], 2 * torch.tensor([0.9 / 1.9, 0.8 / 1.8, 0.8 / 1.8]) - 1)
    # After NMS: sigma / (1 + sigma) of the recorded support, as 2x - 1.
    det.support = torch.tensor([3.0, 1.0, 0.0])
    assert torch.allclose(inputs.det_features(frame_of(det))[:, -1], torch.tensor([0.5, 0.0, -1.0]))


def test_geometry_pair_features_follow_the_last_match_and_its_velocity():
    inputs = DETECTION_INPUTS.build("geometry", num_classes=1, grid=4)
    state = inputs.empty_state(torch.zeros(0))
    one = torch.tensor([0])
    # Frame 1: a track starts on A.
    state = inputs.advance(state, frame_of(detections([A], image_size=IMAGE)), torch.zeros(0, dtype=torch.long), one[:1])
    assert state["box"].tolist() == [A] and state["velocity"].tolist() == [[0.0, 0.0]] and state["gap"].tolist() == [0.0]
    # Frame 2: a detection at B, 20 pixels to the right.
    frame = frame_of(detections([B], image_size=IMAGE))
    features = inputs.pair_features(state, frame, one, one, pair_box_iou(state["box"], frame.boxes))
    box_iou = (400 + 1e-7) / (1200 + 1e-7)
    proximity = math.exp(-20 / math.sqrt(40 * 20))  # centres 20 px apart, A is 40 x 20
    assert torch.allclose(features, torch.tensor([[2 * box_iou - 1, 2 * box_iou - 1, 2 / 3 - 1, 2 * proximity - 1]]))
    state = inputs.advance(state, frame, one, torch.zeros(0, dtype=torch.long))  # the track takes it
    assert state["velocity"].tolist() == [[20.0, 0.0]] and state["gap"].tolist() == [0.0]
    # Frame 3: unmatched; box, velocity and mask stay, the gap grows.
    mask_before = state["mask"].clone()
    state = inputs.advance(state, frame_of(detections([], image_size=IMAGE)), torch.tensor([-1]), torch.zeros(0, dtype=torch.long))
    assert state["box"].tolist() == [B] and state["gap"].tolist() == [1.0] and torch.equal(state["mask"], mask_before)
    # Frame 4: the constant-velocity box is B moved on by 2 frames x 20 px = [60, 0, 100, 20].
    frame = frame_of(detections([[60, 0, 100, 20]], image_size=IMAGE))
    features = inputs.pair_features(state, frame, one, one, pair_box_iou(state["box"], frame.boxes))
    assert features[0, 0].item() == pytest.approx(-1.0)  # the last box does not overlap it
    assert features[0, 1].item() == pytest.approx(1.0) and features[0, 3].item() == pytest.approx(1.0)
    # Matched after a gap: the velocity is the centre's shift per frame since the last match.
    state = inputs.advance(state, frame, one, torch.zeros(0, dtype=torch.long))
    assert state["velocity"].tolist() == [[20.0, 0.0]] and state["gap"].tolist() == [0.0]


def test_class_logit_inputs_are_the_papers():
    inputs = DETECTION_INPUTS.build("detector_classes", num_classes=2)
    det = detections([A, B], scores=[0.8, 0.3], labels=[7, 3], image_size=IMAGE)
    frame = prepare_frame([det], label_columns([3, 7]), 2, appearance_dim=0, use_appearance=False)
    expected = torch.cat([torch.tensor([[0.2, 1e-6, 0.8], [0.7, 0.3, 1e-6]]).log(),
                          torch.tensor([[-1.0, -1.0, 0.0, 0.0], [-0.5, -1.0, 0.5, 0.0]])], dim=1)
    assert inputs.det_node_dim == 2 + 1 + 4 and not inputs.class_free and inputs.mask_grid is None
    assert torch.allclose(inputs.det_features(frame), expected)
    iou = torch.tensor([0.25, 1.0])
    assert torch.equal(inputs.pair_features({}, frame, iou, iou, iou), iou_feature(iou))
