"""Thin picture content that is not damage (inpaint.synth.content), and its place in the physical
generator: drawn into the photo before the print, so it is in both scans and never in the truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from inpaint.synth.content import CONTENT_KINDS, thin_content
from inpaint.synth.physical import physical_damage
from tests.inpaint.detect_helpers import smooth_photo


@pytest.mark.parametrize("kind", CONTENT_KINDS)
def test_each_kind_draws_visible_content_and_changes_nothing_far_from_it(kind):
    photo = smooth_photo(160, 192, seed=3)
    c = thin_content(photo, np.random.default_rng(11), kinds=kind)
    assert c.image.shape == photo.shape and c.image.dtype == np.uint8 and c.kinds == (kind,)
    assert c.mask.dtype == bool and c.mask.any()
    assert np.array_equal(c.mask, c.kind_map == CONTENT_KINDS.index(kind) + 1)
    change = np.abs(c.image.astype(np.int16) - photo.astype(np.int16)).max(axis=2)
    assert (change[c.mask] >= 15).mean() > 0.3, "the content stands out where it was drawn"
    near = binary_dilation(c.mask, iterations=4)
    assert change[~near].max(initial=0) <= 12, "pixels far from the content keep (nearly) their values"


def test_the_same_generator_state_gives_the_same_content_and_a_random_mix_by_default():
    photo = smooth_photo(96, 128, seed=1)
    a, b = (thin_content(photo, np.random.default_rng(4)) for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.kind_map, b.kind_map) and a.kinds == b.kinds
    assert 1 <= len(a.kinds) <= 3 and set(a.kinds) <= set(CONTENT_KINDS)
    assert set(np.unique(a.kind_map)) <= {0} | {CONTENT_KINDS.index(k) + 1 for k in a.kinds}


def test_bad_arguments_say_what_is_expected():
    photo = smooth_photo(64, 64, seed=0)
    with pytest.raises(ValueError, match="not among"):
        thin_content(photo, np.random.default_rng(0), kinds="scratch")
    with pytest.raises(ValueError, match="uint8"):
        thin_content(photo.astype(np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        thin_content(photo, 0)
    with pytest.raises(ValueError, match="probability"):
        physical_damage(photo, np.random.default_rng(0), content=1.5)


def test_the_physical_generator_prints_the_content_into_both_scans_and_leaves_it_out_of_the_truth():
    photo = np.full((160, 192, 3), 128, np.uint8)
    seed = 21
    r = physical_damage(photo, np.random.default_rng(seed), kinds="dust", severity="minor", content=1.0)
    replay = np.random.default_rng(seed)
    replay.random()  # physical_damage's draw of whether to add content
    drawn = thin_content(photo, replay)
    plain = physical_damage(photo, np.random.default_rng(seed), kinds="dust", severity="minor")
    # the undamaged scan shows the content: it stands out of a flat grey print
    grey = r.reference.astype(np.float32).mean(axis=2)
    assert np.abs(grey[drawn.mask] - np.median(grey)).mean() > 15
    assert not np.array_equal(r.reference, plain.reference)
    # and the truth is the dust, not the content
    assert r.footprint.any()
    assert (r.footprint & drawn.mask).sum() < 0.05 * drawn.mask.sum()
    assert np.array_equal(r.image[~r.footprint], r.reference[~r.footprint])


def test_without_content_the_physical_generator_draws_as_it_did():
    """content=0 makes no extra random draw: the same seed gives the same sample as with no argument."""
    photo = smooth_photo(96, 128, seed=2)
    a = physical_damage(photo, np.random.default_rng(9))
    b = physical_damage(photo, np.random.default_rng(9), content=0.0)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.footprint, b.footprint)
