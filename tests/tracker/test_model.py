"""The frame step: hard assignment and track management (docs/model.md §4), edge cases, and the dense reference."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gvis.bench.dense_tracker import dense_step, to_dense
from gvis.tracker.features import prepare_frame
from gvis.tracker.online import label_columns
from gvis.tracker.state import INACTIVE, MATCHED

from tracker_helpers import ALWAYS, detections, random_detections, tiny_model

COLUMNS = label_columns([1, 2, 3])


class Scripted(nn.Module):
    """An associator that returns prescribed (association, init) logits, one pair per frame."""

    def __init__(self, frames):
        super().__init__()
        self.frames = list(frames)

    def forward(self, out, inputs):
        association, init = self.frames.pop(0)
        return torch.tensor(association, dtype=torch.float32), torch.tensor(init, dtype=torch.float32)


def frame_of(*videos):
    return prepare_frame(list(videos), COLUMNS, 3, appearance_dim=64, use_appearance=True)


def boxes(count, offset=0):
    return [[4 * k + offset, 2, 4 * k + 3 + offset, 6] for k in range(count)]


def appearance(count):
    return torch.randn(count, 64) * 0.1


def run(model, frames):
    state, outputs = model.initial_state(len(frames[0])), []
    for videos in frames:
        state, output = model.step(state, frame_of(*videos))
        outputs.append(output)
    return state, outputs


def test_assignment_new_tracks_and_inactive():
    model = tiny_model()
    model.associator = Scripted([
        ([], [0.0, -5.0, 1.0]),                       # frame 0: detections 0 and 2 start tracks
        ([-1.0, 3.0, 0.5, 2.5], [-3.0, -3.0]),        # frame 1: both tracks claim detection 1
        ([-5.0, -2.5], [5.0]),                        # frame 2: both below −2 → inactive; a new track
    ])
    f0 = detections(boxes(3), scores=[0.5, 0.9, 0.7], appearance=appearance(3))
    f1 = detections(boxes(2), appearance=appearance(2))
    f2 = detections(boxes(1), appearance=appearance(1))
    state, (o0, o1, o2) = run(model, [[f0], [f1], [f2]])
    # New tracks in confidence order: detection 2 (0.7) gets id 0, detection 0 (0.5) id 1.
    assert o0.track_id.tolist() == [0, 1] and o0.assigned_det.tolist() == [2, 0] and o0.is_new.all()
    assert o1.track_id.tolist() == [0, 1] and o1.assigned_det.tolist() == [1, 1]
    assert o1.previous_row.tolist() == [0, 1] and not o1.is_new.any()
    assert o1.track_det_index.tolist() == [[0, 0, 1, 1], [0, 1, 0, 1]]
    assert o2.track_id.tolist() == [0, 1, 2] and o2.assigned_det.tolist() == [-1, -1, 0]
    assert state.status.tolist() == [INACTIVE, INACTIVE, MATCHED]
    assert state.frames_since_matched.tolist() == [1, 1, 0]
    # An unmatched track's box is all zeros; a matched one keeps its detection's box.
    assert torch.equal(state.box[0], torch.zeros(4)) and torch.equal(state.box[2], f2.boxes[0])
    assert state.next_id.tolist() == [3]


def test_exclusive_assignment_and_claimed_detections_starting_no_track():
    model = tiny_model("assignment=exclusive", "claimed_start_tracks=false")
    model.associator = Scripted([
        ([], [0.0, -5.0, 1.0]),                       # frame 0: detections 0 and 2 start tracks 0, 1
        # frame 1, pairs (track, det) = (0,0) (0,1) (0,2) (1,0) (1,1) (1,2): greedy by logit takes (1,1) at
        # 3.0 first, then track 0's best open pair (0,0) at 1.0, not its overall best (0,1) at 2.5; the
        # init logits would start all three detections, but 0 and 1 are taken, so only 2 starts a track.
        ([1.0, 2.5, -1.0, 0.5, 3.0, -1.5], [4.0, 4.0, 4.0]),
    ])
    f0 = detections(boxes(3), scores=[0.5, 0.9, 0.7], appearance=appearance(3))
    f1 = detections(boxes(3), appearance=appearance(3))
    _, (o0, o1) = run(model, [[f0], [f1]])
    assert o0.assigned_det.tolist() == [2, 0]
    assert o1.track_id.tolist() == [0, 1, 2] and o1.assigned_det.tolist() == [0, 1, 2]
    assert o1.is_new.tolist() == [False, False, True]


def test_exclusive_assignment_equals_greedy_over_sorted_pairs(generator):
    from gvis.tracker.model import _exclusive_detection

    for _ in range(50):
        num_tracks, num_dets = torch.randint(1, 7, (2,), generator=generator).tolist()
        src = torch.arange(num_tracks).repeat_interleave(num_dets)
        dst = torch.arange(num_dets).repeat(num_tracks)
        # Rounded logits: ties happen, and the first pair in pair order wins them.
        logits = torch.round(torch.randn(num_tracks * num_dets, generator=generator) * 2) / 2
        expected, taken_dets = [-1] * num_tracks, set()
        for edge in sorted(range(len(logits)), key=lambda e: (-float(logits[e]), e)):
            track, det = int(src[edge]), int(dst[edge])
            if logits[edge] >= -0.5 and expected[track] < 0 and det not in taken_dets:
                expected[track] = det
                taken_dets.add(det)
        assert _exclusive_detection(logits, src, dst, num_tracks, num_dets, -0.5).tolist() == expected


def test_best_assignment_of_one_video_equals_the_first_best_pair_of_each_track(generator):
    """Both forms (a row maximum for one video's pairs, scatters for any batch) against a loop over the
    pairs; ties go to the first pair."""
    import dataclasses

    from gvis.tracker.model import TrackerConfig, _best_detection, hard_assignment

    config = dataclasses.replace(TrackerConfig(), assignment="best", match_threshold=-0.5)
    for _ in range(50):
        num_tracks, num_dets = torch.randint(0, 6, (2,), generator=generator).tolist()
        src = torch.arange(num_tracks).repeat_interleave(num_dets)
        dst = torch.arange(num_dets).repeat(num_tracks)
        logits = torch.round(torch.randn(num_tracks * num_dets, generator=generator) * 2) / 2  # ties happen
        expected = [-1] * num_tracks
        for track in range(num_tracks):
            edges = [e for e in range(len(logits)) if src[e] == track]
            best = max(edges, key=lambda e: (float(logits[e]), -e)) if edges else None
            if best is not None and logits[best] >= -0.5:
                expected[track] = int(dst[best])
        assert hard_assignment(config, logits, src, dst, num_tracks, num_dets).tolist() == expected
        assert _best_detection(logits, src, dst, num_tracks, -0.5).tolist() == expected


def test_max_tracks_and_max_inactive_frames():
    model = tiny_model("max_tracks=2", "max_inactive_frames=1")
    model.associator = Scripted([
        ([], [1.0, 1.0, 1.0]),              # three candidates, room for two (highest scores)
        ([-9.0, -9.0], [5.0]),              # tracks inactive (1 frame); video full → no new track
        ([], []),                            # no detections: tracks inactive for 2 frames → freed
        ([], [5.0]),                         # room again
    ])
    f0 = detections(boxes(3), scores=[0.2, 0.9, 0.5], appearance=appearance(3))
    empty = detections([], appearance=torch.zeros(0, 64))
    _, outs = run(model, [[f0], [detections(boxes(1), appearance=appearance(1))], [empty],
                          [detections(boxes(1), appearance=appearance(1))]])
    assert outs[0].assigned_det.tolist() == [1, 2]
    assert outs[1].track_id.tolist() == [0, 1] and not outs[1].is_new.any()
    assert outs[2].track_id.tolist() == []
    assert outs[3].track_id.tolist() == [2]


def test_tracks_of_several_videos_and_absent_slots():
    model = tiny_model()
    model.associator = Scripted([
        ([], [1.0, 1.0, 1.0]),                                   # video 0: 2 detections, video 1: 1
        ([5.0, 5.0], [1.0, -9.0]),                               # video 0 slot idle; video 1: a new track
    ])
    f_a = detections(boxes(2), appearance=appearance(2))
    f_b = detections(boxes(1), appearance=appearance(1))
    f_c = detections(boxes(2), appearance=appearance(2))
    state, outs = run(model, [[f_a, f_b], [None, f_c]])
    assert outs[0].video.tolist() == [0, 0, 1] and outs[0].track_id.tolist() == [0, 1, 0]
    # Slot 0 had no frame: its tracks are dropped and its ids restart.
    assert outs[1].video.tolist() == [1, 1] and outs[1].track_id.tolist() == [0, 1]
    assert state.next_id.tolist() == [0, 2] and state.started.tolist() == [False, True]
    assert outs[1].track_det_index.tolist() == [[0, 0], [0, 1]]  # only video 1's track was in the graph


@pytest.mark.parametrize("appearance_model", ["gaussian", "lstm", "baked", "none"])
def test_empty_frames_and_videos_without_tracks(appearance_model, generator):
    model = tiny_model(*ALWAYS, f"appearance={{type: {appearance_model}}}")
    uses = model.uses_appearance
    dim = 64 if uses else None

    def dets(count):
        return random_detections(count, generator, appearance_dim=dim)

    state = model.initial_state(3)
    for videos in ([dets(0), dets(3), dets(0)], [dets(2), dets(0), dets(0)], [dets(0), dets(4), dets(1)]):
        frame = prepare_frame(videos, COLUMNS, 3, appearance_dim=64, use_appearance=uses, mask_stride=8)
        state, out = model.step(state, frame, with_masks=True)
        assert out.association_logits.shape == (out.track_det_index.shape[1],)
        assert out.init_logits.shape == (frame.num_detections,)
        assert out.class_logits.shape == (state.num_tracks, 4)
        assert torch.equal(state.video, torch.sort(state.video).values)
        for b, logits in enumerate(out.mask_logits):
            assert logits.shape == ((state.video == b).sum().item(), 6, 8)
    assert torch.isfinite(state.h).all() and torch.isfinite(state.empty_h).all()


def test_step_matches_the_dense_reference():
    """Same weights, same inputs: association, init, and the next state of every track (float64).

    The dense reference implements the paper's scorer (``learned``), not the presets' ``learned_evidence``."""
    model = tiny_model(*ALWAYS, "scorer.type=learned", dtype=torch.float64, seed=3)
    generator = torch.Generator().manual_seed(5)
    state = model.initial_state(3)
    counts = [(3, 0, 2), (4, 1, 0), (2, 3, 5)]
    for t, per_video in enumerate(counts):
        frame = prepare_frame([random_detections(n, generator) for n in per_video], COLUMNS, 3, appearance_dim=64,
                              use_appearance=True, dtype=torch.float64)
        if t == len(counts) - 1:
            dense_state, dense_frame = to_dense(state, frame)
        state, out = model.step(state, frame)
    pair_mask = dense_state.track_mask.unsqueeze(2) & dense_frame.det_mask.unsqueeze(1)
    dense_next, dense_out = dense_step(model, dense_state, dense_frame)
    assert state.num_tracks > 4 and out.is_new.any() and (out.assigned_det[~out.is_new] >= 0).any()
    assert torch.allclose(dense_out.association[pair_mask], out.association_logits, atol=1e-9)
    assert torch.allclose(dense_out.init[dense_frame.det_mask], out.init_logits, atol=1e-9)
    num_old = dense_state.h.shape[1]
    old, new = ~out.is_new, out.is_new
    new_mask = dense_next.track_mask[:, num_old:]
    for name, flat in (("h", state.h), ("c", state.c), ("box", state.box), ("mean", state.appearance["mean"]),
                       ("var", state.appearance["var"]), ("class_logits", state.class_logits)):
        dense = getattr(dense_next, name)
        assert torch.allclose(dense[:, :num_old][dense_state.track_mask], flat[old], atol=1e-8), name
        assert torch.allclose(dense[:, num_old:][new_mask], flat[new], atol=1e-8), name
    assert torch.allclose(dense_next.empty_h, state.empty_h) and torch.allclose(dense_next.empty_mean, state.empty_appearance["mean"])


def test_frame_graph_batch_gives_the_step_graph():
    model = tiny_model(*ALWAYS)
    generator = torch.Generator().manual_seed(1)
    state = model.initial_state(2)
    frame = prepare_frame([random_detections(3, generator), random_detections(2, generator)], COLUMNS, 3, 64, True)
    state, _ = model.step(state, frame)
    frame = prepare_frame([random_detections(2, generator), random_detections(0, generator)], COLUMNS, 3, 64, True)
    batch = model.frame_graph(state, frame)
    inputs = model.graph_inputs(state, frame, state.empty_appearance)
    assert torch.equal(batch["track", "to", "det"].edge_index, inputs.track_det_index)
    from_batch, from_tensors = model.gnn(batch), model.gnn.forward_tensors(*inputs[:7])
    for a, b in zip(from_batch[:5], from_tensors[:5]):
        assert torch.equal(a, b)


def test_gradients_reach_the_gnn_heads_and_appearance_updates():
    model = tiny_model(*ALWAYS).train()
    generator = torch.Generator().manual_seed(2)
    state, loss = model.initial_state(2), 0.0
    for _ in range(3):
        frame = prepare_frame([random_detections(3, generator), random_detections(2, generator)], COLUMNS, 3, 64, True)
        state, out = model.step(state, frame)
        loss = loss + out.association_logits.sum() + out.init_logits.sum() + out.class_logits.logsumexp(-1).sum()
    assert not any(t.requires_grad for t in (state.detach().h, *state.detach().appearance.values()))
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    for name in ("gnn.blocks.0.track_det_edge.0.weight", "associator.association.linear.weight",
                 "associator.initialisation.linear.weight", "scorer.linear.weight", "track_gate.input_transform.weight",
                 "empty_gate.hidden_transform.weight", "appearance.mean_rate.weight", "appearance.new_var.weight"):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
