"""The recurrent graph tracker: state, recurrent gates, appearance models, heads, online API.

Importing this package registers the built-in recurrent gates, appearance models, associators,
scorers and the ``learned`` tracker in :mod:`gvis.registry`.
"""
from gvis.tracker import appearance, gates, heads
from gvis.tracker.model import RecurrentGraphTracker, StepOutput, TrackerConfig
from gvis.tracker.online import BatchedLearnedTracker, LearnedTracker, load_model, tracker_checkpoint
from gvis.tracker.state import TrackState

__all__ = [
    "BatchedLearnedTracker",
    "LearnedTracker",
    "RecurrentGraphTracker",
    "StepOutput",
    "TrackState",
    "TrackerConfig",
    "appearance",
    "gates",
    "heads",
    "load_model",
    "tracker_checkpoint",
]
