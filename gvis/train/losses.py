"""The four training losses of the paper (docs/model.md §5), each a small function.

Total loss = w_cls·L_cls + w_seg·L_seg + w_assoc·L_assoc + w_init·L_init (defaults 1, 1, 4, 1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def temporal_class_weights(clip_length: int, decay: float = 0.8) -> Tensor:
    """``[L]`` weights ``w_t ∝ decay^(L−1−t)`` for frames ``t = 0..L−1``, summing to 1.

    Later frames weigh more: the track score reported at the end of a video is the one that counts.
    For ``L = 10`` this is the authors' ``0.285·0.8^(11−t)`` up to normalisation.
    """
    exponents = torch.arange(clip_length - 1, -1, -1, dtype=torch.float64)
    weights = decay**exponents
    return (weights / weights.sum()).float()


def class_loss(class_logits: Tensor, class_targets: Tensor, frame_weights: Tensor, num_clips: int) -> Tensor:
    """Temporally weighted cross-entropy over ``C + 1`` classes.

    Args:
        class_logits: ``[K, C+1]`` track class logits, all supervised (track, frame) pairs of a batch.
        class_targets: ``[K]`` class index (0 = background for tracks started by false positives), or
            ``[K, C+1]`` class probabilities (soft targets, ``loss.class_target: quality``).
        frame_weights: ``[K]`` the temporal weight of each row's frame.
        num_clips: ``B``; the sum is divided by it (docs/model.md §5: ``(1/B) Σ_t w_t Σ_{b,m} CE``).
    """
    if class_logits.shape[0] == 0:
        return class_logits.sum() * 0.0
    cross_entropy = F.cross_entropy(class_logits, class_targets, reduction="none")
    return (frame_weights * cross_entropy).sum() / num_clips


def association_loss(association_logits: Tensor, association_targets: Tensor, num_frames: int) -> Tensor:
    """BCE-with-logits over track–detection edges, summed and divided by ``B·L`` (``num_frames``)."""
    return F.binary_cross_entropy_with_logits(
        association_logits, association_targets.to(association_logits.dtype), reduction="sum"
    ) / num_frames


def init_loss(init_logits: Tensor, init_targets: Tensor, num_frames: int) -> Tensor:
    """BCE-with-logits over empty–detection edges (start a new track?), summed and divided by ``B·L``."""
    return F.binary_cross_entropy_with_logits(
        init_logits, init_targets.to(init_logits.dtype), reduction="sum"
    ) / num_frames


def lovasz_grad(sorted_ground_truth: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. errors sorted in decreasing order.

    Args:
        sorted_ground_truth: ``[P]`` (or ``[P, K]``, one column per class) 0/1 ground truth of the pixels,
            in the order of decreasing error.
    """
    total = sorted_ground_truth.sum(0)
    intersection = total - sorted_ground_truth.cumsum(0)
    union = total + (1.0 - sorted_ground_truth).cumsum(0)
    jaccard = 1.0 - intersection / union
    if sorted_ground_truth.shape[0] > 1:
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return jaccard


def lovasz_softmax_flat(probabilities: Tensor, labels: Tensor) -> Tensor:
    """Lovász-softmax loss (Berman et al., CVPR 2018) of one image, averaged over the present classes.

    All classes are sorted at once (one ``[P, K]`` sort); classes absent from ``labels`` are left out
    of the mean (``classes='present'``).

    Args:
        probabilities: ``[P, K]`` per-pixel class probabilities (softmax output).
        labels: ``[P]`` ground-truth class index per pixel.
    """
    num_classes = probabilities.shape[1]
    foreground = (labels.unsqueeze(1) == torch.arange(num_classes, device=labels.device)).to(probabilities.dtype)
    present = foreground.sum(0) > 0
    if not bool(present.any()):
        return probabilities.sum() * 0.0
    errors = (foreground - probabilities).abs()[:, present]
    errors_sorted, order = torch.sort(errors, dim=0, descending=True)
    losses = (errors_sorted * lovasz_grad(torch.gather(foreground[:, present], 0, order))).sum(0)
    return losses.mean()


def mask_loss(instance_logits: list[Tensor], instance_targets: list[Tensor]) -> Tensor:
    """Lovász-softmax over per-image instance channels, averaged over the images.

    Args:
        instance_logits: per image, ``[K_i + 1, H, W]`` logits: channel 0 the constant background,
            then one channel per track alive in that image.
        instance_targets: per image, ``[H, W]`` int64 channel index each pixel belongs to (0 = background;
            a ground-truth object that no track follows counts as background).
    """
    losses = [
        lovasz_softmax_flat(logits.flatten(1).t().softmax(dim=1), target.flatten())
        for logits, target in zip(instance_logits, instance_targets)
    ]
    if not losses:
        raise ValueError("mask_loss needs at least one image")
    return torch.stack(losses).mean()
