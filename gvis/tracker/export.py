"""The learned tracker's frame step as a ``torch.export`` program: the GNN and the heads, tensors in and out.

What :meth:`RecurrentGraphTracker.step <gvis.tracker.model.RecurrentGraphTracker.step>` computes with weights
(the GNN, the associator, the recurrent gates and the scorer) becomes one :class:`StepCore` module; what it
decides with Python and indexing (which detections start tracks, freeing tracks, the appearance model's
updates, the mask head, the row order of the state) stays in eager Python. Because the hard assignment of new
tracks picks a data-dependent number of rows, the program gates *every* detection as a would-be new track
(``new_h [N, D]``) and the caller keeps the rows it starts, chosen as the step chooses them
(:func:`~gvis.tracker.model.start_candidates`, then confidence order and ``max_tracks``). The hard assignment
inside the program is the model's (``assignment``: ``best`` or ``exclusive``). The tracks, detections and pairs of a frame are
dynamic dimensions (each at least 1), so one program serves every frame with a track and a detection
(docs/export.md).

Inputs, in order (``T`` tracks, ``N`` detections, ``E`` pairs, ``B`` videos; widths as the model's):

====================  ==============  ===========================================================
``track_x``           ``[T, D]``      track embeddings ``h`` (the previous state's)
``track_c``           ``[T, D]``      the gate's cells ``c``
``det_x``             ``[N, Fd]``     detection node features
``det_logits``        ``[N, C+1]``    detector class logits (what the scorer reads)
``empty_x``           ``[B, D]``      empty-track embeddings
``empty_c``           ``[B, D]``      empty-track cells
``track_det_index``   ``[2, E]``      int64 (track row, detection row) of each pair
``track_det_attr``    ``[E, Fe]``     track–detection edge features
``empty_det_index``   ``[2, N]``      int64 (video, detection row)
``empty_det_attr``    ``[N, Fe0]``    empty–detection edge features (``Fe0`` may be 0)
``track_scorer``      ``{k: [T, …]}`` the scorer's per-track state (empty for the ``learned`` scorer)
====================  ==============  ===========================================================

Outputs: :class:`StepTensors`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

from gvis.errors import InputError
from gvis.io import atomic_open
from gvis.tracker.features import FrameDetections
from gvis.tracker.heads import AssociationInputs
from gvis.tracker.model import RecurrentGraphTracker, hard_assignment
from gvis.tracker.state import TrackState, rows_or_zeros

#: Names of the program's inputs, in order (see the module docstring).
INPUT_NAMES = ("track_x", "track_c", "det_x", "det_logits", "empty_x", "empty_c", "track_det_index",
               "track_det_attr", "empty_det_index", "empty_det_attr", "track_scorer")


class StepTensors(NamedTuple):
    """What the exported step returns (rows as in the module docstring).

    - ``association [E]`` ``s_mn``; ``initialisation [N]`` ``s_0n``.
    - ``assigned [T]`` int64: the detection row each track takes under the model's ``assignment`` (its best
      pair if ``s_mn ≥ match_threshold``; ``exclusive``: one-to-one), else −1.
    - ``track_h``, ``track_c [T, D]``: the tracks' gated state; ``track_class_logits [T, C+1]`` and
      ``track_scorer`` (``{k: [T, …]}``) after observing their assigned detections.
    - ``new_h``, ``new_c [N, D]``, ``new_class_logits [N, C+1]``, ``new_scorer``: the state of a track
      started by each detection (keep the rows of the detections that start one).
    - ``empty_h``, ``empty_c [B, D]``: the empty tracks' gated state.
    """

    association: Tensor
    initialisation: Tensor
    assigned: Tensor
    track_h: Tensor
    track_c: Tensor
    track_class_logits: Tensor
    track_scorer: dict[str, Tensor]
    new_h: Tensor
    new_c: Tensor
    new_class_logits: Tensor
    new_scorer: dict[str, Tensor]
    empty_h: Tensor
    empty_c: Tensor


class StepCore(nn.Module):
    """The weighted part of a tracker's frame step (the module docstring), sharing the model's modules.

    ``forward`` returns a plain tuple in :class:`StepTensors` order (a named tuple does not survive
    ``torch.export.save``); :class:`ExportedStep` names it.
    """

    def __init__(self, model: RecurrentGraphTracker) -> None:
        super().__init__()
        if not model.associator.learned:
            raise ValueError(f"associator '{model.config.associator['type']}' is a rule, not a learned head: "
                             "its step is not exported")
        self.gnn, self.associator = model.gnn, model.associator
        self.track_gate, self.empty_gate, self.scorer = model.track_gate, model.empty_gate, model.scorer
        self.config = model.config

    def forward(self, track_x: Tensor, track_c: Tensor, det_x: Tensor, det_logits: Tensor, empty_x: Tensor,
                empty_c: Tensor, track_det_index: Tensor, track_det_attr: Tensor, empty_det_index: Tensor,
                empty_det_attr: Tensor, track_scorer: dict[str, Tensor]) -> tuple:
        out = self.gnn.forward_tensors(track_x, det_x, empty_x, track_det_index, track_det_attr,
                                       empty_det_index, empty_det_attr)
        src, dst = track_det_index[0], track_det_index[1]
        num_tracks, num_dets = track_x.shape[0], det_x.shape[0]
        # A learned associator reads the final edges and the pair indices only.
        inputs = AssociationInputs(src, dst, num_dets, None, det_logits, None, None, None, None)  # type: ignore[arg-type]
        association, initialisation = self.associator(out, inputs)
        assigned = hard_assignment(self.config, association.detach(), src, dst, num_tracks, num_dets)
        track_h, track_c = self.track_gate(out.track, track_x, track_c)
        track_class_logits, track_scorer = self.scorer(track_h, track_scorer, rows_or_zeros(det_logits, assigned),
                                                       assigned >= 0)
        zeros = det_x.new_zeros((num_dets, track_x.shape[1]))
        new_h, new_c = self.track_gate(out.det, zeros, zeros)
        new_class_logits, new_scorer = self.scorer(new_h, self.scorer.new_state(num_dets, new_h), det_logits,
                                                   det_logits.new_ones(num_dets, dtype=torch.bool))
        empty_h, empty_c = self.empty_gate(out.empty, empty_x, empty_c)
        return (association, initialisation, assigned, track_h, track_c, track_class_logits, track_scorer,
                new_h, new_c, new_class_logits, new_scorer, empty_h, empty_c)


def step_inputs(model: RecurrentGraphTracker, state: TrackState, frame: FrameDetections) -> tuple:
    """The program's inputs for one frame (the module docstring's order): what :meth:`RecurrentGraphTracker.step`
    feeds its GNN and heads, for a frame in which every video is present."""
    graph = model.graph_inputs(state, frame, model._empty_appearance(state, frame))
    return (graph.track_x, state.c, graph.det_x, frame.logits, graph.empty_x, state.empty_c, graph.track_det_index,
            graph.track_det_attr, graph.empty_det_index, graph.empty_det_attr, dict(state.scorer))


def example_inputs(model: RecurrentGraphTracker, tracks: int, dets: int, videos: int = 1,
                   generator: torch.Generator | None = None) -> tuple:
    """Random inputs of the model's widths: ``tracks`` tracks and ``dets`` detections per video, all pairs."""
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    reference = next(model.parameters())

    def rand(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator).to(reference)

    num_tracks, num_dets, dim = tracks * videos, dets * videos, model.dim
    track_video = torch.arange(videos).repeat_interleave(tracks)
    det_video = torch.arange(videos).repeat_interleave(dets)
    src, dst = (track_video.unsqueeze(1) == det_video.unsqueeze(0)).nonzero().t()
    det_width = model.inputs.det_node_dim + model.appearance.det_node_dim
    pair_width = model.appearance.track_det_edge_dim + model.inputs.pair_dim
    scorer = model.scorer.new_state(num_tracks, reference)
    return (rand(num_tracks, dim), rand(num_tracks, dim), rand(num_dets, det_width), rand(num_dets, model.num_classes + 1),
            rand(videos, dim), rand(videos, dim), torch.stack([src, dst]).to(reference.device),
            rand(src.shape[0], pair_width), torch.stack([det_video, torch.arange(num_dets)]).to(reference.device),
            rand(num_dets, model.appearance.empty_det_edge_dim),
            {key: value + torch.rand(value.shape, generator=generator).to(value) for key, value in scorer.items()})


def export_step(model: RecurrentGraphTracker) -> ExportedProgram:
    """``torch.export`` of the model's :class:`StepCore`, with tracks, detections, pairs and videos dynamic
    (each ≥ 1). The model should be in eval mode (it is what the program computes)."""
    tracks, dets = Dim("tracks", min=1), Dim("detections", min=1)
    pairs, videos = Dim("pairs", min=1), Dim("videos", min=1)
    # Distinct sizes, so that the tracer does not take two dimensions for one.
    inputs = example_inputs(model, tracks=3, dets=5, videos=2)
    dynamic = ({0: tracks}, {0: tracks}, {0: dets}, {0: dets}, {0: videos}, {0: videos}, {1: pairs}, {0: pairs},
               {1: dets}, {0: dets}, {key: {0: tracks} for key in inputs[-1]})
    with torch.no_grad():
        return torch.export.export(StepCore(model), inputs, dynamic_shapes=dynamic)


def save_step(program: ExportedProgram, path: str | os.PathLike) -> Path:
    """Write ``program`` to ``path`` (a ``.pt2`` file) atomically; returns the path."""
    with atomic_open(path, "wb") as handle:
        torch.export.save(program, handle)
    return Path(path)


class ExportedStep:
    """A loaded step program; calling it with the inputs of the module docstring gives :class:`StepTensors`.

    An input outside what the program was exported for (no track or no detection, a wrong width or dtype,
    sizes of one dimension that disagree) raises :class:`~gvis.errors.InputError` naming the file, the input
    and the dimension (:meth:`check`); torch's own guards, should they catch anything else, the same way.
    """

    def __init__(self, program: ExportedProgram, source: str | os.PathLike = "exported step") -> None:
        self.program = program
        self.source = source
        self.module = program.module()
        placeholders = {node.name: node for node in program.graph.nodes if node.op == "placeholder"}
        #: ``(name, FakeTensor)`` of every flattened user input, in call order.
        self.input_specs = [(name, placeholders[name].meta["val"]) for name in program.graph_signature.user_inputs]

    def __call__(self, *inputs: Any) -> StepTensors:
        if len(inputs) != len(INPUT_NAMES):
            raise InputError(f"the step takes {len(INPUT_NAMES)} inputs ({', '.join(INPUT_NAMES)}), got {len(inputs)}",
                             file=self.source)
        self.check(inputs)
        try:
            with torch.no_grad():
                outputs = self.module(*inputs)
        except (AssertionError, RuntimeError, ValueError) as exc:
            raise InputError(f"input outside the exported range: {_reason(exc)}", file=self.source) from None
        return StepTensors(*outputs)

    def check(self, inputs: tuple) -> None:
        """``InputError`` naming the first input whose rank, dtype or size the program was not exported for
        (a dynamic size outside its range, e.g. 0 tracks, or sizes of one dimension that disagree)."""
        flat, _ = torch.utils._pytree.tree_flatten(inputs)
        if len(flat) != len(self.input_specs):
            raise InputError(f"the step takes {len(self.input_specs)} tensors (scorer state included), got {len(flat)}",
                             file=self.source)
        bound: dict[Any, tuple[int, str]] = {}
        for (name, spec), value in zip(self.input_specs, flat):
            if not isinstance(value, Tensor) or value.dim() != spec.dim() or value.dtype != spec.dtype:
                got = f"{value.dtype} of {value.dim()} dimensions" if isinstance(value, Tensor) else type(value).__name__
                raise InputError(f"{name}: expected {spec.dtype} of {spec.dim()} dimensions, got {got}", file=self.source)
            for axis, (expected, size) in enumerate(zip(spec.shape, value.shape)):
                where = f"{name} dimension {axis}"
                if isinstance(expected, int):
                    if size != expected:
                        raise InputError(f"{where} is {size}, the program was exported for {expected}", file=self.source)
                    continue
                symbol = expected.node.expr
                allowed = self.program.range_constraints[symbol]
                if not allowed.lower <= size <= allowed.upper:
                    upper = "" if allowed.upper > 2**62 else f" to {allowed.upper}"
                    raise InputError(f"{where} is {size}, the program was exported for {allowed.lower}{upper or ' or more'}",
                                     file=self.source)
                if symbol in bound and bound[symbol][0] != size:
                    raise InputError(f"{where} is {size} but {bound[symbol][1]} is {bound[symbol][0]}; they must agree",
                                     file=self.source)
                bound.setdefault(symbol, (size, where))


def load_step(path: str | os.PathLike) -> ExportedStep:
    """The program :func:`save_step` wrote; ``InputError`` naming the file if it is missing or not one."""
    try:
        program = torch.export.load(path)
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except Exception as exc:  # not a .pt2 archive, or one of another torch
        raise InputError(f"cannot load an exported program: {_reason(exc)}", file=path) from None
    return ExportedStep(program, path)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
