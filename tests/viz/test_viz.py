"""Overlay drawing and the MP4 / GIF / PNG writers."""
from __future__ import annotations

import json

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from gvis.cli import main
from gvis.viz import writers
from gvis.viz.draw import MASK_ALPHA, TrackDrawing, draw_tracks, track_color


def solid_frames(count: int, height: int, width: int) -> list[np.ndarray]:
    return [np.full((height, width, 3), (40 * k % 256, 200 - 20 * k, 90), dtype=np.uint8) for k in range(count)]


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_track_colors_are_stable_and_distinct():
    colors = [track_color(i) for i in range(1, 21)]
    assert colors == [track_color(i) for i in range(1, 21)]
    assert len(set(colors)) == 20
    assert all(abs(np.subtract(a, b)).sum() > 40 for a, b in zip(colors, colors[1:]))


def test_draw_blends_the_mask_and_leaves_the_rest():
    frame = np.full((60, 80, 3), 100, dtype=np.uint8)
    mask = np.zeros((60, 80), dtype=bool)
    mask[30:50, 40:70] = True
    drawn = draw_tracks(frame, [TrackDrawing(3, mask, "3 car 0.90")])
    expected = np.round((1 - MASK_ALPHA) * 100 + MASK_ALPHA * np.array(track_color(3))).astype(np.uint8)
    assert (drawn[40, 55] == expected).all()  # inside, away from outline and label
    assert (drawn[30, 55] == track_color(3)).all()  # outline
    assert (drawn[55:, :] == 100).all()  # below the mask: untouched
    assert (drawn[20:30, 40:60] != 100).any()  # the label sits above the mask


@pytest.mark.parametrize("codecs", [writers.VIDEO_CODECS, ("no-such-codec", "mpeg4")])
def test_mp4_holds_every_frame(tmp_path, monkeypatch, codecs):
    monkeypatch.setattr(writers, "VIDEO_CODECS", codecs)
    frames = solid_frames(7, 33, 47)  # odd sizes are padded to even ones for yuv420p
    assert writers.write_mp4(frames, tmp_path / "o.mp4", fps=5) == 7
    decoded = decoded_frames(tmp_path / "o.mp4")
    assert len(decoded) == 7
    assert decoded[0].shape == (34, 48, 3)
    for original, back in zip(frames, decoded):
        assert np.abs(back[:33, :47].astype(int) - original).mean() < 6
    with av.open(str(tmp_path / "o.mp4")) as container:
        assert container.streams.video[0].codec_context.name == ("h264" if codecs[0] == "libx264" else "mpeg4")


def test_gif_and_strip(tmp_path):
    frames = solid_frames(9, 20, 30)
    assert writers.write_gif(frames, tmp_path / "o.gif") == 9
    with Image.open(tmp_path / "o.gif") as gif:
        assert gif.n_frames == 9
    strip = writers.frame_strip(frames, count=6, columns=3, gap=4)
    assert strip.shape == (2 * 20 + 4, 3 * 30 + 2 * 4, 3)
    assert (strip[0, 0] == frames[0][0, 0]).all() and (strip[-1, -1] == frames[-1][0, 0]).all()


def small_dataset(root):
    """A YTVIS folder: video 1 (5 frames, 40x64) with two objects, video 2 (3 frames, 30x50) with one."""
    videos, annotations = [], []
    sizes = {1: (5, 40, 64), 2: (3, 30, 50)}
    for video_id, (length, height, width) in sizes.items():
        names = []
        for t in range(length):
            name = f"v{video_id}/{t:05d}.jpg"
            (root / "JPEGImages" / f"v{video_id}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((height, width, 3), 30 * t, dtype=np.uint8)).save(root / "JPEGImages" / name)
            names.append(name)
        videos.append({"id": video_id, "name": f"v{video_id}", "width": width, "height": height,
                       "length": length, "file_names": names})
        for k in range(1 if video_id == 2 else 2):
            segmentations = []
            for t in range(length):
                mask = np.zeros((height, width), dtype=np.uint8, order="F")
                mask[5 + k * 10:15 + k * 10, 2 * t + 20 * k:2 * t + 20 * k + 12] = 1
                rle = mask_utils.encode(mask)
                segmentations.append({"size": rle["size"], "counts": rle["counts"].decode()})
            annotations.append({"id": len(annotations) + 1, "video_id": video_id, "category_id": k + 1,
                                "iscrowd": 0, "segmentations": segmentations})
    categories = [{"id": 1, "name": "disc"}, {"id": 2, "name": "star"}]
    (root / "instances.json").write_text(json.dumps({"videos": videos, "annotations": annotations, "categories": categories}))
    results = [{"video_id": a["video_id"], "category_id": a["category_id"], "score": 0.9,
                "segmentations": a["segmentations"]} for a in annotations]
    (root / "results.json").write_text(json.dumps(results))
    return sum(v["length"] for v in videos)


def test_cli_writes_every_frame_of_every_video(tmp_path, capsys):
    total = small_dataset(tmp_path)
    code = main(["viz", "--data", str(tmp_path), "--results", str(tmp_path / "results.json"), "--out",
                 str(tmp_path / "o.mp4"), "--gif", str(tmp_path / "o.gif"), "--strip", str(tmp_path / "s.png"),
                 "--all-videos", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == total and summary["video_ids"] == [1, 2]
    decoded = decoded_frames(tmp_path / "o.mp4")
    assert len(decoded) == total and decoded[0].shape == (40, 64, 3)  # video 2 letterboxed into 40x64
    with Image.open(tmp_path / "o.gif") as gif:
        assert gif.n_frames == total
    with Image.open(tmp_path / "s.png") as strip:
        assert strip.size[1] == 2 * 40 + 4  # 5 frames of video 1 in rows of 3


def test_cli_default_video_and_bad_input(tmp_path, capsys):
    small_dataset(tmp_path)
    assert main(["viz", "--data", str(tmp_path), "--results", str(tmp_path / "results.json"),
                 "--out", str(tmp_path / "o.mp4")]) == 0
    assert len(decoded_frames(tmp_path / "o.mp4")) == 5
    capsys.readouterr()
    truncated = {"size": [40, 64], "counts": "5"}  # runs sum to 5 pixels, not 40 * 64
    (tmp_path / "bad.json").write_text(json.dumps(
        [{"video_id": 1, "category_id": 1, "score": 1.0, "segmentations": [None, truncated, None, None, None]}]))
    assert main(["viz", "--data", str(tmp_path), "--results", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gvis viz: error: ") and len(err.strip().splitlines()) == 1
    assert "bad.json" in err and "results[0].segmentations[1]" in err
    assert not (tmp_path / "x.mp4").exists()
