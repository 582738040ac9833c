"""The synthetic benchmark generator: determinism, YTVIS layout, ground truth = rendered visible pixels,
the hard properties, config validation and atomic writing."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from gvis.cli import main
from gvis.config import find_config, load_config
from gvis.data.synth import (
    SHAPES, SynthConfig, frame_ground_truth, plan_video, rasterise, render_video, video_generators,
)
from gvis.data.synth import writer as synth_writer
from gvis.errors import ConfigError, InputError

NUM_VIDEOS = 24
# pycocotools' decode under numpy 2 warns about its own __array__; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def synth(out: Path, *extra: str, videos: int = NUM_VIDEOS, seed: int = 0) -> int:
    return main(["synth", "--preset", "tiny", "--videos", str(videos), "--seed", str(seed), "--out", str(out), *extra])


def tiny_config(*overrides: str) -> SynthConfig:
    return load_config(SynthConfig, find_config("tiny", "synth"), overrides)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def decode(segmentation: dict) -> np.ndarray:
    return mask_utils.decode({"size": segmentation["size"], "counts": segmentation["counts"].encode()}).astype(bool)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    assert synth(out) == 0
    return out


@pytest.fixture(scope="module")
def dataset(tiny_set) -> dict:
    return json.loads((tiny_set / "instances.json").read_text())


def test_same_seed_same_bytes_other_seed_differs(tiny_set, tmp_path):
    assert synth(tmp_path / "again") == 0
    assert tree_digest(tmp_path / "again") == tree_digest(tiny_set)
    assert synth(tmp_path / "other", seed=1) == 0
    other = tree_digest(tmp_path / "other")
    assert other["instances.json"] != tree_digest(tiny_set)["instances.json"]
    shared = set(other) & set(tree_digest(tiny_set))
    assert any(other[name] != tree_digest(tiny_set)[name] for name in shared if name.endswith(".jpg"))


def test_first_videos_are_the_smaller_set(tiny_set, dataset, tmp_path):
    assert synth(tmp_path / "prefix", videos=5) == 0
    prefix = json.loads((tmp_path / "prefix" / "instances.json").read_text())
    assert prefix["videos"] == dataset["videos"][:5]
    assert prefix["annotations"] == [a for a in dataset["annotations"] if a["video_id"] <= 5]
    full = tree_digest(tiny_set)
    assert all(full[name] == digest for name, digest in tree_digest(tmp_path / "prefix").items() if name.endswith(".jpg"))


def test_youtube_vis_layout(tiny_set, dataset):
    cfg = tiny_config()
    assert set(dataset) == {"info", "licenses", "videos", "categories", "annotations"}
    assert [c["name"] for c in dataset["categories"]] == cfg.categories and len(cfg.categories) >= 6
    assert [c["id"] for c in dataset["categories"]] == list(range(1, len(cfg.categories) + 1))
    assert [v["id"] for v in dataset["videos"]] == list(range(1, NUM_VIDEOS + 1))
    lengths = {v["id"]: v["length"] for v in dataset["videos"]}
    for video in dataset["videos"]:
        assert (video["height"], video["width"]) == (64, 96)
        assert len(video["file_names"]) == video["length"]
        for name in video["file_names"]:
            with Image.open(tiny_set / "JPEGImages" / name) as image:
                assert image.format == "JPEG" and image.size == (96, 64) and image.mode == "RGB"
    assert sorted(p.name for p in (tiny_set / "JPEGImages").iterdir()) == sorted(
        {v["file_names"][0].split("/")[0] for v in dataset["videos"]})
    assert [a["id"] for a in dataset["annotations"]] == list(range(1, len(dataset["annotations"]) + 1))
    for ann in dataset["annotations"]:
        length = lengths[ann["video_id"]]
        assert ann["iscrowd"] == 0 and 1 <= ann["category_id"] <= len(cfg.categories)
        fields = ann["segmentations"], ann["areas"], ann["bboxes"], ann["synth"]["full_areas"]
        assert [len(f) for f in fields] == [length] * 4
        assert any(s is not None for s in ann["segmentations"]), "never-visible instances must be dropped"
        assert all(0.0 <= c <= 1.0 for c in ann["synth"]["color"]) and len(ann["synth"]["color"]) == 3
        for segmentation, area, bbox, full_area in zip(*fields):
            assert (segmentation is None) == (area is None) == (bbox is None)
            if segmentation is None:
                continue
            assert isinstance(segmentation["counts"], str) and segmentation["size"] == [64, 96]
            mask = decode(segmentation)
            ys, xs = np.nonzero(mask)
            assert area == mask.sum() >= cfg.min_visible_area
            assert bbox == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert full_area is not None and full_area >= area


def test_masks_are_the_rendered_visible_pixels(tiny_set, dataset):
    """Re-render every video and compare: masks = labels == object, invisible = null, dropped = never visible."""
    cfg = tiny_config()
    dropped = 0
    for video in dataset["videos"]:
        index = video["id"] - 1
        plan_rng, render_rng = video_generators(0, index)
        plan = plan_video(cfg, plan_rng)
        frames = list(render_video(cfg, plan, render_rng))
        annotations = [a for a in dataset["annotations"] if a["video_id"] == video["id"]]
        min_area = cfg.min_visible_area
        visible_objects = [k for k in range(len(plan.objects)) if any((f.labels == k).sum() >= min_area for f in frames)]
        dropped += len(plan.objects) - len(visible_objects)
        assert len(annotations) == len(visible_objects)
        for k, ann in zip(visible_objects, annotations):
            assert dataset["categories"][ann["category_id"] - 1]["name"] == plan.objects[k].category
            for t, frame in enumerate(frames):
                expected = frame.labels == k
                if expected.sum() < min_area:
                    assert ann["segmentations"][t] is None
                else:
                    assert np.array_equal(decode(ann["segmentations"][t]), expected)
        for t, frame in enumerate(frames):
            with Image.open(tiny_set / "JPEGImages" / video["file_names"][t]) as image:
                stored = np.asarray(image, dtype=np.float32)
            # The same picture up to JPEG loss (quality 75 removes much of the pixel noise).
            assert np.abs(stored - frame.image).mean() < 12.0
            assert np.corrcoef(stored.ravel(), frame.image.ravel())[0, 1] > 0.95
    assert dropped > 0, "the set should exercise dropping never-visible instances"


def test_round_trip_through_ytvis_loader(tiny_set, dataset):
    ytvis = pytest.importorskip("gvis.data.ytvis")
    loaded = ytvis.YTVISDataset.from_json(tiny_set / "instances.json")
    assert [c.name for c in loaded.categories] == [c["name"] for c in dataset["categories"]]
    assert [v.length for v in loaded.videos] == [v["length"] for v in dataset["videos"]]
    for video in dataset["videos"][:8]:
        annotations = {a["id"]: a for a in dataset["annotations"] if a["video_id"] == video["id"]}
        instances = loaded.instances(video["id"])
        assert sorted(i.id for i in instances) == sorted(annotations)
        assert all(i.extra["synth"] == annotations[i.id]["synth"] for i in instances)
        for t in range(video["length"]):
            with Image.open(tiny_set / "JPEGImages" / video["file_names"][t]) as image:
                assert np.array_equal(loaded.frame(video["id"], t), np.asarray(image))
            ids, masks = loaded.frame_masks(video["id"], t)
            expected = {i: decode(a["segmentations"][t]) for i, a in annotations.items() if a["segmentations"][t]}
            assert sorted(np.asarray(ids).tolist()) == sorted(expected)
            for instance_id, mask in zip(np.asarray(ids).tolist(), np.asarray(masks)):
                assert np.array_equal(mask, expected[instance_id])


def _touches_border(bbox: list[float] | None) -> bool:
    return bbox is not None and (bbox[0] <= 0 or bbox[1] <= 0 or bbox[0] + bbox[2] >= 96 or bbox[1] + bbox[3] >= 64)


def test_generated_set_has_the_hard_properties(dataset):
    cfg = tiny_config()
    annotations = dataset["annotations"]
    # Look-alikes: same group id → same video, same category, colours within the configured spread.
    groups: dict[int, list[dict]] = {}
    for ann in annotations:
        groups.setdefault(ann["synth"]["look_alike_group"], []).append(ann)
    look_alike = [g for g in groups.values() if len(g) >= 2]
    assert len(look_alike) >= 3
    for group in look_alike:
        assert len({a["video_id"] for a in group}) == 1 and len({a["category_id"] for a in group}) == 1
        colors = np.array([a["synth"]["color"] for a in group])
        assert np.abs(colors[:, None] - colors[None]).max() <= 2 * cfg.look_alike_color_spread + 1e-3
    # Singletons carry their own annotation id as group id.
    assert all(g[0]["synth"]["look_alike_group"] == g[0]["id"] for g in groups.values() if len(g) == 1)
    # Occlusion: visible area below the unoccluded area, and frames fully hidden while in view.
    pairs = [(a, f) for ann in annotations for a, f in zip(ann["areas"], ann["synth"]["full_areas"]) if f is not None]
    assert sum(a is not None and a < f for a, f in pairs) >= 10
    assert any(a is None for a, f in pairs)
    # Vanishing and leaving: an instance null for some frames between visible ones ...
    def has_gap(seq: list) -> bool:
        seen = [t for t, s in enumerate(seq) if s is not None]
        return any(b - a > 1 for a, b in zip(seen, seen[1:]))
    assert sum(has_gap(a["segmentations"]) for a in annotations) >= 3
    # ... among them one that left the frame over an edge and came back over an edge.
    exits = 0
    for ann in annotations:
        in_view = [t for t, f in enumerate(ann["synth"]["full_areas"]) if f is not None]
        exits += any(b - a > 1 and _touches_border(ann["bboxes"][a]) and _touches_border(ann["bboxes"][b])
                     for a, b in zip(in_view, in_view[1:]))
    assert exits >= 1
    # Camera jumps, videos without objects, different lengths.
    assert sum(len(v["synth"]["jump_frames"]) for v in dataset["videos"]) >= 5
    assert len({a["video_id"] for a in annotations}) < len(dataset["videos"])
    lengths = [v["length"] for v in dataset["videos"]]
    assert min(lengths) == cfg.min_frames and max(lengths) == cfg.max_frames


def test_default_lengths_span_a_few_to_sixty_frames():
    cfg = SynthConfig()
    lengths = [plan_video(cfg, video_generators(0, i)[0]).num_frames for i in range(40)]
    assert min(lengths) <= 10 and max(lengths) >= 60


def test_objects_enter_leave_and_come_back():
    """Over medium plans: late entries from outside, exits for good, and exits followed by re-entry."""
    cfg = SynthConfig(min_frames=60, max_frames=60)
    entered = left_for_good = came_back = 0
    for index in range(30):
        plan = plan_video(cfg, video_generators(0, index)[0])
        for obj in plan.objects:
            x, y = obj.centers[:, 0], obj.centers[:, 1]
            outside = ((x + obj.radii < 0) | (x - obj.radii > cfg.width) | (y + obj.radii < 0) | (y - obj.radii > cfg.height))
            in_view = np.flatnonzero(obj.present & ~outside)
            start = np.flatnonzero(obj.present)[0]
            entered += bool(start > 0 and outside[start])
            left_for_good += bool(len(in_view) and in_view[-1] < plan.num_frames - 1 and outside[in_view[-1] + 1:].all())
            came_back += bool(np.any(np.diff(in_view) > 1) and outside[in_view[0]:in_view[-1]].any())
    assert entered >= 5 and left_for_good >= 3 and came_back >= 3


def test_background_moves_with_the_camera():
    """Noise off, no objects: frame t is frame t−1 shifted by the camera's move, textured, and the jumps are big."""
    cfg = tiny_config("empty_video_prob=1.0", "pixel_noise=0", "brightness_jitter=0", "jump_prob=1.0",
                      "min_frames=6", "max_frames=6")
    plan_rng, render_rng = video_generators(3, 0)
    plan = plan_video(cfg, plan_rng)
    frames = [f.image.astype(np.int16) for f in render_video(cfg, plan, render_rng)]
    assert plan.jump_frames == [1, 2, 3, 4, 5]
    for t in range(1, len(frames)):
        dx, dy = (plan.camera[t] - plan.camera[t - 1]).tolist()
        assert math.hypot(dx, dy) >= cfg.jump_min * 64 - cfg.max_pan_speed * 64 * 2
        h, w = 64 - abs(dy), 96 - abs(dx)
        if h <= 0 or w <= 0:
            continue
        now = frames[t][max(-dy, 0):max(-dy, 0) + h, max(-dx, 0):max(-dx, 0) + w]
        before = frames[t - 1][max(dy, 0):max(dy, 0) + h, max(dx, 0):max(dx, 0) + w]
        assert np.abs(now - before).max() <= 1  # rounding only
        assert np.abs(frames[t][:h, :w] - frames[t - 1][:h, :w]).mean() > 3  # the move is visible
        assert frames[t].std() > 10  # textured, not flat


def test_shapes_are_distinct_with_the_analytic_areas():
    radius = 40.0
    expected = {
        "disc": math.pi, "square": 1.5 ** 2, "triangle": 3 * math.sqrt(3) / 4, "ring": math.pi * (1 - 0.55 ** 2),
        "cross": 2 * 0.6 * 1.8 - 0.6 ** 2, "hexagon": 3 * math.sqrt(3) / 2,
    }
    masks = {}
    for name in SHAPES:
        window, inside, _, _ = rasterise(name, 50.0, 50.0, radius, 0.3, 100, 100)
        mask = np.zeros((100, 100), bool)
        mask[window] = inside
        masks[name] = mask
        if name in expected:
            assert mask.sum() == pytest.approx(expected[name] * radius ** 2, rel=0.03), name
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
            assert iou < 0.85, (a, b, iou)
    # Partly outside the canvas: clipped; wholly outside: None.
    window, inside, _, _ = rasterise("disc", -10.0, 50.0, 20.0, 0.0, 100, 100)
    assert window[1] == slice(0, 11) and inside.shape == (42, 11)
    assert rasterise("disc", -30.0, 50.0, 20.0, 0.0, 100, 100) is None


def test_aspect_stretches_the_shape_along_its_axis_and_keeps_its_area():
    radius = 20.0
    round_mask = rasterise("square", 50.2, 50.2, radius, 0.0, 100, 100)[1]
    window, inside, _, _ = rasterise("square", 50.2, 50.2, radius, 0.0, 100, 100, aspect=4.0)
    rows, cols = np.nonzero(inside)
    # angle 0: the object's u axis is the image's x axis, so the box is twice as wide and half as tall.
    width, height = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert width / height == pytest.approx(4.0, rel=0.1)
    assert inside.sum() == pytest.approx(round_mask.sum(), rel=0.03)
    assert window[1].stop - window[1].start > 2 * radius * 1.9  # the window reaches the stretched ends


def test_max_aspect_draws_elongated_objects_and_leaves_the_default_plans_alone():
    cfg = SynthConfig(min_objects=4, max_objects=4, empty_video_prob=0.0)
    default = plan_video(cfg, video_generators(5, 0)[0])
    assert all(obj.aspect == 1.0 for obj in default.objects)
    stretched = plan_video(dataclasses.replace(cfg, max_aspect=4.0), video_generators(5, 0)[0])
    aspects = [obj.aspect for obj in stretched.objects]
    assert all(1.0 <= a <= 4.0 for a in aspects) and len(set(aspects)) == len(aspects)
    # Drawn before the aspects, the objects' categories are those of the default plan.
    assert [obj.category for obj in stretched.objects] == [obj.category for obj in default.objects]
    with pytest.raises(ConfigError, match="max_aspect"):
        tiny_config("max_aspect=0.5")


def test_frame_ground_truth_threshold():
    labels = np.full((8, 8), -1, np.int16)
    labels[1:4, 2:5] = 0  # 9 pixels
    labels[6, 6] = 1  # 1 pixel: below the threshold
    labels[0, 0] = -2  # occluder
    frame = type("Frame", (), {"labels": labels, "full_areas": np.array([9, 4])})()
    result = frame_ground_truth(frame, min_visible_area=2)
    assert list(result) == [0]
    segmentation, area, bbox = result[0]
    assert area == 9 and bbox == [2, 1, 3, 3] and np.array_equal(decode(segmentation), labels == 0)


def test_every_key_can_be_set_and_presets_load(repo_root):
    for preset in ("easy", "medium", "hard", "tiny"):
        load_config(SynthConfig, find_config(preset, "synth"))
    defaults = SynthConfig()
    docs = (repo_root / "docs" / "synthetic.md").read_text()
    for spec in dataclasses.fields(SynthConfig):
        value = getattr(defaults, spec.name)
        cfg = load_config(SynthConfig, None, [f"{spec.name}={json.dumps(value)}"])
        assert getattr(cfg, spec.name) == value
        assert f"`{spec.name}`" in docs, f"docs/synthetic.md does not describe {spec.name}"
    assert load_config(SynthConfig, find_config("easy", "synth"), ["max_objects=8"]).max_objects == 8


def test_bad_keys_and_values_are_config_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="max_objectz"):
        tiny_config("max_objectz=3")
    with pytest.raises(ConfigError, match="min_objects"):
        tiny_config("min_objects=9", "max_objects=2")
    with pytest.raises(ConfigError, match="categories"):
        tiny_config("categories=[disc, blob]")
    with pytest.raises(ConfigError, match="jump_prob"):
        tiny_config("jump_prob=1.5")
    assert synth(tmp_path / "out", "--set", "max_objectz=3", videos=1) == 2
    assert "max_objectz" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_writing_is_atomic(tmp_path, monkeypatch):
    cfg = tiny_config()
    real_write_video = synth_writer.write_video
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real_write_video(*args, **kwargs)

    monkeypatch.setattr(synth_writer, "write_video", crash_on_third)
    with pytest.raises(RuntimeError):
        synth_writer.generate_dataset(cfg, 5, 0, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []  # no dataset, no temp folder left behind
    monkeypatch.setattr(synth_writer, "write_video", real_write_video)

    synth_writer.generate_dataset(cfg, 2, 0, tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="exists"):
        synth_writer.generate_dataset(cfg, 3, 0, tmp_path / "out", progress=False)
    summary = synth_writer.generate_dataset(cfg, 3, 0, tmp_path / "out", progress=False, overwrite=True)
    assert summary["videos"] == 3 and len(json.loads((tmp_path / "out" / "instances.json").read_text())["videos"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
