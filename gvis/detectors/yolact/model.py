"""The YOLACT-style network (docs/model.md §6) and its config.

``images [B, 3, H, W]`` (resized to ``input_size``, ImageNet-normalised) → backbone C3–C5 (channel dropout
while training) → FPN P3–P7 → shared prediction head (3 anchors per location: box deltas, C+1 class
logits, k tanh'd mask coefficients) and protonet on P3 (k prototypes at stride 4), plus a 1×1 semantic
segmentation head on P3 used only by the stage-1 loss. Post-processing (confidence filter, Fast NMS,
top-N, mask assembly) is :mod:`~gvis.detectors.yolact.postprocess`; the appearance network is
:mod:`gvis.detectors.appearance`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from gvis.detectors.appearance import AppearanceConfig
from gvis.detectors.yolact.anchors import make_anchors
from gvis.detectors.yolact.backbone import STAGES, Backbone, BackboneName
from gvis.detectors.yolact.fpn import FPN
from gvis.detectors.yolact.prediction_head import PredictionHead
from gvis.detectors.yolact.protonet import ProtoNet

#: ImageNet channel statistics (RGB, 0..1 images), as torchvision's backbones expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class PostprocessConfig:
    """From raw outputs to at most ``top_n`` detections (docs/model.md §6).

    - ``score_threshold``: keep anchors whose best foreground probability exceeds this (0.03, i.e. the
      authors' log-probability > −3.5).
    - ``nms``: ``class_agnostic`` (the authors' cross-class Fast NMS) or ``per_class`` (YOLACT's).
    - ``nms_iou``: box IoU above which Fast NMS drops the lower-scored box (0.7). ``nms_top_k``: candidates
      considered by NMS (200, per class for ``per_class``).
    - ``top_n``: detections kept per frame, highest score first (16).
    - ``mask_threshold``: a pixel is in the binary mask when its cropped mask probability exceeds this.
    """

    score_threshold: float = 0.03
    nms: Literal["class_agnostic", "per_class"] = "class_agnostic"
    nms_iou: float = 0.7
    nms_top_k: int = 200
    top_n: int = 16
    mask_threshold: float = 0.5

    def validate(self) -> None:
        if not 0.0 <= self.score_threshold < 1.0 or not 0.0 < self.mask_threshold < 1.0:
            raise ValueError("postprocess.score_threshold must be in [0, 1), mask_threshold in (0, 1)")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"postprocess.nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.nms_top_k < 1 or self.top_n < 1:
            raise ValueError("postprocess.nms_top_k and top_n must be at least 1")


@dataclass
class DetectorConfig:
    """The detector's architecture and post-processing. Defaults are the paper's (docs/model.md §6).

    - ``backbone``: ``resnet18``, ``resnet50``, ``resnet101`` or ``mobilenet_v3_large`` (torchvision,
      ``weights=None``); ``backbone_width``: MobileNetV3's width multiplier; ``backbone_dropout``: channel
      dropout on C3–C5 while training (0.1); ``backbone_bn_momentum``: BatchNorm running-statistics momentum
      (``null``: torchvision's).
    - ``input_size``: ``[H, W]`` every frame is resized to (480×864).
    - ``fpn_width``: channels of P3–P7 and of the head (256); ``proto_width``: protonet channels (256);
      ``num_prototypes``: ``k`` (32).
    - ``anchor_sizes``: pixel size of the anchors of P3..P7 on the input; ``anchor_aspect_ratios``: pixel
      width/height (3 anchors per location); ``box_variances``: SSD coding (0.1, 0.2).
    - ``semantic_head``: the 1×1 semantic segmentation head on P3 (stage-1 auxiliary loss only).
    - ``num_classes``: ``C``, filled from the training data's categories.
    """

    backbone: BackboneName = "resnet50"
    backbone_width: float = 1.0
    backbone_dropout: float = 0.1
    backbone_bn_momentum: float | None = None
    input_size: tuple[int, int] = (480, 864)
    fpn_width: int = 256
    proto_width: int = 256
    num_prototypes: int = 32
    anchor_sizes: list[float] = field(default_factory=lambda: [31.0, 62.0, 124.0, 247.0, 495.0])
    anchor_aspect_ratios: list[float] = field(default_factory=lambda: [1.0, 0.5, 2.0])
    box_variances: tuple[float, float] = (0.1, 0.2)
    semantic_head: bool = True
    num_classes: int | None = None
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)

    def validate(self) -> None:
        if len(self.anchor_sizes) != 5:
            raise ValueError(f"anchor_sizes needs one size per level P3..P7 (5), got {len(self.anchor_sizes)}")
        if min(self.input_size) < 32:
            raise ValueError(f"input_size must be at least 32x32, got {list(self.input_size)}")
        if not 0.0 <= self.backbone_dropout < 1.0:
            raise ValueError(f"backbone_dropout must be in [0, 1), got {self.backbone_dropout}")
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if min(self.fpn_width, self.proto_width, self.num_prototypes) < 1 or self.backbone_width <= 0:
            raise ValueError("fpn_width, proto_width, num_prototypes and backbone_width must be positive")
        if self.backbone_width != 1.0 and self.backbone != "mobilenet_v3_large":
            raise ValueError(f"backbone_width applies to mobilenet_v3_large only, not {self.backbone}")


@dataclass
class YolactOutput:
    """Raw outputs for a batch of ``B`` images (``A`` anchors, ``k`` prototypes, ``C`` classes).

    - ``deltas [B, A, 4]`` box deltas, ``class_logits [B, A, C+1]`` (background first), ``coefficients
      [B, A, k]`` in [−1, 1]; ``anchors [A, 4]`` (cx, cy, w, h as fractions of the input).
    - ``prototypes [B, k, h, w]`` at stride 4 (non-negative).
    - ``semantic_logits [B, C, h3, w3]`` on P3 while training with ``semantic_head`` (else ``None``).
    - ``features``: backbone maps ``{"C3", "C4", "C5"}`` (the appearance network reads C4 and C5).
    """

    deltas: Tensor
    class_logits: Tensor
    coefficients: Tensor
    anchors: Tensor
    prototypes: Tensor
    semantic_logits: Tensor | None
    features: dict[str, Tensor]


class YolactModel(nn.Module):
    """The network of :class:`DetectorConfig` for ``num_classes`` foreground classes."""

    def __init__(self, config: DetectorConfig, num_classes: int | None = None) -> None:
        super().__init__()
        num_classes = num_classes if num_classes is not None else config.num_classes
        if num_classes is None:
            raise ValueError("YolactModel needs num_classes (or config.num_classes)")
        self.config = config
        self.num_classes = num_classes
        self.backbone = Backbone(config.backbone, config.backbone_width, config.backbone_bn_momentum)
        self.dropout = nn.Dropout2d(config.backbone_dropout)
        self.fpn = FPN(self.backbone.channels, config.fpn_width)
        self.protonet = ProtoNet(config.fpn_width, config.proto_width, config.num_prototypes)
        self.head = PredictionHead(config.fpn_width, len(config.anchor_aspect_ratios), num_classes,
                                   config.num_prototypes)
        self.semantic = nn.Conv2d(config.fpn_width, num_classes, 1) if config.semantic_head else None
        self._anchors: dict[tuple, Tensor] = {}
        # NHWC convolutions: about 20 % faster on CPU (oneDNN) and what GPU tensor cores prefer.
        self.to(memory_format=torch.channels_last)

    def anchors(self, feature_sizes: list[tuple[int, int]], image_size: tuple[int, int], device: torch.device) -> Tensor:
        """``[A, 4]`` anchors for these level sizes (cached)."""
        key = (tuple(feature_sizes), tuple(image_size), str(device))
        if key not in self._anchors:
            self._anchors[key] = make_anchors(feature_sizes, image_size, self.config.anchor_sizes,
                                              self.config.anchor_aspect_ratios).to(device)
        return self._anchors[key]

    def forward(self, images: Tensor) -> YolactOutput:
        features = self.backbone(images.contiguous(memory_format=torch.channels_last))
        levels = self.fpn([self.dropout(features[stage]) for stage in STAGES])
        deltas, logits, coefficients = self.head(levels)
        anchors = self.anchors([tuple(level.shape[-2:]) for level in levels], tuple(images.shape[-2:]), images.device)
        semantic = self.semantic(levels[0]) if self.semantic is not None and self.training else None
        return YolactOutput(deltas, logits, coefficients, anchors, self.protonet(levels[0]), semantic, features)
