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

    Built once per forward and shared by every block. Two node spaces: the *sources* ``[tracks ; empty
    nodes]`` (``ΣM + B`` rows) of the edge updates, and *all nodes* ``[tracks ; empty nodes ; detections]``
    (``ΣM + B + ΣN`` rows) of the node updates, so that each block needs one ``edge_updater`` and one
    ``propagate`` call for both edge types.

    Shapes:
        track_to_det: ``[2, E]`` (row 0 tracks, row 1 detections);
        into_det: ``[2, E + ΣN]`` every incoming edge of the detections: the track edges, then the
        empty edges, with sources indexing ``[tracks ; empty nodes]``;
        det_to_track: ``[2, E]``, the reversed track edges;
        into_nodes: ``[2, 2E + 2ΣN]`` every message of a node update, indexing all nodes: the edges of
        ``into_det``, then the reversed track edges, then the reversed empty edges (so a detection sums
        its track edges before its empty edge, and every node its edges in edge order).
    """

    track_to_det: Tensor
    into_det: Tensor
    det_to_track: Tensor
    into_nodes: Tensor

    @classmethod
    def from_indices(
        cls, track_det_index: Tensor, empty_det_index: Tensor, num_tracks: int, num_empty: int
    ) -> "FrameEdges":
        empty_det_index = torch.stack([empty_det_index[0] + num_tracks, empty_det_index[1]])
        into_det = torch.cat([track_det_index, empty_det_index], dim=1)
        det_node_offset = num_tracks + num_empty
        det_nodes = into_det[1] + det_node_offset
        into_nodes = torch.stack(
            [
                torch.cat([into_det[0], det_nodes]),
                torch.cat([det_nodes, into_det[0]]),
            ]
        )
        return cls(track_det_index, into_det, track_det_index.flip(0), into_nodes)
