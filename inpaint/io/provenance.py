"""Provenance of a restoration: which pixels it replaced, how it was made, and which original it
belongs to, so that anyone can check that every other pixel is the original's.

A record is one JSON object (``make_record``)::

    {"format": "inpaint-provenance", "version": 1,
     "original": {"width": W, "height": H, "kind": "rgb", "dtype": "uint8", "channels": 3,
                  "pixels_sha256": "..."},
     "candidate": {"method": "pconv", "dilation": 2, "dropout": 0.0, "seed": 0,
                   "model_version": "...", ...},
     "replaced": {"pixels": N, "bbox": [left, top, right, bottom] or null,
                  "mask_png_base64": "..."}}

``pixels_sha256`` is the SHA-256 of the original's decoded pixels (``open_photo(...).data``:
row-major, channels last, 16-bit values little-endian), so it names the picture, not its file.
``candidate`` is the candidate's ``CandidateSpec`` as a dict, whatever its fields. The mask is a
1-bit PNG of the photo's size, white = replaced, in base64; ``bbox`` is its bounding box (right
and bottom exclusive).

Where it is stored (``save_restoration``): in the restored file itself when its format allows, a
PNG's uncompressed iTXt chunk ``inpaint-provenance`` or a TIFF's ImageDescription tag, and/or in a
sidecar ``NAME.provenance.json`` beside ``NAME.png``; a 16-bit RGB PNG (written by OpenCV) always
gets the sidecar. ``verify`` reads a record back and compares the restoration with an original.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .photos import Photo, carries_text, open_photo, save_image

if TYPE_CHECKING:
    from ..restoration.candidates import Candidate

FORMAT = "inpaint-provenance"
VERSION = 1
PNG_KEY = "inpaint-provenance"  # the iTXt chunk's keyword
TIFF_DESCRIPTION = 270  # the ImageDescription tag
SIDECAR_SUFFIX = ".provenance.json"

_KIND_NAMES = {
    "rgb": "RGB 8-bit",
    "rgba": "RGBA 8-bit",
    "gray": "grey 8-bit",
    "la": "grey + alpha 8-bit",
    "gray16": "grey 16-bit",
    "rgb16": "RGB 16-bit",
    "cmyk": "CMYK 8-bit",
}


class ProvenanceError(ValueError):
    """A record that is missing, unreadable or malformed, or a file that cannot be read."""


# --- making and writing records -------------------------------------------------------------


def pixels_sha256(data: np.ndarray) -> str:
    """SHA-256 (hex) of an array of pixels: its values row-major, 16-bit ones little-endian."""
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    return hashlib.sha256(data.tobytes()).hexdigest()


def describe_original(photo: Photo) -> dict[str, Any]:
    """What a record says about the original: its size, representation and pixel hash."""
    h, w = photo.data.shape[:2]
    return {
        "width": w,
        "height": h,
        "kind": photo.kind,
        "dtype": str(photo.data.dtype),
        "channels": 1 if photo.data.ndim == 2 else int(photo.data.shape[2]),
        "pixels_sha256": pixels_sha256(photo.data),
    }


def encode_mask(replaced: np.ndarray) -> str:
    """A bool (H, W) mask as base64 of a 1-bit PNG, white = True."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(replaced, bool)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_mask(text: str, size: tuple[int, int]) -> np.ndarray:
    """The bool (H, W) mask of ``encode_mask``; ``size`` (width, height) must be its size."""
    try:
        raw = base64.b64decode(text, validate=True)
        im = Image.open(io.BytesIO(raw))
        if im.format != "PNG" or im.size != tuple(size):
            raise ProvenanceError(
                f"its mask is a {im.format} of {im.size[0]}x{im.size[1]}, not a PNG of {size[0]}x{size[1]}"
            )
        im.load()
    except (binascii.Error, UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as e:
        raise ProvenanceError(f"its mask cannot be read ({str(e).splitlines()[0] or type(e).__name__})") from None
    return np.asarray(im.convert("L")) > 127


def _bbox(mask: np.ndarray) -> list[int] | None:
    """[left, top, right, bottom] of the True pixels (right and bottom exclusive), or None."""
    if not mask.any():
        return None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


def make_record(original: Photo | dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    """The record of ``candidate`` (its spec and the pixels it replaced) restoring ``original``
    (a Photo, or ``describe_original`` of it, computed once for many candidates)."""
    if isinstance(original, Photo):
        original = describe_original(original)
    replaced = np.asarray(candidate.replaced, bool)
    if replaced.shape != (original["height"], original["width"]):
        raise ValueError(
            f"the replaced mask is {replaced.shape[::-1]}, the photo {original['width']}x{original['height']}"
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "original": dict(original),
        "candidate": candidate.spec.as_dict(),
        "replaced": {
            "pixels": int(replaced.sum()),
            "bbox": _bbox(replaced),
            "mask_png_base64": encode_mask(replaced),
        },
    }


def sidecar_path(path: str | os.PathLike) -> Path:
    """``NAME.provenance.json`` beside ``NAME.png``."""
    path = Path(path)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class Saved:
    """Where a restoration went: the image file, whether it carries its record, and the sidecar
    (None if none was written)."""

    path: Path
    embedded: bool
    sidecar: Path | None


def save_restoration(
    image: Image.Image | np.ndarray,
    path: str | os.PathLike,
    record: dict[str, Any],
    *,
    compress_level: int = 6,
    sidecar: bool | None = None,
) -> Saved:
    """Save a restoration losslessly (``save_image``) with its record: embedded where the format
    allows, and in a sidecar when ``sidecar`` is True, or, if it is None, only when the file cannot
    carry the record."""
    embedded = carries_text(image)
    text = json.dumps(record, separators=(",", ":"), default=str)
    path = save_image(image, path, compress_level, text={PNG_KEY: text} if embedded else None)
    side = None
    if sidecar or (sidecar is None and not embedded):
        side = sidecar_path(path)
        side.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return Saved(path, embedded, side)


# --- reading records -------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """A record read back: the original's description, the candidate's spec, the replaced mask
    (bool (H, W), True = replaced) and where the record was found."""

    original: dict[str, Any]
    candidate: dict[str, Any]
    replaced: np.ndarray
    source: str


def _embedded_text(raw: bytes) -> tuple[str, str] | None:
    """(the record text a PNG or TIFF carries, where it is), or None."""
    try:
        im = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return None
    if im.format == "PNG":
        text = im.info.get(PNG_KEY)
        if text is None:  # a chunk after the pixels (other tools may move it) is read with them
            try:
                im.load()
            except (OSError, SyntaxError, ValueError):
                return None
            text = im.info.get(PNG_KEY)
        return (str(text), f"PNG chunk {PNG_KEY}") if text is not None else None
    if im.format == "TIFF":
        text = im.tag_v2.get(TIFF_DESCRIPTION)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str) and FORMAT in text[:200]:
            return text, "TIFF ImageDescription"
    return None


def parse_record(text: str | bytes, where: str) -> Provenance:
    """A record from its JSON text; ``where`` names it in messages and in ``source``."""
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProvenanceError(f"the provenance record in {where} is corrupt (not JSON: {e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ProvenanceError(f"{where} is not an {FORMAT} record")
    if record.get("version") != VERSION:
        raise ProvenanceError(
            f"{where} is a version {record.get('version')} record; this program reads version {VERSION}"
        )
    try:
        original, candidate, replaced = record["original"], record["candidate"], record["replaced"]
        size = (int(original["width"]), int(original["height"]))
        str(original["pixels_sha256"])
        mask_text = replaced["mask_png_base64"]
        if not isinstance(candidate, dict) or not isinstance(mask_text, str):
            raise TypeError("wrong types")
    except (KeyError, TypeError, ValueError) as e:
        raise ProvenanceError(f"the provenance record in {where} is incomplete ({type(e).__name__}: {e})") from None
    try:
        mask = decode_mask(mask_text, size)
    except ProvenanceError as e:
        raise ProvenanceError(f"the provenance record in {where} is corrupt: {e}") from None
    return Provenance(original, candidate, mask, where)


def read_provenance(restored: str | os.PathLike, sidecar: str | os.PathLike | None = None) -> Provenance:
    """The record of the restoration at ``restored``: from ``sidecar`` if given, else the one the
    file carries, else ``NAME.provenance.json`` beside it."""
    restored = Path(restored)
    if sidecar is not None:
        return _read_sidecar(Path(sidecar))
    if not restored.is_file():
        raise ProvenanceError(f"{restored} does not exist or is not a file")
    found = _embedded_text(restored.read_bytes())
    if found is not None:
        return parse_record(found[0], f"{restored.name}'s {found[1]}")
    beside = sidecar_path(restored)
    if beside.is_file():
        return _read_sidecar(beside)
    raise ProvenanceError(
        f"{restored.name} carries no provenance record and there is no {beside.name} beside it "
        "(give the record with --provenance)"
    )


def _read_sidecar(path: Path) -> Provenance:
    if not path.is_file():
        raise ProvenanceError(f"the provenance file {path} does not exist")
    return parse_record(path.read_bytes(), path.name)


# --- verifying -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``verify``: ``ok``, a one-line ``message``, and the figures behind it
    (``differing``: pixels outside the replaced region that differ; ``bbox``: their bounding box,
    right and bottom exclusive)."""

    ok: bool
    message: str
    replaced: int = 0
    differing: int = 0
    bbox: list[int] | None = None
    provenance: Provenance | None = None


def _open(path: Path, what: str) -> Photo:
    if not path.is_file():
        raise ProvenanceError(f"the {what} {path} does not exist or is not a file")
    try:
        return open_photo(path)
    except ValueError as e:
        raise ProvenanceError(f"the {what} {path.name}: {str(e).splitlines()[0]}") from None


def _kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, kind)


def verify(
    original: str | os.PathLike, restored: str | os.PathLike, sidecar: str | os.PathLike | None = None
) -> Verdict:
    """Check that every pixel of ``restored`` outside the region its record says was replaced is
    bit-identical to ``original``, in the original's own representation. Raises
    ``ProvenanceError`` when a file cannot be read or there is no usable record; a verdict that
    is not ``ok`` says why (the original is not the one recorded, the sizes or representations
    differ, or how many pixels differ outside the mask and where)."""
    original, restored = Path(original), Path(restored)
    record = read_provenance(restored, sidecar)
    before = _open(original, "original")
    mask = record.replaced
    expected = record.original
    digest = pixels_sha256(before.data)
    w, h = before.size
    recorded_size = (int(expected["width"]), int(expected["height"]))
    if digest != expected["pixels_sha256"] or (w, h) != recorded_size:
        size_note = f" (and it is {w}x{h}, the recorded one {recorded_size[0]}x{recorded_size[1]})"
        return Verdict(
            False,
            f"FAILED: {original.name} is not the original {restored.name} was made from: its pixels' SHA-256 "
            f"is {digest[:12]}..., the record's {str(expected['pixels_sha256'])[:12]}..."
            + (size_note if (w, h) != recorded_size else ""),
            provenance=record,
        )
    after = _open(restored, "restoration")
    if after.size != before.size:
        return Verdict(
            False,
            f"FAILED: the sizes differ: {restored.name} is {after.size[0]}x{after.size[1]}, {original.name} {w}x{h}",
            provenance=record,
        )
    if after.data.shape != before.data.shape or after.data.dtype != before.data.dtype:
        return Verdict(
            False,
            f"FAILED: {restored.name} holds {_kind_name(after.kind)} pixels, {original.name} "
            f"{_kind_name(before.kind)}: a restoration keeps the original's representation",
            provenance=record,
        )
    changed = before.data != after.data
    if changed.ndim == 3:
        changed = changed.any(axis=2)
    outside = changed & ~mask
    replaced = int(mask.sum())
    method = record.candidate.get("method", "unknown method")
    model = record.candidate.get("model_version")
    made = f"{method}" + (f", model {model}" if model else "")
    if outside.any():
        box = _bbox(outside)
        assert box is not None
        n = int(outside.sum())
        return Verdict(
            False,
            f"FAILED: {n} pixel{'s' if n != 1 else ''} outside the {replaced} replaced pixels "
            f"differ{'s' if n == 1 else ''} from {original.name}, within x {box[0]}-{box[2] - 1}, "
            f"y {box[1]}-{box[3] - 1} (record: {record.source})",
            replaced=replaced,
            differing=n,
            bbox=box,
            provenance=record,
        )
    share = replaced / mask.size
    return Verdict(
        True,
        f"OK: {restored.name} is bit-identical to {original.name} outside the {replaced} replaced pixels "
        f"({share:.2%}; {made}; record: {record.source})",
        replaced=replaced,
        provenance=record,
    )
