"""Synthetic old-print damage with its exact mask (inpaint.synth.damage)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inpaint.io.masks import hole_ratio
from inpaint.synth.damage import DAMAGE_KINDS, SEVERITIES, synthesize_damage, synthesize_damage_mask


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth colourful test photo with some texture (uint8 RGB)."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    rgb = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.5 + 0.3 * np.sin(6 * xx + 3 * yy)], axis=2)
    rgb = rgb * 255 + rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_synthesis_is_deterministic_by_seed() -> None:
    image = photo()
    first = synthesize_damage(image, "severe", seed=11, return_kinds=True)
    second = synthesize_damage(image, "severe", seed=11, return_kinds=True)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = synthesize_damage(image, "severe", seed=12)
    assert not np.array_equal(first[1], other[1])
    via_generator = synthesize_damage(image, "severe", seed=np.random.default_rng(11))
    np.testing.assert_array_equal(via_generator[1], first[1])


@pytest.mark.parametrize("severity", SEVERITIES)
def test_known_pixels_are_bit_exact_and_damage_changes_pixels(severity: str) -> None:
    image = photo()
    for seed in range(4):
        damaged, known, kinds = synthesize_damage(image, severity, seed=seed, return_kinds=True)
        assert damaged.shape == image.shape and damaged.dtype == np.uint8
        assert known.shape == image.shape[:2] and known.dtype == bool
        assert kinds.dtype == np.uint8 and kinds.shape == known.shape
        np.testing.assert_array_equal(damaged[known], image[known])
        np.testing.assert_array_equal(kinds == 0, known)
        assert (~known).any()
        changed = (damaged != image).any(axis=2)
        assert changed[~known].mean() > 0.6  # the mask is where the damage is, not a loose hull


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_each_kind_alone_damages_and_is_labelled(kind: str) -> None:
    image = photo()
    label = DAMAGE_KINDS.index(kind) + 1
    for severity in SEVERITIES:
        damaged, known, kinds = synthesize_damage(image, severity, seed=3, kinds=(kind,), return_kinds=True)
        assert hole_ratio(known) > 0.001
        assert set(np.unique(kinds)) == {0, label}
        np.testing.assert_array_equal(damaged[known], image[known])
    _, _, only = synthesize_damage(image, "moderate", seed=3, kinds=kind, return_kinds=True)  # a bare string
    assert set(np.unique(only)) == {0, label}


def test_severities_are_ordered_and_in_their_ranges() -> None:
    means = {}
    for severity in SEVERITIES:
        ratios = [hole_ratio(synthesize_damage_mask(128, 128, severity, seed=s)) for s in range(8)]
        means[severity] = float(np.mean(ratios))
    assert means["minor"] < means["moderate"] < means["severe"]
    assert 0.003 <= means["minor"] <= 0.02
    assert 0.02 <= means["moderate"] <= 0.08
    assert 0.08 <= means["severe"] <= 0.25


def test_a_single_kind_follows_the_severity_too() -> None:
    ratios = [
        np.mean([hole_ratio(synthesize_damage_mask(128, 128, s, seed=i, kinds=("scratch",))) for i in range(5)])
        for s in SEVERITIES
    ]
    assert ratios[0] < ratios[1] < ratios[2]


@pytest.mark.parametrize("shape", [(97, 131), (16, 16), (300, 40), (1, 1)])
def test_any_resolution_and_odd_sizes(shape: tuple[int, int]) -> None:
    image = photo(*shape)
    for severity in SEVERITIES:
        damaged, known = synthesize_damage(image, severity, seed=1)
        assert damaged.shape == shape + (3,) and known.shape == shape
        np.testing.assert_array_equal(damaged[known], image[known])


def test_grey_and_pil_photos() -> None:
    grey = photo()[..., 1]
    damaged, known = synthesize_damage(grey, "moderate", seed=2)
    assert damaged.shape == grey.shape + (3,)
    np.testing.assert_array_equal(damaged[known], np.repeat(grey[..., None], 3, 2)[known])
    grey_rgb = np.repeat(grey[..., None], 3, 2)  # a black-and-white print scanned in colour
    np.testing.assert_array_equal(synthesize_damage(grey_rgb, "moderate", seed=2)[0], damaged)
    from_pil = synthesize_damage(Image.fromarray(photo()), "moderate", seed=2)
    np.testing.assert_array_equal(from_pil[0], synthesize_damage(photo(), "moderate", seed=2)[0])


def test_mask_only_path_matches_the_full_synthesis() -> None:
    image = photo(80, 120)
    for seed in range(3):
        _, known, kinds = synthesize_damage(image, "severe", seed=seed, return_kinds=True)
        known_only, kinds_only = synthesize_damage_mask(80, 120, "severe", seed=seed, return_kinds=True)
        np.testing.assert_array_equal(known_only, known)
        np.testing.assert_array_equal(kinds_only, kinds)


def test_damage_scales_with_the_image() -> None:
    small = np.mean([hole_ratio(synthesize_damage_mask(96, 128, "moderate", seed=s)) for s in range(6)])
    large = np.mean([hole_ratio(synthesize_damage_mask(384, 512, "moderate", seed=s)) for s in range(6)])
    assert 0.5 < large / small < 2


def test_synthesis_refuses_bad_arguments() -> None:
    image = photo(32, 32)
    with pytest.raises(ValueError, match="severity"):
        synthesize_damage(image, "extreme")
    with pytest.raises(ValueError, match="kinds"):
        synthesize_damage(image, kinds=("fire",))
    with pytest.raises(ValueError, match="kinds"):
        synthesize_damage(image, kinds=())
    with pytest.raises(ValueError, match="uint8"):
        synthesize_damage(image.astype(np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        synthesize_damage(np.zeros((8, 8, 4), np.uint8))
