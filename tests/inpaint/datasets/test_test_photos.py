"""The test set's listing: which packages may supply test photos, and the counts the docs state."""

from __future__ import annotations

from pathlib import Path

import pytest

from inpaint.datasets import packages, test_photos
from inpaint.datasets.manifest import format_categories, parse_categories, read_categories
from inpaint.datasets.packages import DEB, ListedPhoto, Source


def test_training_packages_cannot_be_test_sources(tmp_path: Path) -> None:
    source = Source(DEB, "opencv-doc", (ListedPhoto("a.jpg", "BSD"),), "debian/copyright")
    with pytest.raises(ValueError, match="training source"):
        test_photos.build(tmp_path / "out", tmp_path, sources=(source,))


def test_the_listing_meets_the_set_rules() -> None:
    photos = [p for s in test_photos.TEST_SOURCES for p in s.photos]
    assert not {s.package for s in test_photos.TEST_SOURCES} & test_photos.TRAINING_PACKAGES
    assert "scikit-image" not in {s.package for s in test_photos.TEST_SOURCES}  # a validation source
    keys = [(s.package, p.path) for s in test_photos.TEST_SOURCES for p in s.photos]
    assert len(keys) == len(set(keys))
    assert all(p.license and p.convert in ("", *packages.CONVERTERS) for p in photos)
    assert all(s.license_source for s in test_photos.TEST_SOURCES)
    assert all(p.people for p in photos if p.old_print)  # as listed today: every old print shows people
    assert sum(p.people for p in photos) == 27 and sum(p.old_print for p in photos) == 10
    assert len(photos) == 53


def test_categories_round_trip_and_reject_nonsense(tmp_path: Path) -> None:
    assert format_categories(people=True, old_print=True) == "people;old_print"
    assert format_categories(people=False, old_print=True) == "old_print;scene"
    assert format_categories(people=False, old_print=False) == "scene"
    for people in (True, False):
        for old in (True, False):
            cats = parse_categories(format_categories(people=people, old_print=old))
            assert ("people" in cats, "old_print" in cats, "scene" in cats) == (people, old, not people)
    assert parse_categories("") == frozenset()  # a manifest written before the column
    with pytest.raises(ValueError, match="unknown"):
        parse_categories("people;selfie")
    with pytest.raises(ValueError, match="either"):
        parse_categories("people;scene")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,source_package,package_version,original_path,license,width,height,sha256,role\n"
        "a.jpg,p,1,a.jpg,MIT,300,300,x,eval\n"
    )
    assert read_categories(manifest) == {"a.jpg": frozenset()}
    assert read_categories(manifest, role="test") == {}
