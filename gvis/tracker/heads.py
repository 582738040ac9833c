"""Heads on the GNN's output and the track embeddings (docs/model.md §4, §8).

- **Associators** (``ASSOCIATORS``) turn the final edges into association logits ``s_mn`` (one per
  track–detection edge) and initialisation logits ``s_0n`` (one per detection): ``learned`` (the paper),
  ``limited`` (Table 1 "Limited GNN": ``s_0n = −max_m s_mn``) and ``masktrack`` (Table 1 "Association
  from [31]": MaskTrack R-CNN's rule decides).
- **Scorers** (``SCORERS``) give each track its ``C+1`` class logits: ``learned`` (multinomial logistic
  model on ``h``), ``masktrack`` (majority vote + mean confidence), ``detector_average``
  (exponential average of the assigned detections' logits), ``learned_evidence`` (the learned model as
  a correction to that average) and ``label_vote`` (the vote's class with a learned objectness; no weight
  depends on the class list).
- :class:`MaskHead` re-weights the assigned detection's mask with the track embedding.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gvis.gnn.features import GNNOutput
from gvis.registry import ASSOCIATORS, SCORERS

State = dict[str, Tensor]


class EdgeScore(nn.Module):
    r"""``Linear(D, 1)`` on edge embeddings: :math:`s = w^\top e + b`, Xavier-uniform ``w``, ``b = bias``.

    Shapes: ``[E, D]`` → ``[E]``.
    """

    def __init__(self, dim: int, bias: float = -2.1) -> None:
        super().__init__()
        self.bias_init = bias
        self.linear = nn.Linear(dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.constant_(self.linear.bias, self.bias_init)

    def forward(self, edges: Tensor) -> Tensor:
        return self.linear(edges).squeeze(-1)


class AssociationInputs:
    """What an associator may read besides the final edges (all row-aligned with the frame graph).

    - ``src``, ``dst``: ``[E]`` track row / detection row of each track–detection edge.
    - ``num_dets``: ``N``.
    - ``pair_iou``: ``[E]`` box IoU between the track's last box and the detection.
    - ``det_logits``: ``[N, C+1]``; ``det_scores``: ``[N]``; ``det_appearance``: ``[N, Da]`` (``Da`` may be 0).
    - ``track_logits``: ``[T, C+1]`` the tracks' current class logits; ``track_appearance``: ``[T, Da]``
      the appearance model's mean, or ``None``.
    """

    def __init__(self, src: Tensor, dst: Tensor, num_dets: int, pair_iou: Tensor, det_logits: Tensor,
                 det_scores: Tensor, det_appearance: Tensor, track_logits: Tensor,
                 track_appearance: Tensor | None) -> None:
        self.src, self.dst, self.num_dets, self.pair_iou = src, dst, num_dets, pair_iou
        self.det_logits, self.det_scores, self.det_appearance = det_logits, det_scores, det_appearance
        self.track_logits, self.track_appearance = track_logits, track_appearance


class Associator(nn.Module):
    """``forward(out: GNNOutput, inputs) -> (association [E], initialisation [N])`` logits."""

    #: Whether the logits are trainable outputs (a rule's ±100 decisions are not).
    learned: bool = True


@ASSOCIATORS.register("learned")
class LearnedAssociator(Associator):
    """The paper: ``s_mn = Linear(D, 1)(e_mn)``, ``s_0n = Linear(D, 1)(e_0n)``, each with its own weights.

    When the GNN computes the association itself (``out.track_det_logit``, the ``limited`` block), that
    logit is used instead of this head's.
    """

    def __init__(self, dim: int, bias: float = -2.1) -> None:
        super().__init__()
        self.association = EdgeScore(dim, bias)
        self.initialisation = EdgeScore(dim, bias)

    def forward(self, out: GNNOutput, inputs: AssociationInputs) -> tuple[Tensor, Tensor]:
        return _association(self.association, out), self.initialisation(out.empty_det)


def _association(head: EdgeScore, out: GNNOutput) -> Tensor:
    """``[E]`` the GNN's own association logit when it has one, else ``head`` on the final edges."""
    return head(out.track_det) if out.track_det_logit is None else out.track_det_logit


@ASSOCIATORS.register("limited")
class LimitedAssociator(Associator):
    r"""Table 1 "Limited GNN": a detection starts a track when no track wants it,
    :math:`s_{0n} = -\max_m s_{mn}` (so :math:`p_{new} = 1 - \max_m p_{mn}`), detached (the authors'
    ``MatcherScoreLayerNograph``). A detection of a video without tracks gets ``no_track_logit``.
    Pair with ``gnn.blocks: [limited]``, whose ``track_det_logit`` is the association.
    """

    def __init__(self, dim: int, bias: float = -2.1, no_track_logit: float = 10.0) -> None:
        super().__init__()
        self.association = EdgeScore(dim, bias)
        self.no_track_logit = no_track_logit

    def forward(self, out: GNNOutput, inputs: AssociationInputs) -> tuple[Tensor, Tensor]:
        association = _association(self.association, out)
        best = association.new_full((inputs.num_dets,), -self.no_track_logit)
        best = best.scatter_reduce(0, inputs.dst, association.detach(), reduce="amax", include_self=False)
        return association, -best


@ASSOCIATORS.register("masktrack")
class MaskTrackAssociator(Associator):
    r"""Table 1 "Association from [31]": MaskTrack R-CNN's rule replaces the learned association.

    For detection ``n``, the options are the tracks of its video and "new" (logit 0):

    .. math::
        S_{nm} = \log\mathrm{softmax}_{m'}(a\, x_n\!\cdot\!\mu_{m'})_m + \alpha\,\mathrm{IoU}_{mn}
                 + \beta\,[c_n = c_m] + \gamma \log p_n, \qquad
        S_{n,new} = \log\mathrm{softmax}(\cdot)_{new} + \beta + \gamma \log p_n

    (``μ_m`` = the appearance model's mean; ``c`` = argmax foreground class; new counts as agreeing, as in
    MaskTrack R-CNN). Each detection goes to its best option: its winning edge gets ``100 + S`` (so a
    track won by several detections keeps the best), every other edge −100; ``s_0n = ±100`` for "new".
    The GNN still runs and feeds the recurrence; the logits carry no gradient.
    """

    learned = False

    def __init__(self, dim: int, bias: float = -2.1, alpha: float = 2.0, beta: float = 10.0,
                 gamma: float = 1.0, appearance_scale: float = 1.0) -> None:
        super().__init__()
        self.alpha, self.beta, self.gamma, self.appearance_scale = alpha, beta, gamma, appearance_scale

    @torch.no_grad()
    def forward(self, out: GNNOutput, inputs: AssociationInputs) -> tuple[Tensor, Tensor]:
        src, dst, num_dets = inputs.src, inputs.dst, inputs.num_dets
        if inputs.track_appearance is not None and inputs.det_appearance.shape[-1] > 0:
            similarity = self.appearance_scale * (inputs.det_appearance[dst] * inputs.track_appearance[src]).sum(-1)
        else:
            similarity = inputs.pair_iou.new_zeros(src.shape[0])
        # log-softmax over {new (logit 0)} ∪ {tracks of the detection's video}, per detection.
        peak = similarity.new_zeros(num_dets).scatter_reduce(0, dst, similarity, reduce="amax", include_self=True)
        total = torch.exp(-peak).index_add(0, dst, torch.exp(similarity - peak[dst]))
        log_norm = peak + total.log()
        same_class = inputs.det_logits[dst, 1:].argmax(-1) == inputs.track_logits[src, 1:].argmax(-1)
        confidence = self.gamma * inputs.det_scores.clamp_min(1e-6).log()
        pair_score = (similarity - log_norm[dst] + self.alpha * inputs.pair_iou
                      + self.beta * same_class.to(similarity.dtype) + confidence[dst])
        new_score = -log_norm + self.beta + confidence
        best_pair = new_score.scatter_reduce(0, dst, pair_score, reduce="amax", include_self=True)
        pair_wins = (pair_score >= best_pair[dst]) & (pair_score > new_score[dst])
        # Among several winning tracks with equal score, the first edge wins.
        winner = torch.full((num_dets,), src.shape[0], dtype=torch.long, device=src.device)
        winner = winner.scatter_reduce(0, dst[pair_wins], pair_wins.nonzero().flatten(), reduce="amin")
        edge_ids = torch.arange(src.shape[0], device=src.device)
        wins = winner[dst] == edge_ids
        association = torch.where(wins, 100.0 + pair_score, torch.full_like(pair_score, -100.0))
        new_wins = winner == src.shape[0]
        initialisation = torch.where(new_wins, 100.0, -100.0).to(pair_score.dtype)
        return association, initialisation


class Scorer(nn.Module):
    """``forward(h [T, D], state, det_logits [T, C+1], matched [T]) -> (class_logits [T, C+1], state)``.

    ``det_logits`` holds the assigned detection's logits on rows where ``matched`` (new tracks included);
    ``new_state(count)`` is the state of tracks created this frame, before their first update.
    """

    #: No weight depends on the number of classes (the class list only sizes the per-track state).
    class_free: bool = False

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.dim, self.num_classes = dim, num_classes

    def new_state(self, count: int, like: Tensor) -> State:
        return {}


@SCORERS.register("learned")
class LearnedScorer(Scorer):
    """The paper: class + confidence from the embedding, ``z_m = Linear(D, C+1)(h_m)`` (softmax over C+1)."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__(dim, num_classes)
        self.linear = nn.Linear(dim, num_classes + 1)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, h: Tensor, state: State, det_logits: Tensor, matched: Tensor) -> tuple[Tensor, State]:
        return self.linear(h), state


@SCORERS.register("masktrack")
class MaskTrackScorer(Scorer):
    r"""Table 1 "Scoring from [31]": class = majority vote of the assigned detections' argmax classes
    (ties: lowest class index), confidence ``q`` = mean of their max foreground probabilities. Written as
    logits that are 0 except :math:`z_c = \log(C q) - \log(1 - q)` on the voted class, so the softmax gives
    exactly ``q`` on it. State: ``votes [T, C+1]``, ``confidence_sum [T]``, ``count [T]``.
    """

    class_free = True

    def new_state(self, count: int, like: Tensor) -> State:
        return {
            "votes": like.new_zeros((count, self.num_classes + 1)),
            "confidence_sum": like.new_zeros(count),
            "count": like.new_zeros(count),
        }

    def forward(self, h: Tensor, state: State, det_logits: Tensor, matched: Tensor) -> tuple[Tensor, State]:
        state = self.observe(state, det_logits, matched)
        return self.vote_logits(state["votes"], state["confidence_sum"] / state["count"].clamp_min(1)), state

    def observe(self, state: State, det_logits: Tensor, matched: Tensor) -> State:
        """The state after counting the assigned detections' argmax classes and max foreground probabilities."""
        weight = matched.to(det_logits.dtype)
        probs = det_logits.softmax(-1)
        foreground, label = probs[:, 1:].max(-1)
        return {
            "votes": state["votes"] + weight.unsqueeze(-1) * F.one_hot(label + 1, self.num_classes + 1).to(probs.dtype),
            "confidence_sum": state["confidence_sum"] + weight * foreground,
            "count": state["count"] + weight,
        }

    def vote_logits(self, votes: Tensor, confidence: Tensor) -> Tensor:
        """``[T, C+1]`` logits whose softmax puts ``confidence [T]`` (clamped to [1e−6, 1 − 1e−6]) on the voted
        class (``votes [T, C+1]``, ties to the lowest class)."""
        confidence = confidence.clamp(1e-6, 1 - 1e-6)
        voted = votes[:, 1:].argmax(-1) + 1
        logit = math.log(self.num_classes) + confidence.log() - (-confidence).log1p()
        return torch.zeros_like(votes).scatter(1, voted.unsqueeze(-1), logit.unsqueeze(-1))


@SCORERS.register("label_vote")
class LabelVoteScorer(MaskTrackScorer):
    r"""Class evidence that any detector gives: the class is the ``masktrack`` vote of the assigned
    detections' labels (their argmax classes, so the detector's own categories), the confidence a learned
    objectness times the vote's agreement:

    .. math:: q_m = \sigma(w^\top h_m + b) \cdot \frac{\max_{c \ge 1} v_{mc}}{\sum_{c \ge 1} v_{mc}}

    ``w, b``: ``Linear(D, 1)``, so no weight depends on the number of classes (a model with this scorer and
    ``geometry`` inputs tracks any detector's categories). As logits: ``log(1 − q)`` for background,
    ``log q`` for the voted class and ``log q − 20`` for the others, so the softmax gives ``q`` on the voted
    class (up to ``e⁻²⁰``), which stays the most likely foreground class however small ``q`` is; with one
    category the class loss is the binary cross-entropy of ``q`` against "the track follows an object".
    Not in the paper (docs/tracker.md, "Detector-agnostic configuration"). State: that of ``masktrack``.
    """

    #: Logit gap between the voted class and every other foreground class.
    OTHER_CLASS_GAP = 20.0

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__(dim, num_classes)
        self.linear = nn.Linear(dim, 1)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, h: Tensor, state: State, det_logits: Tensor, matched: Tensor) -> tuple[Tensor, State]:
        state = self.observe(state, det_logits, matched)
        votes = state["votes"][:, 1:]
        agreement = votes.max(-1).values / votes.sum(-1).clamp_min(1)
        return self.vote_logits(state["votes"], torch.sigmoid(self.linear(h).squeeze(-1)) * agreement), state

    def vote_logits(self, votes: Tensor, confidence: Tensor) -> Tensor:
        confidence = confidence.clamp(1e-6, 1 - 1e-6)
        voted = votes[:, 1:].argmax(-1) + 1
        others = (confidence.log() - self.OTHER_CLASS_GAP).unsqueeze(-1).expand(-1, self.num_classes)
        logits = torch.cat([(-confidence).log1p().unsqueeze(-1), others], dim=1)
        return logits.scatter(1, voted.unsqueeze(-1), confidence.log().unsqueeze(-1))


@SCORERS.register("detector_average")
class DetectorAverageScorer(Scorer):
    """Table 1 "Scoring via YOLACT average": ``z ← (1 − rate)·z + rate·y`` with ``y`` the assigned detection's
    logits, starting at the initialising detection's ``y`` (the authors' ``expavglbscores``, rate 0.1).
    State: ``average [T, C+1]``, ``count [T]``.
    """

    def __init__(self, dim: int, num_classes: int, rate: float = 0.1) -> None:
        super().__init__(dim, num_classes)
        self.rate = rate

    class_free = True

    def new_state(self, count: int, like: Tensor) -> State:
        return {"average": like.new_zeros((count, self.num_classes + 1)), "count": like.new_zeros(count)}

    def forward(self, h: Tensor, state: State, det_logits: Tensor, matched: Tensor) -> tuple[Tensor, State]:
        average, count = state["average"], state["count"]
        blended = torch.where((count == 0).unsqueeze(-1), det_logits, (1 - self.rate) * average + self.rate * det_logits)
        average = torch.where(matched.unsqueeze(-1), blended, average)
        return average, {"average": average, "count": count + matched.to(count.dtype)}


@SCORERS.register("learned_evidence")
class EvidenceScorer(DetectorAverageScorer):
    r"""The learned head as a correction to the detector's evidence: :math:`z_m = \mathrm{Linear}(D, C+1)(h_m)
    + \bar y_m`, with :math:`\bar y_m` the ``detector_average`` of the assigned detections' logits.

    Not in the paper (whose head reads only ``h``): a head on ``h`` alone must first learn to carry the
    class of the initialising detection through the GNN and the gate, which the CPU budget of the
    synthetic benchmark does not allow (docs/tracker.md, "Scorers"). Here ``h`` only has to learn what the
    detections do not say: whether the track is a false positive, and which class evidence to trust.
    State: that of ``detector_average``.
    """

    class_free = False

    def __init__(self, dim: int, num_classes: int, rate: float = 0.1) -> None:
        super().__init__(dim, num_classes, rate)
        self.linear = nn.Linear(dim, num_classes + 1)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def forward(self, h: Tensor, state: State, det_logits: Tensor, matched: Tensor) -> tuple[Tensor, State]:
        average, state = super().forward(h, state, det_logits, matched)
        return self.linear(h) + average, state


class MaskHead(nn.Module):
    r"""Mask re-weighting (docs/model.md §4): a track's mask logit map from its assigned detection's mask.

    .. math:: m = \mathrm{Conv}_{3\times3}(\mathrm{ReLU}(\mathrm{Conv}_{3\times3}([r_n ; q_n ;
              \mathrm{ReLU}(W h_m)])))

    ``r_n`` = mask logits, ``q_n`` = box mask, ``W h_m`` = ``embedding_channels`` channels broadcast.
    Shapes: ``mask_inputs [K, 2, h, w]``, ``h [K, D]`` → ``[K, h, w]``.

    ``output_bias`` initialises the last convolution's bias. The tracker sets it to the constant background
    logit, so that a fresh head starts at the pixel-assignment boundary: started at 0 against a background
    of 10, the softmax gives a track ≈ e⁻¹⁰ of every pixel and the mask loss's gradient vanishes.
    """

    def __init__(self, dim: int, embedding_channels: int = 16, hidden_channels: int = 16,
                 output_bias: float = 0.0) -> None:
        super().__init__()
        self.output_bias = output_bias
        self.embedding = nn.Linear(dim, embedding_channels)
        self.conv1 = nn.Conv2d(2 + embedding_channels, hidden_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_channels, 1, 3, padding=1)
        nn.init.constant_(self.conv2.bias, output_bias)

    def reset_parameters(self) -> None:
        for module in (self.embedding, self.conv1, self.conv2):
            module.reset_parameters()
        nn.init.constant_(self.conv2.bias, self.output_bias)

    def forward(self, mask_inputs: Tensor, h: Tensor) -> Tensor:
        count, _, height, width = mask_inputs.shape
        embedding = F.relu(self.embedding(h))[:, :, None, None].expand(count, -1, height, width)
        hidden = F.relu(self.conv1(torch.cat([mask_inputs, embedding], dim=1)))
        return self.conv2(hidden).squeeze(1)

    def forward_per_detection(self, det_inputs: Tensor, rows: Tensor, h: Tensor) -> Tensor:
        r"""``forward(det_inputs[rows], h)`` computed without the ``[K, 2 + E, h, w]`` input (inference).

        Shapes: ``det_inputs [N, 2, h, w]``, ``rows [K]`` (each track's detection), ``h [K, D]`` → ``[K, h, w]``.

        The same function, regrouped by linearity: the first convolution splits into its (mask ; box)
        channels, evaluated once per detection, and its embedding channels, which are constant over the map,
        so their response is ``V_k · valid`` with ``V_k [hidden, 9]`` the weights contracted with the
        embedding and ``valid [9, h·w]`` whether each 3×3 tap falls inside the map (the zero padding at the
        border). The second convolution (one output channel) is a ``[9, hidden]`` matrix product followed by
        nine shifted sums. ~10× fewer multiply-adds than :meth:`forward` on the paper's 120×216 maps; the
        result differs from :meth:`forward`'s only by float rounding (summation order).
        """
        count = rows.shape[0]
        _, _, height, width = det_inputs.shape
        weight = self.conv1.weight  # [hidden, 2 + E, 3, 3]
        used, track_input = torch.unique(rows, return_inverse=True)
        # (mask ; box) part of conv1, one per detection: [U, hidden, h·w].
        patches = _patches3x3(det_inputs[used]).flatten(1, 2).flatten(2)  # [U, 2·9, h·w]
        input_weight, bias = weight[:, :2].flatten(1), self.conv1.bias[:, None]
        input_response = [torch.addmm(bias, input_weight, det_patches) for det_patches in patches]
        # Embedding part of conv1: [K, hidden, 9] contracted weights times the in-map indicator of each tap.
        embedding = F.relu(self.embedding(h))
        tap_weights = torch.einsum("oetu,ke->kotu", weight[:, 2:], embedding).flatten(2)
        valid = _patches3x3(torch.ones((1, 1, height, width), dtype=det_inputs.dtype, device=det_inputs.device))
        valid = valid.reshape(9, height * width)
        output_weight = self.conv2.weight[0].flatten(1).t().contiguous()  # [9, hidden], taps as _patches3x3
        tap_outputs = det_inputs.new_empty((count, 9, height * width))
        for k, det in enumerate(track_input.tolist()):
            hidden = torch.addmm(input_response[det], tap_weights[k], valid).relu_()
            torch.mm(output_weight, hidden, out=tap_outputs[k])
        return _sum_shifted_taps(tap_outputs.view(count, 9, height, width)) + self.conv2.bias


def _patches3x3(maps: Tensor) -> Tensor:
    """``[B, C, h, w]`` → ``[B, C, 9, h, w]``: each pixel's 3×3 neighbourhood (zero outside), taps row-major."""
    height, width = maps.shape[-2:]
    padded = F.pad(maps, (1, 1, 1, 1))
    return torch.stack([padded[..., dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)], dim=2)


def _sum_shifted_taps(taps: Tensor) -> Tensor:
    """``[K, 9, h, w]`` per-tap responses → ``[K, h, w]``: out[y, x] = Σ_t taps[t, y + dy_t − 1, x + dx_t − 1]
    over the taps inside the map (a 3×3 convolution's zero padding)."""
    height, width = taps.shape[-2:]
    out = taps[:, 4].clone()
    for t in (0, 1, 2, 3, 5, 6, 7, 8):
        dy, dx = t // 3 - 1, t % 3 - 1
        out[:, max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)] += \
            taps[:, t, max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx)]
    return out
