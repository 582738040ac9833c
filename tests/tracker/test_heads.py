"""Heads: association/initialisation logits, the Table 1 rule-based variants, scorers and the mask head."""
from __future__ import annotations

import math

import pytest
import torch

from gvis.gnn.features import FrameFeatures
from gvis.registry import ASSOCIATORS, SCORERS
from gvis.tracker.heads import AssociationInputs, EdgeScore, MaskHead

from tracker_helpers import tiny_model


def test_edge_score_initialisation():
    head = EdgeScore(128, bias=-2.1)
    assert torch.allclose(head.linear.bias, torch.tensor([-2.1]))
    bound = math.sqrt(6 / (128 + 1))  # Xavier-uniform
    assert head.linear.weight.abs().max() <= bound
    assert head(torch.zeros(5, 128)).shape == (5,)


def inputs(src, dst, num_dets, **fields):
    src, dst = torch.tensor(src), torch.tensor(dst)
    defaults = dict(pair_iou=torch.zeros(len(src)), det_logits=torch.zeros(num_dets, 3), det_scores=torch.ones(num_dets),
                    det_appearance=torch.zeros(num_dets, 0), track_logits=torch.zeros(int(src.max()) + 1 if len(src) else 0, 3),
                    track_appearance=None)
    defaults.update(fields)
    return AssociationInputs(src, dst, num_dets, **defaults)


def gnn_output(num_edges, num_dets, logit=None):
    return FrameFeatures(torch.zeros(0, 4), torch.zeros(num_dets, 4), torch.zeros(1, 4), torch.randn(num_edges, 4),
                         torch.randn(num_dets, 4), logit)


def test_learned_associator_uses_the_gnn_logit_when_there_is_one():
    associator = ASSOCIATORS.build("learned", dim=4)
    out = gnn_output(3, 2)
    association, init = associator(out, inputs([0, 0, 1], [0, 1, 0], 2))
    assert torch.allclose(association, associator.association(out.track_det))
    assert torch.allclose(init, associator.initialisation(out.empty_det))
    logit = torch.tensor([1.0, 2.0, 3.0])
    assert torch.equal(associator(gnn_output(3, 2, logit), inputs([0, 0, 1], [0, 1, 0], 2))[0], logit)


def test_limited_associator_new_track_score_is_minus_max_association():
    associator = ASSOCIATORS.build("limited", dim=4, no_track_logit=10.0)
    logit = torch.tensor([1.0, -3.0, 0.5, 2.0])  # tracks 0, 1 × detections 0, 1; detection 2 has no track
    association, init = associator(gnn_output(4, 3, logit), inputs([0, 0, 1, 1], [0, 1, 0, 1], 3))
    assert torch.equal(association, logit)
    assert init.tolist() == [-1.0, -2.0, 10.0]


def test_masktrack_associator_gives_each_detection_one_winner():
    associator = ASSOCIATORS.build("masktrack", dim=4, alpha=2.0, beta=10.0, gamma=1.0, appearance_scale=1.0)
    # One video, tracks 0 (class 1) and 1 (class 2); detections 0 (class 1, overlaps track 0), 1 (class 1, nothing).
    det_logits = torch.tensor([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
    track_logits = torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    det_app = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    track_app = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pair_iou = torch.tensor([0.8, 0.0, 0.0, 0.0])
    src, dst = [0, 0, 1, 1], [0, 1, 0, 1]
    association, init = associator(gnn_output(4, 2), inputs(src, dst, 2, pair_iou=pair_iou, det_logits=det_logits,
                                                            det_scores=torch.tensor([0.9, 0.5]), det_appearance=det_app,
                                                            track_logits=track_logits, track_appearance=track_app))

    def scores(n):  # options: new, track 0, track 1
        dots = [0.0] + [float(det_app[n] @ track_app[m]) for m in range(2)]
        log_norm = math.log(sum(math.exp(d) for d in dots))
        same = [1.0, 1.0, 0.0]  # detection class 1 vs new / track 0 / track 1
        iou = [0.0, pair_iou[n].item(), pair_iou[2 + n].item()]
        return [dots[k] - log_norm + 2 * iou[k] + 10 * same[k] + math.log([0.9, 0.5][n]) for k in range(3)]

    s0, s1 = scores(0), scores(1)
    assert max(range(3), key=lambda k: s0[k]) == 1  # detection 0 → track 0
    assert max(range(3), key=lambda k: s1[k]) == 0  # detection 1 → new (track 1 has another class)
    assert math.isclose(association[0].item(), 100 + s0[1], rel_tol=1e-6)
    assert association[1:].tolist() == [-100.0] * 3
    assert init.tolist() == [-100.0, 100.0]
    assert not association.requires_grad


def test_masktrack_scorer_majority_vote_and_mean_confidence():
    scorer = SCORERS.build("masktrack", dim=4, num_classes=3)
    state = scorer.new_state(2, torch.zeros(1))
    h = torch.zeros(2, 4)

    def logits_of(probs):
        return torch.tensor(probs).log()

    frames = [([0.1, 0.8, 0.05, 0.05], True), ([0.3, 0.1, 0.6, 0.0], True), ([0.1, 0.7, 0.1, 0.1], True), ([0.0, 0.0, 0.0, 1.0], False)]
    for probs, matched in frames:
        det = logits_of([probs, probs]).clamp_min(-30)
        class_logits, state = scorer(h, state, det, torch.tensor([matched, False]))
    # Track 0: votes class 1 twice, class 2 once; confidence = mean(0.8, 0.6, 0.7).
    probs = class_logits.softmax(-1)
    assert probs[0].argmax().item() == 1
    assert math.isclose(probs[0, 1].item(), 0.7, rel_tol=1e-5)
    assert state["count"].tolist() == [3.0, 0.0]


def test_label_vote_scorer_votes_the_labels_and_learns_the_objectness():
    scorer = SCORERS.build("label_vote", dim=2, num_classes=3)
    with torch.no_grad():
        scorer.linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
        scorer.linear.bias.zero_()
    h = torch.tensor([[0.0, 5.0], [math.log(3.0), -5.0]])  # sigmoid(w.h) = 0.5, 0.75
    state = scorer.new_state(2, torch.zeros(1))

    def labelled(*columns):  # detections whose argmax class is these columns
        return torch.tensor([[0.1] + [0.8 if c == column else 0.05 for c in (1, 2, 3)] for column in columns]).log()

    z, state = scorer(h, state, labelled(2, 1), torch.tensor([True, True]))
    probs = z.softmax(-1)
    assert (probs[:, 1:].argmax(-1) + 1).tolist() == [2, 1]
    assert probs[0, 2].item() == pytest.approx(0.5, rel=1e-5) and probs[1, 1].item() == pytest.approx(0.75, rel=1e-5)
    # Track 0 now also sees class 3 (a tie: the lowest class wins, agreement 1/2); track 1 is unmatched.
    z, state = scorer(h, state, labelled(3, 3), torch.tensor([True, False]))
    probs = z.softmax(-1)
    assert probs.argmax(-1).tolist() == [0, 1]  # background 0.75 for track 0; its class is still the vote's
    assert (probs[:, 1:].argmax(-1) + 1).tolist() == [2, 1]
    assert probs[0, 2].item() == pytest.approx(0.5 * 0.5, rel=1e-5) and probs[1, 1].item() == pytest.approx(0.75, rel=1e-5)
    assert state["count"].tolist() == [2.0, 1.0]
    assert probs[0, 0].item() == pytest.approx(0.75, rel=1e-5) and probs[0, 3].item() < 1e-8
    # No weight depends on the class list.
    forty = SCORERS.build("label_vote", dim=2, num_classes=40)
    assert scorer.class_free and {k: v.shape for k, v in forty.state_dict().items()} == \
        {k: v.shape for k, v in scorer.state_dict().items()}


def test_detector_average_scorer_is_an_exponential_average():
    scorer = SCORERS.build("detector_average", dim=4, num_classes=1, rate=0.1)
    state = scorer.new_state(1, torch.zeros(1))
    z, state = scorer(torch.zeros(1, 4), state, torch.tensor([[1.0, 2.0]]), torch.tensor([True]))
    assert z.tolist() == [[1.0, 2.0]]  # starts at the initialising detection
    z, state = scorer(torch.zeros(1, 4), state, torch.tensor([[3.0, 0.0]]), torch.tensor([True]))
    assert torch.allclose(z, torch.tensor([[0.9 * 1 + 0.1 * 3, 0.9 * 2 + 0.1 * 0]]))
    z2, state = scorer(torch.zeros(1, 4), state, torch.tensor([[9.0, 9.0]]), torch.tensor([False]))
    assert torch.equal(z2, z)


def test_evidence_scorer_adds_the_learned_head_to_the_detector_average():
    scorer = SCORERS.build("learned_evidence", dim=4, num_classes=1, rate=0.1)
    h = torch.randn(1, 4)
    state = scorer.new_state(1, h)
    z, state = scorer(h, state, torch.tensor([[1.0, 2.0]]), torch.tensor([True]))
    assert torch.allclose(z, scorer.linear(h) + torch.tensor([[1.0, 2.0]]))
    z, state = scorer(h, state, torch.tensor([[3.0, 0.0]]), torch.tensor([True]))
    assert torch.allclose(z, scorer.linear(h) + torch.tensor([[0.9 * 1 + 0.1 * 3, 0.9 * 2 + 0.1 * 0]]))
    # Unmatched: the average stays, the head still reads the new embedding.
    h2 = torch.randn(1, 4)
    z2, _ = scorer(h2, state, torch.tensor([[9.0, 9.0]]), torch.tensor([False]))
    assert torch.allclose(z2 - scorer.linear(h2), z - scorer.linear(h))


def test_learned_scorer_is_linear_in_h():
    scorer = SCORERS.build("learned", dim=4, num_classes=2)
    h = torch.randn(3, 4)
    z, _ = scorer(h, {}, torch.zeros(3, 3), torch.ones(3, dtype=torch.bool))
    assert torch.allclose(z, scorer.linear(h))


def test_mask_head_and_pixel_assignment():
    head = MaskHead(dim=4, embedding_channels=16)
    assert head.conv1.in_channels == 18 and head.conv2.out_channels == 1
    assert head(torch.randn(3, 2, 6, 8), torch.randn(3, 4)).shape == (3, 6, 8)
    # The tracker's head starts at the background level, where the mask loss has a gradient.
    assert torch.equal(tiny_model().mask_head.conv2.bias, torch.tensor([tiny_model().config.background_mask_logit]))
    model = tiny_model()
    logits = torch.full((3, 2, 2), -20.0)
    logits[0, 0, 0] = 15.0          # beats the background (10)
    logits[1, 0, 0] = 12.0          # loses to track 0
    logits[1, 1, 1] = 11.0          # wins its own corner
    masks = model.pixel_assignment(logits, (4, 4))
    assert masks.shape == (3, 4, 4) and masks.dtype == torch.bool
    assert masks[0, 0, 0] and not masks[1, 0, 0] and masks[1, 3, 3]
    assert not masks[2].any()                        # unmatched track: −20 everywhere
    assert not (masks.sum(0) > 1).any()              # one instance per pixel
