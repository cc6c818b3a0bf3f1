"""People's masks at the library's edge (inpaint.io.masks): conventions, binarising, sizes, files,
dilation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from scipy import ndimage

from inpaint.io.masks import (
    MaskConvention,
    damage_from_known,
    detect_convention,
    dilate_damage,
    hole_ratio,
    known_to_image,
    load_mask,
    to_known_mask,
)


def near_edge(damage: np.ndarray, pixels: int = 1) -> np.ndarray:
    """Pixels within ``pixels`` (chessboard distance) of the damage's boundary."""
    square = np.ones((3, 3), bool)
    grown = ndimage.binary_dilation(damage, square, iterations=pixels)
    shrunk = ndimage.binary_erosion(damage, square, iterations=pixels, border_value=1)
    return grown & ~shrunk


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
        "uint8 HxWx3 black-on-white": lambda d: (
            np.repeat(255 - white_on_black(d)[..., None], 3, 2),
            "black-is-damage",
        ),
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
