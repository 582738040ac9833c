"""Training that models inference: B clips run frame by frame through the tracker, as at test time, and
every frame is scored with the four losses of docs/model.md §5.

:func:`collate` turns B clips (lists of :class:`~gvis.train.data.TrainingFrame`) into a :class:`ClipBatch`:
per frame, one :class:`~gvis.tracker.features.FrameDetections` of the B videos plus the targets that do
not depend on the network (which detection is which object; the ground-truth instance map at the mask
working resolution). :class:`ClipObjective` (an ``nn.Module``, so that ``DistributedDataParallel`` can wrap
it) advances the B videos together with :meth:`RecurrentGraphTracker.step` and, per frame:

- follows each track's object: a new track takes the object of its initialising detection, forever;
- association targets on the edges of the tracks alive *before* the frame; init targets on the empty
  edges (:mod:`gvis.train.targets`);
- class targets for the tracks alive before the frame (a track is not class-supervised in the frame that
  starts it), weighted by the frame's temporal weight (with ``loss.class_target: quality`` soft ones: the
  object's class with the probability that the track's detection fits its object's mask);
- the mask loss on ``[background ; tracks of the video]`` channels against the ground truth mapped to the
  first track following each object (objects nobody follows count as background).

In stage 2 (:mod:`gvis.train.stage2`) :func:`collate` runs the frozen detector on the clips' frames first,
and :class:`ClipObjective` computes the appearance vectors with gradients before each tracker step.

The hard assignment inside the step is detached, so gradients reach the association and init heads only
through these losses, and every head through the recurrent state of later frames (full BPTT over the clip
unless ``bptt_chunk`` is set).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gvis.detectors.appearance import AppearanceNetwork
from gvis.detectors.yolact.detector import YolactDetector
from gvis.tracker.features import FrameDetections, mask_size, prepare_frame
from gvis.tracker.model import RecurrentGraphTracker, StepOutput, TrackerConfig
from gvis.tracker.online import label_columns
from gvis.train.config import LossConfig
from gvis.train.data import TrainingFrame, instance_index_map
from gvis.train.losses import association_loss, class_loss, init_loss, mask_loss, temporal_class_weights
from gvis.train.stage2 import AppearanceInputs, detect_frame, fill_appearance
from gvis.train.targets import (
    assign_detections_to_objects,
    association_edges_kept,
    association_targets,
    best_mask_fit,
    first_track_of_object,
    fit_class_targets,
    init_targets,
    overlapped_objects,
)

#: Names of the loss terms, in the order they are logged.
LOSS_NAMES = ("class", "mask", "association", "init")


@dataclass
class FrameTargets:
    """Network-independent targets of one frame of the B clips (``N`` detections in frame order).

    - ``det_object_ids``: ``[N]`` object id of each detection's primary match (0: none / secondary).
    - ``gt_ids``: per video ``[K_b]`` object ids in view (``None`` where the clip has no frame).
    - ``index_maps``: per video ``[h, w]`` int64 at the mask working resolution: ``k + 1`` where
      ``gt_ids[b][k]`` covers the pixel, 0 on background (``None`` where absent).
    - ``det_overlap_ids``: ``[N]`` object each detection overlaps above ``loss.duplicate_iou`` (0: none),
      or ``None`` when every negative edge counts.
    - ``det_fit_ids`` / ``det_fit_iou``: ``[N]`` the object whose mask each detection's mask overlaps most
      (0: none) and that mask IoU; only with ``loss.class_target: quality`` (else ``None``).
    """

    det_object_ids: Tensor
    gt_ids: list[Tensor | None]
    index_maps: list[Tensor | None]
    det_overlap_ids: Tensor | None = None
    det_fit_ids: Tensor | None = None
    det_fit_iou: Tensor | None = None


@dataclass
class ClipBatch:
    """B clips prepared for :class:`ClipObjective`.

    - ``frames`` / ``targets``: one per frame index ``t < L`` (L = longest clip).
    - ``class_weights``: ``[L, B]`` temporal class weight of frame ``t`` of clip ``b`` (0 past its end).
    - ``object_ids`` / ``object_classes``: ``[O]`` every object of the batch (sorted) and its class column.
    - ``appearance_inputs``: stage 2 only, per frame index what the appearance network reads
      (:class:`~gvis.train.stage2.AppearanceInputs`); the frames' appearance columns are zeros until then.
    """

    frames: list[FrameDetections]
    targets: list[FrameTargets]
    class_weights: Tensor
    object_ids: Tensor
    object_classes: Tensor
    appearance_inputs: list[AppearanceInputs] | None = None

    @property
    def num_clips(self) -> int:
        return int(self.class_weights.shape[1])

    @property
    def num_images(self) -> int:
        """Frames of all clips together (``B·L`` for clips of equal length)."""
        return int(sum(int(frame.present.sum()) for frame in self.frames))


def collate(clips: list[list[TrainingFrame]], model: RecurrentGraphTracker, category_ids: list[int],
            loss: LossConfig, with_masks: bool = True, device: torch.device | str = "cpu",
            detector: YolactDetector | None = None) -> ClipBatch:
    """Prepare B clips for one training step (detections as the model reads them, targets, weights).

    ``detector``: stage 2, the frozen detector run here on the frames' images (their ``detections`` are unset).
    """
    config = model.config
    columns = label_columns(category_ids)
    num_frames = max(len(clip) for clip in clips)
    frames, targets = [], []
    appearance_inputs = [] if detector is not None else None
    for t in range(num_frames):
        current = [clip[t] if t < len(clip) else None for clip in clips]
        if detector is not None:
            current, inputs = detect_frame(detector, current, config.filtering, config.appearance_dim)
            appearance_inputs.append(inputs)
        frame = prepare_frame(
            [f.detections if f is not None else None for f in current], columns, model.num_classes,
            config.appearance_dim, model.uses_appearance, mask_stride=config.mask_stride if with_masks else None,
            binary_mask_logit=config.binary_mask_logit, min_prob=config.min_class_prob, device=device,
            mask_grid=model.inputs.mask_grid,
        )
        det_ids, overlap_ids, fits, gt_ids, maps = [], [], [], [], []
        for f in current:
            if f is None:
                gt_ids.append(None)
                maps.append(None)
                continue
            det_ids.append(assign_detections_to_objects(f.detections.boxes, f.gt_boxes, f.gt_ids, loss.iou_threshold,
                                                        f.detections.scores if loss.primary == "score" else None))
            if loss.duplicate_iou is not None:
                overlap_ids.append(overlapped_objects(f.detections.boxes, f.gt_boxes, f.gt_ids, loss.duplicate_iou))
            if loss.class_target == "quality":
                fits.append(best_mask_fit(f.detections.mask_tensor(), f.gt_masks, f.gt_ids))
            gt_ids.append(f.gt_ids.to(device))
            maps.append(instance_index_map(f.gt_masks, mask_size(f.image_size, config.mask_stride)).to(device)
                        if with_masks else None)
        det_object_ids = torch.cat(det_ids) if det_ids else torch.zeros(0, dtype=torch.long)
        det_overlap_ids = None
        if loss.duplicate_iou is not None:
            det_overlap_ids = (torch.cat(overlap_ids) if overlap_ids else torch.zeros(0, dtype=torch.long)).to(device)
        det_fit_ids = det_fit_iou = None
        if loss.class_target == "quality":
            det_fit_ids, det_fit_iou = (torch.cat(parts).to(device) for parts in zip(*fits)) if fits else (
                torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, device=device))
        frames.append(frame)
        targets.append(FrameTargets(det_object_ids.to(device), gt_ids, maps, det_overlap_ids, det_fit_ids, det_fit_iou))
    weights = torch.zeros((num_frames, len(clips)))
    for b, clip in enumerate(clips):
        weights[: len(clip), b] = temporal_class_weights(len(clip), loss.class_decay)
    pairs = {int(i): int(c) for clip in clips for f in clip for i, c in zip(f.gt_ids.tolist(), f.gt_classes.tolist())}
    object_ids = torch.tensor(sorted(pairs), dtype=torch.long)
    object_classes = torch.tensor([pairs[i] for i in sorted(pairs)], dtype=torch.long)
    return ClipBatch(frames, targets, weights.to(device), object_ids.to(device), object_classes.to(device),
                     appearance_inputs)


def _with_missing(values: Tensor) -> Tensor:
    """``values`` with a 0 appended, so that index −1 reads 0."""
    return torch.cat([values, values.new_zeros(1)])


def _right_assignments(out: StepOutput, edge_targets: Tensor) -> Tensor:
    """How many positive track–detection edges (``edge_targets [E]``) the step's hard assignment took: the
    track continued with exactly its target detection (a 0-d tensor, so that no frame waits for the device)."""
    track_index, det_index = out.track_det_index
    positive = edge_targets > 0
    wanted = torch.full((out.previous_track_id.shape[0],), -1, dtype=torch.long, device=edge_targets.device)
    wanted[track_index[positive]] = det_index[positive]
    continued = out.previous_row >= 0
    chosen = torch.full_like(wanted, -1)
    chosen[out.previous_row[continued]] = out.assigned_det[continued]
    return ((chosen == wanted) & (wanted >= 0)).sum()


class ClipObjective(nn.Module):
    """The four losses of a batch of clips (see the module docstring); wraps the tracker (and in stage 2
    the detector's ``appearance`` network, trained with it) for DDP. ``rules``: the config whose inference keys
    the rollouts follow (training's ``rollout``; ``None``: the model's own).

    ``forward(batch)`` returns ``{"loss": total, "class", "mask", "association", "init"}`` (scalars) plus
    counts for logging (``tracks``: track rows summed over frames, ``positives``: association targets = 1,
    ``assigned_right``: positives that the step's hard assignment took, so ``assigned_right / positives`` is
    the per-frame assignment accuracy).
    """

    def __init__(self, model: RecurrentGraphTracker, loss: LossConfig, bptt_chunk: int | None = None,
                 appearance: AppearanceNetwork | None = None, rules: TrackerConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.bptt_chunk = bptt_chunk
        self.appearance = appearance
        self.rules = rules

    @property
    def with_masks(self) -> bool:
        return self.loss.mask_weight != 0

    def forward(self, batch: ClipBatch) -> dict[str, Tensor]:
        model = self.model
        state = model.initial_state(batch.num_clips)
        track_objects = torch.zeros(0, dtype=torch.long, device=state.h.device)
        class_rows: list[tuple[Tensor, Tensor, Tensor]] = []
        association: list[tuple[Tensor, Tensor]] = []
        initialisation: list[tuple[Tensor, Tensor]] = []
        mask_logits: list[Tensor] = []
        mask_targets: list[Tensor] = []
        background = model.config.background_mask_logit
        assigned_right = torch.zeros((), dtype=torch.long, device=state.h.device)
        for t, (frame, target) in enumerate(zip(batch.frames, batch.targets)):
            if batch.appearance_inputs is not None:
                frame = fill_appearance(frame, batch.appearance_inputs[t], self.appearance)
            if self.bptt_chunk is not None and t > 0 and t % self.bptt_chunk == 0:
                state = state.detach()
            if not bool(frame.present.all()):  # the step drops the tracks of videos without a frame
                track_objects = track_objects[frame.present[state.video]]
            state, out = model.step(state, frame, with_masks=self.with_masks, rules=self.rules)
            det_objects = target.det_object_ids
            is_first = first_track_of_object(track_objects, out.previous_video, out.previous_track_id)
            edge_targets = association_targets(out.track_det_index, track_objects, is_first, det_objects)
            assigned_right += _right_assignments(out, edge_targets)
            if target.det_overlap_ids is None:
                association.append((out.association_logits, edge_targets))
            else:
                kept = association_edges_kept(out.track_det_index, track_objects, edge_targets, target.det_overlap_ids)
                association.append((out.association_logits[kept], edge_targets[kept]))
            initialisation.append((out.init_logits,
                                   init_targets(det_objects, frame.video, track_objects, out.previous_video)))
            # A track follows the object of the detection that started it.
            track_objects = torch.where(out.is_new, _with_missing(det_objects)[out.assigned_det],
                                        _with_missing(track_objects)[out.previous_row])
            supervised = ~out.is_new
            class_targets = self._object_class(batch, track_objects[supervised])
            if target.det_fit_ids is not None:
                class_targets = fit_class_targets(class_targets, track_objects[supervised],
                                                  out.assigned_det[supervised], target.det_fit_ids,
                                                  target.det_fit_iou, model.num_classes)
            class_rows.append((out.class_logits[supervised], class_targets,
                               batch.class_weights[t][out.video[supervised]]))
            if self.with_masks:
                is_first = first_track_of_object(track_objects, out.video, out.track_id)
                counts = torch.bincount(out.video, minlength=batch.num_clips).tolist()
                for b, rows in enumerate(torch.arange(out.video.shape[0], device=out.video.device).split(counts)):
                    logits = out.mask_logits[b]
                    if logits is None:
                        continue
                    # Channel of each ground-truth object: 1 + position of the first track following it.
                    follows = (track_objects[rows][None, :] == target.gt_ids[b][:, None]) & is_first[rows][None, :]
                    position = torch.cat([follows, follows.new_ones((follows.shape[0], 1))], 1).long().argmax(1)
                    channel = torch.where(follows.any(1), position + 1, 0)
                    mask_targets.append(torch.cat([channel.new_zeros(1), channel])[target.index_maps[b]])
                    mask_logits.append(torch.cat([logits.new_full((1, *logits.shape[1:]), background), logits]))
        terms = {
            "class": class_loss(*(torch.cat(parts) for parts in zip(*class_rows)), num_clips=batch.num_clips),
            "association": association_loss(*(torch.cat(parts) for parts in zip(*association)), num_frames=batch.num_images),
            "init": init_loss(*(torch.cat(parts) for parts in zip(*initialisation)), num_frames=batch.num_images),
            "mask": mask_loss(mask_logits, mask_targets) if self.with_masks else state.h.new_zeros(()),
        }
        loss = self.loss
        total = (loss.class_weight * terms["class"] + loss.mask_weight * terms["mask"]
                 + loss.association_weight * terms["association"] + loss.init_weight * terms["init"])
        counts = {
            "tracks": torch.tensor(float(sum(rows[0].shape[0] for rows in class_rows))),
            "positives": torch.tensor(float(sum(float(targets.sum()) for _, targets in association))),
            "assigned_right": assigned_right.float(),
        }
        return {"loss": total, **terms, **counts}

    @staticmethod
    def _object_class(batch: ClipBatch, objects: Tensor) -> Tensor:
        """Class column of each object id (0 = background for id 0, i.e. tracks of false positives)."""
        if batch.object_ids.numel() == 0:
            return torch.zeros_like(objects)
        position = torch.searchsorted(batch.object_ids, objects).clamp_max(batch.object_ids.numel() - 1)
        return torch.where(objects > 0, batch.object_classes[position], 0)
