"""Submissions to the YouTube-VIS evaluation server: checked results in a zip.

The server (CodaLab) takes a zip with ``results.json`` at its root and scores it with the official
evaluator, which accepts only compressed RLE. :func:`write_submission` checks every entry against
the ground truth of the split first, so that a problem is found here, with its place named, rather
than after an upload.
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Any

from gvis.eval.results import decode_tracks, load_results, parse_results

#: The file name the server looks for inside the zip.
ARCHIVE_MEMBER = "results.json"


def write_submission(gt: Any, results: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Check ``results`` against ``gt`` and write the submission zip ``out`` atomically.

    Checked, each failure an :class:`~gvis.errors.InputError` naming the results file, the entry
    (``results[i]``) and the field: every entry is an object with ``video_id`` (a video of ``gt``),
    ``category_id`` (a category of ``gt``), ``score`` (a number in [0, 1]) and ``segmentations`` (one
    item per frame of the video, each ``null`` or a segmentation of the video's size; compressed RLE
    strings must decode to exactly ``H*W`` pixels). Uncompressed RLE and polygons are converted to
    compressed RLE; ``{}`` / ``[]`` frames become ``null``; other keys are dropped.

    Args:
        gt: ground-truth JSON path or :class:`gvis.data.ytvis.YTVISDataset` of the split.
        results: results JSON path.
        out: the zip to write (nothing is written when a check fails).

    Returns:
        ``{"path", "entries", "videos", "videos_with_results", "archive_member"}``.
    """
    from gvis.data.ytvis import YTVISDataset
    from gvis.io import atomic_open

    dataset = gt if isinstance(gt, YTVISDataset) else YTVISDataset.from_json(gt)
    videos = {video.id: video for video in dataset.videos}
    tracks = parse_results(
        load_results(results), videos, results, category_ids={c.id for c in dataset.categories}, strict=True,
    )
    by_video: dict[Any, list] = {}
    for track in tracks:
        by_video.setdefault(track.video_id, []).append(track)
    for video_id, video_tracks in by_video.items():
        decode_tracks(video_tracks, videos[video_id], results)  # raises on a corrupt string

    entries = [
        {
            "video_id": track.video_id,
            "category_id": track.category_id,
            "score": track.score,
            "segmentations": [
                None if counts is None else {"size": [videos[track.video_id].height, videos[track.video_id].width],
                                             "counts": counts.decode("ascii")}
                for counts in track.counts
            ],
        }
        for track in tracks
    ]
    with atomic_open(out, "wb") as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(ARCHIVE_MEMBER, json.dumps(entries))
    return {
        "path": str(out),
        "entries": len(entries),
        "videos": len(videos),
        "videos_with_results": len(by_video),
        "archive_member": ARCHIVE_MEMBER,
    }
