"""Shapes of the network parts, mask assembly and crop, backbone weights from a local file."""
from __future__ import annotations

import pytest
import torch

from gvis.detectors.yolact.backbone import Backbone, load_backbone_weights
from gvis.detectors.yolact.fpn import FPN
from gvis.detectors.yolact.masks import assemble_mask_logits, box_masks, crop
from gvis.detectors.yolact.model import DetectorConfig, YolactModel
from gvis.detectors.yolact.prediction_head import PredictionHead
from gvis.detectors.yolact.protonet import ProtoNet
from gvis.errors import InputError


def test_fpn_levels_and_protonet_resolution():
    c3, c4, c5 = torch.randn(2, 12, 16, 24), torch.randn(2, 20, 8, 12), torch.randn(2, 28, 4, 6)
    levels = FPN([12, 20, 28], width=8)([c3, c4, c5])
    assert [tuple(level.shape) for level in levels] == [(2, 8, 16, 24), (2, 8, 8, 12), (2, 8, 4, 6), (2, 8, 2, 3), (2, 8, 1, 2)]
    assert all((level >= 0).all() for level in levels[:3])  # ReLU on P3-P5
    prototypes = ProtoNet(8, width=6, num_prototypes=5)(levels[0])
    assert prototypes.shape == (2, 5, 32, 48) and (prototypes >= 0).all()


def test_prediction_head_shapes_and_coefficient_range():
    levels = [torch.randn(2, 8, 4, 6), torch.randn(2, 8, 2, 3)]
    deltas, logits, coefficients = PredictionHead(8, num_anchors=3, num_classes=4, num_coefficients=5)(levels)
    anchors = 3 * (4 * 6 + 2 * 3)
    assert deltas.shape == (2, anchors, 4) and logits.shape == (2, anchors, 5) and coefficients.shape == (2, anchors, 5)
    assert coefficients.abs().max() <= 1


def test_head_output_row_is_the_anchor_of_its_location():
    """The flattening puts (row, column, anchor) in make_anchors order: perturbing one location of the
    input changes only the rows of the anchors whose receptive field holds it."""
    head = PredictionHead(4, num_anchors=3, num_classes=1, num_coefficients=2)
    torch.nn.init.zeros_(head.shared.weight)
    torch.nn.init.ones_(head.shared.bias)
    torch.nn.init.zeros_(head.box.weight)
    with torch.no_grad():
        head.box.bias.copy_(torch.arange(12.0))  # anchor a, coordinate j → 4a + j
    deltas, _, _ = head([torch.zeros(1, 4, 2, 3)])
    assert torch.equal(deltas[0, 5 * 3 + 2], torch.tensor([8.0, 9, 10, 11]))


def test_mask_assembly_is_the_weighted_sum_of_prototypes():
    prototypes = torch.rand(4, 6, 7)
    coefficients = torch.rand(3, 4) * 2 - 1
    logits = assemble_mask_logits(prototypes, coefficients)
    assert logits.shape == (3, 6, 7)
    expected = sum(coefficients[1, j] * prototypes[j] for j in range(4))
    assert torch.allclose(logits[1], expected, atol=1e-6)


def test_box_masks_and_crop():
    boxes = torch.tensor([[0.25, 0.0, 0.75, 0.5], [0.0, 0.0, 0.0, 0.0]])
    masks = box_masks(boxes, (4, 4))
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[0:2, 1:3] = True
    assert torch.equal(masks[0], expected) and not masks[1].any()
    cropped = crop(torch.ones(2, 4, 4), boxes)
    assert torch.equal(cropped[0], expected.float()) and cropped[1].sum() == 0


@pytest.mark.parametrize("name, channels", [("resnet18", (128, 256, 512)), ("mobilenet_v3_large", (40, 112, 960))])
def test_backbone_stages(name, channels):
    backbone = Backbone(name)
    assert backbone.channels == channels
    out = backbone(torch.randn(1, 3, 64, 96))
    assert [tuple(out[s].shape[-2:]) for s in ("C3", "C4", "C5")] == [(8, 12), (4, 6), (2, 3)]


def test_resnet50_channels_are_the_papers():
    assert Backbone("resnet50").channels == (512, 1024, 2048)


def test_backbone_weights_load_from_a_local_file(tmp_path):
    source = Backbone("mobilenet_v3_large", width=0.25)
    path = tmp_path / "weights.pt"
    torch.save({**source.body.state_dict(), "classifier.0.weight": torch.zeros(1)}, path)  # classifier keys ignored
    target = Backbone("mobilenet_v3_large", width=0.25)
    load_backbone_weights(target, path)
    for key, value in source.body.state_dict().items():
        assert torch.equal(target.body.state_dict()[key], value)
    torch.save({"not": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(InputError, match="do not fit"):
        load_backbone_weights(target, tmp_path / "wrong.pt")
    with pytest.raises(InputError, match="no such"):
        load_backbone_weights(target, tmp_path / "missing.pt")


def test_model_outputs_for_a_batch():
    config = DetectorConfig(backbone="mobilenet_v3_large", backbone_width=0.25, input_size=(64, 96), fpn_width=8,
                            proto_width=8, num_prototypes=4, anchor_sizes=[12, 24, 48, 96, 192])
    model = YolactModel(config, num_classes=3)
    out = model(torch.randn(2, 3, 64, 96))
    anchors = 3 * (8 * 12 + 4 * 6 + 2 * 3 + 1 * 2 + 1 * 1)
    assert out.deltas.shape == (2, anchors, 4) and out.class_logits.shape == (2, anchors, 4)
    assert out.coefficients.shape == (2, anchors, 4) and out.anchors.shape == (anchors, 4)
    assert out.prototypes.shape == (2, 4, 16, 24) and out.semantic_logits.shape == (2, 3, 8, 12)
    model.eval()
    assert model(torch.randn(1, 3, 64, 96)).semantic_logits is None  # the auxiliary head is training-only
