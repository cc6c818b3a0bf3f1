"""A second damage generator, written independently of ``damage.py`` for testing detectors that
learned from it: vector strokes, blobs and specks of any width, opacity and colour.

It shares no rendering code or parameter ranges with ``synthesize_damage``. Each mark is drawn
with OpenCV's anti-aliased primitives on a canvas four times finer than the photo and averaged
down, which gives every pixel a coverage in [0, 1]; the mark's colour is blended in with
coverage times opacity. Marks:

- ``line``: a straight or gently curved stroke across part of the photo (scratches, hairs, pen);
- ``branch``: a polyline that forks once or twice (crack networks);
- ``blob``: a filled irregular polygon (stains, missing pieces, tape);
- ``speck``: clusters of small discs (dust, spots).

Widths are drawn from 1 to 20 pixels of the photo, opacity from 0.35 to 1 and colour from near
white, near black or a random tint, independently per mark. The result carries the truth three
ways: ``footprint`` (bool: coverage at least ``FOOTPRINT_COVERAGE``), ``width`` (uint8: the drawn width of the
mark covering each pixel, 0 outside, for rows by width) and ``kind`` (uint8: index into
``STROKE_KINDS`` + 1). Which of the footprint's pixels are plainly visible is measured against the
clean photo by the evaluation (``truth.truth_changes``), not assumed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

STROKE_KINDS: tuple[str, ...] = ("line", "branch", "blob", "speck")
WIDTH_RANGE = (1, 20)  # pixels of the photo
OPACITY_RANGE = (0.35, 1.0)
SUPERSAMPLE = 4
# A pixel belongs to a mark when the mark covers at least this much of it, i.e. every pixel the
# mark moved by more than 2 % of its contrast (at most 5 grey levels are left outside); whether a
# footprint pixel is plainly visible is the evaluation's measurement.
FOOTPRINT_COVERAGE = 0.02
_SHIFT = 4  # cv2's fixed-point coordinates: 4 fractional bits


@dataclass(frozen=True)
class StrokeDamage:
    damaged: np.ndarray  # uint8 (H, W, 3)
    footprint: np.ndarray  # bool (H, W), True = damage
    width: np.ndarray  # uint8 (H, W), the width of the mark on top, 0 = none
    kind: np.ndarray  # uint8 (H, W), STROKE_KINDS index + 1, 0 = none


def stroke_damage(
    photo: np.ndarray,
    rng: np.random.Generator,
    *,
    marks: int | None = None,
    kinds: tuple[str, ...] = STROKE_KINDS,
    widths: tuple[int, int] = WIDTH_RANGE,
) -> StrokeDamage:
    """Draw ``marks`` marks (default 3-9) of the given ``kinds``, each of a width drawn from
    ``widths`` (inclusive), on a copy of ``photo`` (uint8 (H, W, 3)); deterministic for a given
    generator state."""
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo must be a uint8 (H, W, 3) array, got {photo.dtype} {photo.shape}")
    unknown = [k for k in kinds if k not in STROKE_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {STROKE_KINDS}, got {kinds!r}")
    if not WIDTH_RANGE[0] <= widths[0] <= widths[1] <= WIDTH_RANGE[1]:
        raise ValueError(f"widths must be a range within {WIDTH_RANGE}, got {widths!r}")
    h, w = photo.shape[:2]
    out = photo.astype(np.float32)
    footprint = np.zeros((h, w), bool)
    width_map = np.zeros((h, w), np.uint8)
    kind_map = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(3, 10)) if marks is None else marks):
        kind = kinds[int(rng.integers(len(kinds)))]
        width = int(rng.integers(widths[0], widths[1] + 1))
        coverage = _coverage(kind, h, w, width, rng)
        opacity = float(rng.uniform(*OPACITY_RANGE))
        colour = _colour(rng)
        alpha = (coverage * opacity)[..., None]
        out = out * (1 - alpha) + colour * alpha
        drawn = coverage >= FOOTPRINT_COVERAGE
        footprint |= drawn
        width_map[drawn] = width
        kind_map[drawn] = STROKE_KINDS.index(kind) + 1
    damaged = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return StrokeDamage(damaged, footprint, width_map, kind_map)


def _colour(rng: np.random.Generator) -> np.ndarray:
    """Near white (a scratch through the emulsion), near black (dust, ink) or any tint."""
    pick = rng.random()
    if pick < 0.4:
        return np.full(3, rng.uniform(215, 255), np.float32)
    if pick < 0.8:
        return np.full(3, rng.uniform(0, 45), np.float32)
    return rng.uniform(0, 255, 3).astype(np.float32)


def _coverage(kind: str, h: int, w: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 in [0, 1]: the mark drawn at SUPERSAMPLE x resolution, averaged down."""
    s = SUPERSAMPLE
    canvas = np.zeros((h * s, w * s), np.uint8)
    thickness = canvas_thickness(width)
    if kind == "line":
        _polyline(canvas, _curve(rng, h, w, int(rng.integers(2, 5))), thickness)
    elif kind == "branch":
        trunk = _curve(rng, h, w, int(rng.integers(3, 7)))
        _polyline(canvas, trunk, thickness)
        for _ in range(int(rng.integers(1, 3))):
            start = trunk[int(rng.integers(1, len(trunk) - 1))]
            _polyline(canvas, _walk_from(rng, start, h, w, int(rng.integers(2, 5))), max(2, thickness // 2))
    elif kind == "blob":
        centre = rng.uniform((0, 0), (w, h))
        radius = rng.uniform(width, width * 4 + 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(6, 13))))
        radii = radius * rng.uniform(0.5, 1.3, len(angles))
        pts = centre + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], 1)
        cv2.fillPoly(canvas, [_fixed(pts * s)], 255, cv2.LINE_AA, _SHIFT)
    else:  # speck
        centre = rng.uniform((0, 0), (w, h))
        for _ in range(int(rng.integers(3, 15))):
            at = centre + rng.normal(0, 6 * width + 10, 2)
            cv2.circle(
                canvas, tuple(_fixed(at * s)[0]), int(max(1, width * s // 2) * 2**_SHIFT), 255, -1, cv2.LINE_AA, _SHIFT
            )
    return _downsample(canvas, h, w)


def _downsample(canvas: np.ndarray, h: int, w: int) -> np.ndarray:
    """The SUPERSAMPLE x canvas (uint8, 255 = drawn) as (H, W) coverage in [0, 1]."""
    small = cv2.resize(canvas.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0.0, 1.0)


def canvas_thickness(width: int) -> int:
    """The cv2 thickness on the SUPERSAMPLE x canvas that draws a stroke ``width`` photo pixels
    wide: OpenCV's anti-aliased thick lines come out about 1.5 canvas pixels wider than asked."""
    return max(2, width * SUPERSAMPLE - 2)


def _curve(rng: np.random.Generator, h: int, w: int, bends: int) -> np.ndarray:
    """(N, 2) points (x, y) in photo pixels: a path from one random point across the photo,
    bending a little at each of its ``bends`` joints."""
    start = rng.uniform((0, 0), (w, h))
    length = rng.uniform(0.2, 1.0) * np.hypot(h, w)
    heading = rng.uniform(0, 2 * np.pi)
    points = [start]
    for _ in range(bends):
        heading += rng.normal(0, 0.35)
        points.append(points[-1] + length / bends * np.array([np.cos(heading), np.sin(heading)]))
    return np.array(points)


def _walk_from(rng: np.random.Generator, start: np.ndarray, h: int, w: int, steps: int) -> np.ndarray:
    heading = rng.uniform(0, 2 * np.pi)
    step = rng.uniform(0.03, 0.12) * np.hypot(h, w)
    points = [start]
    for _ in range(steps):
        heading += rng.normal(0, 0.6)
        points.append(points[-1] + step * np.array([np.cos(heading), np.sin(heading)]))
    return np.array(points)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(np.atleast_2d(points) * 2**_SHIFT).astype(np.int32)


def _polyline(canvas: np.ndarray, points: np.ndarray, thickness: int) -> None:
    cv2.polylines(canvas, [_fixed(points * SUPERSAMPLE)], False, 255, thickness, cv2.LINE_AA, _SHIFT)
