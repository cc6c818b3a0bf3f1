"""Print ageing, scanning and the damaged training samples (inpaint.synth.prints,
inpaint.synth.truth)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inpaint.synth.damage import DAMAGE_KINDS
from inpaint.synth.prints import damaged_sample, parse_kind_weights, sample_kinds
from inpaint.synth.truth import dark_damage
from tests.inpaint.detect_helpers import _cli, smooth_photo


def test_damaged_sample_is_deterministic_and_truthful():
    photo = smooth_photo(64, 64)
    a = damaged_sample(photo, np.random.default_rng(3), severity="severe")
    b = damaged_sample(photo, np.random.default_rng(3), severity="severe")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[1].any() and a[0].shape == (64, 64, 3) and a[1].dtype == bool
    seen, damage = damaged_sample(photo, np.random.default_rng(3), clean_fraction=1.0)
    assert not damage.any() and seen.shape == photo.shape


def test_the_reference_scan_is_the_same_scan_without_the_damage():
    photo = smooth_photo(160, 160, seed=2)
    for seed in range(6):  # several seeds: blur, noise, paper and JPEG each drawn in some of them
        plain_rng, ref_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        seen, damage = damaged_sample(photo, plain_rng, severity="minor")
        seen2, damage2, reference = damaged_sample(photo, ref_rng, severity="minor", reference=True)
        assert np.array_equal(seen, seen2) and np.array_equal(damage, damage2)
        assert plain_rng.random() == ref_rng.random()  # the generator goes on as without the reference
        # away from the damage (beyond the blur and JPEG's 16x16 colour blocks), the scans agree exactly
        far = ~cv2.dilate(damage.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
        assert far.any() and np.array_equal(seen[far], reference[far])
        assert not np.array_equal(seen[damage], reference[damage])
        clean, _, clean_ref = damaged_sample(photo, np.random.default_rng(seed), clean_fraction=1.0, reference=True)
        assert np.array_equal(clean, clean_ref)


def test_dark_damage_is_the_visibly_darkened_damage():
    reference = np.full((4, 6, 3), 120, np.uint8)
    seen = reference.copy()
    seen[0, :2] = 60  # darker by 60: dark damage
    seen[1, :2] = 200  # brighter: not dark
    seen[2, :2] = 115  # darker by 5: hardly visible
    seen[3, 0] = (100, 130, 128)  # one channel down 20, two up 18: summed change -2, darker
    damage = np.zeros((4, 6), bool)
    damage[:, :2] = True
    damage[0, 1] = False  # changed, but not in the truth
    expected = np.zeros((4, 6), bool)
    expected[0, 0] = expected[3, 0] = True
    np.testing.assert_array_equal(dark_damage(seen, reference, damage), expected)
    np.testing.assert_array_equal(
        dark_damage(seen, reference, damage, min_change=4), expected | (damage & (np.arange(4)[:, None] == 2))
    )


def test_single_kind_samples():
    rng = np.random.default_rng(0)
    draws = [sample_kinds(rng, 0.3) for _ in range(2000)]
    singles = [d for d in draws if d is not None]
    assert 0.25 < len(singles) / len(draws) < 0.35
    assert all(len(d) == 1 for d in singles) and {d[0] for d in singles} == set(DAMAGE_KINDS)
    assert all(sample_kinds(rng, 0.0) is None for _ in range(100))


def test_kind_weights_steer_the_single_kind_draws():
    rng = np.random.default_rng(0)
    weights = parse_kind_weights("scratch=3, crease=2,stain=0")
    assert weights == {"scratch": 3.0, "crease": 2.0, "stain": 0.0}
    draws = [sample_kinds(rng, 1.0, weights)[0] for _ in range(4000)]
    share = {k: draws.count(k) / len(draws) for k in DAMAGE_KINDS}
    assert share["stain"] == 0
    for kind, weight in [("scratch", 3), ("crease", 2), ("tear", 1), ("spot", 1), ("missing_corner", 1)]:
        assert abs(share[kind] - weight / 8) < 0.025, (kind, share[kind])
    for bad, message in [
        ("scratches=2", "not KIND=WEIGHT"),
        ("scratch=x", "not a number"),
        ("scratch=-1", "zero or positive"),
        (",".join(f"{k}=0" for k in DAMAGE_KINDS), "positive weight"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_kind_weights(bad)
    out = _cli("train-detector", "--data", "folder:/nowhere", "--out", "/tmp/x", "--kind-weights", "scratches=2")
    assert out.returncode == 2 and "not KIND=WEIGHT" in out.stderr and "Traceback" not in out.stderr
