"""Nothing lost, nothing silent (docs/reliability.md): one test per family of hostile-use findings.

Each case runs a ``gvis`` command in this process and asserts its exit code, its one-line message and that
the test folder (inputs and earlier outputs) is byte-identical afterwards (the ``refused`` fixture).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gvis.detections.jsonl import DetectionsReader, DetectionsWriter
from gvis.detections.structures import Detections

from tests.reliability.conftest import TRAIN, gvis, lines, snapshot


def empty_detections(path: Path, videos: dict[int, int], size: tuple[int, int], categories: list) -> None:
    """A detections file with no detection in ``videos`` (id -> frames) frames of ``size``."""
    nothing = Detections(boxes=torch.zeros(0, 4), scores=torch.zeros(0), labels=torch.zeros(0, dtype=torch.long),
                         masks=torch.zeros((0, *size), dtype=torch.bool), image_size=size)
    with DetectionsWriter(path, categories) as writer:
        for video_id, frames in videos.items():
            for t in range(frames):
                writer.write(video_id, t, nothing)


def annotations(work: Path) -> dict:
    return json.loads((work / "data" / "instances.json").read_text())


def with_annotations(work: Path, name: str, raw: dict) -> Path:
    """A dataset folder ``name`` with ``raw`` as its annotations and the tiny set's frames (linked)."""
    folder = work / name
    folder.mkdir()
    (folder / "JPEGImages").symlink_to(work / "data" / "JPEGImages")
    (folder / "instances.json").write_text(json.dumps(raw))
    return folder


def test_outputs_never_replace_inputs(work, refused, capsys):
    data, dets = work / "data", work / "dets.jsonl"
    track = ["track", "--tracker", "iou", "--detections", dets]
    refused(work, [*track, "--results", dets], "dets.jsonl: field '--results': is the input --detections")
    refused(work, [*track, "--tracks-csv", dets], "is the input --detections")
    refused(work, [*track, "--results", work / "r.json", "--tracks-csv", work / "r.json"],
            "two outputs cannot be one file")
    os.link(dets, work / "same-inode.json")  # another name of the same file
    refused(work, [*track, "--results", work / "same-inode.json"], "is the input --detections (")
    refused(work, ["detect", "--data", data, "--out", data / "instances.json"], "is the input --data")

    assert gvis(capsys, *track, "--results", work / "r.json")[0] == 0
    refused(work, ["submit", data / "instances.json", work / "r.json", "--out", work / "r.json"],
            "is the input RESULTS.json")
    frame = next((data / "JPEGImages").rglob("*.jpg"))
    refused(work, ["viz", "--data", data, "--results", work / "r.json", "--out", work / "o.mp4", "--strip", frame],
            "would replace a frame of the input --data")

    # New files inside an input folder are fine.
    before = snapshot(work)
    assert gvis(capsys, "detect", "--data", data, "--out", data / "more.jsonl", "--cache")[0] == 0
    after = snapshot(work)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {"data/more.jsonl", "data/more.pt"}


def test_damaged_video_is_an_error_or_an_explicit_warning(work, refused, capsys):
    import av

    from gvis.pipeline.sources import SINGLE_VIDEO_ID
    from gvis.viz.writers import video_codec

    # An MP4 with its index first (as downloads are) cut in the middle of its frames.
    whole, cut = work / "whole.mp4", work / "cut.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(whole), "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream(video_codec(), rate=10)
        stream.height, stream.width, stream.pix_fmt = 64, 96, "yuv420p"
        for _ in range(20):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    reached = 0
    with av.open(str(cut)) as container:  # what FFmpeg itself decodes of it, one thread
        try:
            for _ in container.decode(video=0):
                reached += 1
        except av.FFmpegError:
            pass
    assert 0 < reached < 20
    categories = DetectionsReader(work / "dets.jsonl").categories
    empty_detections(work / "cut.jsonl", {SINGLE_VIDEO_ID: reached}, (64, 96), categories)

    argv = ["track", cut, "--tracker", "iou", "--detections", work / "cut.jsonl", "--results", work / "r.json"]
    refused(work, argv, "cut.mp4: ")
    code, stderr = gvis(capsys, *argv, "--allow-truncated")
    warnings = [line for line in lines(stderr) if ": warning: " in line]
    assert code == 0 and len(warnings) == 1 and f"tracked the {reached} of 20 frames reached" in warnings[0]
    assert json.loads((work / "r.json").read_text()) is not None


def test_failed_command_keeps_earlier_outputs(work, refused, capsys):
    out = work / "out"
    argv = ["--tracker", "iou", "--results", out / "r.json", "--tracks-csv", out / "t.csv"]
    assert gvis(capsys, "track", "--detections", work / "dets.jsonl", *argv)[0] == 0
    assert {p.name for p in out.iterdir()} == {"r.json", "r.meta.json", "t.csv"}

    # Detections whose last line breaks: every frame before it is tracked, then the command fails.
    text = (work / "dets.jsonl").read_text()
    (work / "broken.jsonl").write_text(text[:text.rstrip().rfind("\n") + 1] + '{"video_id": \n')
    refused(work, ["track", "--detections", work / "broken.jsonl", *argv], "malformed JSON")

    # Leftovers of a killed run (a process id that no longer runs) are removed by the next run.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / f".gvis-staging-{dead.pid}-abc123").mkdir()
    (out / f".gvis-staging-{dead.pid}-abc123" / "r.json").write_text("[]")
    (out / f".r.json.{dead.pid}.x1y2z3.tmp").write_text("[")
    assert gvis(capsys, "track", "--detections", work / "dets.jsonl", *argv)[0] == 0
    assert {p.name for p in out.iterdir()} == {"r.json", "r.meta.json", "t.csv"}


def test_mismatched_inputs_are_refused(work, trained_run, refused, capsys):
    data = work / "data"
    reader = DetectionsReader(work / "dets.jsonl")
    lengths = {video["id"]: len(video["file_names"]) for video in annotations(work)["videos"]}
    empty_detections(work / "small.jsonl", lengths, (32, 48), reader.categories)
    refused(work, ["track", data, "--tracker", "iou", "--detections", work / "small.jsonl", "--results",
                   work / "r.json"], "frame 0 of the detections is 32x48 (HxW), the video is 64x96")
    refused(work, ["oracle", data, work / "small.jsonl", "--json"], "the video is 64x96")
    from gvis.detections.cache import write_cache

    write_cache(work / "small.jsonl")  # training reads detections through their cache (made, if absent)
    train = ["train", *TRAIN, "--set", f"data.train.annotations={data}", "--set", f"output_dir={work / 'run'}"]
    refused(work, [*train, "--set", f"data.train.detections={work / 'small.jsonl'}"], "the video is 64x96")

    # A cache named directly after its .jsonl changed.
    write_cache(work / "dets.jsonl")
    lines_of = (work / "dets.jsonl").read_text().splitlines(keepends=True)
    header = json.loads(lines_of[0])
    header["meta"] = {**header.get("meta", {}), "note": "made again"}
    (work / "dets.jsonl").write_text(json.dumps(header) + "\n" + "".join(lines_of[1:]))
    refused(work, [*train, "--set", f"data.train.detections={work / 'dets.pt'}"], "stale cache")

    # --resume after the run's detections file was made again, differently (its cache following it).
    jsonl, cache = trained_run / "dets.jsonl", trained_run / "dets.pt"
    kept = jsonl.read_bytes(), cache.read_bytes()
    try:
        shutil.copy(work / "dets.jsonl", jsonl)
        write_cache(jsonl)
        refused(trained_run, ["train", *TRAIN, "--set", f"data.train.annotations={trained_run / 'data'}", "--set",
                              f"data.train.detections={jsonl}", "--set", f"output_dir={trained_run / 'run'}",
                              "--resume"], "cannot resume: the training detections differ")
    finally:
        jsonl.write_bytes(kept[0])
        cache.write_bytes(kept[1])


def test_bad_values_are_refused(work, refused, tmp_path):
    track = ["track", "--tracker", "masktrack-rule", "--detections", work / "dets.jsonl", "--json"]
    refused(work, [*track, "--set", "alpha=.nan"], "command line (--set): key 'alpha' must be a finite number")
    (work / "inf.yaml").write_text("alpha: .inf\n")
    refused(work, [*track, "--config", work / "inf.yaml"], "inf.yaml: key 'alpha' must be a finite number")

    from gvis.train.checkpoint import SHIPPED_CHECKPOINT

    checkpoint = torch.load(SHIPPED_CHECKPOINT, weights_only=True)
    name, weights = next(iter(checkpoint["model"].items()))
    weights.view(-1)[0] = float("nan")
    torch.save(checkpoint, work / "nan.pt")
    refused(work, ["track", "--tracker", "learned", "--checkpoint", work / "nan.pt", "--detections",
                   work / "dets.jsonl", "--json"], f"nan.pt: field 'model.{name}': holds NaN or inf values")


def test_hostile_inputs_are_bounded(work, refused, monkeypatch, capsys):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join([f'*{chr(97 + k)}'] * 10)}]\n" for k in range(6))
    (work / "bomb.yaml").write_text(bomb)  # 10^7 values once expanded
    refused(work, ["track", "--tracker", "masktrack-rule", "--config", work / "bomb.yaml", "--detections",
                   work / "dets.jsonl", "--json"], "values once its aliases are expanded")

    # A FIFO as a frame: refused unread (opening it would block for ever; the alarm turns a hang into a failure).
    raw = annotations(work)
    os.mkfifo(work / "data" / "JPEGImages" / "fifo.jpg")
    raw["videos"][0]["file_names"][0] = "fifo.jpg"
    fifo_set = with_annotations(work, "fifo_set", raw)
    assert gvis(capsys, "track", "--tracker", "iou", "--detections", work / "dets.jsonl", "--results",
                work / "r.json")[0] == 0
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("gvis viz blocked on a FIFO"))
    signal.alarm(60)
    try:
        refused(work, ["viz", "--data", fifo_set, "--results", work / "r.json", "--all-videos", "--out",
                       work / "o.mp4"], "fifo.jpg is not a regular file")
    finally:
        signal.alarm(0)

    longest = max(map(len, (work / "dets.jsonl").read_bytes().splitlines()))
    monkeypatch.setenv("GVIS_MAX_JSONL_LINE_MB", str((longest - 1) / 2**20))
    refused(work, ["track", "--tracker", "iou", "--detections", work / "dets.jsonl", "--json"], "line longer than")


def test_frame_paths_stay_inside_the_dataset(work, refused, capsys):
    outside = work / "outside.jpg"
    frame = next((work / "data" / "JPEGImages").rglob("*.jpg"))
    shutil.copy(frame, outside)
    raw = annotations(work)
    video = raw["videos"][0]["file_names"]
    for name, escaping in (("up", f"../../{outside.name}"), ("absolute", str(outside))):
        raw["videos"][0]["file_names"] = [escaping] + video[1:]
        folder = with_annotations(work, name, raw)
        refused(work, ["detect", "--data", folder, "--out", work / "d.jsonl"], "leaves the image folder")
        refused(work, ["eval", folder / "instances.json", work / "dets.jsonl"], "leaves the image folder")

    # A symbolic link inside the dataset is the dataset's own business.
    linked = work / "linked"
    shutil.copytree(work / "data", linked)
    first = linked / "JPEGImages" / video[0]
    first.unlink()
    first.symlink_to(outside)
    assert gvis(capsys, "track", linked, "--tracker", "iou", "--detections", work / "dets.jsonl", "--overlay",
                work / "o.mp4")[0] == 0


def test_every_error_is_one_line_naming_its_source(work, trained_run, refused, capsys):
    dets, data = work / "dets.jsonl", work / "data"
    track = ["track", "--tracker", "iou", "--detections", dets]
    # Output locations: a file as a folder, a folder as a file, a place nobody can write.
    refused(work, [*track, "--results", dets / "r.json"], "r.json: field '--results': cannot write here")
    refused(work, [*track, "--results", work], "field '--results': is a folder")
    refused(work, [*track, "--results", "/proc/gvis/r.json"], "cannot write here")
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.MonkeyPatch.context() as patch:  # a full disk, met when the results are flushed
        patch.setattr(os, "fsync", full_disk)
        refused(work, [*track, "--results", work / "r.json"], "r.json: cannot write: No space left on device")

    # Nesting, wrapping counts, sizes and numbers the parsers or pycocotools would choke on.
    (work / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(work, ["eval", data / "instances.json", work / "deep.json"], "deep.json: JSON nested too deeply")
    (work / "deep.yaml").write_text("alpha: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(work, ["track", "--tracker", "masktrack-rule", "--config", work / "deep.yaml", "--detections", dets,
                   "--json"], "deep.yaml: nested more than 64 levels")
    raw = annotations(work)
    video = raw["videos"][0]
    raw["annotations"][0]["segmentations"][0] = {"size": [video["height"], video["width"]],
                                                 "counts": [2**62] * 4 + [video["height"] * video["width"]]}
    wrapped = with_annotations(work, "wrapped", raw)
    refused(work, ["eval", wrapped / "instances.json", dets], "exceeds H*W")
    frames = dets.read_text().splitlines()
    second = json.loads(frames[2])
    second.update(height=32, width=48, boxes=[], scores=[], labels=[], masks=[])
    for key in ("class_probs", "appearance"):
        second[key] = [] if key in second else None
    (work / "resized.jsonl").write_text("\n".join([frames[0], frames[1], json.dumps(second)]) + "\n")
    refused(work, ["track", "--tracker", "iou", "--detections", work / "resized.jsonl", "--json"],
            "resized.jsonl:3: video")
    header = json.loads(frames[0])
    header["appearance_dim"] = 1
    first = next(frame for frame in map(json.loads, frames[1:]) if frame["boxes"] and frame["frame_index"] == 0)
    first["appearance"], first["frame_appearance"] = [[1e39]] * len(first["boxes"]), None
    (work / "huge.jsonl").write_text(json.dumps(header) + "\n" + json.dumps(first) + "\n")
    refused(work, ["track", "--tracker", "iou", "--detections", work / "huge.jsonl", "--json"], "float32's range")

    # Checkpoints and configs.
    torch.save({"model": [1, 2], "config": "tiny"}, work / "odd.pt")
    refused(work, ["track", "--tracker", "learned", "--checkpoint", work / "odd.pt", "--detections", dets, "--json"],
            "odd.pt: not a gvis checkpoint")
    run = work / "exported"
    shutil.copytree(trained_run / "run", run)
    shutil.copy(run / "model.pt", run / "last.pt")
    refused(work, ["train", *TRAIN, "--set", f"data.train.annotations={trained_run / 'data'}", "--set",
                   f"data.train.detections={trained_run / 'dets.jsonl'}", "--set", f"output_dir={run}", "--resume"],
            "holds no training state")
    (work / "latin1.yaml").write_bytes("# réglages\nalpha: 1.0\n".encode("latin-1"))
    refused(work, ["track", "--tracker", "masktrack-rule", "--config", work / "latin1.yaml", "--detections", dets,
                   "--json"], "latin1.yaml: not UTF-8 text")
    train = ["train", *TRAIN, "--set", f"data.train.annotations={data}", "--set", f"data.train.detections={dets}",
             "--set", f"output_dir={work / 'run'}"]
    refused(work, [*train, "--set", "model.gnn.blocks=[residual, gated]"],
            "command line (--set): gnn.blocks[0]: residual block needs inputs")
    refused(work, [*train, "--set", "data.clips.length=0"], "command line (--set): clips.length must be >= 1")


def test_stopped_training_exits_resumable_and_damaged_caches_are_rebuilt(trained_run):
    from gvis.detections.cache import DetectionsCache
    from gvis.io import file_sha256

    assert (trained_run / "codes").read_text() == "143 0"  # SIGTERM after step 1, then resumed to step 2
    assert torch.load(trained_run / "run" / "last.pt", weights_only=True)["step"] == 2
    assert DetectionsCache(trained_run / "dets.pt").source_sha256 == file_sha256(trained_run / "dets.jsonl")
