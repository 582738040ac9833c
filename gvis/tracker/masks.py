"""Track masks at frame size (docs/model.md §4): each pixel goes to the highest of [background ; K track logits]
upsampled bilinearly from the working mask resolution.

:meth:`RecurrentGraphTracker.pixel_assignment` is the reference (``[K, H, W]`` bool from every track's
channel). :func:`pixel_labels` and :func:`label_masks` are the inference path (docs/tracker.md, "Speed"):
only the tracks that can win a pixel are upsampled, the result is one ``[H, W]`` label map, and the masks are
laid out for COCO RLE.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Logits within this of the background count as able to beat it (the float rounding of the upsampling).
ROUNDING_MARGIN = 1e-3


def with_background(logits: Tensor, background: float) -> Tensor:
    """``[1, K+1, h, w]``: the constant background channel first, then the ``[K, h, w]`` track logits."""
    return torch.cat([logits.new_full((1, *logits.shape[1:]), background), logits]).unsqueeze(0)


def upsampled_winner(channels: Tensor, image_size: tuple[int, int]) -> Tensor:
    """``[H, W]`` int64: the argmax over the channels of ``channels [1, C, h, w]`` upsampled bilinearly
    (align_corners False) to ``image_size``; ties go to the lower channel."""
    # Channels-last, so that the argmax runs over contiguous memory (argmax over the outer dim of a
    # [C, H, W] tensor is ~40× slower on CPU).
    stacked = channels.contiguous(memory_format=torch.channels_last)
    return F.interpolate(stacked, size=image_size, mode="bilinear", align_corners=False).argmax(1)[0]


def pixel_labels(logits: Tensor, background: float, image_size: tuple[int, int]) -> Tensor:
    """``[H, W]`` int64: the track row + 1 each pixel goes to, 0 for background, from ``logits [K, h, w]``.

    Only the tracks that can win a pixel are upsampled: an upsampled logit is a convex combination of the
    track's logits, so a track whose logits all lie below the background (an unmatched track, or a matched
    one whose mask nowhere beats the background) loses every pixel.
    """
    labels = torch.zeros(image_size, dtype=torch.long, device=logits.device)
    if logits.shape[0] == 0:
        return labels
    contenders = (logits.flatten(1).amax(1) > background - ROUNDING_MARGIN).nonzero().flatten()
    if contenders.numel() == 0:
        return labels
    winner = upsampled_winner(with_background(logits[contenders], background), image_size)
    return torch.cat([contenders.new_zeros(1), contenders + 1])[winner]


def label_masks(labels: Tensor, count: int) -> Tensor:
    """``[count, H, W]`` bool masks ``labels == k + 1`` of a label map ``labels [H, W]`` (0: no track).

    Each mask is stored column-major (a transposed view of a ``[count, W, H]`` tensor), the layout of COCO
    RLE, so that :func:`~gvis.detections.structures.encode_masks` reads it without copying.
    """
    height, width = labels.shape
    masks = torch.zeros((count + 1, width * height), dtype=torch.bool, device=labels.device)
    masks.scatter_(0, labels.t().reshape(1, -1), True)
    return masks[1:].view(count, width, height).transpose(1, 2)
