"""The detail ratio (gradient energy of the fill over the original's in the hole) against direct
computations, and the contact sheet's 100% crops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from inpaint.eval.cases import Example
from inpaint.eval.metrics import (
    detail_metrics,
    detail_region,
    gradient_energy,
    pooled_detail_ratio,
)
from inpaint.eval.report import hole_crop_box, render_contact_sheet

# ----------------------------------------------------------------------------- references


def grey(a: np.ndarray) -> np.ndarray:
    """A 2-D grey-level array as an RGB uint8 image (every channel equal)."""
    return np.repeat(np.clip(np.round(a), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def reference_energy(image: np.ndarray, known: np.ndarray, sigma: float) -> float:
    """The definition written out: BT.601 luminance, optional blur, central differences by
    slicing, summed over the hole pixels whose four neighbours are hole pixels inside the image."""
    rgb = image.astype(np.float64)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    if sigma:
        y = gaussian_filter(y, sigma, mode="reflect")
    hole = np.pad(~known, 1, constant_values=False)
    inner = hole[1:-1, 1:-1] & hole[:-2, 1:-1] & hole[2:, 1:-1] & hole[1:-1, :-2] & hole[1:-1, 2:]
    total = 0.0
    for i, j in zip(*np.nonzero(inner)):
        gx = (y[i, j + 1] - y[i, j - 1]) / 2
        gy = (y[i + 1, j] - y[i - 1, j]) / 2
        total += gx * gx + gy * gy
    return total


def texture(n: int, seed: int, grain: float = 3.0) -> np.ndarray:
    """Mid-frequency structure (periods of 12 and 16 px) plus a little grain, in grey levels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    return 128 + 50 * np.sin(2 * np.pi * xx / 12) * np.cos(2 * np.pi * yy / 16) + rng.normal(0, grain, (n, n))


def square_hole(n: int, lo: int, hi: int) -> np.ndarray:
    known = np.ones((n, n), bool)
    known[lo:hi, lo:hi] = False
    return known


# ----------------------------------------------------------------------------- the ratio


def test_energies_equal_the_definition_written_out():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)
    out = rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)
    known = rng.random((24, 28)) > 0.6
    known[4:14, 6:20] = False  # a block, so that some pixels survive the erosion
    d = detail_metrics(gt, out, known)
    assert d["detail_pixels"] == np.count_nonzero(detail_region(known)) > 30
    for name, sigma in (("detail_fine", 0.0), ("detail_blurred", 2.0)):
        assert d[f"{name}_energy"] == pytest.approx(reference_energy(out, known, sigma), rel=1e-12)
        assert d[f"{name}_energy_gt"] == pytest.approx(reference_energy(gt, known, sigma), rel=1e-12)
        assert d[name] == pytest.approx(d[f"{name}_energy"] / d[f"{name}_energy_gt"], rel=1e-12)


def test_identical_images_score_one_and_a_flat_fill_about_zero():
    gt, known = grey(texture(64, 0)), square_hole(64, 16, 48)
    assert detail_metrics(gt, gt, known)["detail_fine"] == 1.0
    assert detail_metrics(gt, gt, known)["detail_blurred"] == 1.0
    flat = gt.copy()
    flat[~known] = 128
    d = detail_metrics(gt, flat, known)
    assert d["detail_fine"] == 0.0  # no filled pixel next to a known one is measured
    assert d["detail_blurred"] < 0.06  # only the known surroundings blurred into the hole


def test_noise_is_detail_when_fine_and_mostly_gone_after_the_blur():
    rng = np.random.default_rng(2)
    truth = texture(64, 0)
    known = square_hole(64, 16, 48)
    noisy = truth.copy()
    noisy[~known] += rng.normal(0, 25, noisy[~known].shape)
    d = detail_metrics(grey(truth), grey(noisy), known)
    assert d["detail_fine"] > 2.5  # grain of 25 grey levels has more fine gradient than the texture
    assert 0.9 < d["detail_blurred"] < 1.2  # the blur leaves the texture and little of the grain


def test_a_ramp_of_half_the_slope_has_a_quarter_of_the_energy():
    """Truth 2 grey levels per pixel to the right; the fill rises 1 per pixel. Every measured
    pixel reads only filled pixels, so the energies are known exactly: 4 and 1 per pixel."""
    n, lo, hi = 64, 24, 40
    xx = np.mgrid[0:n, 0:n][1].astype(np.float64)
    known = square_hole(n, lo, hi)
    truth = 2 * xx + 10
    fill = np.where(known, truth, xx + 60)
    d = detail_metrics(grey(truth), grey(fill), known)
    pixels = (hi - lo - 2) ** 2
    assert d["detail_pixels"] == pixels
    assert d["detail_fine_energy_gt"] == pytest.approx(4 * pixels, rel=1e-12)
    assert d["detail_fine_energy"] == pytest.approx(pixels, rel=1e-12)
    assert d["detail_fine"] == pytest.approx(0.25, rel=1e-12)
    # a blur keeps a ramp a ramp away from the image's edges
    assert d["detail_blurred_energy_gt"] == pytest.approx(4 * pixels, rel=1e-9)


def test_the_seam_at_the_hole_edge_is_not_detail():
    """A fill that is the truth shifted by 40 grey levels steps at the hole's edge: the eroded
    region leaves the step out (ratio exactly 1), the whole hole would count it."""
    truth = texture(64, 3)
    known = square_hole(64, 16, 48)
    shifted = np.where(known, truth, truth + 40)
    assert detail_metrics(grey(truth), grey(shifted), known)["detail_fine"] == pytest.approx(1.0, abs=1e-12)
    whole = ~known
    assert gradient_energy(grey(shifted), whole) > 1.1 * gradient_energy(grey(truth), whole)


def test_thin_holes_and_the_image_edge_are_not_measured():
    gt, out = grey(texture(32, 4)), grey(texture(32, 5))
    scratch = np.ones((32, 32), bool)
    scratch[:, 10:12] = False  # two pixels wide: nothing survives the erosion
    d = detail_metrics(gt, out, scratch)
    assert d["detail_pixels"] == 0 and d["detail_fine"] is None and d["detail_blurred"] is None
    corner = square_hole(32, 0, 8)  # touches two edges of the image
    assert np.array_equal(np.nonzero(detail_region(corner)), np.nonzero(square_hole(32, 1, 7) == 0))
    flat = np.full((32, 32, 3), 90, np.uint8)
    assert detail_metrics(flat, out, corner)["detail_fine"] is None  # no detail to compare with


def test_a_cell_pools_energies_not_ratios():
    rows = [
        {"detail_fine": 0.5, "detail_fine_energy": 50.0, "detail_fine_energy_gt": 100.0},
        {"detail_fine": 3.0, "detail_fine_energy": 3.0, "detail_fine_energy_gt": 1.0},  # a near-flat hole
        {"detail_fine": None, "detail_fine_energy": 0.0, "detail_fine_energy_gt": 0.0},
    ]
    assert pooled_detail_ratio(rows, "detail_fine") == pytest.approx(53 / 101)
    assert pooled_detail_ratio(rows[2:], "detail_fine") is None


# ----------------------------------------------------------------------------- contact sheet


def test_the_crop_is_centred_on_the_largest_hole_and_stays_inside():
    known = np.ones((96, 96), bool)
    known[2:7, 2:7] = False  # small
    known[60:81, 50:71] = False  # largest, centre (70, 60)
    assert hole_crop_box(known, 32) == (70 - 16, 60 - 16)
    known[60:81, 50:71] = True
    known[80:96, 84:96] = False  # now the largest, in the corner: the window is clipped
    assert hole_crop_box(known, 32) == (96 - 32, 96 - 32)
    assert hole_crop_box(np.ones((96, 96), bool), 32) == (32, 32)


def test_the_sheet_has_a_row_of_crops_with_the_images_own_pixels():
    rng = np.random.default_rng(0)
    size, cell, crop, methods = 96, 80, 40, ("a", "b")
    examples = []
    for k in range(2):
        gt = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)  # noise: any resampling changes it
        known = np.ones((size, size), bool)
        known[30 + 10 * k : 60 + 10 * k, 20:50] = False
        seen = gt.copy()
        seen[~known] = 255
        results = {}
        for i, m in enumerate(methods):
            comp = gt.copy()
            comp[~known] = rng.integers(0, 256, (np.count_nonzero(~known), 3), dtype=np.uint8)
            results[m] = (comp, {"psnr": 20.0 + i, "ssim": 0.5, **detail_metrics(gt, comp, known)})
        examples.append(Example(f"example {k}", seen, known, gt, results))
    sheet = np.asarray(render_contact_sheet(examples, methods, cell, crop=crop))
    gap, head, caption, foot = 6, 24, 20, 18
    block = caption + cell + foot + crop + foot + gap
    assert sheet.shape == (head + len(examples) * block, gap + (len(methods) + 3) * (cell + gap), 3)
    for i, ex in enumerate(examples):
        top, left = hole_crop_box(ex.known, crop)
        y = head + i * block + caption + cell + foot
        for j, tile in ((2, ex.results["a"][0]), (3, ex.results["b"][0]), (4, ex.gt)):
            x = gap + j * (cell + gap)
            assert np.array_equal(sheet[y : y + crop, x : x + crop], tile[top : top + crop, left : left + crop])
        # the mask's crop, white where the hole is
        x = gap + (cell + gap)
        assert np.array_equal(
            sheet[y : y + crop, x : x + crop, 0] == 255, ~ex.known[top : top + crop, left : left + crop]
        )
    # the default crop is limited by the cell and the image
    small = np.asarray(render_contact_sheet(examples, methods, 64))
    assert small.shape[0] == head + len(examples) * (caption + 64 + foot + 64 + foot + gap)
