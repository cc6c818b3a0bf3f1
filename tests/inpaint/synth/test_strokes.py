"""The independent stroke generator: deterministic, truth maps consistent with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from inpaint.synth.strokes import (
    FOOTPRINT_COVERAGE,
    STROKE_KINDS,
    SUPERSAMPLE,
    WIDTH_RANGE,
    _coverage,
    _downsample,
    _polyline,
    canvas_thickness,
    stroke_damage,
)


def _photo(h: int = 96, w: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 2 % 256, yy * 2 % 256, np.full_like(xx, 128)], -1).astype(np.uint8)


def test_same_generator_state_same_damage_and_pixels_outside_the_footprint_untouched():
    photo = _photo()
    a = stroke_damage(photo, np.random.default_rng(7))
    b = stroke_damage(photo, np.random.default_rng(7))
    assert np.array_equal(a.damaged, b.damaged) and np.array_equal(a.footprint, b.footprint)
    assert a.footprint.any() and not a.footprint.all()
    # outside the footprint a mark moved a pixel by at most FOOTPRINT_COVERAGE of 255 (rounding: +1)
    moved = np.abs(a.damaged.astype(int) - photo.astype(int)).max(-1)
    assert moved[~a.footprint].max() <= FOOTPRINT_COVERAGE * 255 + 1
    assert (moved[a.footprint] > 0).mean() > 0.9


def test_width_and_kind_maps_label_exactly_the_footprint():
    for seed in range(5):
        d = stroke_damage(_photo(), np.random.default_rng(seed))
        assert np.array_equal(d.width > 0, d.footprint) and np.array_equal(d.kind > 0, d.footprint)
        widths = np.unique(d.width[d.footprint])
        assert widths.min() >= WIDTH_RANGE[0] and widths.max() <= WIDTH_RANGE[1]
        assert d.kind.max() <= len(STROKE_KINDS)


@pytest.mark.parametrize("width", [1, 4, 12])
def test_a_stroke_covers_its_width_times_its_length(width):
    """A 300 px horizontal stroke: the coverage summed over the photo, less the two round caps (a
    disc of the stroke's width), over its length is the width asked for, within 0.2 px."""
    h, w = 200, 400
    rng = np.random.default_rng(0)
    canvas = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    _polyline(canvas, np.array([[50.0, 100.3], [350.0, 100.3]]), canvas_thickness(width))
    cov = _downsample(canvas, h, w)
    assert (cov.sum() - np.pi * width**2 / 4) / 300 == pytest.approx(width, abs=0.2)
    line = _coverage("line", h, w, width, rng)
    assert 0 < line.max() <= 1
    rows = np.nonzero(cov[:, 200] > 0)[0]
    assert rows.min() >= 100.3 - width / 2 - 1 and rows.max() <= 100.3 + width / 2 + 1


def test_bad_photos_and_kinds_are_refused_with_one_line():
    with pytest.raises(ValueError, match="uint8"):
        stroke_damage(np.zeros((4, 4, 3), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="subset of"):
        stroke_damage(_photo(), np.random.default_rng(0), kinds=("crease",))
