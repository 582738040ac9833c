"""A dense padded frame step of the learned tracker (the authors' layout), for tests and benchmarks only.

Same modules and weights as :class:`~gvis.tracker.model.RecurrentGraphTracker`, evaluated on padded
tensors: tracks ``[B, M, ·]`` with ``track_mask [B, M]``, detections ``[B, N, ·]`` with ``det_mask [B, N]``,
the GNN through :func:`gvis.gnn.dense_reference.dense_forward`. Pairwise features are computed for all
``M × N`` slots at once (the Gaussian log-likelihood as matrix products). New tracks are appended as
``K`` extra slots (``K`` = most new tracks of any video), so the state grows like the graph one.

Covers the default components only (``lstm_like`` / ``simple`` / ``none`` gates, ``gaussian`` or
``constant_variance`` appearance, ``learned`` associator and scorer) and no ``max_tracks`` /
``max_inactive_frames`` bookkeeping; it is the reference the PyG step is timed and checked against.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from gvis.config import find_config, load_config
from gvis.gnn.dense_reference import DenseFrame as PaddedFrame
from gvis.gnn.dense_reference import covers, dense_forward
from gvis.tracker.appearance import GaussianAppearance
from gvis.tracker.features import FrameDetections, pair_box_iou
from gvis.tracker.heads import LearnedAssociator, LearnedScorer
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig
from gvis.tracker.state import TrackState

_LOG_2PI = math.log(2.0 * math.pi)


class DenseState(NamedTuple):
    """Padded tracker state: ``h, c [B, M, D]``, ``box [B, M, 4]``, ``mean, var [B, M, Da]``,
    ``class_logits [B, M, C+1]``, ``track_mask [B, M]``, ``empty_h, empty_c [B, D]``, ``empty_mean,
    empty_var [B, Da]``."""

    h: Tensor
    c: Tensor
    box: Tensor
    mean: Tensor
    var: Tensor
    class_logits: Tensor
    track_mask: Tensor
    empty_h: Tensor
    empty_c: Tensor
    empty_mean: Tensor
    empty_var: Tensor


class DenseFrame(NamedTuple):
    """Padded detections: ``logits [B, N, C+1]``, ``boxes, boxes_norm [B, N, 4]``, ``scores [B, N]``,
    ``appearance [B, N, Da]``, ``det_mask [B, N]``, ``frame_appearance [B, Da]``."""

    logits: Tensor
    boxes: Tensor
    boxes_norm: Tensor
    scores: Tensor
    appearance: Tensor
    det_mask: Tensor
    frame_appearance: Tensor


class DenseOutput(NamedTuple):
    """``association [B, M, N]`` and ``init [B, N]`` logits (−inf where masked), ``assigned [B, M]`` best
    detection slot (−1 if unmatched), ``new_slots [B, K]`` detection slots starting tracks (−1 padding)."""

    association: Tensor
    init: Tensor
    assigned: Tensor
    new_slots: Tensor


def benchmark_config() -> TrackerConfig:
    """``configs/model/base.yaml`` with the paper's ``learned`` scorer, the one this dense step implements."""
    config = load_config(TrackerConfig, find_config("base", "model"))
    return dataclasses.replace(config, scorer={"type": "learned"})


def has_dense_reference(model: RecurrentGraphTracker) -> bool:
    """Whether :func:`dense_step` covers ``model``: its components (:func:`check_supported`) and a dense
    function for every GNN block (:func:`gvis.gnn.dense_reference.covers`)."""
    try:
        check_supported(model)
    except TypeError:
        return False
    return covers(model.gnn)


def check_supported(model: RecurrentGraphTracker) -> None:
    """``TypeError`` unless the model uses components this dense step implements."""
    if not isinstance(model.appearance, GaussianAppearance) or not isinstance(model.associator, LearnedAssociator) \
            or not isinstance(model.scorer, LearnedScorer) or model.config.max_tracks is not None \
            or model.config.max_inactive_frames is not None or model.appearance.init_from != "detection":
        raise TypeError("the dense step covers gaussian/constant_variance appearance, the learned associator and "
                        "scorer, and no max_tracks / max_inactive_frames")


def to_dense(state: TrackState, frame: FrameDetections) -> tuple[DenseState, DenseFrame]:
    """Pad a flat state (every video started) and frame."""
    num_videos = frame.num_videos

    def pad(x: Tensor, index: Tensor) -> Tensor:
        return to_dense_batch(x, index, batch_size=num_videos)[0]

    track_mask = to_dense_batch(state.h, state.video, batch_size=num_videos)[1]
    det_mask = to_dense_batch(frame.boxes, frame.video, batch_size=num_videos)[1]
    dense_state = DenseState(
        h=pad(state.h, state.video), c=pad(state.c, state.video), box=pad(state.box, state.video),
        mean=pad(state.appearance["mean"], state.video), var=pad(state.appearance["var"], state.video).clamp_min(1e-12),
        class_logits=pad(state.class_logits, state.video), track_mask=track_mask,
        empty_h=state.empty_h, empty_c=state.empty_c,
        empty_mean=state.empty_appearance["mean"], empty_var=state.empty_appearance["var"],
    )
    dense_frame = DenseFrame(
        logits=pad(frame.logits, frame.video), boxes=pad(frame.boxes, frame.video),
        boxes_norm=pad(frame.boxes_norm, frame.video), scores=pad(frame.scores, frame.video),
        appearance=pad(frame.appearance, frame.video), det_mask=det_mask, frame_appearance=frame.frame_appearance,
    )
    return dense_state, dense_frame


def padded_gnn_inputs(track_x: Tensor, det_x: Tensor, empty_x: Tensor, track_det_attr: Tensor, empty_det_attr: Tensor,
                      track_video: Tensor, det_video: Tensor, num_videos: int) -> PaddedFrame:
    """The tracker's flat GNN inputs (``track_x [T, Dt]``, ``det_x [N, Fd]``, ``empty_x [B, Dt]``,
    ``track_det_attr [E, Fe]``, ``empty_det_attr [N, Fe0]``; ``track_video [T]``, ``det_video [N]``) padded to
    a :class:`gvis.gnn.dense_reference.DenseFrame`, the arguments of
    :func:`~gvis.gnn.dense_reference.dense_forward` after the network. Any appearance model or
    detection inputs: the features are taken as the tracker made them."""
    tracks, track_mask = to_dense_batch(track_x, track_video, batch_size=num_videos)
    dets, det_mask = to_dense_batch(det_x, det_video, batch_size=num_videos)
    pair_mask = track_mask.unsqueeze(2) & det_mask.unsqueeze(1)
    # Graph pairs are every (track, detection) of a video, track-major: the order of pair_mask's entries.
    track_det = track_det_attr.new_zeros((*pair_mask.shape, track_det_attr.shape[1]))
    track_det = track_det.masked_scatter(pair_mask.unsqueeze(-1), track_det_attr)
    empty_det = to_dense_batch(empty_det_attr, det_video, batch_size=num_videos)[0]
    return PaddedFrame(tracks, dets, empty_x, track_det, empty_det, track_mask, det_mask)


def _log_likelihood(x: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """``[B, M, N]`` log N(x_n; mean_m, var_m) for ``x [B, N, Da]``, ``mean, var [B, M, Da]``."""
    inv = var.reciprocal()
    mahalanobis = (inv @ x.square().transpose(1, 2) - 2 * (mean * inv) @ x.transpose(1, 2)
                   + (mean.square() * inv).sum(-1, keepdim=True))
    return -0.5 * (x.shape[-1] * _LOG_2PI + var.log().sum(-1, keepdim=True) + mahalanobis)


def _gather_slots(x: Tensor, slots: Tensor) -> Tensor:
    """``x [B, S, F]`` at ``slots [B, K]`` (−1 → zeros)."""
    padded = torch.cat([x, x.new_zeros((x.shape[0], 1, x.shape[2]))], dim=1)
    index = torch.where(slots < 0, x.shape[1], slots)
    return torch.gather(padded, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


def gnn_inputs(model: RecurrentGraphTracker, state: DenseState, frame: DenseFrame) -> tuple[Tensor, ...]:
    """The padded GNN inputs (the arguments of ``dense_forward`` after the network)."""
    appearance = model.appearance
    x = frame.appearance
    pair_ll = appearance.loglik_offset + appearance.loglik_scale * _log_likelihood(x, state.mean, state.var)
    iou = pair_box_iou(state.box.unsqueeze(2), frame.boxes.unsqueeze(1))  # [B, M, N]
    track_det = torch.stack([pair_ll, 2 * iou - 1], dim=-1)
    empty_ll = appearance.loglik_offset + appearance.loglik_scale * _log_likelihood(
        x, state.empty_mean.unsqueeze(1), state.empty_var.unsqueeze(1)).squeeze(1)
    det_x = torch.cat([frame.logits, frame.boxes_norm], dim=-1)
    return (state.h, det_x, state.empty_h, track_det, empty_ll.unsqueeze(-1), state.track_mask, frame.det_mask)


@torch.no_grad()
def dense_step(model: RecurrentGraphTracker, state: DenseState, frame: DenseFrame) -> tuple[DenseState, DenseOutput]:
    """One frame on padded tensors (inference: no gradients); see the module docstring.

    ``TypeError`` for a model with components this step does not implement (:func:`check_supported`).
    """
    check_supported(model)
    config = model.config
    out = dense_forward(model.gnn, *gnn_inputs(model, state, frame))
    pair_mask = state.track_mask.unsqueeze(2) & frame.det_mask.unsqueeze(1)
    neg_inf = torch.tensor(float("-inf"), dtype=out.track_det.dtype)
    association = torch.where(pair_mask, model.associator.association(out.track_det), neg_inf)
    init = torch.where(frame.det_mask, model.associator.initialisation(out.empty_det), neg_inf)

    num_dets = frame.det_mask.shape[1]
    if num_dets:
        best, best_slot = association.max(-1)
    else:
        best = association.new_full(state.track_mask.shape, float("-inf"))
        best_slot = torch.zeros(state.track_mask.shape, dtype=torch.long, device=state.track_mask.device)
    matched = best >= config.match_threshold
    assigned = torch.where(matched, best_slot, -1)
    candidate = init > config.init_threshold
    num_new = int(candidate.sum(-1).max()) if num_dets else 0
    order = torch.sort(torch.where(candidate, frame.scores, neg_inf), dim=-1, descending=True, stable=True).indices
    new_slots = order[:, :num_new]
    new_slots = torch.where(torch.gather(candidate, 1, new_slots), new_slots, -1)
    new_mask = new_slots >= 0

    zeros = state.h.new_zeros((state.h.shape[0], num_new, state.h.shape[2]))
    h, c = model.track_gate(torch.cat([out.track, _gather_slots(out.det, new_slots)], 1),
                            torch.cat([state.h, zeros], 1), torch.cat([state.c, zeros], 1))
    empty_h, empty_c = model.empty_gate(out.empty, state.empty_h, state.empty_c)

    num_tracks = state.h.shape[1]
    observed = _gather_slots(frame.appearance, assigned)
    updated = model.appearance.update({"mean": state.mean, "var": state.var}, h[:, :num_tracks], observed)
    keep = matched.unsqueeze(-1)
    new_x = _gather_slots(frame.appearance, new_slots)
    mean = torch.cat([torch.where(keep, updated["mean"], state.mean), new_x], 1)
    var = torch.cat([torch.where(keep, updated["var"], state.var),
                     model.appearance.init_var.to(new_x.dtype).expand_as(new_x)], 1)
    empty = model.appearance.update({"mean": state.empty_mean, "var": state.empty_var}, empty_h, frame.frame_appearance)
    box = torch.cat([_gather_slots(frame.boxes, assigned), _gather_slots(frame.boxes, new_slots)], 1)
    next_state = DenseState(
        h=h, c=c, box=box, mean=mean, var=var, class_logits=model.scorer.linear(h),
        track_mask=torch.cat([state.track_mask, new_mask], 1), empty_h=empty_h, empty_c=empty_c,
        empty_mean=empty["mean"], empty_var=empty["var"],
    )
    return next_state, DenseOutput(association, init, assigned, new_slots)
