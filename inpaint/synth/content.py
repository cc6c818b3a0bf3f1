"""Thin picture content that is not damage: the hard negatives of damage detection.

Old photos are full of thin bright and dark structures that a damage detector mistakes for
scratches, cracks and specks: strands of hair, ribbons, lace, white collars and shirts, wires,
window frames, lettering on signs, catchlights in eyes, jewellery and specular highlights, and the
white border or card mount around the picture. ``thin_content`` draws such content into a clean
photo *as part of the scene*: before it is printed, so it carries the print's grain, fading and
toning and the scan's blur like everything else in the picture, and with the camera's soft edge
(a little optical blur), where damage sits sharp on top of the print. The detector's training
samples get it in their clean and their damaged crops with the label "no damage".

Kinds (``CONTENT_KINDS``):

- ``hair``: a lock of near-parallel strands, 0.5-2 px, dark brown, black, blonde or grey;
- ``ribbon``: a band 4-24 px wide along a smooth curve, white or coloured, lit along one side;
- ``lace``: a band of a white openwork pattern (rings on a lattice) over the picture;
- ``collar``: a white or light collar or shirt front: a bright polygon with a few fold lines;
- ``wire``: overhead wires, 1-3 px, straight or sagging, dark against the sky or light against dark;
- ``frame``: a window frame: a rectangle with glazing bars 2-9 px wide, light or dark, with a shadow;
- ``text``: lettering: a line or two of a shop sign, a caption, a number, light on dark or dark on light;
- ``catchlight``: the small bright reflections in a pair of eyes, 1-4 px;
- ``jewellery``: a necklace of small bright beads along a curve, each with a specular point;
- ``border``: the print's white border or a card mount, with the picture's edge a thin line.

Sizes scale with the image's diagonal (512 x 512 is the reference). Images are uint8
``(H, W, 3)``; all randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

import cv2
import numpy as np

CONTENT_KINDS: tuple[str, ...] = (
    "hair",
    "ribbon",
    "lace",
    "collar",
    "wire",
    "frame",
    "text",
    "catchlight",
    "jewellery",
    "border",
)

_REFERENCE_DIAGONAL = math.hypot(512, 512)
_SUB = 8  # cv2 drawing with shift=3: coordinates in eighths of a pixel
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
)


@dataclass(frozen=True)
class ThinContent:
    """The photo with the content drawn in (``image``), where it was drawn (``mask``, bool) and which
    kind drew each pixel (``kind_map``, uint8, 0 = none, i + 1 = ``CONTENT_KINDS[i]``)."""

    image: np.ndarray
    mask: np.ndarray
    kind_map: np.ndarray
    kinds: tuple[str, ...]


def thin_content(photo: np.ndarray, rng: np.random.Generator, *, kinds=None) -> ThinContent:
    """Draw ``kinds`` (names from ``CONTENT_KINDS``; None = one to three at random) into ``photo``."""
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError("thin_content: photo must be a uint8 (H, W, 3) array")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("thin_content: rng must be a numpy.random.Generator, e.g. np.random.default_rng(seed)")
    if kinds is None:
        pick = rng.choice(len(CONTENT_KINDS), size=int(rng.integers(1, 4)), replace=False)
        kinds = tuple(CONTENT_KINDS[i] for i in sorted(pick))
    else:
        kinds = (kinds,) if isinstance(kinds, str) else tuple(dict.fromkeys(kinds))
        unknown = [k for k in kinds if k not in CONTENT_KINDS]
        if unknown or not kinds:
            raise ValueError(f"thin_content: kinds {unknown or '()'} are not among {', '.join(CONTENT_KINDS)}")
    h, w = photo.shape[:2]
    scale = math.hypot(h, w) / _REFERENCE_DIAGONAL
    img = photo.astype(np.float32)
    kind_map = np.zeros((h, w), np.uint8)
    for kind in kinds:
        alpha = _DRAW[kind](img, rng, scale)
        kind_map[alpha > 0.1] = CONTENT_KINDS.index(kind) + 1
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return ThinContent(image, kind_map > 0, kind_map, kinds)


def maybe_thin_content(photo: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """``photo`` with ``thin_content`` drawn in with ``probability`` (no random draw at 0), else as it is."""
    if probability and rng.random() < probability:
        return thin_content(photo, rng).image
    return photo


# ---------------------------------------------------------------- drawing helpers


def _canvas(img: np.ndarray) -> np.ndarray:
    return np.zeros(img.shape[:2], np.float32)


def _poly(canvas: np.ndarray, points: np.ndarray, width: float, closed: bool = False) -> None:
    """An antialiased polyline of ``width`` px on ``canvas`` (values 0-1); below 1 px, fainter."""
    pts = np.rint(np.asarray(points) * _SUB).astype(np.int32).reshape(-1, 1, 2)
    value = min(1.0, max(width, 0.2))
    cv2.polylines(canvas, [pts], closed, value, max(1, round(width)), cv2.LINE_AA, 3)


def _curve(rng: np.random.Generator, start, heading: float, length: float, bend: float) -> np.ndarray:
    """A smooth path of ``length`` px: its heading drifts as a random walk of ``bend`` rad per step."""
    n = max(2, int(length / 3))
    angle = heading + np.cumsum(rng.normal(0, bend, n)) * 0.5 + np.linspace(0, rng.normal(0, bend * 4), n)
    steps = 3.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return np.asarray(start, float) + np.concatenate([[[0, 0]], np.cumsum(steps, axis=0)])


def _soft(alpha: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """The camera's soft edge: a little optical blur of the drawn opacity."""
    return np.clip(cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.35, 0.8) * max(1.0, scale)), 0, 1)


def _over(img: np.ndarray, alpha: np.ndarray, colour) -> None:
    img += alpha[..., None] * (np.asarray(colour, np.float32) - img)


def _local(img: np.ndarray, x: float, y: float) -> float:
    """The mean grey around (x, y): whether light or dark content stands out there."""
    h, w = img.shape[:2]
    x0, y0 = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
    patch = img[max(0, y0 - 24) : y0 + 24, max(0, x0 - 24) : x0 + 24]
    return float(patch.mean())


def _contrasting(rng: np.random.Generator, img: np.ndarray, x: float, y: float) -> np.ndarray:
    """A light colour where the picture is dark there, else a dark one, slightly tinted."""
    tint = rng.uniform(0.9, 1.05, 3)
    if _local(img, x, y) < 110:
        return np.float32(rng.uniform(190, 250)) * tint
    return np.float32(rng.uniform(10, 70)) * tint


def _point(rng: np.random.Generator, img: np.ndarray) -> tuple[float, float]:
    h, w = img.shape[:2]
    return rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h


# ---------------------------------------------------------------- one drawing function per kind


def _hair(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A lock of hair: strands along a shared curve, spread across the lock's width."""
    colours = ([35, 25, 20], [15, 12, 10], [200, 170, 110], [170, 165, 160], [110, 70, 40])
    colour = np.asarray(colours[int(rng.integers(len(colours)))], np.float32) * rng.uniform(0.85, 1.15)
    x, y = _point(rng, img)
    heading, length = rng.uniform(0, 2 * np.pi), rng.uniform(60, 300) * scale
    spine = _curve(rng, (x, y), heading, length, 0.04)
    normal = np.array([-math.sin(heading), math.cos(heading)])
    alpha = _canvas(img)
    spread = rng.uniform(4, 40) * scale
    for _ in range(int(rng.integers(5, 40))):
        offset = normal * rng.normal(0, spread / 2) + rng.normal(0, 2, 2)
        wobble = np.cumsum(rng.normal(0, 0.15, spine.shape), axis=0)
        _poly(alpha, spine + offset + wobble, rng.uniform(0.5, 2.0) * scale)
    alpha = _soft(alpha, rng, scale) * rng.uniform(0.5, 0.95)
    _over(img, alpha, colour)
    return alpha


def _ribbon(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A ribbon or band: a wide line along a curve, a lighter edge on one side."""
    white = rng.random() < 0.5
    colour = np.float32(rng.uniform(215, 250)) * rng.uniform(0.95, 1.02, 3) if white else rng.uniform(20, 230, 3)
    x, y = _point(rng, img)
    path = _curve(rng, (x, y), rng.uniform(0, 2 * np.pi), rng.uniform(80, 400) * scale, 0.05)
    width = rng.uniform(4, 24) * scale
    alpha = _canvas(img)
    _poly(alpha, path, width)
    alpha = _soft(alpha, rng, scale)
    _over(img, alpha, colour)
    shade = _canvas(img)
    _poly(shade, path + rng.uniform(-0.3, 0.3, 2) * width, max(1.0, width / 4))
    _over(img, _soft(shade, rng, scale) * alpha * 0.35, np.minimum(np.asarray(colour) * 1.25 + 20, 255))
    return alpha


def _lace(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Lace: rings of thread on a rotated lattice, within a band along a curve."""
    h, w = img.shape[:2]
    period = rng.uniform(5, 12) * scale
    radius = period * rng.uniform(0.25, 0.45)
    angle = rng.uniform(0, np.pi)
    band = _canvas(img)
    x, y = _point(rng, img)
    _poly(
        band,
        _curve(rng, (x, y), rng.uniform(0, 2 * np.pi), rng.uniform(80, 300) * scale, 0.03),
        rng.uniform(12, 50) * scale,
    )
    ys, xs = np.nonzero(band > 0.5)
    alpha = _canvas(img)
    if len(xs):
        c, s = math.cos(angle), math.sin(angle)
        u, v = xs * c + ys * s, -xs * s + ys * c
        for cu in np.arange(u.min(), u.max() + period, period):
            for cv in np.arange(v.min(), v.max() + period, period):
                px, py = cu * c - cv * s, cu * s + cv * c
                if 0 <= px < w and 0 <= py < h and band[int(py), int(px)] > 0.5:
                    centre = (round(px * _SUB), round(py * _SUB))
                    cv2.circle(alpha, centre, round(radius * _SUB), 1.0, max(1, round(scale)), cv2.LINE_AA, 3)
    alpha = _soft(alpha, rng, scale) * rng.uniform(0.6, 0.95)
    _over(img, alpha, np.float32(rng.uniform(215, 250)) * rng.uniform(0.96, 1.02, 3))
    return alpha


def _collar(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A white collar or shirt front: two bright wings meeting in a point, with fold lines."""
    x, y = _point(rng, img)
    size = rng.uniform(25, 90) * scale
    wings = []
    for side in (-1, 1):
        tip = (x + side * size * rng.uniform(0.6, 1.2), y + size * rng.uniform(0.4, 0.9))
        wings.append(np.array([(x, y), (x + side * size * 0.9, y - size * 0.2), tip, (x + side * 2, y + size * 0.3)]))
    alpha = _canvas(img)
    for wing in wings:
        cv2.fillPoly(alpha, [np.rint(wing * _SUB).astype(np.int32)], 1.0, cv2.LINE_AA, 3)
    if rng.random() < 0.6:  # the shirt front below
        front = np.array([(x - size * 0.5, y + size * 0.3), (x + size * 0.5, y + size * 0.3),
                          (x + size * 0.6, y + size * 2), (x - size * 0.6, y + size * 2)])  # fmt: skip
        cv2.fillPoly(alpha, [np.rint(front * _SUB).astype(np.int32)], 1.0, cv2.LINE_AA, 3)
    alpha = _soft(alpha, rng, scale)
    _over(img, alpha, np.float32(rng.uniform(205, 250)) * rng.uniform(0.96, 1.03, 3))
    folds = _canvas(img)
    for wing in wings:
        _poly(folds, wing[[0, 2]] * 0.5 + wing[[1, 3]] * 0.5, rng.uniform(1, 2.5) * scale)
    _over(img, _soft(folds, rng, scale) * alpha * rng.uniform(0.2, 0.5), np.float32(rng.uniform(120, 180)))
    return alpha


def _wire(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Overhead wires: one to four near-parallel sagging lines across the picture."""
    h, w = img.shape[:2]
    y0, y1, sag = rng.uniform(0, h), rng.uniform(0, h), rng.uniform(0, 0.15) * h
    t = np.linspace(0, 1, 200)
    alpha = _canvas(img)
    gap = rng.uniform(4, 30) * scale
    for k in range(int(rng.integers(1, 5))):
        ys = y0 + (y1 - y0) * t + sag * 4 * t * (1 - t) + k * gap
        _poly(alpha, np.stack([t * w, ys], axis=1), rng.uniform(0.8, 3.0) * scale)
    alpha = _soft(alpha, rng, scale) * rng.uniform(0.6, 1.0)
    _over(img, alpha, _contrasting(rng, img, w / 2, (y0 + y1) / 2))
    return alpha


def _frame(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A window frame with glazing bars (and a thin shadow line beside each bar)."""
    h, w = img.shape[:2]
    x0, y0 = rng.uniform(-0.1, 0.6) * w, rng.uniform(-0.1, 0.6) * h
    x1, y1 = x0 + rng.uniform(0.25, 0.8) * w, y0 + rng.uniform(0.25, 0.8) * h
    bar = rng.uniform(2, 9) * scale
    lines = [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))]
    for k in range(1, int(rng.integers(2, 4))):
        lines.append(((x0 + (x1 - x0) * k / 3, y0), (x0 + (x1 - x0) * k / 3, y1)))
    for k in range(1, int(rng.integers(2, 4))):
        lines.append(((x0, y0 + (y1 - y0) * k / 3), (x1, y0 + (y1 - y0) * k / 3)))
    alpha, shadow = _canvas(img), _canvas(img)
    offset = np.array([bar * 0.6 + 1, bar * 0.6 + 1])
    for a, b in lines:
        _poly(alpha, np.array([a, b]), bar)
        _poly(shadow, np.array([a, b]) + offset, max(1.0, bar / 3))
    alpha = _soft(alpha, rng, scale)
    shadow = _soft(shadow, rng, scale) * (1 - alpha) * 0.4
    _over(img, shadow, np.float32(20))
    _over(img, alpha, _contrasting(rng, img, (x0 + x1) / 2, (y0 + y1) / 2))
    return np.maximum(alpha, shadow)


def _text(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Lettering: one or two lines of capitals, words or numbers, on a sign or in a caption."""
    h, w = img.shape[:2]
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "  .,&-"
    font, size = _FONTS[int(rng.integers(len(_FONTS)))], rng.uniform(0.4, 1.6) * scale
    thickness = max(1, round(rng.uniform(1, 3) * scale))
    x, y = rng.uniform(0, 0.6) * w, rng.uniform(0.1, 0.9) * h
    big = np.zeros((2 * h, 2 * w), np.uint8)  # putText draws on uint8 only: twice the size, then averaged down
    for line in range(int(rng.integers(1, 3))):
        words = "".join(rng.choice(list(alphabet), int(rng.integers(4, 18))))
        origin = (round(2 * x), round(2 * (y + line * 30 * size)))
        cv2.putText(big, words, origin, font, 2 * size, 255, 2 * thickness, cv2.LINE_AA)
    alpha = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    angle = rng.normal(0, 4)
    rot = cv2.getRotationMatrix2D((x, y), angle, 1.0)
    alpha = cv2.warpAffine(alpha, rot, (w, h), flags=cv2.INTER_LINEAR)
    alpha = _soft(alpha, rng, scale)
    _over(img, alpha, _contrasting(rng, img, x + 50 * scale, y))
    return alpha


def _catchlight(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Catchlights: a pair (or a few) of tiny bright reflections, as in a pair of eyes."""
    x, y = _point(rng, img)
    gap = rng.uniform(20, 70) * scale
    alpha = _canvas(img)
    for k in range(int(rng.integers(1, 4))):
        r = rng.uniform(0.8, 4.0) * scale
        centre = (round((x + k * gap) * _SUB), round((y + rng.normal(0, 2)) * _SUB))
        axes = (round(r * _SUB), round(r * rng.uniform(0.6, 1.0) * _SUB))
        cv2.ellipse(alpha, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA, 3)
    alpha = _soft(alpha, rng, scale)
    _over(img, alpha, np.float32(rng.uniform(225, 255)))
    return alpha


def _jewellery(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """A necklace: small beads along a hanging curve, each with a specular point, a few glints."""
    x, y = _point(rng, img)
    span, drop = rng.uniform(40, 160) * scale, rng.uniform(10, 60) * scale
    t = np.linspace(-1, 1, int(rng.integers(12, 50)))
    xs, ys = x + t * span / 2, y + drop * (1 - t * t)
    bead = rng.uniform(1.0, 3.5) * scale
    alpha, glint = _canvas(img), _canvas(img)
    for bx, by in zip(xs, ys):
        cv2.circle(alpha, (round(bx * _SUB), round(by * _SUB)), round(bead * _SUB), 1.0, -1, cv2.LINE_AA, 3)
        g = (round((bx - bead / 3) * _SUB), round((by - bead / 3) * _SUB))
        cv2.circle(glint, g, round(max(0.5, bead / 3) * _SUB), 1.0, -1, cv2.LINE_AA, 3)
    alpha, glint = _soft(alpha, rng, scale), _soft(glint, rng, scale)
    _over(img, alpha, np.float32(rng.uniform(150, 230)) * rng.uniform(0.85, 1.05, 3))
    _over(img, glint, np.float32(252))
    return alpha


def _border(img: np.ndarray, rng: np.random.Generator, scale: float) -> np.ndarray:
    """The print's white border or a card mount, with the picture's edge a thin line inside it."""
    h, w = img.shape[:2]
    widths = rng.uniform(3, 30, 4) * scale
    if rng.random() < 0.3:  # trimmed on some sides
        widths *= rng.random(4) < 0.5
    top, right, bottom, left = (int(round(v)) for v in widths)
    alpha = np.ones((h, w), np.float32)
    alpha[top : h - bottom, left : w - right] = 0
    mount = rng.random() < 0.3  # a grey, brown or cream card rather than the paper's white
    colour = (
        np.asarray([rng.uniform(90, 200)] * 3, np.float32) * rng.uniform(0.8, 1.05, 3)
        if mount
        else np.float32(rng.uniform(225, 250)) * np.array([1.0, 0.99, rng.uniform(0.92, 0.99)], np.float32)
    )
    _over(img, alpha, colour)
    if rng.random() < 0.5 and bottom < h - top and right < w - left:  # a dark keyline at the picture's edge
        line = _canvas(img)
        cv2.rectangle(line, (left, top), (w - right - 1, h - bottom - 1), 1.0, max(1, round(scale)), cv2.LINE_AA)
        _over(img, line * (1 - alpha) * rng.uniform(0.3, 0.8), np.float32(rng.uniform(20, 80)))
    return alpha


_DRAW = {
    "hair": _hair,
    "ribbon": _ribbon,
    "lace": _lace,
    "collar": _collar,
    "wire": _wire,
    "frame": _frame,
    "text": _text,
    "catchlight": _catchlight,
    "jewellery": _jewellery,
    "border": _border,
}
