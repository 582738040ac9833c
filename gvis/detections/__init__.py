"""Per-frame detections from any source (simulated, precomputed ``.jsonl``, a detector) and tracker outputs."""
from gvis.detections.structures import Detections, Tracks

__all__ = ["Detections", "Tracks"]
