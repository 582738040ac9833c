"""Heuristic trackers (MaskTrack R-CNN rule, mask-IoU, DeepSORT), behind the same online API as the learned tracker.

Importing this package registers ``masktrack-rule``, ``iou`` and ``deepsort`` in :data:`gvis.registry.TRACKERS`.
"""
from gvis.baselines.deepsort import DeepSortConfig, DeepSortTracker
from gvis.baselines.iou_tracker import IoUTracker, IoUTrackerConfig
from gvis.baselines.masktrack_rule import MaskTrackRuleConfig, MaskTrackRuleTracker

__all__ = ["DeepSortConfig", "DeepSortTracker", "IoUTracker", "IoUTrackerConfig", "MaskTrackRuleConfig", "MaskTrackRuleTracker"]
