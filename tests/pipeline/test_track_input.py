"""``gvis track INPUT`` on a video file, a frame folder and a dataset, with a detector run frame by frame."""
from __future__ import annotations

import csv
import json

import av
import numpy as np
import pytest

from gvis.cli import main
from gvis.pipeline.sources import open_input, video_frames
from gvis.pipeline.track import track_inputs
from gvis.tracker.online import LearnedTracker
from gvis.viz.writers import Mp4Writer
from tests.pipeline.conftest import MASKRCNN_FAST

# The CLI builds random-weight Mask R-CNNs here on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:maskrcnn detector without weights")

DETECTOR = ["--detector", "maskrcnn", *[arg for item in MASKRCNN_FAST for arg in ("--detector-set", item)]]


def _decoded_count(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _video_length(clip) -> int:
    return json.loads((clip / "data" / "instances.json").read_text())["videos"][0]["length"]


def test_track_video_file_writes_every_overlay_frame_results_and_csv(clip, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["track", str(clip / "clip.mp4"), *DETECTOR, "--tracker", "iou", "--min-score", "0",
                 "--results", str(out / "r.json"), "--overlay", str(out / "o.mp4"), "--tracks-csv", str(out / "t.csv"),
                 "--json"])
    assert code == 0
    length = _video_length(clip)
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == length == _decoded_count(clip / "clip.mp4") and summary["videos"] == 1
    assert _decoded_count(out / "o.mp4") == length
    entries = json.loads((out / "r.json").read_text())
    assert entries and all(e["video_id"] == 1 and len(e["segmentations"]) == length for e in entries)
    meta = json.loads((out / "r.meta.json").read_text())
    assert meta["detector"]["detector"] == "maskrcnn" and meta["input"].endswith("clip.mp4")
    with open(out / "t.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {int(r["frame_index"]) for r in rows} <= set(range(length))
    # Every track row of a frame is a mask of that frame in the results (same track count per frame).
    per_frame = [sum(e["segmentations"][t] is not None for e in entries) for t in range(length)]
    assert per_frame == [sum(int(r["frame_index"]) == t for r in rows) for t in range(length)]


def test_frame_folder_and_dataset_give_the_detections_path_results(clip, tmp_path):
    """A detector run by gvis track equals gvis detect + gvis track --detections (the batch path)."""
    assert main(["detect", "--detector", "maskrcnn", *[a for s in MASKRCNN_FAST for a in ("--set", s)],
                 "--data", str(clip / "data"), "--out", str(tmp_path / "d.jsonl")]) == 0
    assert main(["track", str(clip / "data"), "--tracker", "iou", "--detections", str(tmp_path / "d.jsonl"),
                 "--results", str(tmp_path / "batch.json")]) == 0
    assert main(["track", str(clip / "data"), *DETECTOR, "--tracker", "iou", "--results", str(tmp_path / "stream.json"),
                 "--overlay", str(tmp_path / "all.mp4"), "--overlay-all"]) == 0
    assert main(["track", str(clip / "frames"), *DETECTOR, "--tracker", "iou", "--results", str(tmp_path / "folder.json")]) == 0
    batch, stream = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("batch", "stream"))
    folder = json.loads((tmp_path / "folder.json").read_text())
    assert [e["segmentations"] for e in batch] == [e["segmentations"] for e in stream]
    # The .jsonl rounds scores to 6 decimals and gvis detect runs 8 frames per batch: scores agree to 1e-4.
    assert [e["score"] for e in batch] == pytest.approx([e["score"] for e in stream], abs=1e-4)
    first = min(e["video_id"] for e in batch)
    assert [e["segmentations"] for e in folder] == [e["segmentations"] for e in batch if e["video_id"] == first]
    lengths = [v["length"] for v in json.loads((clip / "data" / "instances.json").read_text())["videos"]]
    assert _decoded_count(tmp_path / "all.mp4") == sum(lengths)


class RecordingDetector:
    """A test-only Detector: nothing detected; records the frames it is given."""

    categories = [{"id": 1, "name": "thing"}]
    appearance_dim = 0

    def __init__(self) -> None:
        self.calls: list[list[np.ndarray]] = []

    def __call__(self, frames):
        from gvis.detections.structures import Detections

        self.calls.append(list(frames))
        return [Detections.empty(frame.shape[:2], num_classes=1) for frame in frames]


def test_frames_stream_one_at_a_time_in_order(clip, tmp_path):
    videos, dataset = open_input(clip / "clip.mp4")
    assert dataset is None and len(videos) == 1 and videos[0].fps == pytest.approx(5)
    detector = RecordingDetector()
    with Mp4Writer(tmp_path / "o.mp4") as overlay:
        with pytest.warns(UserWarning, match="random weights"):
            tracker = LearnedTracker(detector.categories, config="tiny")
        run = track_inputs(detector, tracker, videos, overlay=overlay)
    reference = list(video_frames(clip / "clip.mp4"))  # an independent decode
    assert [len(call) for call in detector.calls] == [1] * len(reference) == [1] * run.frames
    assert all(np.array_equal(call[0], frame) for call, frame in zip(detector.calls, reference))
    assert _decoded_count(tmp_path / "o.mp4") == len(reference) and run.entries == []


def test_video_file_with_precomputed_detections(clip, tmp_path, capsys):
    assert main(["detect", "--detector", "maskrcnn", *[a for s in MASKRCNN_FAST for a in ("--set", s)],
                 "--data", str(clip / "data"), "--out", str(tmp_path / "d.jsonl")]) == 0
    # Both videos' detections for a one-video INPUT: served in order, then too many.
    code = main(["track", str(clip / "clip.mp4"), "--detections", str(tmp_path / "d.jsonl"), "--tracker", "iou", "--json"])
    assert code == 2 and "d.jsonl: the detections have more frames than INPUT" in capsys.readouterr().err
    # Only the first video's lines: served in order to the video's frames, the same tracks as the dataset path.
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    first = json.loads(lines[1])["video_id"]
    (tmp_path / "one.jsonl").write_text("\n".join([lines[0]] + [line for line in lines[1:] if json.loads(line)["video_id"] == first]) + "\n")
    assert main(["track", str(clip / "clip.mp4"), "--detections", str(tmp_path / "one.jsonl"), "--tracker", "iou",
                 "--results", str(tmp_path / "video.json")]) == 0
    assert main(["track", str(clip / "data"), "--detections", str(tmp_path / "d.jsonl"), "--tracker", "iou",
                 "--results", str(tmp_path / "dataset.json")]) == 0
    video, dataset = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("video", "dataset"))
    assert [{**e, "video_id": first} for e in video] == [e for e in dataset if e["video_id"] == first]


def test_track_input_errors_are_one_line(clip, tmp_path, capsys, monkeypatch):
    from gvis.detectors.yolact import checkpoint

    monkeypatch.setattr(checkpoint, "SHIPPED_DETECTOR", tmp_path / "detector-synth-mixed.pt")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    from PIL import Image

    Image.new("RGB", (8, 6)).save(mixed / "1.png")
    Image.new("RGB", (9, 6)).save(mixed / "2.png")
    cases = [
        ([str(broken), "--results", "r.json"], "broken.mp4: cannot read the video"),
        ([str(tmp_path / "nothere.mp4"), "--results", "r.json"], "nothere.mp4: no such video file or folder"),
        ([str(text), "--results", "r.json"], "notes.txt: not a video file"),
        ([str(empty), "--results", "r.json"], "empty: no frame images"),
        ([str(clip / "clip.mp4"), "--results", "r.json"], "detector-synth-mixed.pt: "),
        ([str(clip / "clip.mp4"), "--detector", "nope", "--results", "r.json"], "unknown detector 'nope'"),
        ([str(mixed), *DETECTOR, "--tracker", "iou", "--results", str(tmp_path / "r.json")], "2.png: the frame is 6x9"),
        (["--results", "r.json"], "give INPUT"),
    ]
    for argv, message in cases:
        code = main(["track", *argv])
        err = capsys.readouterr().err
        # One line, after the progress bar where tracking had started; no traceback.
        assert code == 2 and message in err.strip().splitlines()[-1] and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "r.json").exists()


def test_track_with_every_default_runs_the_shipped_detector_and_the_tracker_shipped_with_it(clip, tmp_path, capsys):
    """``gvis track VIDEO --results R``: the shipped detector, the learned tracker trained behind it, the whole video."""
    from gvis.detectors.yolact.checkpoint import SHIPPED_DETECTOR
    from gvis.train.checkpoint import SHIPPED_DETECTOR_TRACKER, load_checkpoint

    if not (SHIPPED_DETECTOR.is_file() and SHIPPED_DETECTOR_TRACKER.is_file()):
        pytest.skip("this checkout lacks the shipped pair (experiments/pipeline_proof.py --ship makes it)")
    assert main(["track", str(clip / "clip.mp4"), "--results", str(tmp_path / "r.json"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 1 and summary["frames"] == _video_length(clip)
    meta = json.loads((tmp_path / "r.meta.json").read_text())
    # Shipped files are recorded by their repository-relative names.
    assert meta["tracker"] == "learned" and meta["checkpoint"] == "checkpoints/learned-synth-hard-yolact.pt"
    assert meta["detector"]["detector"] == "yolact"
    assert meta["detector"]["checkpoint"] == "checkpoints/detector-synth-mixed.pt"
    # The pair was trained together: a tracker that records its detector's fingerprints records this one's.
    recorded = load_checkpoint(SHIPPED_DETECTOR_TRACKER).get("detector_fingerprints")
    if recorded is not None:
        assert recorded == meta["detector"]["fingerprints"]
    assert all(len(entry["segmentations"]) == summary["frames"] for entry in json.loads((tmp_path / "r.json").read_text()))
