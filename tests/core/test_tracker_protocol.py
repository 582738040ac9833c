"""Every registered tracker implements the :class:`Tracker` protocol, in signature and in behaviour."""
from __future__ import annotations

import inspect
import typing
import warnings

import pytest
import torch

from gvis.detections.structures import Detections, Tracks
from gvis.detectors.protocol import Tracker, is_tracker
from gvis.registry import TRACKERS

CATEGORIES = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def two_boxes(appearance_dim: int) -> Detections:
    """Two separate 4×4 squares of an 8×16 frame with class probabilities and appearance vectors."""
    masks = torch.zeros((2, 8, 16), dtype=torch.bool)
    masks[0, 2:6, 1:5] = True
    masks[1, 2:6, 9:13] = True
    return Detections(
        boxes=torch.tensor([[1.0, 2.0, 5.0, 6.0], [9.0, 2.0, 13.0, 6.0]]),
        scores=torch.tensor([0.9, 0.8]),
        labels=torch.tensor([1, 2]),
        masks=masks,
        image_size=(8, 16),
        class_probs=torch.tensor([[0.1, 0.9, 0.0], [0.2, 0.0, 0.8]]),
        appearance=torch.nn.functional.normalize(torch.arange(2.0 * appearance_dim).reshape(2, -1) - 1.5, dim=1),
        frame_appearance=torch.zeros(appearance_dim),
    )


def test_protocol_members():
    class Complete:
        def update(self, detections, frame=None):
            return Tracks.empty((1, 1))

        def reset(self):
            pass

    class NoReset:
        def update(self, detections, frame=None):
            return Tracks.empty((1, 1))

    assert is_tracker(Complete())
    assert not is_tracker(NoReset())


@pytest.mark.parametrize("name", TRACKERS.names())
def test_registered_tracker_signature(name):
    entry = TRACKERS.get(name)
    protocol = inspect.signature(Tracker.update)
    own = inspect.signature(entry.update)
    assert list(own.parameters) == list(protocol.parameters)
    assert own.parameters["frame"].default is None
    assert typing.get_type_hints(entry.update)["return"] is Tracks
    assert list(inspect.signature(entry.reset).parameters) == ["self"]


@pytest.mark.parametrize("name", TRACKERS.names())
def test_registered_tracker_tracks_and_resets(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the learned tracker warns that it has random weights
        tracker = TRACKERS.build(name, categories=CATEGORIES)
    assert isinstance(tracker, Tracker)
    # A tracker with a model config reads appearance vectors of the width it declares.
    detections = two_boxes(getattr(getattr(tracker, "config", None), "appearance_dim", None) or 4)
    first = tracker.update(detections)
    second = tracker.update(detections)
    for tracks in (first, second):
        assert isinstance(tracks, Tracks)
        assert tracks.masks.shape[1:] == (8, 16)
        assert set(tracks.det_indices.tolist()) <= {-1, 0, 1}
        assert set(tracks.labels.tolist()) <= {1, 2}
    tracker.reset()
    again = tracker.update(detections)           # after reset: a new video, as on the first frame
    for field in ("track_ids", "det_indices", "labels"):
        assert torch.equal(getattr(again, field), getattr(first, field)), field
