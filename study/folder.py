"""Reading a controlled study from a folder of images and a manifest.

Layout (paths in the manifest are relative to the folder; sub-folder names are free)::

    my-study/
      candidates.csv        one row per precomputed candidate (or candidates.json)
      photos/p01.png        the damaged photographs
      masks/p01.png         their damage masks: white = damaged, black = intact
      candidates/p01-pconv-d2-s0.png  ...

Manifest columns (CSV header, or keys of each object in a JSON list):

    photo, mask, image          required: paths of the photo, its mask and this candidate
    method                      required: e.g. pconv, telea, ns, biharmonic, patchmatch
    dilation                    optional int, default 0 (mask dilation in pixels)
    dropout                     optional float in [0, 1), default 0
    finish                      optional: plain (default), grain (the photo's grain added) or sharp
    seed                        optional int, empty = none
    model_version               optional string, default ""
    hole_ratio                  optional float; default: computed from the mask image

Rows sharing a (photo, mask) pair form one study item. Candidates must have the photo's size
(restorations are delivered at full resolution). Images are decoded with Pillow only to read
their size and the mask's hole ratio; the stored bytes are the files' own bytes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from study.errors import StudyError
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, StudyItemInfo, sha256_hex
from study.models import DEFAULT_FINISH

MANIFEST_NAMES = ("candidates.csv", "candidates.json")
REQUIRED_COLUMNS = ("photo", "mask", "image", "method")
OPTIONAL_COLUMNS = ("dilation", "dropout", "finish", "seed", "model_version", "hole_ratio")


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise StudyError(f"{path}: expected a JSON list of objects")
            return rows
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise StudyError(f"cannot read manifest {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise StudyError(f"{path} is not valid JSON: {error}") from None


def _find_manifest(folder: Path, manifest: Path | None) -> Path:
    if manifest is not None:
        path = manifest if manifest.is_absolute() else folder / manifest
        if not path.is_file():
            raise StudyError(f"manifest {path} not found")
        return path
    for name in MANIFEST_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise StudyError(f"no {' or '.join(MANIFEST_NAMES)} in {folder}")


class _Images:
    """Reads each file once and caches its bytes, size and (for masks) hole ratio."""

    def __init__(self, folder: Path, hole_is_white: bool) -> None:
        self.folder = folder.resolve()
        self.hole_is_white = hole_is_white
        self._cache: dict[str, tuple[bytes, int, int, float | None]] = {}

    def read(self, relative: str, *, row: int, column: str, mask: bool = False) -> tuple[bytes, int, int, float | None]:
        from PIL import Image, UnidentifiedImageError  # Pillow only for folder studies

        if not relative:
            raise StudyError(f"manifest row {row}: column {column!r} is empty")
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder):
            raise StudyError(f"manifest row {row}: {relative!r} points outside the study folder")
        key = f"{path}|{mask}"
        if key not in self._cache:
            try:
                data = path.read_bytes()
                with Image.open(path) as image:
                    width, height = image.size
                    ratio = self._hole_ratio(image) if mask else None
            except FileNotFoundError:
                raise StudyError(f"manifest row {row}: {column} file {relative!r} not found") from None
            except (OSError, UnidentifiedImageError):
                raise StudyError(f"manifest row {row}: {relative!r} is not a readable image") from None
            self._cache[key] = (data, width, height, ratio)
        return self._cache[key]

    def _hole_ratio(self, image: Any) -> float:
        histogram = image.convert("L").histogram()  # 256 bins
        total = sum(histogram)
        white = sum(histogram[128:])
        return (white if self.hole_is_white else total - white) / total


def _number(row: Mapping[str, Any], column: str, kind: type, default: Any, index: int) -> Any:
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        if kind is int and isinstance(value, str):
            return int(value.strip())
        return kind(value)
    except (TypeError, ValueError):
        raise StudyError(f"manifest row {index}: {column} must be {kind.__name__}, got {value!r}") from None


def load_study_folder(
    folder: str | Path,
    *,
    manifest: str | Path | None = None,
    hole_is_white: bool = True,
) -> list[StudyItemInfo]:
    """Read the study items described by the folder's manifest (see the module docstring).

    Manifest rows are numbered from 1 in error messages (the CSV header is row 0).
    """
    root = Path(folder)
    if not root.is_dir():
        raise StudyError(f"study folder {root} does not exist")
    manifest_path = _find_manifest(root, Path(manifest) if manifest is not None else None)
    rows = _read_manifest(manifest_path)
    if not rows:
        raise StudyError(f"{manifest_path} lists no candidates")
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0]]
    if missing:
        raise StudyError(f"{manifest_path}: missing column(s) {', '.join(missing)}")

    images = _Images(root, hole_is_white)
    grouped: dict[tuple[str, str], tuple[PhotoInfo, MaskInfo, list[CandidateInfo]]] = {}
    for index, row in enumerate(rows, start=1):
        photo_path, mask_path = str(row.get("photo") or ""), str(row.get("mask") or "")
        key = (photo_path, mask_path)
        if key not in grouped:
            p_data, p_w, p_h, _ = images.read(photo_path, row=index, column="photo")
            m_data, m_w, m_h, ratio = images.read(mask_path, row=index, column="mask", mask=True)
            if (m_w, m_h) != (p_w, p_h):
                raise StudyError(
                    f"manifest row {index}: mask {mask_path!r} is {m_w}x{m_h} but the photo is {p_w}x{p_h}"
                )
            hole_ratio = _number(row, "hole_ratio", float, ratio, index)
            grouped[key] = (
                PhotoInfo(width=p_w, height=p_h, sha256=sha256_hex(p_data), image_bytes=p_data),
                MaskInfo(
                    width=m_w,
                    height=m_h,
                    hole_ratio=hole_ratio,
                    sha256=sha256_hex(m_data),
                    image_bytes=m_data,
                ),
                [],
            )
        photo, _, candidates = grouped[key]
        image_path = str(row.get("image") or "")
        c_data, c_w, c_h, _ = images.read(image_path, row=index, column="image")
        if (c_w, c_h) != (photo.width, photo.height):
            raise StudyError(
                f"manifest row {index}: candidate {image_path!r} is {c_w}x{c_h} but its photo is "
                f"{photo.width}x{photo.height}"
            )
        info = CandidateInfo(
            method=str(row.get("method") or ""),
            dilation=_number(row, "dilation", int, 0, index),
            dropout=_number(row, "dropout", float, 0.0, index),
            finish=str(row.get("finish") or DEFAULT_FINISH),
            seed=_number(row, "seed", int, None, index),
            model_version=str(row.get("model_version") or ""),
            image_sha256=sha256_hex(c_data),
            image_bytes=c_data,
        )
        try:
            candidates.append(info.checked())
        except StudyError as error:
            raise StudyError(f"manifest row {index}: {error}") from None
    return [
        StudyItemInfo(photo=photo, mask=mask, candidates=tuple(cands), label=f"{mask_path!r}")
        for (_, mask_path), (photo, mask, cands) in grouped.items()
    ]
