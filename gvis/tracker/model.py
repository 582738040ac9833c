"""The recurrent graph tracker (docs/model.md §1–§4): one frame of B videos per :meth:`RecurrentGraphTracker.step`.

Per frame (``T`` tracks and ``N`` detections over the B videos, ``E`` track–detection pairs):

1. initial features (``features.py``, the detection-inputs model of ``inputs.py`` and the appearance model)
   from the previous state and this frame's detections;
2. the GNN (``gvis.gnn``) on the B frame graphs batched as one (the tensors of ``build_frame_batch``,
   see :meth:`RecurrentGraphTracker.frame_graph`);
3. association logits ``s_mn [E]`` and initialisation logits ``s_0n [N]`` (the associator);
4. hard assignment, detached (docs/model.md §4): each track takes its best detection if ``s_mn ≥ match_threshold``
   (several tracks may claim one detection; ``assignment: exclusive`` makes it one-to-one), else it becomes
   inactive; every detection with ``s_0n > init_threshold`` (and, with ``claimed_start_tracks: false``, no
   track of its own) starts a track, in detector-confidence order, up to ``max_tracks``;
5. recurrent gates (existing tracks from the GNN's track output, new tracks from their detection's output,
   the empty track from its own), class logits (the scorer), appearance updates of matched and new tracks
   and of the empty track, the inputs model's per-track state; tracks inactive for more than
   ``max_inactive_frames`` are freed;
6. optionally the mask head: re-weighted mask logits of matched tracks at the working mask resolution
   (``output_masks: detection`` skips it at inference: a track shows its detection's mask).
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from gvis.detections.filtering import FilterConfig
from gvis.errors import ConfigError
from gvis.gnn import GNNConfig, build_gnn
from gvis.graph.frame_graph import build_frame_batch, frame_edge_indices
from gvis.registry import APPEARANCE_MODELS, ASSOCIATORS, DETECTION_INPUTS, RECURRENT_GATES, SCORERS, Registry
from gvis.tracker.features import FrameDetections, pair_box_iou
from gvis.tracker.heads import AssociationInputs, MaskHead
from gvis.tracker.masks import upsampled_winner, with_background
from gvis.tracker.state import INACTIVE, MATCHED, TrackState, rows_or_zeros, where_rows


@dataclass
class TrackerConfig:
    """The model section of a config. Defaults are the paper's (docs/model.md §0).

    Components are ``{type: name, ...keyword arguments}`` of their registry:
    ``inputs`` (DETECTION_INPUTS), ``gate`` (RECURRENT_GATES), ``appearance`` (APPEARANCE_MODELS),
    ``associator`` (ASSOCIATORS), ``scorer`` (SCORERS); ``gnn`` is the GNN's own section.
    """

    num_classes: int | None = None
    """C, foreground classes; ``null`` = taken from the categories the tracker is built with."""
    appearance_dim: int = 512
    """Da, width of the detections' appearance vectors."""
    gnn: GNNConfig = field(default_factory=GNNConfig)
    inputs: dict[str, Any] = field(default_factory=lambda: {"type": "detector_classes"})
    """What the graph reads of the detections besides appearance (``geometry``: detector-agnostic)."""
    gate: dict[str, Any] = field(default_factory=lambda: {"type": "lstm_like"})
    appearance: dict[str, Any] = field(default_factory=lambda: {"type": "gaussian"})
    associator: dict[str, Any] = field(default_factory=lambda: {"type": "learned"})
    scorer: dict[str, Any] = field(default_factory=lambda: {"type": "learned"})
    loglik_offset: float = -4.0
    """Likelihood edge feature = loglik_offset + loglik_scale · log N(x; μ, σ²) (defaults suit 512-d features, docs/model.md §0)."""
    loglik_scale: float = 0.01
    init_var_logit: float = -7.0
    """σ₀² = softplus(init_var_logit), a new track's variance; also the initial bias of the s² head."""
    forget_bias: float = 0.0
    """Added to the initial forget-gate bias of gates that have one (``lstm_like``); paper: 0."""
    head_bias: float = -2.1
    """Initial bias of the association and initialisation heads (p ≈ 0.109)."""
    match_threshold: float = -2.0
    """A track is matched to its best detection when ``s_mn ≥`` this, else inactive (logit)."""
    init_threshold: float = -2.0
    """A detection starts a track when ``s_0n >`` this (logit)."""
    assignment: Literal["best", "exclusive"] = "best"
    """``best``: every track takes its best detection, several tracks may take one (paper, eq. 5);
    ``exclusive``: one detection per track and one track per detection, greedily in order of ``s_mn``."""
    claimed_start_tracks: bool = True
    """Whether a detection a track took this frame may also start a new track (paper: yes). Behind a real
    detector, ``false`` stops an already tracked object from being started again (docs/tracker.md)."""
    output_masks: Literal["head", "detection"] = "head"
    """A matched track's output mask: the mask head's (paper) or its detection's, at full resolution."""
    score_prior_frames: float = 0.0
    """A reported track score is ``s · n / (n + score_prior_frames)``, ``n`` the frames in which the track held a
    detection so far: as the heuristics' key of that name, a short track ranks below a long one of the same
    score (0: the scorer's ``s`` as it is, the paper's). Output only: the step and training do not read it."""
    max_tracks: int | None = None
    """Most live tracks per video (``null``: unbounded)."""
    max_inactive_frames: int | None = None
    """Free a track after this many frames without a match (``null``: never, as in the paper)."""
    mask_stride: int = 4
    """Working mask resolution = frame size / mask_stride (paper: 4; synthetic configs: 8)."""
    mask_embedding_channels: int = 16
    mask_hidden_channels: int = 16
    background_mask_logit: float = 10.0
    unmatched_mask_logit: float = -20.0
    binary_mask_logit: float = 4.0
    """Mask logits ±this inside/outside a binary mask when a detector gives no mask logits."""
    min_class_prob: float = 1e-6
    """Class probabilities are clamped to this before the log."""
    filtering: FilterConfig = field(default_factory=FilterConfig)
    """Which detections the online tracker sees (confidence, NMS, top-N)."""

    def validate(self) -> None:
        for name, registry in (("inputs", DETECTION_INPUTS), ("gate", RECURRENT_GATES),
                               ("appearance", APPEARANCE_MODELS), ("associator", ASSOCIATORS), ("scorer", SCORERS)):
            _component(registry, getattr(self, name), name)
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        for name in ("max_tracks", "max_inactive_frames"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or null, got {value}")
        if self.assignment not in ("best", "exclusive"):
            raise ValueError(f"assignment must be 'best' or 'exclusive', got {self.assignment!r}")
        if self.output_masks not in ("head", "detection"):
            raise ValueError(f"output_masks must be 'head' or 'detection', got {self.output_masks!r}")
        if self.score_prior_frames < 0:
            raise ValueError(f"score_prior_frames must be >= 0, got {self.score_prior_frames}")
        if self.mask_stride < 1:
            raise ValueError(f"mask_stride must be at least 1, got {self.mask_stride}")


def _component(registry: Registry, spec: dict[str, Any], key: str) -> tuple[type, dict[str, Any]]:
    """The registry entry and keyword arguments named by a ``{type: name, ...}`` section (ConfigError if bad)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ConfigError(f"key '{key}' must be a mapping with a 'type' naming a {registry.kind} "
                          f"(options: {', '.join(registry.names())})")
    kwargs = {k: v for k, v in spec.items() if k != "type"}
    try:
        entry = registry.get(spec["type"])
    except ValueError as exc:
        raise ConfigError(f"key '{key}.type': {exc}") from None
    try:
        inspect.signature(entry).bind_partial(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"key '{key}': {registry.kind} '{spec['type']}': {exc}") from None
    return entry, kwargs


def is_class_free(config: TrackerConfig) -> bool:
    """Whether a model of this config depends on the detector's class list nowhere but in its per-track
    state: its inputs and scorer are ``class_free``, so it is built for the categories of whatever detections
    it tracks (``RecurrentGraphTracker.class_free``)."""
    return all(_component(registry, getattr(config, key), key)[0].class_free
               for key, registry in (("inputs", DETECTION_INPUTS), ("scorer", SCORERS)))


def _build(registry: Registry, spec: dict[str, Any], key: str, **fixed: Any) -> Any:
    _component(registry, spec, key)
    return registry.build(spec["type"], **fixed, **{k: v for k, v in spec.items() if k != "type"})


class GraphInputs(NamedTuple):
    """Inputs of the GNN for one frame of B videos (``T`` tracks, ``N`` detections, ``E`` pairs).

    ``track_x [T, D]``, ``det_x [N, Fd]``, ``empty_x [B, D]``, ``track_det_index [2, E]`` (track row,
    detection row), ``track_det_attr [E, Fe]``, ``empty_det_index [2, N]``, ``empty_det_attr [N, Fe0]``
    (the arguments of ``GraphNetwork.forward_tensors``, in order) and ``pair_iou [E]``.
    """

    track_x: Tensor
    det_x: Tensor
    empty_x: Tensor
    track_det_index: Tensor
    track_det_attr: Tensor
    empty_det_index: Tensor
    empty_det_attr: Tensor
    pair_iou: Tensor


@dataclass
class StepOutput:
    """What one frame step produced (enough for the training losses and for reporting).

    Rows of the *previous* state (``T``), the frame's detections (``N``) and the *new* state (``T'``):

    - ``track_det_index``: ``[2, E]`` (previous-state track row, detection row) of each pair.
    - ``association_logits``: ``[E]`` ``s_mn``; ``init_logits``: ``[N]`` ``s_0n``.
    - ``previous_track_id``, ``previous_video``: ``[T]`` id and video of the previous-state rows.
    - ``track_id``, ``video``: ``[T']`` of the new-state rows; ``class_logits``: ``[T', C+1]`` (grad for
      the learned scorer); ``assigned_det``: ``[T']`` detection row matched this frame, −1 if none
      (a new track's is its initialising detection); ``is_new``: ``[T']`` bool;
      ``previous_row``: ``[T']`` row in the previous state, −1 for new tracks.
    - ``mask_logits``: per video ``[T'_b, h, w]`` track mask logits at the working resolution
      (unmatched tracks at ``unmatched_mask_logit``), when masks were requested; else ``None``.
    """

    track_det_index: Tensor
    association_logits: Tensor
    init_logits: Tensor
    previous_track_id: Tensor
    previous_video: Tensor
    track_id: Tensor
    video: Tensor
    class_logits: Tensor
    assigned_det: Tensor
    is_new: Tensor
    previous_row: Tensor
    mask_logits: list[Tensor | None] | None = None


class RecurrentGraphTracker(nn.Module):
    """The learned tracker of the paper as a batched module; see the module docstring.

    ``RecurrentGraphTracker(config, num_classes=None)``; ``num_classes`` overrides ``config.num_classes``.
    """

    def __init__(self, config: TrackerConfig, num_classes: int | None = None) -> None:
        super().__init__()
        num_classes = num_classes if num_classes is not None else config.num_classes
        if num_classes is None:
            raise ValueError("RecurrentGraphTracker needs num_classes (config or argument)")
        self.config = dataclasses.replace(config, num_classes=num_classes)
        self.num_classes = num_classes
        dim = config.gnn.width
        self.dim = dim
        appearance_cls, _ = _component(APPEARANCE_MODELS, config.appearance, "appearance")
        accepted = inspect.signature(appearance_cls).parameters
        calibration = {key: getattr(config, key) for key in ("loglik_offset", "loglik_scale", "init_var_logit")
                       if key in accepted and key not in config.appearance}
        self.appearance = _build(APPEARANCE_MODELS, config.appearance, "appearance", dim=dim,
                                 appearance_dim=config.appearance_dim, **calibration)
        self.inputs = _build(DETECTION_INPUTS, config.inputs, "inputs", num_classes=num_classes)
        self.gnn = build_gnn(
            config.gnn,
            det_dim=self.inputs.det_node_dim + self.appearance.det_node_dim,
            track_det_edge_dim=self.appearance.track_det_edge_dim + self.inputs.pair_dim,
            empty_det_edge_dim=self.appearance.empty_det_edge_dim,
        )
        self.associator = _build(ASSOCIATORS, config.associator, "associator", dim=dim, bias=config.head_bias)
        gate_cls, _ = _component(RECURRENT_GATES, config.gate, "gate")
        gate_init = ({"forget_bias": config.forget_bias}
                     if "forget_bias" in inspect.signature(gate_cls).parameters and "forget_bias" not in config.gate else {})
        self.track_gate = _build(RECURRENT_GATES, config.gate, "gate", dim=dim, **gate_init)
        self.empty_gate = _build(RECURRENT_GATES, config.gate, "gate", dim=dim, **gate_init)
        self.scorer = _build(SCORERS, config.scorer, "scorer", dim=dim, num_classes=num_classes)
        self.mask_head = MaskHead(dim, config.mask_embedding_channels, config.mask_hidden_channels,
                                  output_bias=config.background_mask_logit)

    # ------------------------------------------------------------------ state
    def initial_state(self, num_videos: int, device: torch.device | str | None = None) -> TrackState:
        """The state before the first frame of ``num_videos`` videos."""
        reference = next(self.parameters())
        state = TrackState.initial(num_videos, self.dim, self.num_classes, device or reference.device, reference.dtype)
        width = self.config.appearance_dim if self.uses_appearance else 0
        return dataclasses.replace(
            state,
            appearance=self.appearance.new_state(state.h.new_zeros((0, width)), state.h),
            scorer=self.scorer.new_state(0, state.h),
            inputs=self.inputs.empty_state(state.h),
        )

    @property
    def uses_appearance(self) -> bool:
        return self.appearance.needs_appearance

    @property
    def class_free(self) -> bool:
        """No width or weight depends on the detector's class list (:func:`is_class_free`)."""
        return is_class_free(self.config)

    # ------------------------------------------------------------------ graph
    def graph_inputs(self, state: TrackState, frame: FrameDetections, empty_appearance: dict[str, Tensor]) -> GraphInputs:
        """The tensors of the batched frame graph (docs/model.md §1), in :func:`build_frame_batch` order."""
        pairs, empty_det_index = frame_edge_indices(state.video, frame.video, frame.num_videos)
        src, dst = pairs
        pair_iou = pair_box_iou(state.box[src], frame.boxes[dst])
        track_det_attr = torch.cat([
            self.appearance.track_det_features(state.appearance, frame.appearance, src, dst),
            self.inputs.pair_features(state.inputs, frame, src, dst, pair_iou),
        ], dim=-1)
        return GraphInputs(
            track_x=state.h,
            det_x=torch.cat([self.inputs.det_features(frame), self.appearance.det_node_features(frame.appearance)], dim=-1),
            empty_x=state.empty_h,
            track_det_index=pairs,
            track_det_attr=track_det_attr,
            empty_det_index=empty_det_index,
            empty_det_attr=self.appearance.empty_det_features(empty_appearance, frame.appearance, frame.video),
            pair_iou=pair_iou,
        )

    def frame_graph(self, state: TrackState, frame: FrameDetections) -> Batch:
        """The frame's graphs of the B videos as one PyG batch (:func:`build_frame_batch`).

        :meth:`step` feeds the same tensors to the GNN directly (``GraphNetwork.forward_tensors``): building
        the ``HeteroData`` batch and validating it costs more per frame than a GNN block (docs/tracker.md).
        """
        inputs = self.graph_inputs(state, frame, self._empty_appearance(state, frame))
        return build_frame_batch(inputs.track_x, state.video, inputs.det_x, frame.video, inputs.empty_x,
                                 inputs.track_det_attr, inputs.empty_det_attr, frame.num_videos)

    def _empty_appearance(self, state: TrackState, frame: FrameDetections) -> dict[str, Tensor]:
        """The empty tracks' appearance, initialised from the frame descriptor at a video's first frame."""
        if state.empty_appearance and bool(state.started.all()):
            return state.empty_appearance
        fresh = self.appearance.new_empty_state(frame.frame_appearance, state.empty_h)
        if not state.empty_appearance:
            return fresh
        return {key: where_rows(state.started, value, fresh[key]) for key, value in state.empty_appearance.items()}

    # ------------------------------------------------------------------ step
    def step(self, state: TrackState, frame: FrameDetections, with_masks: bool = False,
             rules: TrackerConfig | None = None) -> tuple[TrackState, StepOutput]:
        """Advance the B videos by one frame (see the module docstring); ``with_masks`` runs the mask head.
        ``rules``: the config whose inference keys (assignment, track starts, thresholds) the step follows in
        place of the model's own (training's ``rollout``).

        ``frame.present[b]`` False means slot ``b`` has no frame now: its tracks are dropped and the slot
        starts afresh with the next frame it is given.
        """
        config = rules or self.config
        present = frame.present
        all_present = bool(present.all())
        if not all_present:
            state = _reset_videos(state, ~present)

        def where_present(new: Tensor, old: Tensor) -> Tensor:  # per video slot: ``new`` where it has a frame
            return new if all_present else where_rows(present, new, old)

        empty_appearance = self._empty_appearance(state, frame)
        graph = self.graph_inputs(state, frame, empty_appearance)
        out = self.gnn.forward_tensors(*graph[:7])
        pairs, pair_iou = graph.track_det_index, graph.pair_iou
        src, dst = pairs
        num_tracks = state.num_tracks
        inputs = AssociationInputs(src, dst, frame.num_detections, pair_iou, frame.logits, frame.scores,
                                   frame.appearance, state.class_logits, state.appearance.get("mean"))
        association, initialisation = self.associator(out, inputs)

        # Hard assignment (detached, docs/model.md §4).
        with torch.no_grad():
            assigned = hard_assignment(config, association.detach(), src, dst, num_tracks, frame.num_detections)
            matched = assigned >= 0
            frames_since = torch.where(matched, 0, state.frames_since_matched + 1)
            survives = torch.ones_like(matched)
            if config.max_inactive_frames is not None:
                survives = frames_since <= config.max_inactive_frames
            starts = start_candidates(config, initialisation.detach(), assigned)
            new_dets = _new_track_detections(starts, frame, state.video[survives], config.max_tracks)
        num_new = new_dets.shape[0]
        # Every row below: existing tracks (T) then new tracks (K). row_det = assigned detection or −1.
        row_det = torch.cat([assigned, new_dets])
        row_matched = row_det >= 0
        new_video = frame.video[new_dets]
        video = torch.cat([state.video, new_video])

        # Recurrence: existing tracks from their GNN output, new ones from their detection's, from zero state.
        zeros = state.h.new_zeros((num_new, self.dim))
        h, c = self.track_gate(torch.cat([out.track, out.det[new_dets]]), torch.cat([state.h, zeros]),
                               torch.cat([state.c, zeros]))
        empty_h, empty_c = self.empty_gate(out.empty, state.empty_h, state.empty_c)

        observed = rows_or_zeros(frame.appearance, row_det)
        appearance = self._next_appearance(state, h, observed, matched)
        if empty_appearance:
            updated = self.appearance.update(empty_appearance, empty_h, frame.frame_appearance)
            empty_appearance = {key: where_present(updated[key], value) for key, value in empty_appearance.items()}
        scorer_state = _cat_rows(state.scorer, self.scorer.new_state(num_new, h))
        class_logits, scorer_state = self.scorer(h, scorer_state, rows_or_zeros(frame.logits, row_det), row_matched)

        if num_new:
            track_id = torch.cat([state.track_id, _new_track_ids(new_video, state.next_id)])
            next_id = state.next_id + torch.bincount(new_video, minlength=frame.num_videos)
        else:  # most frames start no track
            track_id, next_id = state.track_id, state.next_id
        grown = dataclasses.replace(
            state,
            video=video,
            track_id=track_id,
            h=h,
            c=c,
            box=rows_or_zeros(frame.boxes, row_det),
            status=torch.where(row_matched, MATCHED, INACTIVE).to(torch.int8),
            frames_since_matched=torch.cat([frames_since, frames_since.new_zeros(num_new)]),
            class_logits=class_logits,
            appearance=appearance,
            scorer=scorer_state,
            inputs=self.inputs.advance(state.inputs, frame, assigned, new_dets),
            empty_h=where_present(empty_h, state.empty_h),
            empty_c=where_present(empty_c, state.empty_c),
            empty_appearance=empty_appearance,
            started=state.started | present,
            next_id=next_id,
            frames=state.frames + present.long(),
        )
        # Free long-inactive tracks and restore the video order (stable: old tracks first, in order).
        if num_new == 0 and bool(survives.all()):  # nothing moves
            rows, next_state, assigned_det = torch.arange(num_tracks, device=video.device), grown, row_det
        else:
            rows = torch.cat([survives, survives.new_ones(num_new)]).nonzero().flatten()
            rows = rows[torch.sort(video[rows], stable=True).indices]
            next_state, assigned_det = grown.select(rows), row_det[rows]
        is_new = rows >= num_tracks
        output = StepOutput(
            track_det_index=pairs,
            association_logits=association,
            init_logits=initialisation,
            previous_track_id=state.track_id,
            previous_video=state.video,
            track_id=next_state.track_id,
            video=next_state.video,
            class_logits=next_state.class_logits,
            assigned_det=assigned_det,
            is_new=is_new,
            previous_row=torch.where(is_new, -1, rows),
        )
        if with_masks:
            output.mask_logits = self.track_masks(next_state, frame, output.assigned_det)
        return next_state, output

    def _next_appearance(self, state: TrackState, h: Tensor, observed: Tensor, matched: Tensor) -> dict[str, Tensor]:
        """Appearance of every row: existing tracks updated where matched, then the new tracks' initial state."""
        num_tracks = state.num_tracks
        new = self.appearance.new_state(observed[num_tracks:], h[num_tracks:])
        if not new:
            return new
        updated = self.appearance.update(state.appearance, h[:num_tracks], observed[:num_tracks])
        return {key: torch.cat([where_rows(matched, updated[key], value), new[key]])
                for key, value in state.appearance.items()}

    # ------------------------------------------------------------------ masks
    def track_masks(self, state: TrackState, frame: FrameDetections, assigned_det: Tensor,
                    per_detection: bool = False) -> list[Tensor | None]:
        """Per video, ``[T_b, h, w]`` mask logits of its tracks at the working resolution (docs/model.md §4).

        Matched tracks: the mask head on their detection's (mask logits ; box mask) and their embedding;
        the others: ``unmatched_mask_logit``. Videos without a frame get ``None``. Videos whose frames share
        a working size go through the head together. ``per_detection``: evaluate the head with
        :meth:`MaskHead.forward_per_detection` (inference: ~10× fewer operations, equal up to float
        rounding), else with its ``forward`` (training).
        """
        if frame.mask_inputs is None:
            raise ValueError("track_masks needs a frame prepared with a mask_stride")
        counts = state.tracks_per_video().tolist()
        groups: dict[tuple[int, ...], list[int]] = {}
        for b, inputs in enumerate(frame.mask_inputs):
            if inputs is not None:
                groups.setdefault(tuple(inputs.shape[-2:]), []).append(b)
        per_video: list[Tensor | None] = [None] * frame.num_videos
        for size, videos in groups.items():
            in_group = torch.zeros(frame.num_videos, dtype=torch.bool, device=state.video.device)
            in_group[videos] = True
            # Row of each detection in the group's concatenated inputs (detections are sorted by video).
            group_row = torch.cumsum(in_group[frame.video].long(), 0) - 1
            group_inputs = torch.cat([frame.mask_inputs[b] for b in videos])
            tracks = in_group[state.video].nonzero().flatten()
            det = assigned_det[tracks]
            matched = (det >= 0).nonzero().flatten()
            logits = state.h.new_full((tracks.shape[0], *size), self.config.unmatched_mask_logit)
            if matched.numel():
                rows, h = group_row[det[matched]], state.h[tracks[matched]]
                weighted = (self.mask_head.forward_per_detection(group_inputs, rows, h) if per_detection
                            else self.mask_head(group_inputs[rows], h))
                logits = logits.index_put((matched,), weighted)
            for b, video_logits in zip(videos, logits.split([counts[b] for b in videos])):
                per_video[b] = video_logits
        return per_video

    def pixel_assignment(self, mask_logits: Tensor, image_size: tuple[int, int]) -> Tensor:
        """``[K, H, W]`` bool: each pixel to the highest of [background ; K track logits] (docs/model.md §4).

        The ``[K, h, w]`` logits are upsampled bilinearly to the frame size first; the background channel is
        the constant ``background_mask_logit``.
        """
        count = mask_logits.shape[0]
        if count == 0:
            return torch.zeros((0, *image_size), dtype=torch.bool, device=mask_logits.device)
        # Ties go to the lower channel, background first.
        winner = upsampled_winner(with_background(mask_logits, self.config.background_mask_logit), image_size)
        return winner.unsqueeze(0) == torch.arange(1, count + 1, device=winner.device)[:, None, None]


# ---------------------------------------------------------------------- helpers (vectorised, no loops over tracks)
def _cat_rows(old: dict[str, Tensor], new: dict[str, Tensor]) -> dict[str, Tensor]:
    """Per-track tensors of the existing rows followed by the new rows'."""
    return {key: torch.cat([old[key], value]) for key, value in new.items()}


def hard_assignment(config: TrackerConfig, association: Tensor, src: Tensor, dst: Tensor, num_tracks: int,
                    num_dets: int) -> Tensor:
    """``[T]`` detection row each track takes (−1: none) under ``config.assignment`` and ``match_threshold``,
    from the pairs' ``association [E]`` (``src``, ``dst``: their track and detection rows); docs/model.md §4."""
    if config.assignment == "exclusive":
        return _exclusive_detection(association, src, dst, num_tracks, num_dets, config.match_threshold)
    if not torch.compiler.is_compiling() and num_dets and association.numel() == num_tracks * num_dets:
        # Every track is paired with every detection (one video): the pairs are the rows of a [T, N] matrix,
        # and a row maximum (ties: the first) replaces the scatters. Traced code keeps the general form.
        best, detection = association.reshape(num_tracks, num_dets).max(1)
        return torch.where(best >= config.match_threshold, detection, -1)
    return _best_detection(association, src, dst, num_tracks, config.match_threshold)


def start_candidates(config: TrackerConfig, initialisation: Tensor, assigned: Tensor) -> Tensor:
    """``[N]`` bool, the detections that may start a track: ``s_0n > init_threshold``, and with
    ``claimed_start_tracks: false`` none that a track took (``assigned [T]``, −1: none). Which of them do
    start one (confidence order, ``max_tracks``) is the step's to decide."""
    starts = initialisation > config.init_threshold
    if not config.claimed_start_tracks:
        starts[assigned[assigned >= 0]] = False
    return starts


def _best_detection(association: Tensor, src: Tensor, dst: Tensor, num_tracks: int, threshold: float) -> Tensor:
    """``[T]`` detection row of each track's best edge if its logit ≥ ``threshold``, else −1 (ties: first edge)."""
    best = association.new_full((num_tracks,), float("-inf"))
    best = best.scatter_reduce(0, src, association, reduce="amax", include_self=True)
    is_best = association == best[src]
    num_edges = src.shape[0]
    first = torch.full((num_tracks,), num_edges, dtype=torch.long, device=src.device)
    first = first.scatter_reduce(0, src[is_best], torch.arange(num_edges, device=src.device)[is_best], reduce="amin")
    detection = torch.cat([dst, dst.new_full((1,), -1)])[first]
    return torch.where(best >= threshold, detection, -1)


def _group_rank(sorted_groups: Tensor, num_groups: int) -> Tensor:
    """Rank of each element within its group, for a sorted group-id vector."""
    counts = torch.bincount(sorted_groups, minlength=num_groups)
    first = torch.cumsum(counts, 0) - counts
    return torch.arange(sorted_groups.numel(), device=sorted_groups.device) - first[sorted_groups]


def _exclusive_detection(association: Tensor, src: Tensor, dst: Tensor, num_tracks: int, num_dets: int,
                         threshold: float) -> Tensor:
    """``[T]`` detection row of each track, one-to-one, −1 if none: the greedy matching that takes pairs in
    descending ``association`` (≥ ``threshold``) and skips those whose track or detection is taken.

    Computed in rounds without a loop over pairs: a pair that is the best of its track and of its detection
    among the pairs still open (ties: the first pair) is one the greedy order would take, since nothing
    still open outranks it on either side; take all such pairs, close their tracks and detections, repeat.
    Every tensor in a round keeps its size, so that ``torch.export`` traces the rounds as one loop.
    """
    num_edges = src.shape[0]
    edge = torch.arange(num_edges, device=src.device)
    no_edge = torch.zeros(1, dtype=torch.bool, device=src.device)  # index num_edges: "no best edge"
    dst_or_none = torch.cat([dst, dst.new_full((1,), -1)])

    def take_round(open_edge: Tensor, detection: Tensor) -> tuple[Tensor, Tensor]:
        score = torch.where(open_edge, association, float("-inf"))
        track_best = _first_best(score, src, num_tracks, edge)
        det_best = _first_best(score, dst, num_dets, edge)
        taken = torch.cat([open_edge & (track_best[src] == edge) & (det_best[dst] == edge), no_edge])
        track_taken, det_taken = taken[track_best], taken[det_best]
        detection = torch.where(track_taken, dst_or_none[track_best], detection)
        return open_edge & ~track_taken[src] & ~det_taken[dst], detection

    open_edge = association >= threshold
    detection = torch.full((num_tracks,), -1, dtype=torch.long, device=src.device)
    if torch.compiler.is_compiling():  # traced: a data-dependent number of rounds needs torch's loop operator
        from torch._higher_order_ops import while_loop

        src, dst = src.clone(), dst.clone()  # the loop may not read two views of one tensor (the pair index)
        return while_loop(lambda open_edge, _: open_edge.any(), take_round, (open_edge, detection))[1]
    while bool(open_edge.any()):
        open_edge, detection = take_round(open_edge, detection)
    return detection


def _first_best(score: Tensor, group: Tensor, num_groups: int, edge: Tensor) -> Tensor:
    """``[num_groups]`` index of the first edge holding its group's highest ``score`` (``len(score)`` if none)."""
    best = score.new_full((num_groups,), float("-inf")).scatter_reduce(0, group, score, reduce="amax")
    is_best = (score == best[group]) & (score > float("-inf"))
    first = torch.full((num_groups,), score.shape[0], dtype=torch.long, device=score.device)
    return first.scatter_reduce(0, group[is_best], edge[is_best], reduce="amin")


def _new_track_detections(starts: Tensor, frame: FrameDetections, live_video: Tensor,
                          max_tracks: int | None) -> Tensor:
    """``[K]`` detection rows starting tracks (``starts [N]`` bool), grouped by video and in confidence
    order within a video; with ``max_tracks``, only as many as the video has room for beside its live
    tracks (``live_video``: video of every track that stays)."""
    candidates = starts.nonzero().flatten()
    candidates = candidates[torch.sort(frame.scores[candidates], descending=True, stable=True).indices]
    candidates = candidates[torch.sort(frame.video[candidates], stable=True).indices]
    if max_tracks is None:
        return candidates
    room = (max_tracks - torch.bincount(live_video, minlength=frame.num_videos)).clamp_min(0)
    video = frame.video[candidates]
    return candidates[_group_rank(video, frame.num_videos) < room[video]]


def _new_track_ids(video: Tensor, next_id: Tensor) -> Tensor:
    """Ids of new tracks (grouped by video): the video's next id plus their rank within the video."""
    return next_id[video] + _group_rank(video, next_id.shape[0])


def _reset_videos(state: TrackState, videos: Tensor) -> TrackState:
    """Drop the tracks of the video slots ``videos [B]`` (bool) and return their empty tracks to the start."""
    state = state.select(~videos[state.video])
    return dataclasses.replace(
        state,
        empty_h=where_rows(videos, torch.zeros_like(state.empty_h), state.empty_h),
        empty_c=where_rows(videos, torch.zeros_like(state.empty_c), state.empty_c),
        started=state.started & ~videos,
        next_id=torch.where(videos, 0, state.next_id),
        frames=torch.where(videos, 0, state.frames),
    )
