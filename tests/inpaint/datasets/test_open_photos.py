"""The data set scripts' parts, offline: the Qt resource reader on bundles built here from the
format description, the DEP-5 license matcher, the photo store and manifest, the per-package
finders on fake unpacked trees, and the pipeline with apt/dpkg replaced by local copies."""

from __future__ import annotations

import csv
import io
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint.datasets import eval_photos, fetch, open_photos
from inpaint.datasets.dedupe import compare_folders
from inpaint.datasets.dep5 import Dep5Copyright
from inpaint.datasets.manifest import (
    FIELDS,
    AddResult,
    PhotoStore,
    Provenance,
    read_manifest,
    sha256_bytes,
    write_manifest,
)
from inpaint.datasets.rcc import RccArchive, RccError, extract_rcc

# ----------------------------------------------------------------------------- helpers


def make_rcc(files: dict[str, tuple[bytes, bool]], *, version: int = 3) -> bytes:
    """A Qt resource bundle holding ``files`` ({path: (content, compress)}), laid out as the
    format describes: header, then data, names and tree sections; a directory's children are
    consecutive nodes."""
    tree: dict = {}
    for path, payload in files.items():
        *dirs, leaf = path.split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = payload
    nodes: list[tuple[str, object]] = [("", tree)]
    first_child: dict[int, int] = {}
    queue = [0]
    while queue:  # breadth-first numbering, children of one directory contiguous
        index = queue.pop(0)
        content = nodes[index][1]
        if isinstance(content, dict):
            first_child[index] = len(nodes)
            for name in sorted(content):
                queue.append(len(nodes))
                nodes.append((name, content[name]))
    data, names = bytearray(), bytearray()
    name_offsets, data_offsets = {}, {}
    for i, (name, content) in enumerate(nodes):
        if i:
            name_offsets[i] = len(names)
            encoded = name.encode("utf-16-be")
            names += struct.pack(">HI", len(encoded) // 2, 0) + encoded  # hash unused by readers
        if not isinstance(content, dict):
            payload, compress = content
            blob = struct.pack(">I", len(payload)) + zlib.compress(payload) if compress else payload
            data_offsets[i] = len(data)
            data += struct.pack(">I", len(blob)) + blob
    tree_bytes = bytearray()
    for i, (_, content) in enumerate(nodes):
        name_offset = name_offsets.get(i, 0)
        if isinstance(content, dict):
            tree_bytes += struct.pack(">IHII", name_offset, 2, len(content), first_child[i])
        else:
            flags = 1 if content[1] else 0
            tree_bytes += struct.pack(">IHHHI", name_offset, flags, 0, 1, data_offsets[i])
        if version >= 2:
            tree_bytes += struct.pack(">Q", 1_700_000_000_000)  # last-modified, milliseconds
    header_size = 24 if version >= 3 else 20
    data_off = header_size
    names_off = data_off + len(data)
    tree_off = names_off + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + bytes(data) + bytes(names) + bytes(tree_bytes)


def image_bytes(fmt: str, size=(300, 280), *, seed: int = 0, mode: str = "RGB", **save) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 20 + 1, size[0] // 20 + 1, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)  # smooth, photo-like
    if mode == "RGBA":  # a real transparency gradient (an opaque alpha would be dropped)
        im.putalpha(Image.linear_gradient("L").resize(size))
    elif mode != "RGB":
        im = im.convert(mode)
    out = io.BytesIO()
    im.save(out, fmt, **save)
    return out.getvalue()


def prov(path: str = "a.jpg", package: str = "pkg") -> Provenance:
    return Provenance(
        source_package=package,
        package_version="1.0",
        original_path=path,
        license="CC0-1.0",
        license_source="test",
        copyright="someone",
    )


# ----------------------------------------------------------------------------- .rcc reader


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reads_nested_compressed_and_plain_files(version: int) -> None:
    photo = image_bytes("JPEG")
    files = {
        "gcompris/src/activities/erase/resource/cat.webp": (b"x" * 5000, True),
        "gcompris/src/activities/erase/resource/README": ("Licence: CC0 ✓".encode(), False),
        "gcompris/src/activities/erase/Erase.qml": (b"import QtQuick 2.12\n", True),
        "top.jpg": (photo, False),
        "gcompris/ünïcode/名前.txt": (b"utf16 names", True),
    }
    archive = RccArchive(make_rcc(files, version=version))
    assert archive.version == version
    entries = {e.path: e for e in archive.entries()}
    assert set(entries) == set(files)
    for path, (content, compressed) in files.items():
        assert entries[path].compressed == compressed
        assert archive.read(entries[path]) == content


def test_rcc_extract_filters_and_keeps_paths(tmp_path: Path) -> None:
    bundle = tmp_path / "b.rcc"
    bundle.write_bytes(
        make_rcc({"a/b/photo.png": (b"png", True), "a/b/x.svg": (b"svg", False), "a/c.ogg": (b"ogg", False)})
    )
    written = extract_rcc(bundle, tmp_path / "out", keep=lambda p: not p.endswith((".svg", ".ogg")))
    assert written == [tmp_path / "out/a/b/photo.png"]
    assert written[0].read_bytes() == b"png"


def test_rcc_rejects_other_files_and_corrupt_data() -> None:
    with pytest.raises(RccError, match="magic"):
        RccArchive(b"PK\x03\x04" + b"\0" * 40)
    blob = bytearray(make_rcc({"f.txt": (b"hello world" * 10, True)}))
    archive = RccArchive(bytes(blob))
    entry = next(archive.entries())
    blob[entry.data_offset + 4] ^= 0xFF  # corrupt the uncompressed-size prefix
    with pytest.raises(RccError, match="decompressed"):
        RccArchive(bytes(blob)).read(entry)


# ----------------------------------------------------------------------------- DEP-5

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo
Files-Excluded: samples/data/lena.jpg

Files: *
Copyright: 2020 Upstream Authors
License: GPL-2+

Files: nature/*.jpg
       abstract/Silk.png
Copyright: 2008, A Photographer <a@example.org>
           2009, Another One
License: CC-BY-SA-4.0
 Attribution-ShareAlike 4.0 International
 .
 (license text)

Files: nature/Storm.jpg
Copyright: 2010 Storm Chaser
License: CC0-1.0

Files: icons/icon?.png literal/\\*star.png
Copyright: none
License: public-domain

Files: debian/*
Copyright: 2021 Debian Maintainer
License: GPL-2+

License: GPL-2+
 This program is free software...
"""


def test_dep5_last_matching_stanza_wins() -> None:
    c = Dep5Copyright.parse(COPYRIGHT)
    assert c.machine_readable
    assert c.license_for("nature/Dune.jpg").license == "CC-BY-SA-4.0"
    assert c.license_for("nature/Dune.jpg").copyright.startswith("2008, A Photographer")
    assert c.license_for("nature/Storm.jpg").license == "CC0-1.0"  # later, more specific
    assert c.license_for("abstract/Silk.png").license == "CC-BY-SA-4.0"  # continuation line
    assert c.license_for("nature/sub/deep.jpg").license == "CC-BY-SA-4.0"  # * crosses /
    assert c.license_for("src/main.c").license == "GPL-2+"
    assert c.package_license is not None and c.package_license.license == "GPL-2+"


def test_dep5_wildcards_and_escapes() -> None:
    c = Dep5Copyright.parse(COPYRIGHT)
    assert c.license_for("icons/icon1.png").license == "public-domain"  # ? = one character
    assert c.license_for("icons/icon12.png").license == "GPL-2+"
    assert c.license_for("literal/*star.png").license == "public-domain"  # \* is a literal star
    assert c.license_for("literal/Xstar.png").license == "GPL-2+"
    assert c.license_for("/nature/Storm.jpg").license == "CC0-1.0"  # leading slash tolerated


def test_dep5_without_catch_all_and_not_machine_readable() -> None:
    c = Dep5Copyright.parse("This package was debianized by someone.\n\nIt is GPL.\n")
    assert not c.machine_readable and c.stanzas == [] and c.license_for("a") is None
    only_specific = Dep5Copyright.parse("Format: x\n\nFiles: a/*\nCopyright: me\nLicense: MIT\n")
    assert only_specific.license_for("b/c") is None


def test_resolve_license_prefers_upstream_then_specific_debian_then_package_wide() -> None:
    c = Dep5Copyright.parse(COPYRIGHT)
    upstream = open_photos.UpstreamLicense("CC-BY-2.0", "Flickr user", "README")
    lic, source, holder = open_photos.resolve_license(
        open_photos.Candidate("x", "x", b"", ("nature/Dune.jpg",), upstream), c
    )
    assert (lic, holder) == ("CC-BY-2.0", "Flickr user") and "CC-BY-SA-4.0" in source
    # the first source path only matches Files: *, the alternative (renamed file) is specific
    lic, source, _ = open_photos.resolve_license(
        open_photos.Candidate("x", "x", b"", ("nature/Storm.webp", "nature/Storm.jpg")), c
    )
    assert lic == "CC0-1.0" and "Files: nature/Storm.jpg" in source
    lic, source, _ = open_photos.resolve_license(open_photos.Candidate("x", "x", b"", ("a.c",)), c)
    assert lic == "GPL-2+" and "package-wide" in source
    assert open_photos.resolve_license(open_photos.Candidate("x", "x", b""), None)[0] == "unknown"


def test_gcompris_readme_and_license_names() -> None:
    text = (
        "Copyright: Someone\nLicense: CC-BY-SA 4.0\nFiles:\nkey.svg\nwonders/petra.webp\n\n"
        "Copyright: Other\nFiles: bee.webp\nSource: https://example.org/File:x.jpg\n"
        "License: Public Domain\n"
    )
    parsed = open_photos.parse_gcompris_readme(text)
    assert parsed["wonders/petra.webp"] == ("CC-BY-SA-4.0", "Someone")
    assert parsed["bee.webp"] == ("public-domain", "Other")
    norm = open_photos.normalize_license
    assert [norm(x) for x in ("CC-BY 2.0", "LGPLv3", "GNU-FDL", "CC0-1.0")] == [
        "CC-BY-2.0",
        "LGPL-3",
        "GFDL",
        "CC0-1.0",
    ]


# ----------------------------------------------------------------------------- store + manifest


def test_store_keeps_jpeg_png_bytes_and_converts_webp(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path, min_side=256)
    jpeg, png = image_bytes("JPEG", seed=1), image_bytes("PNG", seed=2)
    lossy = image_bytes("WEBP", seed=3, quality=80)
    lossless = image_bytes("WEBP", seed=4, lossless=True)
    alpha = image_bytes("WEBP", seed=5, mode="RGBA", quality=80)
    for i, data in enumerate([jpeg, png, lossy, lossless, alpha]):
        assert store.add(data, subdir="pkg", stem=f"p{i}", provenance=prov(f"p{i}")) is AddResult.ADDED
    files = {r.original_path: r.file for r in store.rows}
    assert files == {"p0": "pkg/p0.jpg", "p1": "pkg/p1.png", "p2": "pkg/p2.jpg", "p3": "pkg/p3.png", "p4": "pkg/p4.png"}
    assert (tmp_path / "pkg/p0.jpg").read_bytes() == jpeg  # no second lossy generation
    assert (tmp_path / "pkg/p1.png").read_bytes() == png
    with Image.open(tmp_path / "pkg/p2.jpg") as im:
        assert im.format == "JPEG" and im.size == (300, 280)
    with Image.open(tmp_path / "pkg/p3.png") as im:  # lossless stays lossless
        assert np.array_equal(
            np.asarray(im.convert("RGB")), np.asarray(Image.open(io.BytesIO(lossless)).convert("RGB"))
        )


def test_store_rejects_small_corrupt_and_duplicate_photos(tmp_path: Path, caplog) -> None:
    store = PhotoStore(tmp_path, min_side=256)
    png = image_bytes("PNG", seed=7)
    assert store.add(png, subdir="a", stem="x", provenance=prov("x")) is AddResult.ADDED
    same_pixels = io.BytesIO()
    Image.open(io.BytesIO(png)).save(same_pixels, "WEBP", lossless=True)
    assert store.add(same_pixels.getvalue(), subdir="b", stem="y", provenance=prov("y", "other")) is AddResult.DUPLICATE
    small = image_bytes("JPEG", size=(300, 200))
    assert store.add(small, subdir="a", stem="s", provenance=prov("s")) is AddResult.TOO_SMALL
    assert store.add(b"not an image", subdir="a", stem="g", provenance=prov("g")) is AddResult.UNREADABLE
    truncated = image_bytes("JPEG", seed=8)[:2000]
    assert store.add(truncated, subdir="a", stem="t", provenance=prov("t")) is AddResult.UNREADABLE
    assert "cannot decode" in caplog.text
    assert [r.file for r in store.rows] == ["a/x.png"]


def test_store_renames_on_collision_and_is_idempotent(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    store.add(image_bytes("PNG", seed=1), subdir="g", stem="giraffe", provenance=prov("one"))
    store.add(image_bytes("PNG", seed=2), subdir="g", stem="giraffe", provenance=prov("two"))
    store.save()
    assert sorted(r.file for r in store.rows) == ["g/giraffe-2.png", "g/giraffe.png"]
    again = PhotoStore(tmp_path)
    assert again.has("pkg", "one")
    assert again.add(b"never decoded", subdir="g", stem="giraffe", provenance=prov("one")) is AddResult.ALREADY_STORED
    (tmp_path / "g/giraffe.png").unlink()  # a deleted photo is fetched again
    assert not PhotoStore(tmp_path).has("pkg", "one")


def test_manifest_round_trip_columns_and_hashes(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    data = image_bytes("JPEG")
    store.add(data, subdir="pkg", stem="p", provenance=prov())
    path = store.save()
    with path.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:8] == [
        "file",
        "source_package",
        "package_version",
        "original_path",
        "license",
        "width",
        "height",
        "sha256",
    ]
    assert tuple(header) == FIELDS
    (row,) = read_manifest(path)
    assert (row.width, row.height, row.role, row.license) == (300, 280, "train", "CC0-1.0")
    assert row.sha256 == sha256_bytes(data) == sha256_bytes((tmp_path / row.file).read_bytes())
    write_manifest(tmp_path / "copy.csv", [row])
    assert read_manifest(tmp_path / "copy.csv") == [row]


# ----------------------------------------------------------------------------- finders


def _put(root: Path, rel: str, data: bytes) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)


def test_lomiri_plasma_palapeli_finders_follow_the_data_doc(tmp_path: Path) -> None:
    jpg = image_bytes("JPEG")
    for name in ("Dog_by_A.jpg", "analogpattern_by_B.jpg", "warty-final.jpg"):
        _put(tmp_path, f"usr/share/backgrounds/{name}", jpg)
    assert [c.stem for c in open_photos.find_lomiri(tmp_path)] == ["Dog_by_A"]
    assert next(open_photos.find_lomiri(tmp_path)).source_paths[0] == "16.04/Dog_by_A.jpg"

    base = "usr/share/wallpapers/Kite"
    for size in ("640x480", "2560x1600", "1920x1080"):
        _put(tmp_path, f"{base}/contents/images/{size}.jpg", jpg)
    _put(tmp_path, f"{base}/metadata.json", b'{"KPlugin": {"License": "LGPLv3", "Authors": [{"Name": "R. S."}]}}')
    (kite,) = list(open_photos.find_plasma(tmp_path))
    assert kite.original_path.endswith("2560x1600.jpg") and kite.stem == "Kite"
    assert kite.upstream == open_photos.UpstreamLicense("LGPL-3", "R. S.", f"{base}/metadata.json")

    col = "usr/share/palapeli/collection"
    _put(tmp_path, f"{col}/citrus-fruits.jpg", jpg)
    _put(
        tmp_path,
        f"{col}/citrus-fruits.desktop",
        b"[Desktop Entry]\nX-KDE-PluginInfo-Author=USDA\nX-KDE-PluginInfo-License=Public Domain\n",
    )
    (citrus,) = list(open_photos.find_palapeli(tmp_path))
    assert (citrus.upstream.license, citrus.upstream.copyright) == ("public-domain", "USDA")


def test_gcompris_finder_reads_bundles_and_readme_licenses(tmp_path: Path) -> None:
    act = "gcompris/src/activities"
    bundle = make_rcc(
        {
            f"{act}/erase/resource/cat.webp": (image_bytes("WEBP"), True),
            f"{act}/erase/resource/logo.svg": (b"<svg/>", False),
            f"{act}/erase/resource/README": (b"Copyright: Cat Owner\nLicense: CC0-1.0\nFiles: cat.webp\n", False),
            f"{act}/erase/Erase.qml": (b"Item {}", True),
            f"{act}/explore_monuments/resource/france/tower.webp": (image_bytes("WEBP", seed=2), True),
            f"{act}/explore_monuments/resource/README": (
                b"Copyright: P\nLicense: Public Domain\nFiles:\nfrance/tower.webp\n",
                False,
            ),
        }
    )
    _put(tmp_path, "usr/share/gcompris-qt/rcc/all.rcc", bundle)
    found = {c.stem: c for c in open_photos.find_gcompris(tmp_path)}
    assert set(found) == {"erase_cat", "explore_monuments_france_tower"}
    assert found["erase_cat"].upstream.license == "CC0-1.0"
    assert found["explore_monuments_france_tower"].upstream.license == "public-domain"
    assert found["erase_cat"].source_paths[:2] == (
        "src/activities/erase/resource/cat.webp",
        "src/activities/erase/resource/cat.jpg",
    )


# ----------------------------------------------------------------------------- pipelines, no network


def test_build_runs_offline_and_skips_done_packages(tmp_path: Path, monkeypatch) -> None:
    tree = tmp_path / "unpacked"
    for seed, name in enumerate(("sheep", "cliff")):
        _put(tree, f"usr/share/tuxpaint/templates/{name}.jpg", image_bytes("JPEG", seed=seed))
    _put(
        tree, "usr/share/doc/tuxpaint-data/copyright", b"Format: x\n\nFiles: *\nCopyright: 2002 Bill\nLicense: GPL-2+\n"
    )
    extractions = []

    def fake_extract(deb: Path, dest: Path) -> Path:
        extractions.append(deb)
        shutil.copytree(tree, dest, dirs_exist_ok=True)
        return dest

    monkeypatch.setattr(open_photos, "apt_download", lambda pkg, cache: cache / f"{pkg}_1.0_all.deb")
    monkeypatch.setattr(open_photos, "deb_field", lambda deb, field: "1:0.9.28-1")
    monkeypatch.setattr(open_photos, "deb_extract", fake_extract)
    out = tmp_path / "out"
    summary = open_photos.build(out, tmp_path / "cache", packages=["tuxpaint-data"])
    assert summary["tuxpaint-data"][AddResult.ADDED] == 2
    rows = read_manifest(out / "manifest.csv")
    assert {(r.file, r.license, r.package_version) for r in rows} == {
        ("tuxpaint-data/cliff.jpg", "GPL-2+", "1:0.9.28-1"),
        ("tuxpaint-data/sheep.jpg", "GPL-2+", "1:0.9.28-1"),
    }
    summary = open_photos.build(out, tmp_path / "cache", packages=["tuxpaint-data"])
    assert summary["tuxpaint-data"] == {AddResult.ALREADY_STORED: 2} and len(extractions) == 1
    # a newer package version in the cache replaces the stored photos
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "tuxpaint-data_1%3a0.9.29-1_all.deb").write_bytes(b"")
    monkeypatch.setattr(open_photos, "deb_field", lambda deb, field: "1:0.9.29-1")
    summary = open_photos.build(out, tmp_path / "cache", packages=["tuxpaint-data"])
    assert summary["tuxpaint-data"][AddResult.ADDED] == 2 and len(extractions) == 2
    assert {r.package_version for r in read_manifest(out / "manifest.csv")} == {"1:0.9.29-1"}


def test_missing_apt_gives_one_line_advice(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(fetch.shutil, "which", lambda tool: None)
    with pytest.raises(fetch.FetchError, match="apt-get not found.*download"):
        fetch.apt_download("tuxpaint-data", tmp_path)
    rc = open_photos.main(["--out", str(tmp_path / "o"), "--cache", str(tmp_path / "c"), "--package", "tuxpaint-data"])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert rc == 1 and last.startswith("error: apt-get not found") and "apt-get update" not in last


def test_cached_package_files_are_reused(tmp_path: Path) -> None:
    (tmp_path / "palapeli-data_4%3a22.12.3-1_all.deb").write_bytes(b"")
    assert fetch.apt_download("palapeli-data", tmp_path).name.startswith("palapeli-data_4")
    (tmp_path / "scikit_image-0.26.0-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert fetch.pip_download("scikit-image==0.26.0", tmp_path).name.startswith("scikit_image-0.26.0-")


def test_eval_wheel_photos_get_role_and_version(tmp_path: Path, monkeypatch) -> None:
    wheel = tmp_path / "sporco-0.2.2.post1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("sporco/data/kodim23.png", image_bytes("PNG", seed=3))
        zf.writestr("sporco/data/barbara.png", image_bytes("PNG", seed=4))
    monkeypatch.setattr(eval_photos, "pip_download", lambda req, cache: wheel)
    source = next(s for s in eval_photos.EVAL_WHEELS if s.requirement.startswith("sporco"))
    store = PhotoStore(tmp_path / "eval")
    outcomes = eval_photos.add_wheel_photos(source, tmp_path, store)
    assert outcomes[AddResult.ADDED] == 2  # three listed photos are missing from this fake wheel
    assert {(r.file, r.role, r.package_version) for r in store.rows} == {
        ("sporco/kodim23.png", "eval", "0.2.2.post1"),
        ("sporco/barbara.png", "eval", "0.2.2.post1"),
    }


def test_near_duplicate_check_finds_resized_mirrored_and_cropped_copies(tmp_path: Path) -> None:
    a, b = tmp_path / "train", tmp_path / "eval"
    a.mkdir(), b.mkdir()
    original = Image.open(io.BytesIO(image_bytes("PNG", size=(240, 180), seed=11)))
    original.save(b / "orig.png")
    mirrored = original.resize((120, 90)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    mirrored.save(a / "copy.jpg", quality=70)
    original.crop((20, 15, 220, 165)).save(a / "crop.png")
    Image.open(io.BytesIO(image_bytes("PNG", size=(240, 180), seed=99))).save(a / "other.png")
    flagged = {m.a: m.flagged for m in compare_folders(a, b)}
    assert flagged == {"copy.jpg": True, "crop.png": True, "other.png": False}
