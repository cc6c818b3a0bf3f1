"""Random hole masks in the paper's bins and the restorer's training mask mix (inpaint.synth.holes,
inpaint.synth.mix)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from inpaint.io.masks import hole_ratio
from inpaint.synth.holes import HOLE_BINS, hole_bin, random_irregular_mask
from inpaint.synth.mix import random_training_mask


def test_hole_ratio_and_bins() -> None:
    known = np.ones((10, 10), bool)
    known[:2] = False
    assert hole_ratio(known) == 0.2
    assert hole_ratio(known.astype(np.float32)) == 0.2
    assert HOLE_BINS[0] == (0.01, 0.1) and HOLE_BINS[-1] == (0.5, 0.6) and len(HOLE_BINS) == 6
    assert hole_bin(0.2) == 1 and hole_bin(0.2000001) == 2 and hole_bin(0.01) is None
    assert hole_bin(0.6) == 5 and hole_bin(0.61) is None


def touches_border(known: np.ndarray) -> bool:
    ring = np.concatenate([known[0], known[-1], known[:, 0], known[:, -1]])
    return bool((~ring).any())


@pytest.mark.parametrize("size", [(64, 64), (97, 80), (128, 128), (256, 256), (512, 384)])
def test_irregular_masks_hit_every_bin_with_and_without_border(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    for low, high in HOLE_BINS:
        for border in (True, False, None):
            known = random_irregular_mask(*size, rng, hole_range=(low, high), border=border)
            assert known.dtype == bool and known.shape == size
            assert low < hole_ratio(known) <= high
            if border is not None:
                assert touches_border(known) == border


@pytest.mark.parametrize("style", ["thin", "mixed"])
def test_thin_and_mixed_styles_hit_bins_too(style: str) -> None:
    rng = np.random.default_rng(7)
    for size in (64, 200):
        for low, high in HOLE_BINS:
            known = random_irregular_mask(size, size, rng, hole_range=(low, high), style=style, border=False)
            assert low < hole_ratio(known) <= high and not touches_border(known)


def test_thin_style_is_made_of_thin_lines() -> None:
    rng = np.random.default_rng(0)
    for _ in range(4):
        damage = ~random_irregular_mask(256, 256, rng, style="thin", hole_range=(0.02, 0.05))
        # Mean distance from a damaged pixel to the nearest known one: about w/4 + 1 for w px lines.
        depth = ndimage.distance_transform_edt(damage)[damage].mean()
        assert depth < 2.0


def test_irregular_masks_are_deterministic_and_vary_with_the_rng() -> None:
    def make(seed: int) -> np.ndarray:
        return random_irregular_mask(96, 96, np.random.default_rng(seed), hole_range=(0.2, 0.3), border=True)

    np.testing.assert_array_equal(make(1), make(1))
    assert not np.array_equal(make(1), make(2))


def test_irregular_mask_refuses_impossible_requests() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="hole_range"):
        random_irregular_mask(32, 32, rng, hole_range=(0.5, 0.4))
    with pytest.raises(ValueError, match="style"):
        random_irregular_mask(32, 32, rng, style="zigzag")
    with pytest.raises(ValueError, match="border ring"):
        random_irregular_mask(3, 3, rng, hole_range=(0.5, 0.6), border=False)
    with pytest.raises(ValueError, match="whole number of pixels"):
        random_irregular_mask(4, 4, rng, hole_range=(0.5, 0.51))


def test_training_masks_mix_and_are_deterministic() -> None:
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(60):
        known = random_training_mask(128, 128, rng)
        assert known.dtype == bool and known.shape == (128, 128)
        ratios.append(hole_ratio(known))
    ratios = np.array(ratios)
    assert (ratios > 0).all() and (ratios <= 0.6).all()
    assert (ratios < 0.05).sum() >= 10 and (ratios > 0.3).sum() >= 10  # thin damage and big holes
    a = random_training_mask(64, 80, np.random.default_rng(5))
    b = random_training_mask(64, 80, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
