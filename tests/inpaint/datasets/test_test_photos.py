"""The test-set script offline: packages are fakes built here (a wheel, an sdist, an unpacked
Debian tree) holding the listed paths, so the listing, the converters, the categories in the
manifest and the refusal of training sources are checked without a download."""

from __future__ import annotations

import bz2
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint.datasets import fetch, test_photos
from inpaint.datasets.manifest import (
    AddResult,
    PhotoStore,
    format_categories,
    parse_categories,
    read_categories,
    read_manifest,
)
from inpaint.datasets.test_photos import DEB, SDIST, WHEEL, Source, TestPhoto


def photo(size=(300, 280), seed=0, fmt="JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (size[1] // 20 + 1, size[0] // 20 + 1, 3), np.uint8))
    out = io.BytesIO()
    im.resize(size, Image.Resampling.BICUBIC).save(out, fmt)
    return out.getvalue()


def npz(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, data=array)
    return out.getvalue()


SOURCES = (
    Source(
        WHEEL,
        "wheelpkg==2.0",
        (
            TestPhoto("wheelpkg/data/portrait.jpg", "MIT", people=True, old_print=True),
            TestPhoto("wheelpkg/data/stairs.npz", "public-domain", convert="npz"),
            TestPhoto("wheelpkg/data/gone.jpg", "MIT"),  # listed but not shipped
        ),
        "LICENSE",
    ),
    Source(SDIST, "sdistpkg==1.3.0", (TestPhoto("tests/images/group.jpg", "MIT", people=True),), "LICENSE"),
    Source(DEB, "debpkg", (TestPhoto("usr/share/doc/debpkg/tiny.jpg", "GPL-2+"),), "debian/copyright"),
)


@pytest.fixture
def fake_packages(tmp_path: Path, monkeypatch) -> Path:
    """Cache files for SOURCES and fetch functions that only return them."""
    wheels, debs = tmp_path / "cache/wheels", tmp_path / "cache/debs"
    wheels.mkdir(parents=True)
    debs.mkdir()
    with zipfile.ZipFile(wheels / "wheelpkg-2.0-py3-none-any.whl", "w") as zf:
        zf.writestr("wheelpkg/data/portrait.jpg", photo(seed=1))
        zf.writestr(
            "wheelpkg/data/stairs.npz", npz(np.full((300, 260), 90, np.uint8) + np.eye(300, 260, dtype=np.uint8))
        )
        zf.writestr("wheelpkg/data/unlisted.jpg", photo(seed=2))
    with tarfile.open(wheels / "sdistpkg-1.3.0.tar.gz", "w:gz") as tf:
        data = photo(seed=3)
        info = tarfile.TarInfo("sdistpkg-1.3.0/tests/images/group.jpg")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (debs / "debpkg_1.0-1_all.deb").write_bytes(b"not read")

    def fake_extract(deb: Path, dest: Path) -> Path:
        target = dest / "usr/share/doc/debpkg/tiny.jpg"
        target.parent.mkdir(parents=True)
        target.write_bytes(photo(size=(200, 120), seed=4))  # under the 256 px minimum
        return dest

    monkeypatch.setattr(test_photos, "deb_extract", fake_extract)
    monkeypatch.setattr(test_photos, "deb_field", lambda deb, field: "1.0-1")

    def no_download(*args, **kwargs):
        raise AssertionError("the cache holds every package: nothing may be downloaded")

    monkeypatch.setattr(fetch, "_run", no_download)
    return tmp_path / "cache"


def test_build_reads_wheel_sdist_and_deb_with_roles_and_categories(tmp_path: Path, fake_packages: Path) -> None:
    out = tmp_path / "test"
    summary = test_photos.build(out, fake_packages, sources=SOURCES)
    assert {k: {r.value: n for r, n in v.items()} for k, v in summary.items()} == {
        "wheelpkg==2.0": {"added": 2, "unreadable": 1},
        "sdistpkg==1.3.0": {"added": 1},
        "debpkg": {"too small": 1},
    }
    rows = {r.file: r for r in read_manifest(out / "manifest.csv")}
    assert set(rows) == {"wheelpkg/portrait.jpg", "wheelpkg/stairs.png", "sdistpkg/group.jpg"}
    assert {r.role for r in rows.values()} == {"test"}
    group = rows["sdistpkg/group.jpg"]
    assert (group.package_version, group.original_path) == ("1.3.0", "sdistpkg-1.3.0/tests/images/group.jpg")
    assert rows["wheelpkg/portrait.jpg"].package_version == "2.0"
    assert (rows["wheelpkg/stairs.png"].width, rows["wheelpkg/stairs.png"].height) == (260, 300)
    with Image.open(out / "wheelpkg/stairs.png") as im:  # the array, pixel for pixel
        assert np.asarray(im)[5, 5] == 91 and np.asarray(im)[5, 6] == 90
    assert read_categories(out / "manifest.csv") == {
        "wheelpkg/portrait.jpg": {"people", "old_print"},
        "wheelpkg/stairs.png": {"scene"},
        "sdistpkg/group.jpg": {"people"},
    }
    counts = test_photos.category_counts(out / "manifest.csv")
    assert counts == {"total": 3, "people": 2, "old_print": 1, "scene": 1}
    # a second run stores nothing again
    again = test_photos.build(out, fake_packages, sources=SOURCES)
    assert again["wheelpkg==2.0"][AddResult.ALREADY_STORED] == 2


def test_training_packages_cannot_be_test_sources(tmp_path: Path) -> None:
    source = Source(DEB, "opencv-doc", (TestPhoto("a.jpg", "BSD"),), "debian/copyright")
    with pytest.raises(ValueError, match="training source"):
        test_photos.add_source_photos(source, tmp_path, PhotoStore(tmp_path / "out"))


def test_the_listing_meets_the_set_rules() -> None:
    photos = [p for s in test_photos.TEST_SOURCES for p in s.photos]
    assert not {s.package for s in test_photos.TEST_SOURCES} & test_photos.TRAINING_PACKAGES
    assert "scikit-image" not in {s.package for s in test_photos.TEST_SOURCES}  # a validation source
    keys = [(s.package, p.path) for s in test_photos.TEST_SOURCES for p in s.photos]
    assert len(keys) == len(set(keys))
    assert all(p.license and p.convert in ("", *test_photos.CONVERTERS) for p in photos)
    assert all(s.license_source for s in test_photos.TEST_SOURCES)
    assert all(p.people for p in photos if p.old_print)  # as listed today: the three old prints show people
    assert sum(p.people for p in photos) == 15 and sum(p.old_print for p in photos) == 3
    assert len(photos) == 41


def test_scipy_raw_face_converter_and_bad_arrays() -> None:
    pixels = np.arange(768 * 1024 * 3, dtype=np.uint32).astype(np.uint8).reshape(768, 1024, 3)
    png = test_photos.raw_bz2_rgb_1024x768_to_png(bz2.compress(pixels.tobytes()))
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (1024, 768) and np.array_equal(np.asarray(im), pixels)
    with pytest.raises(ValueError, match="bytes of RGB"):
        test_photos.raw_bz2_rgb_1024x768_to_png(bz2.compress(b"short"))
    with pytest.raises(ValueError, match="8-bit image"):
        test_photos.npz_to_png(npz(np.zeros((4, 4), np.float64)))


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


def test_cached_sdist_and_wheel_names_do_not_mix(tmp_path: Path) -> None:
    for name in ("pillow-11.0.0.tar.gz", "pillow-11.0.0-cp311-cp311-linux_x86_64.whl", "pillow_heif-1.0.tar.gz"):
        (tmp_path / name).write_bytes(b"")
    assert fetch.cached_sdist("pillow==11.0.0", tmp_path).name == "pillow-11.0.0.tar.gz"
    assert fetch.cached_wheel("Pillow==11.0.0", tmp_path).name.endswith(".whl")
    assert fetch.cached_sdist("pillow==11.0.1", tmp_path) is None
    assert fetch.dist_version(tmp_path / "face_recognition-1.3.0.tar.gz") == "1.3.0"
    assert fetch.dist_version(tmp_path / "pillow-11.0.0-cp311-cp311-linux_x86_64.whl") == "11.0.0"
