"""Heuristic trackers (MaskTrack R-CNN rule, mask-IoU), behind the same online API as the learned tracker.

Importing this package registers ``masktrack-rule`` and ``iou`` in :data:`gvis.registry.TRACKERS`.
"""
from gvis.baselines.iou_tracker import IoUTracker, IoUTrackerConfig
from gvis.baselines.masktrack_rule import MaskTrackRuleConfig, MaskTrackRuleTracker

__all__ = ["IoUTracker", "IoUTrackerConfig", "MaskTrackRuleConfig", "MaskTrackRuleTracker"]
