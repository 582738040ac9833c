"""The Detections container: row selection, validation, class_probs from labels and scores."""
from __future__ import annotations

import pytest
import torch

from gvis.detections.structures import Detections, class_probs_from_scores, encode_masks

H, W = 4, 5


def _detections(rle: bool = False) -> Detections:
    masks = torch.zeros((3, H, W), dtype=torch.bool)
    masks[0, :2, :2] = True
    masks[1, 1:, 3:] = True
    masks[2, 3, :] = True
    return Detections(
        boxes=torch.tensor([[0, 0, 2, 2], [3, 1, 5, 4], [0, 3, 5, 4]], dtype=torch.float32),
        scores=torch.tensor([0.9, 0.5, 0.2]),
        labels=torch.tensor([1, 4, 1]),
        masks=encode_masks(masks) if rle else masks,
        image_size=(H, W),
        class_probs=torch.tensor([[0.1, 0.9, 0.0], [0.5, 0.0, 0.5], [0.8, 0.2, 0.0]]),
        appearance=torch.arange(6, dtype=torch.float32).reshape(3, 2),
        frame_appearance=torch.tensor([7.0, 8.0]),
    )


@pytest.mark.parametrize("rle", [False, True])
def test_boolean_index_selects_rows_of_every_field(rle):
    dets = _detections(rle)
    kept = dets[torch.tensor([True, False, True])]
    assert len(kept) == 2
    assert kept.labels.tolist() == [1, 1] and kept.scores.tolist() == pytest.approx([0.9, 0.2])
    assert torch.equal(kept.boxes, dets.boxes[[0, 2]]) and torch.equal(kept.appearance, dets.appearance[[0, 2]])
    assert torch.equal(kept.class_probs, dets.class_probs[[0, 2]])
    assert torch.equal(kept.mask_tensor(), dets.mask_tensor()[[0, 2]])
    # Frame-level fields are not rows.
    assert kept.image_size == (H, W) and torch.equal(kept.frame_appearance, dets.frame_appearance)
    none = dets[torch.zeros(3, dtype=torch.bool)]
    assert len(none) == 0 and none.mask_tensor().shape == (0, H, W) and none.appearance.shape == (0, 2)


@pytest.mark.parametrize("rle", [False, True])
def test_index_list_tensor_slice_and_int(rle):
    dets = _detections(rle)
    assert dets[[2, 0]].labels.tolist() == [1, 1] and dets[[2, 0]].scores.tolist() == pytest.approx([0.2, 0.9])
    assert torch.equal(dets[torch.tensor([1])].mask_tensor(), dets.mask_tensor()[1:2])
    assert dets[1:].labels.tolist() == [4, 1] and len(dets[1]) == 1
    with pytest.raises(IndexError):
        dets[torch.tensor([True, False])]


def test_validation_names_the_field():
    good = _detections()
    with pytest.raises(ValueError, match="'scores' has 2 rows, expected 3"):
        Detections(boxes=good.boxes, scores=good.scores[:2], labels=good.labels, masks=good.masks, image_size=(H, W))
    with pytest.raises(ValueError, match="'masks' must be"):
        Detections(boxes=good.boxes, scores=good.scores, labels=good.labels, masks=good.masks[:, :3], image_size=(H, W))
    with pytest.raises(ValueError, match="'appearance' contains NaN"):
        Detections(boxes=good.boxes, scores=good.scores, labels=good.labels, masks=good.masks, image_size=(H, W),
                   appearance=torch.full((3, 2), float("nan")))


def test_class_probs_from_labels_and_scores():
    probs = class_probs_from_scores(torch.tensor([4, 1]), torch.tensor([0.75, 0.5]), [1, 4])
    assert probs.tolist() == [[0.25, 0.0, 0.75], [0.5, 0.5, 0.0]]
    dets = _detections()
    bare = Detections(boxes=dets.boxes, scores=dets.scores, labels=dets.labels, masks=dets.masks, image_size=(H, W))
    filled = bare.with_class_probs([1, 4])
    assert filled.class_probs[:, 0].tolist() == pytest.approx([0.1, 0.5, 0.8])
    assert filled.class_probs[2].tolist() == pytest.approx([0.8, 0.2, 0.0])
    assert dets.with_class_probs([1, 4]) is dets
    with pytest.raises(ValueError, match="category id 4"):
        bare.with_class_probs([1, 2])
    with pytest.raises(ValueError, match="C\\+1 = 4"):
        dets.with_class_probs([1, 2, 3])
