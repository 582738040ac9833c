"""Helpers for the learned-tracker tests: hand-made detections and small models."""
from __future__ import annotations

import torch

from gvis.config import find_config, load_config
from gvis.detections.structures import Detections
from gvis.tracker.model import RecurrentGraphTracker, TrackerConfig

IMAGE_SIZE = (48, 64)
APPEARANCE_DIM = 64  # configs/model/base.yaml


def detections(boxes, scores=None, labels=None, appearance=None, image_size=IMAGE_SIZE, class_probs=None) -> Detections:
    """Detections whose masks fill their (integer) boxes ``[x1, y1, x2, y2]``."""
    count = len(boxes)
    masks = torch.zeros((count, *image_size), dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, int(y1):int(y2), int(x1):int(x2)] = True
    return Detections(
        boxes=torch.tensor(boxes, dtype=torch.float32).reshape(count, 4),
        scores=torch.tensor(scores if scores is not None else [0.9] * count, dtype=torch.float32),
        labels=torch.tensor(labels if labels is not None else [1] * count, dtype=torch.long),
        masks=masks,
        image_size=image_size,
        appearance=None if appearance is None else torch.as_tensor(appearance, dtype=torch.float32),
        class_probs=None if class_probs is None else torch.as_tensor(class_probs, dtype=torch.float32),
    )


def random_detections(count: int, generator: torch.Generator, num_classes: int = 3, appearance_dim: int | None = APPEARANCE_DIM,
                      image_size=IMAGE_SIZE) -> Detections:
    height, width = image_size
    xy = torch.rand(count, 2, generator=generator) * torch.tensor([width * 0.6, height * 0.6])
    wh = torch.rand(count, 2, generator=generator) * 12 + 4
    boxes = torch.cat([xy, xy + wh], 1).round().tolist()
    appearance = None if appearance_dim is None else torch.randn(count, appearance_dim, generator=generator) * 0.2
    return detections(boxes, scores=(torch.rand(count, generator=generator) * 0.9 + 0.1).tolist(),
                      labels=torch.randint(1, num_classes + 1, (count,), generator=generator).tolist(),
                      appearance=appearance, image_size=image_size)


def tiny_config(*overrides: str) -> TrackerConfig:
    """``configs/model/tiny.yaml`` with ``key=value`` overrides."""
    return load_config(TrackerConfig, find_config("tiny", "model"), list(overrides))


def tiny_model(*overrides: str, num_classes: int = 3, seed: int = 0, dtype=torch.float32) -> RecurrentGraphTracker:
    torch.manual_seed(seed)
    return RecurrentGraphTracker(tiny_config(*overrides), num_classes=num_classes).to(dtype).eval()


#: Random weights give every detection about the same logits (all above or all below a threshold):
#: with these thresholds every detection starts a track and every track takes its best detection.
ALWAYS = ("init_threshold=-100.0", "match_threshold=-100.0")


def copy_detection_masks(model: RecurrentGraphTracker) -> RecurrentGraphTracker:
    """Set the mask head to output ``r + 10·q`` (detection mask logits + 10 × box mask), ignoring the
    embedding: against the background's 10, a matched track then takes its detection's mask inside the box."""
    head = model.mask_head
    with torch.no_grad():
        for conv in (head.conv1, head.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
        head.conv1.weight[0, 0, 1, 1] = 1.0    # hidden 0 = ReLU(r)
        head.conv1.weight[1, 0, 1, 1] = -1.0   # hidden 1 = ReLU(−r)
        head.conv1.weight[2, 1, 1, 1] = 1.0    # hidden 2 = q
        head.conv2.weight[0, 0, 1, 1] = 1.0
        head.conv2.weight[0, 1, 1, 1] = -1.0
        head.conv2.weight[0, 2, 1, 1] = 10.0
    return model
