"""From raw network outputs to the detections of one frame (docs/model.md §6).

1. class probabilities ``softmax(logits)`` ``[A, C+1]``; confidence = best foreground probability;
2. keep anchors with confidence > ``score_threshold`` (0.03);
3. Fast NMS at box IoU ``nms_iou`` (0.7) over the ``nms_top_k`` (200) best, class-agnostic (the authors')
   or per class (YOLACT's);
4. keep the ``top_n`` (16) highest;
5. mask logits = prototypes · coefficients (uncropped, at the prototype resolution, kept for the tracker);
   binary masks = logits resized bilinearly to the frame, > logit(``mask_threshold``), inside the box.

Boxes, masks and ``image_size`` are in the frame's own pixels (the network saw it resized to its
``input_size``; boxes are fractions of the input, so they scale back exactly).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gvis.detections.structures import Detections
from gvis.detectors.yolact.box_coding import decode_boxes
from gvis.detectors.yolact.fast_nms import fast_nms, fast_nms_per_class
from gvis.detectors.yolact.masks import assemble_mask_logits, box_masks
from gvis.detectors.yolact.model import PostprocessConfig, YolactOutput


def select_detections(class_probs: Tensor, boxes: Tensor, config: PostprocessConfig) -> tuple[Tensor, Tensor, Tensor]:
    """Steps 2–4 for one image: ``class_probs [A, C+1]``, ``boxes [A, 4]`` →
    ``(anchor indices [N], class columns 0..C−1 [N], scores [N])``, highest score first."""
    foreground = class_probs[:, 1:]
    if config.nms == "per_class":
        indices, classes, scores = fast_nms_per_class(boxes, foreground, config.nms_iou, config.nms_top_k,
                                                      config.score_threshold)
    else:
        scores, classes = foreground.max(dim=1)
        candidates = (scores > config.score_threshold).nonzero().flatten()
        indices = candidates[fast_nms(boxes[candidates], scores[candidates], config.nms_iou, config.nms_top_k)]
        scores, classes = scores[indices], classes[indices]
    top = slice(0, config.top_n)
    return indices[top], classes[top], scores[top]


def binary_masks(mask_logits: Tensor, boxes: Tensor, image_size: tuple[int, int], threshold: float) -> Tensor:
    """``[N, H, W]`` bool masks: ``mask_logits [N, h, w]`` resized to ``image_size``, thresholded, cropped
    to ``boxes [N, 4]`` (fractions of the image)."""
    if mask_logits.shape[0] == 0:
        return torch.zeros((0, *image_size), dtype=torch.bool, device=mask_logits.device)
    resized = F.interpolate(mask_logits.unsqueeze(1), size=image_size, mode="bilinear", align_corners=False)[:, 0]
    return (resized > math.log(threshold / (1.0 - threshold))) & box_masks(boxes, image_size)


def postprocess(
    output: YolactOutput,
    index: int,
    config: PostprocessConfig,
    image_size: tuple[int, int],
    category_ids: Sequence[int],
    variances: tuple[float, float] = (0.1, 0.2),
) -> Detections:
    """The detections of image ``index`` of a batch, in a frame of ``image_size`` (H, W), with
    ``class_probs`` and uncropped ``mask_logits [N, h, w]`` filled and the appearance fields left empty."""
    height, width = image_size
    class_probs = torch.softmax(output.class_logits[index].float(), dim=-1)
    boxes = decode_boxes(output.deltas[index].float(), output.anchors, variances).clamp(0.0, 1.0)
    indices, classes, scores = select_detections(class_probs, boxes, config)
    kept_boxes = boxes[indices]
    mask_logits = assemble_mask_logits(output.prototypes[index].float(), output.coefficients[index][indices].float())
    labels = torch.as_tensor(list(category_ids), dtype=torch.long, device=classes.device)[classes]
    scale = torch.tensor([width, height, width, height], dtype=kept_boxes.dtype, device=kept_boxes.device)
    return Detections(
        boxes=kept_boxes * scale,
        scores=scores,
        labels=labels,
        masks=binary_masks(mask_logits, kept_boxes, image_size, config.mask_threshold),
        image_size=image_size,
        class_probs=class_probs[indices],
        mask_logits=mask_logits,
    )
