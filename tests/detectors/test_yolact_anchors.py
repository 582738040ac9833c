"""Anchors and SSD box coding of the YOLACT-style detector."""
from __future__ import annotations

import math

import torch

from gvis.detectors.yolact.anchors import make_anchors
from gvis.detectors.yolact.box_coding import cxcywh_to_xyxy, decode_boxes, encode_boxes, xyxy_to_cxcywh


def test_anchor_layout_matches_the_head_order():
    anchors = make_anchors([(2, 3), (1, 1)], image_size=(100, 200), sizes=[20.0, 50.0], aspect_ratios=[1.0, 0.5, 2.0])
    assert anchors.shape == (2 * 3 * 3 + 1 * 1 * 3, 4)
    # Level 0, row 1, column 2, aspect ratio 0.5 is row (1*3 + 2)*3 + 1.
    cx, cy, w, h = anchors[(1 * 3 + 2) * 3 + 1].tolist()
    assert math.isclose(cx, 2.5 / 3, rel_tol=1e-6) and math.isclose(cy, 1.5 / 2, rel_tol=1e-6)
    # 20 px with width/height 0.5 in pixels: 20*sqrt(.5) wide, 20/sqrt(.5) high.
    assert math.isclose(w * 200, 20 * math.sqrt(0.5), rel_tol=1e-6)
    assert math.isclose(h * 100, 20 / math.sqrt(0.5), rel_tol=1e-6)
    # The last level's square anchor is 50 x 50 pixels, centred.
    assert torch.allclose(anchors[-3], torch.tensor([0.5, 0.5, 50 / 200, 50 / 100]))


def test_paper_anchor_sizes_are_the_authors_anchors_in_pixels():
    """The authors' scale 24, "normalised by 500", aspect 1/1.8 on 864x480 = a 31-pixel square anchor."""
    scale, width, height = 24, 864, 480
    authors_w = scale * math.sqrt(1 / 1.8) / 500 * width
    authors_h = scale / math.sqrt(1 / 1.8) / 500 * height
    ours = make_anchors([(1, 1)], (height, width), sizes=[31.0], aspect_ratios=[1.0])[0]
    assert math.isclose(authors_w, authors_h, rel_tol=1e-9)
    assert abs(ours[2].item() * width - authors_w) < 0.1 and abs(ours[3].item() * height - authors_h) < 0.1


def test_box_coding_round_trip():
    generator = torch.Generator().manual_seed(0)
    anchors = torch.cat([torch.rand(50, 2, generator=generator), 0.05 + 0.5 * torch.rand(50, 2, generator=generator)], 1)
    corners = torch.rand(50, 2, generator=generator) * 0.5
    boxes = torch.cat([corners, corners + 0.01 + 0.4 * torch.rand(50, 2, generator=generator)], 1)
    deltas = encode_boxes(boxes, anchors)
    assert torch.allclose(decode_boxes(deltas, anchors), boxes, atol=1e-6)
    # A box equal to its anchor has zero deltas; a box twice as wide has t_w = log 2 / 0.2.
    same = encode_boxes(cxcywh_to_xyxy(anchors), anchors)
    assert torch.allclose(same, torch.zeros_like(same), atol=1e-5)
    wide = anchors.clone()
    wide[:, 2] *= 2
    assert torch.allclose(encode_boxes(cxcywh_to_xyxy(wide), anchors)[:, 2], torch.full((50,), math.log(2) / 0.2), atol=1e-5)
    assert torch.allclose(xyxy_to_cxcywh(cxcywh_to_xyxy(anchors)), anchors, atol=1e-6)


def test_decode_never_overflows():
    anchors = torch.tensor([[0.5, 0.5, 0.1, 0.1]])
    boxes = decode_boxes(torch.tensor([[0.0, 0.0, 1e4, 1e4]]), anchors)
    assert torch.isfinite(boxes).all()
