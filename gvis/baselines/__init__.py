"""Heuristic trackers (MaskTrack R-CNN rule, mask-IoU), behind the same online API as the learned tracker."""
