"""Detector files with the appearance network embedded or in its own file, and weight fingerprints."""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
import torch

from gvis.detectors.yolact.checkpoint import (appearance_path, load_detector_checkpoint, save_appearance_checkpoint,
                                              save_detector_checkpoint)
from gvis.detectors.yolact.detector import YolactDetector
from gvis.errors import InputError
from gvis.provenance import weights_fingerprint

from yolact_helpers import checkpoint_of, tiny_detector


def test_weights_fingerprint_is_sha256_of_sorted_keys_shapes_and_float16_values():
    state = {"weight": torch.tensor([1.0, 0.5]), "count": torch.tensor(3)}
    # By hand: keys sorted; float16 1.0 = 0x3C00 and 0.5 = 0x3800, little-endian; int64 3.
    expected = hashlib.sha256(b"count () torch.int64\n" + struct.pack("<q", 3)
                              + b"weight (2,) torch.float16\n" + bytes([0x00, 0x3C, 0x00, 0x38])).hexdigest()
    assert weights_fingerprint(state) == expected
    assert weights_fingerprint(dict(reversed(state.items()))) == expected


def test_fingerprint_survives_float16_shipping_and_sees_a_changed_weight(tmp_path):
    checkpoint = checkpoint_of(tiny_detector())
    save_detector_checkpoint(tmp_path / "half.pt", checkpoint, half=True)
    shipped = load_detector_checkpoint(tmp_path / "half.pt")
    for part in ("model", "appearance"):
        assert any(not torch.equal(shipped[part][k], checkpoint[part][k]) for k in checkpoint[part])  # rounded
        assert weights_fingerprint(shipped[part]) == weights_fingerprint(checkpoint[part])
    changed = dict(checkpoint["model"])
    key = next(k for k, v in changed.items() if v.is_floating_point())
    bumped = changed[key].flatten().clone()
    bumped[0] += 0.25
    changed[key] = bumped.reshape(changed[key].shape)
    assert weights_fingerprint(changed) != weights_fingerprint(checkpoint["model"])


@pytest.mark.parametrize("half", [False, True])
def test_split_form_loads_like_the_embedded_form(tmp_path, half):
    detector = tiny_detector()
    checkpoint = {**checkpoint_of(detector), "step": 7}
    save_detector_checkpoint(tmp_path / "embedded.pt", checkpoint, half=half)
    save_detector_checkpoint(tmp_path / "split.pt", checkpoint, half=half, split_appearance=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedded.pt", "split.appearance.pt", "split.pt"]
    on_disk = torch.load(tmp_path / "split.pt", weights_only=True)
    assert on_disk["appearance"] is None and on_disk["appearance_file"] == "split.appearance.pt"

    embedded, split = load_detector_checkpoint(tmp_path / "embedded.pt"), load_detector_checkpoint(tmp_path / "split.pt")
    for part in ("model", "appearance"):
        assert embedded[part].keys() == split[part].keys()
        assert all(torch.equal(embedded[part][k], split[part][k]) for k in embedded[part])
    assert split["step"] == 7 and split["categories"] == embedded["categories"]

    frame = np.random.default_rng(0).integers(0, 255, size=(64, 96, 3), dtype=np.uint8)
    ours, theirs = YolactDetector(tmp_path / "split.pt"), YolactDetector(tmp_path / "embedded.pt")
    assert ours.meta["fingerprints"] == theirs.meta["fingerprints"]
    assert torch.equal(ours([frame])[0].appearance, theirs([frame])[0].appearance)

    # Saved again without split_appearance (what stage 2 does with its stage-1 detector): embedded.
    save_detector_checkpoint(tmp_path / "again.pt", split)
    again = torch.load(tmp_path / "again.pt", weights_only=True)
    assert "appearance_file" not in again and again["appearance"].keys() == split["appearance"].keys()


def test_rewriting_the_appearance_file_leaves_the_detector_file_alone(tmp_path):
    checkpoint = checkpoint_of(tiny_detector())
    save_detector_checkpoint(tmp_path / "det.pt", checkpoint, half=True, split_appearance=True)
    detector_bytes = (tmp_path / "det.pt").read_bytes()
    retrained = {k: v + 1.0 if v.is_floating_point() else v for k, v in checkpoint["appearance"].items()}
    save_appearance_checkpoint(appearance_path(tmp_path / "det.pt"), retrained,
                               weights_fingerprint(checkpoint["model"]), half=True)
    assert (tmp_path / "det.pt").read_bytes() == detector_bytes
    loaded = load_detector_checkpoint(tmp_path / "det.pt")["appearance"]
    assert weights_fingerprint(loaded) == weights_fingerprint(retrained)


def test_missing_or_mismatched_appearance_file_names_both_files(tmp_path):
    save_detector_checkpoint(tmp_path / "det.pt", checkpoint_of(tiny_detector(seed=0)), split_appearance=True)
    save_detector_checkpoint(tmp_path / "other.pt", checkpoint_of(tiny_detector(seed=1)), split_appearance=True)
    appearance = tmp_path / "det.appearance.pt"

    appearance.replace(tmp_path / "moved.pt")
    with pytest.raises(InputError) as missing:
        load_detector_checkpoint(tmp_path / "det.pt")
    assert str(missing.value) == (f"{tmp_path / 'det.pt'}: field 'appearance_file': its appearance network "
                                  f"{appearance}: no such appearance file")

    (tmp_path / "other.appearance.pt").replace(appearance)  # made for seed 1's detection weights
    with pytest.raises(InputError, match="other detection weights") as mismatched:
        YolactDetector(tmp_path / "det.pt")
    assert str(tmp_path / "det.pt") in str(mismatched.value) and str(appearance) in str(mismatched.value)

    save_detector_checkpoint(appearance, checkpoint_of(tiny_detector()))  # a detector file in its place
    with pytest.raises(InputError, match="not a gvis-appearance-checkpoint file"):
        load_detector_checkpoint(tmp_path / "det.pt")


def test_split_form_needs_an_appearance_network(tmp_path):
    with pytest.raises(InputError, match="no appearance network"):
        save_detector_checkpoint(tmp_path / "det.pt", {**checkpoint_of(tiny_detector()), "appearance": None},
                                 split_appearance=True)
    assert not any(tmp_path.iterdir())
