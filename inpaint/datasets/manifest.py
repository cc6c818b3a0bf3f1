"""A folder of photos and its ``manifest.csv``: where each photo came from and under which license.

Both data set scripts (open_photos.py for training, eval_photos.py for evaluation) put photos into
a :class:`PhotoStore`, which

- verifies that a file decodes completely and is large enough to crop from;
- stores JPEG and PNG files byte for byte (no second lossy generation) and converts anything else
  (GCompris ships WebP) to PNG when the source is lossless or has alpha, otherwise to JPEG at
  quality 95 without chroma subsampling;
- drops a photo whose decoded pixels equal one already stored (the same photo ships in several
  packages and sizes, and a duplicate would silently weigh it twice in training);
- keeps what an earlier run stored, so re-running skips done work.

The manifest's columns are :data:`FIELDS`; ``sha256`` is the stored file's hash and
``pixels_sha256`` the hash of its decoded RGB pixels (used for de-duplication).
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Provenance:
    """Where a photo came from; the caller knows this, the store adds the rest."""

    source_package: str
    package_version: str
    original_path: str
    license: str
    license_source: str = ""  # which file the license was read from, e.g. "debian/copyright"
    copyright: str = ""  # the holders, for attribution (CC-BY needs it)
    role: str = "train"  # train | eval | test | demo
    categories: str = ""  # what the photo shows: CATEGORY_SEP-joined CATEGORIES, "" when not classified


@dataclass(frozen=True)
class ManifestRow:
    file: str  # relative to the manifest's folder, POSIX separators
    source_package: str
    package_version: str
    original_path: str
    license: str
    width: int
    height: int
    sha256: str
    role: str = "train"
    license_source: str = ""
    copyright: str = ""
    pixels_sha256: str = ""
    categories: str = ""

    @classmethod
    def from_provenance(
        cls, prov: Provenance, *, file: str, width: int, height: int, sha256: str, pixels_sha256: str
    ) -> ManifestRow:
        return cls(
            file=file,
            source_package=prov.source_package,
            package_version=prov.package_version,
            original_path=prov.original_path,
            license=prov.license,
            width=width,
            height=height,
            sha256=sha256,
            role=prov.role,
            license_source=prov.license_source,
            copyright=prov.copyright,
            pixels_sha256=pixels_sha256,
            categories=prov.categories,
        )


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ManifestRow))


def write_manifest(path: str | Path, rows: Iterable[ManifestRow]) -> Path:
    """Write rows sorted by file, atomically (a crash never leaves half a manifest)."""
    path = Path(path)
    ordered = sorted(rows, key=lambda r: r.file)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(asdict(r) for r in ordered)
    os.replace(tmp, path)
    return path


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Rows of a manifest written by :func:`write_manifest` (unknown extra columns are ignored,
    missing optional ones take their defaults)."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        rows = []
        for raw in csv.DictReader(fh):
            values = {k: v for k, v in raw.items() if k in FIELDS}
            values["width"], values["height"] = int(values["width"]), int(values["height"])
            rows.append(ManifestRow(**values))
    return rows


# -- what a photo shows ---------------------------------------------------------------------------
PEOPLE, OLD_PRINT, SCENE = "people", "old_print", "scene"
CATEGORIES: tuple[str, ...] = (PEOPLE, OLD_PRINT, SCENE)
CATEGORY_SEP = ";"


def format_categories(*, people: bool, old_print: bool) -> str:
    """The ``categories`` cell: ``people`` (faces visible) and ``old_print`` (a scan of an old
    black-and-white or sepia photograph) may both hold; a photo without people is a ``scene``."""
    found = [PEOPLE] if people else [SCENE]
    if old_print:
        found.append(OLD_PRINT)
    return CATEGORY_SEP.join(sorted(found, key=CATEGORIES.index))


def parse_categories(cell: str) -> frozenset[str]:
    """The categories of a ``categories`` cell; an unknown name is an error, not silently dropped."""
    found = frozenset(c.strip() for c in cell.split(CATEGORY_SEP) if c.strip())
    unknown = found - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown photo categories {sorted(unknown)} (known: {', '.join(CATEGORIES)})")
    if PEOPLE in found and SCENE in found:
        raise ValueError(f"a photo is either {PEOPLE} or {SCENE}, not both: {cell!r}")
    return found


def read_categories(path: str | Path, *, role: str | None = None) -> dict[str, frozenset[str]]:
    """{file: categories} of a manifest's rows (those with ``role`` when given); rows without a
    ``categories`` cell map to an empty set."""
    return {r.file: parse_categories(r.categories) for r in read_manifest(path) if role is None or r.role == role}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- decoding and encoding ------------------------------------------------------------------------
class PhotoError(ValueError):
    """A file that is not a usable photo (unreadable, truncated, too small)."""


def decode(data: bytes) -> Image.Image:
    """Fully decode (``load()`` catches truncated files that ``open()`` accepts) and apply the
    EXIF orientation so sizes are those a viewer shows."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # PIL reports corrupt data as OSError (truncated), SyntaxError (bad PNG chunks) or
        # ValueError; all mean "not a usable image".
        raise PhotoError(f"cannot decode image: {exc}") from exc


def pixels_hash(im: Image.Image) -> str:
    rgb = im.convert("RGB")
    return sha256_bytes(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes())


def _webp_is_lossless(data: bytes) -> bool:
    """Walk the RIFF chunks: a ``VP8L`` bitstream is lossless, ``VP8 `` is lossy."""
    offset = 12  # "RIFF", size, "WEBP"
    while offset + 8 <= len(data):
        fourcc = data[offset : offset + 4]
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return False


def encode_for_storage(data: bytes, im: Image.Image) -> tuple[bytes, str]:
    """(bytes, extension) to store: the original JPEG/PNG bytes, otherwise a conversion that
    adds no visible loss (PNG for lossless or transparent sources, JPEG q95 4:4:4 for lossy)."""
    with Image.open(io.BytesIO(data)) as probe:
        fmt = probe.format
    if fmt == "JPEG":
        return data, ".jpg"
    if fmt == "PNG":
        return data, ".png"
    lossy = fmt == "WEBP" and not _webp_is_lossless(data)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    out = io.BytesIO()
    icc = im.info.get("icc_profile")
    if lossy and not has_alpha:
        im.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0, icc_profile=icc)
        return out.getvalue(), ".jpg"
    im.save(out, "PNG", optimize=False, icc_profile=icc)
    return out.getvalue(), ".png"


# -- the store ------------------------------------------------------------------------------------
class AddResult(enum.Enum):
    ADDED = "added"
    ALREADY_STORED = "already stored"  # an earlier run stored it: skipped without decoding
    DUPLICATE = "duplicate"  # same pixels as another stored photo
    TOO_SMALL = "too small"
    UNREADABLE = "unreadable"
    REMOVED = "removed (no longer listed)"


class PhotoStore:
    """Photos under ``root/<subdir>/<name>`` and their manifest at ``root/manifest.csv``.

    Call :meth:`add` for each candidate and :meth:`save` at the end (and after each package, so an
    interrupted run keeps its progress).
    """

    def __init__(self, root: str | Path, *, min_side: int = 256) -> None:
        self.root = Path(root)
        self.min_side = min_side
        self.manifest_path = self.root / MANIFEST_NAME
        self._rows: dict[str, ManifestRow] = {}
        if self.manifest_path.exists():
            for row in read_manifest(self.manifest_path):
                if (self.root / row.file).is_file():  # a deleted file is fetched again
                    self._rows[row.file] = row
                else:
                    log.info("%s is in the manifest but missing on disk; will re-extract", row.file)
        self._by_source = {(r.source_package, r.original_path): r for r in self._rows.values()}
        self._by_pixels = {r.pixels_sha256: r for r in self._rows.values() if r.pixels_sha256}

    @property
    def rows(self) -> list[ManifestRow]:
        return sorted(self._rows.values(), key=lambda r: r.file)

    def has(self, source_package: str, original_path: str) -> bool:
        return (source_package, original_path) in self._by_source

    def add(self, data: bytes, *, subdir: str, stem: str, provenance: Provenance) -> AddResult:
        """Verify, convert if needed, de-duplicate and write one photo. ``stem`` is the file name
        without extension (the extension follows the stored format)."""
        if self.has(provenance.source_package, provenance.original_path):
            return AddResult.ALREADY_STORED
        try:
            im = decode(data)
        except PhotoError as exc:
            log.warning("skipping %s:%s: %s", provenance.source_package, provenance.original_path, exc)
            return AddResult.UNREADABLE
        if min(im.size) < self.min_side:
            log.info(
                "skipping %s (%dx%d): shorter side under %d px",
                provenance.original_path,
                im.width,
                im.height,
                self.min_side,
            )
            return AddResult.TOO_SMALL
        pix = pixels_hash(im)
        if pix in self._by_pixels:
            log.info(
                "skipping %s:%s: same pixels as %s",
                provenance.source_package,
                provenance.original_path,
                self._by_pixels[pix].file,
            )
            return AddResult.DUPLICATE
        payload, ext = encode_for_storage(data, im)
        rel = f"{subdir}/{stem}{ext}"
        suffix = 2
        while rel in self._rows:  # two sources, one name (e.g. giraffe in two activities)
            rel = f"{subdir}/{stem}-{suffix}{ext}"
            suffix += 1
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(payload)
        os.replace(tmp, target)
        row = ManifestRow.from_provenance(
            provenance, file=rel, width=im.width, height=im.height, sha256=sha256_bytes(payload), pixels_sha256=pix
        )
        self._rows[rel] = row
        self._by_source[(row.source_package, row.original_path)] = row
        self._by_pixels[pix] = row
        return AddResult.ADDED

    def remove_package(self, source_package: str) -> int:
        """Forget (and delete) a package's photos, before re-extracting a new version of it."""
        return self._remove([r for r in self._rows.values() if r.source_package == source_package])

    def keep_only(self, sources: set[tuple[str, str]]) -> int:
        """Forget (and delete) every photo whose (source_package, original_path) is not in
        ``sources``: a listed set's folder then holds what its listing names, and no photo
        dropped from the listing stays behind. Returns how many went."""
        return self._remove([r for r in self._rows.values() if (r.source_package, r.original_path) not in sources])

    def _remove(self, gone: list[ManifestRow]) -> int:
        for row in gone:
            (self.root / row.file).unlink(missing_ok=True)
            del self._rows[row.file]
            self._by_source.pop((row.source_package, row.original_path), None)
            if self._by_pixels.get(row.pixels_sha256) is row:
                del self._by_pixels[row.pixels_sha256]
        return len(gone)

    def save(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return write_manifest(self.manifest_path, self._rows.values())
