"""What flows between GNN blocks: the features of every element of a frame graph, and its edge sets."""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor


class FrameFeatures(NamedTuple):
    """Features of every node and edge of a frame graph (or batch of them).

    Block inputs have the graph's input widths; every block outputs width ``D`` for all of them.

    Shapes:
        track: ``[ΣM, Dt]``; det: ``[ΣN, Fd]``; empty: ``[B, Dt]``;
        track_det: ``[E, Fe]`` (``E = Σ M·N``, in ``track_det_pairs`` order); empty_det: ``[ΣN, Fe0]``;
        track_det_logit: ``[E]`` association logit computed inside the GNN, or ``None``. Only the
        ``limited`` block sets it (docs/model.md §8 "Limited GNN": the association score comes from the pair
        alone); heads should use it instead of their own association layer when it is not ``None``.
    """

    track: Tensor
    det: Tensor
    empty: Tensor
    track_det: Tensor
    empty_det: Tensor
    track_det_logit: Optional[Tensor] = None


#: The :class:`FrameFeatures` a :class:`~gvis.gnn.network.GraphNetwork` returns (all widths ``D``).
GNNOutput = FrameFeatures


class FrameEdges(NamedTuple):
    """The edge sets of a frame graph, in the directions the blocks aggregate along.

    Built once per forward and shared by every block.

    Shapes:
        track_to_det: ``[2, E]`` (row 0 tracks, row 1 detections);
        empty_to_det: ``[2, ΣN]`` (row 0 empty nodes, row 1 detections);
        into_det: ``[2, E + ΣN]`` every incoming edge of the detections: the track edges, then the
        empty edges, with sources indexing the concatenation ``[tracks ; empty nodes]``;
        det_to_track: ``[2, E]`` and det_to_empty: ``[2, ΣN]``, the reversed edges.
    """

    track_to_det: Tensor
    empty_to_det: Tensor
    into_det: Tensor
    det_to_track: Tensor
    det_to_empty: Tensor

    @classmethod
    def from_indices(cls, track_det_index: Tensor, empty_det_index: Tensor, num_tracks: int) -> "FrameEdges":
        empty_sources = empty_det_index[0] + num_tracks
        into_det = torch.stack(
            [
                torch.cat([track_det_index[0], empty_sources]),
                torch.cat([track_det_index[1], empty_det_index[1]]),
            ]
        )
        return cls(track_det_index, empty_det_index, into_det, track_det_index.flip(0), empty_det_index.flip(0))
