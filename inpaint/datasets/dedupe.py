"""Check that no photo of one set (training) is a near-duplicate of a photo of another (evaluation).

Three tests, on small grayscale versions of every photo:

- exact: the same decoded pixels (the manifests' ``pixels_sha256``);
- frame: the correlation of 32x32 thumbnails of the whole frame and of its central square, also
  mirrored. Catches re-encoded, resized, mirrored and grayscale copies (they score >= 0.99);
- crop: normalised cross-correlation of one photo (at 96 px, mirrored too) slid over the other at
  scales 1.0 down to 0.5. Catches a photo that is a crop of the other, which the frame test misses.

Calibrated on the offline sets (docs/data.md): unrelated photos scored at most 0.76 (frame) and
0.84 (crop, smooth skies match loosely); synthetic copies of the evaluation photos cropped by 10%
scored 0.88-0.99 (fine textures such as grass lowest), re-encoded or halved copies >= 0.99. The
thresholds sit between; the command prints the closest pairs so a reader can judge the margin.

    python -m inpaint.datasets.dedupe /work/data/photos/train /work/data/photos/eval
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from inpaint.datasets.manifest import MANIFEST_NAME, read_manifest

log = logging.getLogger(__name__)

THUMB = 32  # frame test
CROP_SIDE = 96  # crop test: longer side
CROP_SCALES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)
FRAME_THRESHOLD = 0.92
CROP_THRESHOLD = 0.87
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Match:
    a: str
    b: str
    frame: float
    crop: float
    exact: bool

    @property
    def flagged(self) -> bool:
        return self.exact or self.frame >= FRAME_THRESHOLD or self.crop >= CROP_THRESHOLD


@dataclass(frozen=True)
class _Photo:
    name: str
    pixels: str  # hash, or "" when unknown
    thumbs: np.ndarray  # (4, THUMB*THUMB), rows zero-mean unit-norm
    small: np.ndarray  # (h, w) float32, longer side CROP_SIDE


def _load_gray(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.draft("L", (CROP_SIDE * 4, CROP_SIDE * 4))  # JPEG decodes at 1/2..1/8 scale: faster
        return ImageOps.exif_transpose(im).convert("L")


def frame_thumbnails(gray: Image.Image) -> np.ndarray:
    """(4, THUMB*THUMB): frame, central square, and both mirrored; each row zero-mean and
    unit-norm, so a dot product is a correlation coefficient."""
    side = min(gray.size)
    left, top = (gray.width - side) // 2, (gray.height - side) // 2
    square = gray.crop((left, top, left + side, top + side))
    views = []
    for view in (gray, square):
        small = view.resize((THUMB, THUMB), Image.Resampling.BOX)
        views += [small, ImageOps.mirror(small)]
    rows = np.stack([np.asarray(v, np.float32).ravel() for v in views])
    rows -= rows.mean(axis=1, keepdims=True)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True) + 1e-6  # a flat image stays ~0
    return rows


def _contained(big: np.ndarray, small: np.ndarray) -> float:
    """Best normalised cross-correlation of ``small``, rescaled to cover 100%..50% of ``big``'s
    width or height, at any position inside ``big``."""
    import cv2  # optional heavy import, only this check needs it

    best = -1.0
    big_h, big_w = big.shape
    for scale in CROP_SCALES:
        w = round(big_w * scale)
        h = round(small.shape[0] * w / small.shape[1])
        if h > big_h:  # fit by height instead
            h = round(big_h * scale)
            w = round(small.shape[1] * h / small.shape[0])
        if min(h, w) < 16 or h > big_h or w > big_w:
            continue
        template = cv2.resize(small, (w, h), interpolation=cv2.INTER_AREA)
        if template.std() < 1.0:  # a flat template correlates with anything
            continue
        best = max(best, float(cv2.matchTemplate(big, template, cv2.TM_CCOEFF_NORMED).max()))
    return best


def crop_score(a: np.ndarray, b: np.ndarray) -> float:
    """Whether either photo is (close to) a crop of the other, mirrored or not."""
    a_mirror, b_mirror = np.ascontiguousarray(a[:, ::-1]), np.ascontiguousarray(b[:, ::-1])
    return max(_contained(a, b), _contained(b, a), _contained(a_mirror, b), _contained(b_mirror, a))


def _photos(root: Path) -> list[_Photo]:
    """The photos listed in a folder's manifest, or every image file under it."""
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        entries = [(r.file, r.pixels_sha256) for r in read_manifest(manifest)]
    else:
        entries = [
            (p.relative_to(root).as_posix(), "") for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_EXTS
        ]
    photos = []
    for name, pixels in entries:
        gray = _load_gray(root / name)
        small = gray.copy()
        small.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.BOX)
        photos.append(_Photo(name, pixels, frame_thumbnails(gray), np.asarray(small, np.float32)))
    return photos


def compare_folders(a: Path, b: Path) -> list[Match]:
    """Every (a, b) pair's scores, most similar first."""
    photos_a, photos_b = _photos(a), _photos(b)
    if not photos_a or not photos_b:
        raise ValueError(f"nothing to compare: {a} has {len(photos_a)} photos, {b} {len(photos_b)}")
    thumbs_a = np.stack([p.thumbs[::2] for p in photos_a])  # (A, 2, D) unmirrored views
    thumbs_b = np.stack([p.thumbs for p in photos_b])  # (B, 4, D) all views
    frame = np.einsum("aid,bjd->abij", thumbs_a, thumbs_b).max(axis=(2, 3))  # (A, B)
    matches = [
        Match(
            pa.name,
            pb.name,
            float(frame[i, j]),
            crop_score(pa.small, pb.small),
            exact=bool(pa.pixels) and pa.pixels == pb.pixels,
        )
        for i, pa in enumerate(photos_a)
        for j, pb in enumerate(photos_b)
    ]
    return sorted(matches, key=lambda m: (not m.exact, -max(m.frame, m.crop)))


def print_report(matches: list[Match], *, show: int = 8) -> int:
    """Print the closest pairs; return how many are flagged."""
    flagged = [m for m in matches if m.flagged]
    print(
        f"{len(flagged)} near-duplicate pair(s) among {len(matches)} "
        f"(flagged: exact pixels, frame >= {FRAME_THRESHOLD} or crop >= {CROP_THRESHOLD}); "
        f"closest pairs:"
    )
    for m in matches[:show]:
        flag = "EXACT" if m.exact else ("NEAR" if m.flagged else "ok")
        print(f"  frame {m.frame:6.3f}  crop {m.crop:6.3f}  {flag:5} {m.a}  <->  {m.b}")
    return len(flagged)


def report_overlap(other: Path, out: Path, *, show: int = 5) -> int:
    """Print the closest pairs between another set's folder and ``out``; returns how many are
    (near-)duplicates."""
    print(f"overlap check: {other} against {out}")
    return print_report(compare_folders(other, out), show=show)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inpaint.datasets.dedupe", description="Report near-duplicate photos across two folders."
    )
    parser.add_argument("a", type=Path, help="first folder (e.g. the training photos)")
    parser.add_argument("b", type=Path, help="second folder (e.g. the evaluation photos)")
    parser.add_argument("--show", type=int, default=8, help="closest pairs to list")
    args = parser.parse_args(argv)
    return 1 if print_report(compare_folders(args.a, args.b), show=args.show) else 0


if __name__ == "__main__":
    sys.exit(main())
