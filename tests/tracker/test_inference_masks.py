"""The inference path of the track masks (MaskHead.forward_per_detection, gvis.tracker.masks) against the
training computation it replaces (MaskHead.forward on stacked inputs, RecurrentGraphTracker.pixel_assignment),
on random inputs at the paper's setting: 480x864, 16 detections, 24 tracks, TrackerConfig defaults."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gvis.bench.step import IMPLS, WARMUP, box_coverage, random_detections, run_benchmark, trackers
from gvis.cli import main
from gvis.detections.structures import decode_masks, encode_masks
from gvis.eval.results import VideoResults
from gvis.tracker.heads import MaskHead
from gvis.tracker.masks import label_masks, pixel_labels
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig

#: Upsampled logits this close are a tie that float rounding decides (the logits of the two paths agree
#: to ~1e-6 on logits ~10).
TIE = 1e-4


@pytest.mark.parametrize("size", [(120, 216), (1, 1), (2, 5), (3, 3)])
def test_mask_head_per_detection_is_forward(size, generator):
    torch.manual_seed(0)
    head = MaskHead(dim=64, embedding_channels=16, hidden_channels=16, output_bias=10.0)
    det_inputs = 4 * torch.randn(5, 2, *size, generator=generator)
    rows = torch.tensor([3, 0, 3, 4, 1, 3])  # detections shared by several tracks, one unused
    h = torch.randn(6, 64, generator=generator)
    with torch.no_grad():
        expected = head(det_inputs[rows], h)
        got = head.forward_per_detection(det_inputs, rows, h)
    assert got.shape == expected.shape == (6, *size)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_label_masks_by_hand():
    labels = torch.tensor([[0, 1, 2], [2, 2, 0]])
    masks = label_masks(labels, 3)
    assert masks.tolist() == [[[False, True, False], [False, False, False]],
                              [[False, False, True], [True, True, False]],
                              [[False, False, False], [False, False, False]]]
    assert masks.transpose(1, 2).is_contiguous()  # column-major per mask: COCO RLE's order
    # Encoding that layout gives the RLEs of the same masks stored row-major.
    assert encode_masks(masks) == encode_masks(masks.contiguous())
    assert torch.equal(decode_masks(encode_masks(masks), 2, 3), masks)


def test_pixel_labels_is_pixel_assignment_on_the_same_logits(generator):
    model = RecurrentGraphTracker(TrackerConfig(), num_classes=3)
    background = model.config.background_mask_logit
    logits = background + 2 * F.interpolate(torch.randn(6, 1, 5, 7, generator=generator), size=(30, 54),
                                            mode="bilinear", align_corners=False)[:, 0]
    logits[2] = model.config.unmatched_mask_logit      # unmatched: never upsampled, never wins
    logits[4] = background - 1.0                        # matched, nowhere above the background
    expected = model.pixel_assignment(logits, (120, 216))
    labels = pixel_labels(logits, background, (120, 216))
    assert torch.equal(label_masks(labels, 6), expected)
    assert not expected[2].any() and not expected[4].any() and expected.any()


def _near_ties(logits: torch.Tensor, background: float, image_size: tuple[int, int]) -> torch.Tensor:
    """``[H, W]``: the best two upsampled channels of [background ; logits] are within TIE."""
    channels = torch.cat([logits.new_full((1, *logits.shape[1:]), background), logits]).unsqueeze(0)
    upsampled = F.interpolate(channels, size=image_size, mode="bilinear", align_corners=False)[0]
    best_two = upsampled.topk(2, dim=0).values
    return best_two[0] - best_two[1] < TIE


def test_inference_step_equals_reference_at_the_paper_setting():
    """Five frames after the warm-up: the same tracks, labels, scores and detections; the same masks but at
    pixels where the reference's own best two channels tie to within float rounding."""
    stepped = trackers()
    results = {impl: VideoResults(0) for impl in IMPLS}
    generator = torch.Generator().manual_seed(0)
    model = stepped["reference"].model
    background = model.config.background_mask_logit
    differing = 0
    for index in range(WARMUP + 5):
        detections = random_detections((480, 864), generator)
        assert len(detections) == 16 and box_coverage(detections) >= 0.4
        state = stepped["reference"].state
        frame, _ = stepped["reference"].prepare([detections])
        with torch.no_grad():
            _, output = model.step(state, frame, with_masks=True)
        tracks = {impl: stepped[impl].update([detections])[0] for impl in IMPLS}
        for impl in IMPLS:
            results[impl].add_frame(tracks[impl])
        fast, slow = tracks["inference"], tracks["reference"]
        assert torch.equal(fast.track_ids, slow.track_ids) and torch.equal(fast.labels, slow.labels)
        assert torch.equal(fast.scores, slow.scores) and torch.equal(fast.det_indices, slow.det_indices)
        differs = (fast.masks != slow.masks).any(0)
        assert not (differs & ~_near_ties(output.mask_logits[0], background, (480, 864))).any()
        differing += int(differs.sum())
        if index >= WARMUP - 1:
            assert len(fast) == 24
    assert differing <= 1e-4 * 5 * 480 * 864  # a few pixels a frame (none on most frames)
    if differing == 0:
        assert results["inference"].entries() == results["reference"].entries()


def test_bench_step_runs_and_reports(capsys):
    result = run_benchmark(frames=1, threads=(1,), size=(64, 96), memory=False)
    assert {(row["impl"], row["threads"]) for row in result["rows"]} == {("inference", 1), ("reference", 1)}
    assert all(0 < row["ms_min"] <= row["ms_median"] for row in result["rows"])
    assert result["min_box_coverage"] >= 0.4 and result["tracks_per_frame"] == 24
    assert main(["bench", "step", "--json", "--frames", "1", "--threads", "1", "--sizes", "64x96"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["size"] == [64, 96] and {row["impl"] for row in printed["rows"]} == set(IMPLS)
    assert {row["impl"] for row in printed["memory"]} == set(IMPLS)
    assert all(row["peak_rss_mib"] > 0 for row in printed["memory"])
