"""Physical damage on a print and its scan (inpaint.synth.physical)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.ndimage import label
from skimage.morphology import skeletonize

from inpaint.synth.physical import PHYSICAL_KINDS, PRINT_TYPES, VISIBLE_CHANGE, physical_damage
from tests.inpaint.detect_helpers import smooth_photo


def _change(result) -> np.ndarray:
    return np.abs(result.image.astype(np.int16) - result.reference.astype(np.int16)).max(axis=2)


def test_the_same_generator_state_gives_the_same_sample():
    photo = smooth_photo(96, 128, seed=1)
    a = physical_damage(photo, np.random.default_rng(5))
    b = physical_damage(photo, np.random.default_rng(5))
    for field in ("image", "reference", "footprint", "kind_map"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert a.kinds == b.kinds and a.print_type == b.print_type
    c = physical_damage(photo, np.random.default_rng(6))
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("seed", range(8))
def test_the_footprint_is_exactly_where_the_scan_changed(seed):
    photo = smooth_photo(128, 160, seed=seed)
    r = physical_damage(photo, np.random.default_rng(seed), severity="moderate")
    assert r.image.shape == r.reference.shape == photo.shape and r.image.dtype == np.uint8
    assert r.footprint.shape == photo.shape[:2] and r.footprint.dtype == bool and r.footprint.any()
    assert np.array_equal(r.image[~r.footprint], r.reference[~r.footprint])  # bit for bit outside
    assert (_change(r)[r.footprint] >= VISIBLE_CHANGE).mean() > 0.99  # and visibly changed inside
    assert np.array_equal(r.kind_map > 0, r.footprint)


@pytest.mark.parametrize("kind", PHYSICAL_KINDS)
def test_each_kind_alone_damages_the_print_and_is_named_in_the_kind_map(kind):
    photo = smooth_photo(160, 160, seed=3)
    found = 0
    for seed in range(3):
        r = physical_damage(photo, np.random.default_rng(seed), kinds=kind, severity="severe")
        assert r.kinds == (kind,)
        assert set(np.unique(r.kind_map[r.footprint])) <= {PHYSICAL_KINDS.index(kind) + 1}
        found += r.footprint.mean() > 0.0005
    assert found >= 2, f"{kind} left (almost) no visible damage in {3 - found} of 3 samples"


def test_scratch_widths_span_one_to_twenty_pixels():
    photo = np.full((512, 512, 3), 110, np.uint8)
    widths = []
    for seed in range(40):
        r = physical_damage(photo, np.random.default_rng(seed), kinds="scratch", severity="minor")
        labels, n = label(r.footprint)
        for i in range(1, n + 1):
            part = labels == i
            length = skeletonize(part).sum()
            if length >= 30:  # a scratch, not a stray JPEG block
                widths.append(part.sum() / length)
    assert min(widths) <= 2.5 and max(widths) >= 15, (min(widths), max(widths))


def test_black_and_white_sepia_and_colour_prints_all_occur():
    photo = smooth_photo(48, 48, seed=0)
    seen = {physical_damage(photo, np.random.default_rng(s), kinds="dust").print_type for s in range(30)}
    assert seen == set(PRINT_TYPES)


def test_a_random_mix_draws_several_kinds_at_the_higher_severities():
    photo = smooth_photo(64, 64)
    counts = [len(physical_damage(photo, np.random.default_rng(s), severity="severe").kinds) for s in range(5)]
    assert min(counts) >= 3


@pytest.mark.parametrize(
    ("photo", "kwargs", "words"),
    [
        (np.zeros((64, 64), np.uint8), {}, "uint8 (H, W, 3)"),
        (np.zeros((64, 64, 3), np.float32), {}, "uint8 (H, W, 3)"),
        (np.zeros((16, 64, 3), np.uint8), {}, "at least 32 x 32"),
        (np.zeros((64, 64, 3), np.uint8), {"kinds": ["scratch", "mould"]}, "not among"),
        (np.zeros((64, 64, 3), np.uint8), {"kinds": []}, "not among"),
        (np.zeros((64, 64, 3), np.uint8), {"severity": "awful"}, "not one of"),
    ],
)
def test_bad_inputs_raise_one_line_value_errors(photo, kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        physical_damage(photo, np.random.default_rng(0), **kwargs)
    assert "\n" not in str(info.value)


def test_the_generator_must_be_a_numpy_generator():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        physical_damage(np.zeros((64, 64, 3), np.uint8), 3)
