"""Tests for inpaint.io.masks (conventions at the edge, dilation) and inpaint.synth (random masks, damage synthesis)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from inpaint.io.masks import MaskConvention, damage_from_known, detect_convention, dilate_damage, hole_ratio, known_to_image, load_mask, to_known_mask
from inpaint.synth.damage import DAMAGE_KINDS, SEVERITIES, synthesize_damage, synthesize_damage_mask
from inpaint.synth.holes import HOLE_BINS, hole_bin, random_irregular_mask
from inpaint.synth.mix import random_training_mask

# --- fixtures --------------------------------------------------------------------------------


def make_damage(width: int = 64, height: int = 48) -> np.ndarray:
    """bool (H, W) damage covering about 12 % of the image: a thick stroke and a blob."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    draw.line([(4, 6), (width * 0.75, height * 0.6)], fill=255, width=5)
    draw.ellipse([width * 0.55, height * 0.62, width * 0.85, height * 0.92], fill=255)
    return np.asarray(image) > 127


@pytest.fixture
def damage() -> np.ndarray:
    return make_damage()


def near_edge(damage: np.ndarray, pixels: int = 1) -> np.ndarray:
    """Pixels within ``pixels`` (chessboard distance) of the damage's boundary."""
    square = np.ones((3, 3), bool)
    grown = ndimage.binary_dilation(damage, square, iterations=pixels)
    shrunk = ndimage.binary_erosion(damage, square, iterations=pixels, border_value=1)
    return grown & ~shrunk


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth colourful test photo with some texture (uint8 RGB)."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    rgb = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.5 + 0.3 * np.sin(6 * xx + 3 * yy)], axis=2)
    rgb = rgb * 255 + rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --- conventions and input modes --------------------------------------------------------------


def white_on_black(damage: np.ndarray) -> np.ndarray:
    return damage.astype(np.uint8) * 255


def _builders() -> dict[str, Callable[[np.ndarray], tuple[object, str]]]:
    """Ways a user's mask can arrive; each returns (mask, convention to pass)."""

    def rgba_layer(d: np.ndarray) -> Image.Image:  # Gradio ImageEditor layer: alpha exactly {0, 255}
        rgba = np.zeros(d.shape + (4,), np.uint8)
        rgba[d] = (255, 0, 0, 255)  # red brush: luminance 76, alpha must be what counts
        return Image.fromarray(rgba)

    def black_brush_layer(d: np.ndarray) -> Image.Image:  # black paint on transparent black
        rgba = np.zeros(d.shape + (4,), np.uint8)
        rgba[d, 3] = 255
        return Image.fromarray(rgba)

    def la_layer(d: np.ndarray) -> Image.Image:
        la = np.zeros(d.shape + (2,), np.uint8)
        la[d] = (255, 255)
        return Image.fromarray(la)

    def palette(d: np.ndarray) -> Image.Image:
        return Image.fromarray(white_on_black(d)).convert("P")

    def palette_transparent(d: np.ndarray) -> Image.Image:  # a GIF-style layer: index 0 transparent
        image = Image.fromarray(d.astype(np.uint8)).convert("P")
        image.putpalette([0, 0, 0, 255, 0, 0])
        image.info["transparency"] = 0
        return image

    return {
        "L white-on-black": lambda d: (Image.fromarray(white_on_black(d)), "white-is-damage"),
        "L black-on-white": lambda d: (Image.fromarray(255 - white_on_black(d)), "black-is-damage"),
        "mode 1": lambda d: (Image.fromarray(white_on_black(d)).convert("1"), "white-is-damage"),
        "RGB": lambda d: (Image.fromarray(white_on_black(d)).convert("RGB"), "white-is-damage"),
        "RGBA opaque": lambda d: (Image.fromarray(white_on_black(d)).convert("RGBA"), "white-is-damage"),
        "RGBA red layer": lambda d: (rgba_layer(d), "alpha"),
        "RGBA black layer": lambda d: (black_brush_layer(d), "alpha"),
        "LA layer": lambda d: (la_layer(d), "alpha"),
        "P": lambda d: (palette(d), "white-is-damage"),
        "P transparent": lambda d: (palette_transparent(d), "alpha"),
        "I;16": lambda d: (Image.fromarray(d.astype(np.uint16) * 65535), "white-is-damage"),
        "I": lambda d: (Image.fromarray(d.astype(np.int32) * 65535), "white-is-damage"),
        "F 0..1": lambda d: (Image.fromarray(d.astype(np.float32)), "white-is-damage"),
        "F 0..255": lambda d: (Image.fromarray(white_on_black(d)).convert("F"), "white-is-damage"),
        "bool HxW": lambda d: (d.copy(), "white-is-damage"),
        "uint8 0/1": lambda d: (d.astype(np.uint8), "white-is-damage"),
        "uint8 HxWx1": lambda d: (white_on_black(d)[..., None], "white-is-damage"),
        "uint8 HxWx3 black-on-white": lambda d: (np.repeat(255 - white_on_black(d)[..., None], 3, 2), "black-is-damage"),
        "uint8 HxWx4 layer": lambda d: (np.asarray(rgba_layer(d)), "alpha"),
        "uint16": lambda d: (d.astype(np.uint16) * 65535, "white-is-damage"),
        "float 0..1": lambda d: (d.astype(np.float64), "white-is-damage"),
        "float black-on-white": lambda d: (1.0 - d.astype(np.float32), "black-is-damage"),
    }


BUILDERS = _builders()


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_input_mode_reads_with_its_convention_and_auto(name: str, damage: np.ndarray) -> None:
    mask, convention = BUILDERS[name](damage)
    explicit = to_known_mask(mask, convention)
    assert explicit.dtype == bool and explicit.shape == damage.shape
    np.testing.assert_array_equal(explicit, ~damage)
    np.testing.assert_array_equal(to_known_mask(mask), ~damage)  # auto agrees
    assert detect_convention(mask) == convention


def test_explicit_convention_is_obeyed_even_against_the_minority_rule(damage: np.ndarray) -> None:
    mask = white_on_black(damage)
    np.testing.assert_array_equal(to_known_mask(mask, "black-is-damage"), damage)
    np.testing.assert_array_equal(to_known_mask(mask, MaskConvention.WHITE_IS_DAMAGE), ~damage)


def test_auto_takes_the_minority_colour_as_damage_for_large_holes_too() -> None:
    rng = np.random.default_rng(3)
    for fraction in (0.05, 0.3, 0.49):
        damage = rng.random((40, 50)) < fraction
        white = white_on_black(damage)
        assert detect_convention(white) == "white-is-damage"
        assert detect_convention(255 - white) == "black-is-damage"
        np.testing.assert_array_equal(to_known_mask(white), to_known_mask(255 - white))
        np.testing.assert_array_equal(to_known_mask(white), ~damage)


def test_auto_tie_makes_white_the_damage() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[:, :5] = 255
    assert detect_convention(mask) == "white-is-damage"
    assert hole_ratio(to_known_mask(mask)) == 0.5


@pytest.mark.parametrize("value", [0, 255, 1.0])
def test_flat_masks_mean_no_damage(value: float) -> None:
    assert to_known_mask(np.full((20, 30), value)).all()


def test_near_flat_noise_is_not_split_into_damage() -> None:
    noisy = np.random.default_rng(0).integers(248, 256, (30, 30)).astype(np.uint8)  # a JPEG'd white mask
    assert to_known_mask(noisy).all()


def test_transparent_empty_layer_means_no_damage() -> None:
    assert to_known_mask(Image.new("RGBA", (16, 12), (0, 0, 0, 0))).all()


def test_fully_opaque_alpha_is_ignored(damage: np.ndarray) -> None:
    rgba = np.dstack([np.repeat(white_on_black(damage)[..., None], 3, 2), np.full(damage.shape, 255, np.uint8)])
    assert detect_convention(rgba) == "white-is-damage"
    np.testing.assert_array_equal(to_known_mask(rgba, "alpha"), ~damage)  # falls back to luminance


def test_coloured_and_grey_strokes_are_read_from_their_own_contrast(damage: np.ndarray) -> None:
    red_on_black = np.zeros(damage.shape + (3,), np.uint8)
    red_on_black[damage] = (255, 0, 0)  # luminance 76 only
    np.testing.assert_array_equal(to_known_mask(red_on_black), ~damage)
    grey_on_white = np.where(damage, 100, 255).astype(np.uint8)
    np.testing.assert_array_equal(to_known_mask(grey_on_white), ~damage)


def test_anti_aliased_mask_comes_out_binary_and_within_one_pixel(damage: np.ndarray) -> None:
    blurred = Image.fromarray(white_on_black(damage)).filter(ImageFilter.GaussianBlur(1.5))
    assert len(np.unique(np.asarray(blurred))) > 10  # really anti-aliased
    known = to_known_mask(blurred)
    assert known.dtype == bool
    wrong = (~known != damage) & ~near_edge(damage, 1)
    assert not wrong.any()


def test_bilinear_resized_mask_comes_out_binary_and_in_place(damage: np.ndarray) -> None:
    big = Image.fromarray(white_on_black(damage)).resize((128, 96), Image.BILINEAR)
    reference = np.asarray(Image.fromarray(white_on_black(damage)).resize((128, 96), Image.NEAREST)) > 127
    assert len(np.unique(np.asarray(big))) > 2
    known = to_known_mask(big)
    assert known.dtype == bool and known.shape == (96, 128)
    assert not ((~known != reference) & ~near_edge(reference, 1)).any()


# --- sizes ------------------------------------------------------------------------------------


def test_size_mismatch_message_names_both_sizes_and_the_fix(damage: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"64x48.*128x96.*resize=True"):
        to_known_mask(white_on_black(damage), size=(128, 96))


def test_aspect_ratio_mismatch_is_refused_even_with_resize(damage: np.ndarray) -> None:
    for resize in (False, True):
        with pytest.raises(ValueError, match="aspect ratios differ"):
            to_known_mask(white_on_black(damage), size=(100, 100), resize=resize)


def test_matching_size_passes_and_bad_sizes_are_refused(damage: np.ndarray) -> None:
    np.testing.assert_array_equal(to_known_mask(white_on_black(damage), size=(64, 48)), ~damage)
    for bad in [(0, 48), (64,), "64x48"]:
        with pytest.raises(ValueError, match="size"):
            to_known_mask(white_on_black(damage), size=bad)


def test_resize_up_is_binary_and_matches_nearest_away_from_edges(damage: np.ndarray) -> None:
    known = to_known_mask(white_on_black(damage), size=(256, 192), resize=True)
    assert known.dtype == bool and known.shape == (192, 256)
    reference = np.kron(damage, np.ones((4, 4), bool))
    assert not ((~known != reference) & ~near_edge(reference, 2)).any()


def test_resize_down_keeps_a_one_pixel_scratch() -> None:
    mask = np.zeros((96, 128), np.uint8)
    mask[50, 10:118] = 255  # a 1 px scratch
    mask[10:14, 60] = 255
    known = to_known_mask(mask, size=(32, 24), resize=True)
    assert known.shape == (24, 32)
    assert (~known[12]).sum() >= 26  # the scratch survives, about 1 px wide
    assert hole_ratio(known) < 0.06


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ("mask.png", "load_mask"),
        ([[0, 1], [1, 0]], "PIL image or a numpy array"),
        (np.zeros((0, 5)), "empty"),
        (np.zeros((4, 4, 2, 2)), "HxW"),
        (np.zeros((4, 4, 5)), "HxW"),
        (np.array([[0.0, np.nan]]), "NaN"),
        (np.array([[0, -3]]), "negative"),
        (np.array([[0, 70000.0]]), "at most"),
        (np.array([["a", "b"]]), "dtype"),
    ],
)
def test_bad_masks_raise_a_clear_value_error(mask: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        to_known_mask(mask)
    assert "\n" not in str(error.value)


def test_unknown_convention_and_alpha_without_alpha_are_refused(damage: np.ndarray) -> None:
    with pytest.raises(ValueError, match="white-is-damage"):
        to_known_mask(white_on_black(damage), "inverted")
    with pytest.raises(ValueError, match="alpha channel"):
        to_known_mask(white_on_black(damage), "alpha")


# --- files and the user-facing convention -----------------------------------------------------


def test_known_to_image_is_white_damage_and_round_trips_through_a_file(damage: np.ndarray, tmp_path: Path) -> None:
    image = known_to_image(~damage)
    assert image.mode == "L" and image.size == (64, 48)
    np.testing.assert_array_equal(np.asarray(image) == 255, damage)
    np.testing.assert_array_equal(damage_from_known(~damage), damage)
    np.testing.assert_array_equal(damage_from_known((~damage).astype(np.float32)), damage)
    path = tmp_path / "mask.png"
    image.save(path)
    np.testing.assert_array_equal(load_mask(path, "white-is-damage"), ~damage)
    np.testing.assert_array_equal(load_mask(str(path), size=(64, 48)), ~damage)
    with pytest.raises(ValueError, match="resize=True"):
        load_mask(path, size=(128, 96))


def test_load_mask_reports_unreadable_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="cannot read mask file"):
        load_mask(text)
    with pytest.raises(ValueError, match="cannot read mask file"):
        load_mask(tmp_path / "missing.png")


# --- dilation and hole statistics --------------------------------------------------------------


def disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return yy**2 + xx**2 <= radius**2


@pytest.mark.parametrize("pixels", [1, 2, 3, 5, 8, 16, 17, 23])
def test_dilation_matches_scipy_with_a_disk(pixels: int) -> None:
    rng = np.random.default_rng(pixels)
    damage = rng.random((70, 90)) < 0.004
    damage[0, 5] = damage[69, 89] = damage[35, 0] = True  # damage on the border too
    known = dilate_damage(~damage, pixels)
    reference = ndimage.binary_dilation(damage, structure=disk(pixels))
    np.testing.assert_array_equal(known, ~reference)


def test_dilation_brute_force_on_a_tiny_array() -> None:
    damage = np.zeros((9, 11), bool)
    damage[2, 3] = damage[6, 9] = True
    grown = ~dilate_damage(~damage, 2)
    points = np.argwhere(damage)
    for y in range(9):
        for x in range(11):
            assert grown[y, x] == any((y - py) ** 2 + (x - px) ** 2 <= 4 for py, px in points)


def test_dilation_zero_copies_and_rejects_bad_radii(damage: np.ndarray) -> None:
    known = ~damage
    same = dilate_damage(known, 0)
    assert same is not known
    np.testing.assert_array_equal(same, known)
    assert dilate_damage(np.ones((5, 5), bool), 3).all()
    np.testing.assert_array_equal(dilate_damage(known.astype(np.float32), 1), dilate_damage(known, 1))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer"):
            dilate_damage(known, bad)


def test_hole_ratio_and_bins() -> None:
    known = np.ones((10, 10), bool)
    known[:2] = False
    assert hole_ratio(known) == 0.2
    assert hole_ratio(known.astype(np.float32)) == 0.2
    assert HOLE_BINS[0] == (0.01, 0.1) and HOLE_BINS[-1] == (0.5, 0.6) and len(HOLE_BINS) == 6
    assert hole_bin(0.2) == 1 and hole_bin(0.2000001) == 2 and hole_bin(0.01) is None
    assert hole_bin(0.6) == 5 and hole_bin(0.61) is None


# --- random irregular masks -------------------------------------------------------------------


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


# --- damage synthesis -------------------------------------------------------------------------


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
