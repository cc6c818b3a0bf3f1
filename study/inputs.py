"""Plain data the app and researchers hand to the study layer.

The restoration library produces candidates (an image plus the parameters that made it); the app
turns each into a `CandidateInfo`. Nothing here touches the database or decodes images, so the app
can build these objects without importing anything heavy. Validation happens in `checked()`,
called by the recording functions, so a bad value is reported with the field it came from.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from dataclasses import dataclass, field, replace

from study.errors import StudyError
from study.models import DEFAULT_FINISH, condition_key

_FINISH = re.compile(r"[a-z][a-z0-9_-]{0,15}")

_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    """SHA-256 of file bytes, lowercase hex: the identity of photos, masks and candidate images."""
    return hashlib.sha256(data).hexdigest()


def as_int(value: object) -> int | None:
    """`value` as a Python int when it is an integer (numpy's included, bool excluded), else None.

    The app may hand over numpy integers (seeds, ids read from arrays); they are as valid as
    Python ints but must not reach the database driver as numpy types.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def _resolve_hash(what: str, sha256: str | None, data: bytes | None) -> str:
    """The given hash (checked against the bytes when both are present) or the bytes' hash."""
    if sha256 is None:
        if data is None:
            raise StudyError(f"{what}: give the image bytes or their sha256")
        return sha256_hex(data)
    sha256 = sha256.lower()
    if not _SHA256.fullmatch(sha256):
        raise StudyError(f"{what}: sha256 must be 64 hexadecimal characters, got {sha256!r}")
    if data is not None and sha256_hex(data) != sha256:
        raise StudyError(f"{what}: sha256 does not match the image bytes")
    return sha256


def _check_size(what: str, width: int, height: int) -> tuple[int, int]:
    w, h = as_int(width), as_int(height)
    if w is None or h is None or w <= 0 or h <= 0:
        raise StudyError(f"{what}: width and height must be positive integers, got {width}x{height}")
    return w, h


@dataclass(frozen=True)
class PhotoInfo:
    """An original photo. `image_bytes` is stored only when given (the person agreed, or the
    researcher supplied it); the hash and size are always stored."""

    width: int
    height: int
    sha256: str | None = None
    image_bytes: bytes | None = field(default=None, repr=False)

    def checked(self) -> PhotoInfo:
        width, height = _check_size("photo", self.width, self.height)
        sha256 = _resolve_hash("photo", self.sha256, self.image_bytes)
        return replace(self, width=width, height=height, sha256=sha256)


@dataclass(frozen=True)
class MaskInfo:
    """A damage mask for a photo. `hole_ratio` is the damaged fraction of the pixels (0..1)."""

    width: int
    height: int
    hole_ratio: float
    sha256: str | None = None
    image_bytes: bytes | None = field(default=None, repr=False)

    def checked(self) -> MaskInfo:
        width, height = _check_size("mask", self.width, self.height)
        ratio = self.hole_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 <= ratio <= 1:
            raise StudyError(f"mask: hole_ratio must be between 0 and 1, got {ratio!r}")
        return replace(
            self,
            width=width,
            height=height,
            hole_ratio=float(ratio),
            sha256=_resolve_hash("mask", self.sha256, self.image_bytes),
        )


@dataclass(frozen=True)
class CandidateInfo:
    """One restoration and the parameters that produced it.

    `method` names the algorithm (e.g. "pconv", "telea", "biharmonic"); `dilation` is the mask
    dilation in pixels, `dropout` the test-time dropout rate (0 for deterministic methods) and
    `finish` how the fill was made beyond its method ("plain"; "grain": the photo's own grain
    added; "sharp": the sharpened network): together they form the candidate's condition. `seed` and `model_version` make it
    reproducible. `image_bytes` is stored when given.
    """

    method: str
    dilation: int = 0
    dropout: float = 0.0
    seed: int | None = None
    model_version: str = ""
    image_sha256: str | None = None
    image_bytes: bytes | None = field(default=None, repr=False)
    finish: str = DEFAULT_FINISH

    @property
    def condition(self) -> str:
        return condition_key(self.method, self.dilation, self.dropout, self.finish)

    def checked(self) -> CandidateInfo:
        what = f"candidate {self.method!r}"
        if not isinstance(self.method, str) or not self.method.strip() or len(self.method) > 64:
            raise StudyError("candidate: method must be a non-empty name of at most 64 characters")
        if "/" in self.method:
            raise StudyError(f"{what}: method must not contain '/' (it separates condition parts)")
        dilation = as_int(self.dilation)
        if dilation is None or dilation < 0:
            raise StudyError(f"{what}: dilation must be an integer >= 0, got {self.dilation!r}")
        dropout = self.dropout
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, numbers.Real)
            or not (math.isfinite(dropout) and 0.0 <= dropout < 1.0)
        ):
            raise StudyError(f"{what}: dropout must be a rate in [0, 1), got {dropout!r}")
        seed = None if self.seed is None else as_int(self.seed)
        if self.seed is not None and seed is None:
            raise StudyError(f"{what}: seed must be an integer or None, got {self.seed!r}")
        if not isinstance(self.finish, str) or not _FINISH.fullmatch(self.finish):
            raise StudyError(
                f"{what}: finish must be a lowercase name of at most 16 characters (plain, grain, sharp), got {self.finish!r}"
            )
        if not isinstance(self.model_version, str) or len(self.model_version) > 128:
            raise StudyError(f"{what}: model_version must be a string of at most 128 characters")
        return replace(
            self,
            method=self.method.strip(),
            dilation=dilation,
            dropout=float(dropout),
            seed=seed,
            image_sha256=_resolve_hash(what, self.image_sha256, self.image_bytes),
        )


@dataclass(frozen=True)
class StudyItemInfo:
    """One photo + mask of a controlled study and its precomputed candidates."""

    photo: PhotoInfo
    mask: MaskInfo
    candidates: tuple[CandidateInfo, ...]
    label: str = ""
    """Where the item came from (e.g. the mask's file name), for error messages."""
