"""Random hole masks for training and for the paper-style evaluation.

Liu et al. score inpainting on irregular masks binned by their hole-to-image ratio, (0.01, 0.1]
to (0.5, 0.6] (``HOLE_BINS``, ``hole_bin``), with and without holes touching the image border.
``random_irregular_mask`` draws such a mask in any bin at any size: thick strokes and blobs like
the paper's masks, thin scratch-like lines, or a mix of both.

A mask is a bool ``(H, W)`` array with True = KNOWN pixel and False = hole (the library's
convention). Randomness always comes from a ``numpy.random.Generator`` passed in; there is no
global state, so the same generator state gives the same mask. Torch is not needed here.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

# The paper's hole-to-image ratio bins, intervals (lo, hi].
HOLE_BINS: tuple[tuple[float, float], ...] = (
    (0.01, 0.1),
    (0.1, 0.2),
    (0.2, 0.3),
    (0.3, 0.4),
    (0.4, 0.5),
    (0.5, 0.6),
)


def hole_bin(ratio: float) -> int | None:
    """Index of the ``HOLE_BINS`` interval (lo, hi] holding ``ratio``, or None outside them all."""
    for index, (low, high) in enumerate(HOLE_BINS):
        if low < ratio <= high:
            return index
    return None


MaskStyle = Literal["strokes", "thin", "mixed"]


# Shape probabilities per style: (thick stroke, thin line, blob).
_SHAPE_MIX: dict[str, tuple[float, float, float]] = {
    "strokes": (0.8, 0.0, 0.2),
    "thin": (0.0, 1.0, 0.0),
    "mixed": (0.45, 0.45, 0.1),
}


# Hole range when none is asked for: thin lines covering 60 % of an image would not be "thin".
_STYLE_HOLE_RANGE: dict[str, tuple[float, float]] = {
    "strokes": (0.01, 0.6),
    "thin": (0.002, 0.05),
    "mixed": (0.01, 0.3),
}


def random_irregular_mask(
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    hole_range: tuple[float, float] | None = None,
    border: bool | None = None,
    style: MaskStyle = "strokes",
    max_tries: int = 2000,
) -> np.ndarray:
    """A random free-form mask (bool (H, W), True = known) in the style of the paper's masks.

    Shapes are added one at a time until the hole ratio reaches a target drawn uniformly inside
    ``hole_range`` (lo, hi]; a shape that would push the ratio above hi is rejected and the shapes
    shrink, so every range, from (0.01, 0.1] to (0.5, 0.6], is hit at any size from 64 px up.
    Shape sizes grow with the target, so large holes are a few thick strokes, not a thousand thin
    ones. ``hole_range=None`` means the style's natural range: strokes (0.01, 0.6], thin
    (0.002, 0.05], mixed (0.01, 0.3].

    Styles:
    - "strokes": thick polylines with random turns, widths and lengths, plus ellipse blobs;
    - "thin": 1-4 px long, slightly curved lines with occasional branches: scratches and creases,
      what damage on old photos mostly is (widths scale up past 512x512);
    - "mixed": both, plus a few blobs.

    ``border``: a hole "touches the border" when at least one damaged pixel lies on the outermost
    ring of the image (row 0, row H-1, column 0 or column W-1), where the paper's "holes close to
    the border" test a network's padding. True: the first shape starts on that ring, so the mask
    touches it. False: the ring is kept known (shapes are clipped one pixel inside). None: either.

    Deterministic for a given ``rng`` state. A draw that has not reached the bin after
    ``max_tries`` shapes starts over; RuntimeError after 10 such draws, ValueError for impossible
    requests.
    """
    _check_dims(height, width)
    if style not in _SHAPE_MIX:
        raise ValueError(f"unknown mask style {style!r}; use one of {tuple(_SHAPE_MIX)}")
    low, high = _check_hole_range(hole_range if hole_range is not None else _STYLE_HOLE_RANGE[style])
    total = height * width
    if math.floor(high * total) <= low * total:
        raise ValueError(f"no whole number of pixels of a {width}x{height} mask has a hole ratio in ({low}, {high}]")
    if border is False and (height - 2) * (width - 2) <= low * total:
        raise ValueError(f"a {width}x{height} mask without holes on its border ring cannot exceed ratio {low}")

    # A draw whose shapes shrink to nothing before reaching the bin starts over (with the same
    # generator, so results stay deterministic; about one draw in 10^4 at 128 px in (0.5, 0.6]).
    for _attempt in range(_MASK_ATTEMPTS):
        known = _draw_mask(height, width, rng, low, high, border, style, max_tries)
        if known is not None:
            return known
    raise RuntimeError(
        f"random_irregular_mask: no {width}x{height} mask in ({low}, {high}] after {_MASK_ATTEMPTS} x {max_tries} shapes"
    )


_MASK_ATTEMPTS = 10


def _draw_mask(
    height: int,
    width: int,
    rng: np.random.Generator,
    low: float,
    high: float,
    border: bool | None,
    style: str,
    max_tries: int,
) -> np.ndarray | None:
    """One attempt of ``random_irregular_mask``: the known mask, or None after ``max_tries`` shapes."""
    total = height * width
    target = rng.uniform(low, high)
    grow = 0.5 + 2.2 * target  # bigger targets, bigger shapes: fewer of them
    diagonal = math.hypot(height, width)
    damage = np.zeros((height, width), np.uint8)
    damaged = misses = 0
    for _ in range(max_tries):
        touching = border is not True or touches_border(damage)
        # The target is a soft goal inside the bin: stop when reached, or when inside the bin and
        # shapes keep overshooting (a few thin lines of fixed width may never fit the last gap).
        if damaged > low * total and touching and (damaged >= target * total or misses >= 8):
            return damage == 0
        candidate = damage.copy()
        _add_random_shape(candidate, rng, style, diagonal, grow, anchored=not touching)
        if border is False:
            candidate[[0, -1], :] = 0
            candidate[:, [0, -1]] = 0
        count = cv2.countNonZero(candidate)
        if count > high * total:
            grow *= 0.7  # too big: try smaller shapes from now on
            misses += 1
            continue
        damage, damaged, misses = candidate, count, 0
    return None


def _check_dims(height: int, width: int) -> None:
    if int(height) != height or int(width) != width or height < 1 or width < 1:
        raise ValueError(f"height and width must be positive integers, got {height!r} x {width!r}")


def _check_hole_range(hole_range: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(v) for v in hole_range)
    if not 0 <= low < high <= 1:
        raise ValueError(f"hole_range must be (lo, hi) with 0 <= lo < hi <= 1, got {hole_range!r}")
    return low, high


def touches_border(damage: np.ndarray) -> bool:
    """Whether a damaged (non-zero) pixel lies on the image's outermost ring: the paper's "holes
    close to the border"."""
    return bool(damage[0].any() or damage[-1].any() or damage[:, 0].any() or damage[:, -1].any())


def _add_random_shape(
    damage: np.ndarray, rng: np.random.Generator, style: str, diagonal: float, grow: float, anchored: bool
) -> None:
    """Draw one random shape (255) into ``damage``; ``anchored`` starts it on the border ring.

    Random numbers are drawn in a few batches: this runs tens of times per mask, and each
    Generator call costs microseconds (the training loop makes masks on the fly).
    """
    height, width = damage.shape
    p_stroke, p_thin, _ = _SHAPE_MIX[style]
    u = rng.random(6)  # pick, x, y, heading, thickness, count
    if anchored:
        start, heading = _border_start(rng, height, width)
    else:
        start, heading = np.array([u[1] * width, u[2] * height]), u[3] * 2 * math.pi

    if u[0] < p_stroke or (anchored and u[0] >= p_stroke + p_thin):  # no blobs on the border
        thickness = max(1, round(diagonal * (0.01 + 0.025 * u[4]) * grow))
        n = 1 + int(u[5] * 5)
        turns = 0.7 * rng.standard_normal(n)
        steps = diagonal * grow * (0.04 + 0.1 * rng.random(n))
        points = _walk(start, heading, turns, steps)
        cv2.polylines(damage, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_8)
    elif u[0] < p_stroke + p_thin:
        thickness = (1 + int(u[4] * 4)) * max(1, round(diagonal / 724))
        n = 6 + int(u[5] * 10)
        turns = 0.15 * rng.standard_normal(n)
        steps = diagonal * grow * (0.02 + 0.04 * rng.random(n))
        points = _walk(start, heading, turns, steps)
        cv2.polylines(damage, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_8)
        branch = rng.random(3)
        if branch[0] < 0.3:  # a crack branching off
            root = points[int(branch[1] * len(points))]
            side = (0.4 + 0.8 * branch[2]) * (1 if branch[2] < 0.5 else -1)
            k = max(2, n // 3)
            twig = _walk(root, heading + side, turns[:k], steps[:k])
            cv2.polylines(damage, [np.round(twig).astype(np.int32)], False, 255, thickness, cv2.LINE_8)
    else:
        count = 1 + int(u[4] * 3)  # one to three overlapping ellipses: an irregular blob
        values = rng.random((count, 5))
        for axis_a, axis_b, dx, dy, angle in values:
            axes = (
                max(1, round(diagonal * (0.01 + 0.04 * axis_a) * grow)),
                max(1, round(diagonal * (0.01 + 0.04 * axis_b) * grow)),
            )
            spread = sum(axes) / 2
            centre = (int(start[0] + (dx - 0.5) * 2 * spread), int(start[1] + (dy - 0.5) * 2 * spread))
            cv2.ellipse(damage, centre, axes, 180 * angle, 0, 360, 255, -1)


def _walk(start: np.ndarray, heading: float, turns: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(len(turns)+1, 2) x,y points of a polyline: each segment turns by ``turns[i]`` radians."""
    headings = heading + np.cumsum(turns)
    moves = np.stack([np.cos(headings), np.sin(headings)], axis=1) * steps[:, None]
    return np.vstack([start, start + np.cumsum(moves, axis=0)])


def _border_start(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, float]:
    """A random pixel on the outermost ring and a heading pointing roughly into the image."""
    position = rng.uniform(0, 2 * (height + width))
    if position < width:
        point = (position, 0.0)
    elif position < width + height:
        point = (width - 1.0, position - width)
    elif position < 2 * width + height:
        point = (position - width - height, height - 1.0)
    else:
        point = (0.0, position - 2 * width - height)
    start = np.clip(np.floor(point), 0, (width - 1, height - 1))
    inward = math.atan2((height - 1) / 2 - start[1], (width - 1) / 2 - start[0])
    return start, inward + rng.normal(0, 0.5)
