"""Synthetic old-photo damage with an exact mask: creases, scratches, tears, stains, spots and
missing corners painted over a clean photo (``synthesize_damage``), or only their mask
(``synthesize_damage_mask``, for the restorer's training masks).

The file reads top-down:
1. the kinds, the severities and what each severity means (a damage budget and element sizes);
2. the two entry points;
3. planning: which kinds, how many elements of each until the budget is covered (``_plan_damage``),
   and painting the planned layers over the photo (``_composite``);
4. drawing helpers (value noise, anti-aliased polylines and polygons, bent and jagged paths);
5. one maker per kind, each returning sparse layers (the pixels it changes and their opacity).

The mask is exact: a pixel is damaged where a layer was applied with an opacity of at least
``DAMAGE_OPACITY_THRESHOLD``, and every other pixel is the photo's own, bit for bit. Masks follow
the library's convention (bool ``(H, W)``, True = KNOWN). Randomness always comes from a
``numpy.random.Generator`` or a seed passed in; there is no global state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates

from .holes import _check_dims, _walk

DAMAGE_KINDS: tuple[str, ...] = ("crease", "scratch", "tear", "stain", "spot", "missing_corner")


SEVERITIES: tuple[str, ...] = ("minor", "moderate", "severe")


# A damage layer is applied to a pixel where its opacity is at least this, and that pixel is then
# damage; below, the layer is cut away rather than applied (a 5 % tint is hard to see), so every
# pixel outside the mask is the photo's own, bit for bit.
DAMAGE_OPACITY_THRESHOLD = 0.05


# Hole ratio each severity aims for (the target is drawn inside, the result lands near it: over 40
# seeds with kinds=None, at 256 and 1024 px, minor covered 0.5-1.8 % of the photo, moderate
# 2.7-6.6 %, severe 10.1-19.5 %).
_SEVERITY_HOLE_RANGE = {"minor": (0.003, 0.02), "moderate": (0.02, 0.08), "severe": (0.08, 0.25)}


# Severity also makes each element larger: wider creases and tears, bigger stains and corners.
_SEVERITY_SIZE = {"minor": 0.75, "moderate": 1.0, "severe": 1.35}


# kinds=None: the chance that each kind is present, per severity.
_KIND_CHANCE = {  # crease, scratch, tear, stain, spot, missing_corner
    "minor": dict(zip(DAMAGE_KINDS, (0.4, 0.7, 0.05, 0.2, 0.6, 0.05))),
    "moderate": dict(zip(DAMAGE_KINDS, (0.6, 0.8, 0.25, 0.45, 0.6, 0.2))),
    "severe": dict(zip(DAMAGE_KINDS, (0.8, 0.8, 0.5, 0.7, 0.7, 0.45))),
}


# How the damage budget is shared between the kinds present (before a random factor).
_KIND_SHARE = {"crease": 1.0, "scratch": 0.6, "tear": 1.0, "stain": 1.6, "spot": 0.5, "missing_corner": 1.2}


# Painting order, bottom to top: a tear cuts through a stain, not the other way round.
_PAINT_ORDER = ("stain", "spot", "crease", "scratch", "tear", "missing_corner")


_MAX_ELEMENTS_PER_KIND = 64


# Sizes below are in pixels of a 256x256 image and scale with the image's diagonal.
_REFERENCE_DIAGONAL = math.hypot(256, 256)


def synthesize_damage(
    photo: Image.Image | np.ndarray,
    severity: str = "moderate",
    seed: int | np.random.Generator = 0,
    kinds: Iterable[str] | str | None = None,
    *,
    return_kinds: bool = False,
) -> tuple[np.ndarray, ...]:
    """Damage a photo like an old print: returns ``(damaged, known)`` or ``(damaged, known, kind_map)``.

    ``photo``: uint8 (H, W, 3) or (H, W) array, or a PIL image. ``damaged`` is uint8 (H, W, 3);
    ``known`` is bool (H, W), False exactly where a damage layer was applied with an opacity of at
    least ``DAMAGE_OPACITY_THRESHOLD`` (5 %), so ``damaged[known] == photo[known]`` bit for bit.
    Translucent stains count where they reach 5 %; their outline is a tide line, so the mask has a
    visible edge. A damaged pixel can keep its value by coincidence (a dark speck or a stain's tint
    over black; up to about 30 % of stain and spot pixels on a photo with large black areas): the
    mask is where the damage is, not a per-pixel difference, so it does not depend on the photo
    (see ``synthesize_damage_mask``). ``kind_map`` (``return_kinds=True``) is uint8 (H, W): 0 = intact,
    i + 1 = ``DAMAGE_KINDS[i]`` (the top layer where several overlap).

    ``kinds`` picks the damage, e.g. ``("scratch",)`` for "only scratches"; None draws a plausible
    mix for the severity. The kinds:
    - crease: a fold across the print (or running in from an edge), a long, slightly bent line:
      a finely jagged, broken whitish crack where the paper shows through the emulsion, with flakes,
      a hairline second strand, light on one side of the ridge and a shadow on the other;
    - scratch: groups of near-parallel 1-2 px lines, bright (emulsion scraped off) or dark, broken;
    - tear: a jagged rip from an edge inwards, off-white paper fibres along it and a dark gap;
    - stain: a blotchy translucent yellow-brown water stain, darker at its rim (tide lines);
    - spot: specks of dust (dark or white), fuzzy mould clusters and brown foxing;
    - missing_corner: a corner or an edge piece torn off, showing the scanner's black or white bed
      or backing paper, with a white paper fringe on the torn edge.

    ``severity`` sets a damage budget (hole ratio) and the element sizes; the budget is shared by
    the kinds present, each adding elements until its share is covered, so a single kind at a
    severity covers about as much as the mix (per-kind evaluations stay comparable). On average
    minor damage covers about 1 % of the photo, moderate about 5 %, severe about 15 %
    (``_SEVERITY_HOLE_RANGE``); below about 128x128 one-pixel minimum widths push minor damage
    towards 2 %. Sizes scale with the image's diagonal, so any resolution works. Deterministic:
    the same seed (or Generator state) gives identical arrays.
    """
    image = _as_photo(photo)
    height, width = image.shape[:2]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    layers = _plan_damage(height, width, _check_severity(severity), rng, _check_kinds(kinds))
    damaged, kind_map = _composite(image, layers)
    known = kind_map == 0
    return (damaged, known, kind_map) if return_kinds else (damaged, known)


def synthesize_damage_mask(
    height: int,
    width: int,
    severity: str = "moderate",
    seed: int | np.random.Generator = 0,
    kinds: Iterable[str] | str | None = None,
    *,
    return_kinds: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Only the mask (and kind map) of ``synthesize_damage``, without a photo: for training masks.

    Identical to the mask ``synthesize_damage`` returns for a photo of this size and the same seed.
    """
    _check_dims(height, width)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    layers = _plan_damage(height, width, _check_severity(severity), rng, _check_kinds(kinds))
    kind_map = np.zeros((height, width), np.uint8)
    for layer in layers:
        kind_map[layer.ys, layer.xs] = layer.kind
    known = kind_map == 0
    return (known, kind_map) if return_kinds else known


def _as_photo(photo: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(photo, Image.Image):
        return np.asarray(photo.convert("RGB"))
    if not isinstance(photo, np.ndarray):
        raise ValueError(f"photo must be a PIL image or a uint8 array, got {type(photo).__name__}")
    if photo.dtype != np.uint8:
        raise ValueError(f"photo array must be uint8, got {photo.dtype}")
    if photo.ndim == 3 and photo.shape[2] == 1:
        photo = photo[..., 0]
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.size == 0:
        raise ValueError(f"photo must be HxWx3 (RGB) or HxW (grey), got shape {photo.shape}")
    return photo


def _check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; use one of {SEVERITIES}")
    return severity


def _check_kinds(kinds: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if kinds is None:
        return None
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in chosen if k not in DAMAGE_KINDS]
    if unknown or not chosen:
        raise ValueError(f"kinds must be a non-empty subset of {DAMAGE_KINDS}, got {kinds!r}")
    return chosen


@dataclass(frozen=True)
class _Layer:
    """One painted damage element, kept sparse: only the pixels it changes."""

    ys: np.ndarray  # (N,) int rows
    xs: np.ndarray  # (N,) int columns
    alpha: np.ndarray  # (N,) float32 opacity, every value >= DAMAGE_OPACITY_THRESHOLD
    colour: np.ndarray  # (3,) or (N, 3) float32 RGB 0..255
    multiply: bool  # tint the photo (stains, shadows) instead of covering it
    kind: int  # 1 + index in DAMAGE_KINDS


@dataclass(frozen=True)
class _Scene:
    """What every element of one damaged photo shares."""

    height: int
    width: int
    unit: float  # pixels per pixel of a 256x256 image: sizes scale with the diagonal
    size: float  # the severity's element size factor
    paper: np.ndarray  # (3,) the print's paper base, seen through cracks, tears and torn edges
    backing: np.ndarray  # (3,) what lies behind the print: a black or white scanner lid, an album page

    @property
    def diagonal(self) -> float:
        return math.hypot(self.height, self.width)


def _plan_damage(
    height: int, width: int, severity: str, rng: np.random.Generator, kinds: tuple[str, ...] | None
) -> list[_Layer]:
    """All damage layers, bottom to top; depends only on the size, severity, rng and kinds."""
    if kinds is None:
        chances = _KIND_CHANCE[severity]
        draws = rng.random(len(DAMAGE_KINDS))
        kinds = tuple(k for k, d in zip(DAMAGE_KINDS, draws) if d < chances[k])
        if not kinds:
            kinds = (DAMAGE_KINDS[rng.integers(len(DAMAGE_KINDS))],)
    ordered = [k for k in _PAINT_ORDER if k in kinds]

    low, high = _SEVERITY_HOLE_RANGE[severity]
    target = low + (high - low) * rng.uniform(0.1, 0.6)  # room for the last element's overshoot
    weights = np.array([_KIND_SHARE[k] for k in ordered]) * rng.uniform(0.5, 1.5, len(ordered))
    shares = target * height * width * weights / weights.sum()  # pixels per kind

    scene = _Scene(
        height,
        width,
        unit=math.hypot(height, width) / _REFERENCE_DIAGONAL,
        size=_SEVERITY_SIZE[severity],
        paper=_paper_colour(rng),
        backing=_backing_colour(rng),
    )
    covered = np.zeros((height, width), bool)
    layers: list[_Layer] = []
    for kind, share in zip(ordered, shares):
        make = _MAKERS[kind]
        got = 0
        for _ in range(_MAX_ELEMENTS_PER_KIND):
            budget = max(share - got, 0.0) * rng.uniform(0.5, 1.0)
            for layer in make(rng, scene, budget):
                fresh = ~covered[layer.ys, layer.xs]
                got += int(np.count_nonzero(fresh))
                covered[layer.ys, layer.xs] = True
                layers.append(layer)
            if got >= share:
                break
    return layers


def _paper_colour(rng: np.random.Generator) -> np.ndarray:
    """Off-white photo paper base, a little warm."""
    red = rng.uniform(228, 246)
    return np.array([red, red - rng.uniform(2, 8), red - rng.uniform(10, 24)], np.float32)


def _backing_colour(rng: np.random.Generator) -> np.ndarray:
    pick = rng.random()
    if pick < 0.45:  # a black scanner lid or a dark album page
        return np.full(3, rng.uniform(8, 30), np.float32)
    if pick < 0.75:  # a white scanner lid
        return np.full(3, rng.uniform(238, 252), np.float32)
    return np.array([rng.uniform(190, 215), rng.uniform(175, 195), rng.uniform(140, 165)], np.float32)  # card


def _composite(photo: np.ndarray, layers: list[_Layer]) -> tuple[np.ndarray, np.ndarray]:
    """Paint the layers over a copy of the photo; returns (damaged uint8, kind map uint8)."""
    damaged = photo.copy()
    kind_map = np.zeros(photo.shape[:2], np.uint8)
    for layer in layers:
        pixels = damaged[layer.ys, layer.xs].astype(np.float32)  # (N, 3)
        alpha = layer.alpha[:, None]
        if layer.multiply:
            pixels *= 1 - alpha * (1 - layer.colour / 255)
        else:
            pixels += (layer.colour - pixels) * alpha
        damaged[layer.ys, layer.xs] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        kind_map[layer.ys, layer.xs] = layer.kind
    return damaged, kind_map


@dataclass(frozen=True)
class _Noise:
    """Smooth value noise in [0, 1]: a coarse random grid, interpolated only where it is sampled."""

    grid: np.ndarray  # (gh, gw) float32
    cell: float  # pixels per grid cell

    @classmethod
    def make(cls, rng: np.random.Generator, height: int, width: int, cell: float) -> _Noise:
        cell = max(float(cell), 1.0)
        shape = (int(height / cell) + 2, int(width / cell) + 2)
        return cls(rng.random(shape, dtype=np.float32), cell)

    def at(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        coords = np.stack([np.asarray(ys, np.float32) / self.cell, np.asarray(xs, np.float32) / self.cell])
        return map_coordinates(self.grid, coords, order=1, mode="nearest")


def _bbox(points: np.ndarray, pad: float, height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) around x,y ``points`` plus ``pad``, clipped to the image."""
    x0 = max(0, math.floor(points[:, 0].min() - pad))
    x1 = min(width, math.ceil(points[:, 0].max() + pad) + 1)
    y0 = max(0, math.floor(points[:, 1].min() - pad))
    y1 = min(height, math.ceil(points[:, 1].max() + pad) + 1)
    return y0, y1, x0, x1


def _sparse(patch: np.ndarray, y0: int, x0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ys, xs, values / 255) of a uint8 patch's non-zero pixels, in image coordinates."""
    ys, xs = np.nonzero(patch)
    return ys + y0, xs + x0, patch[ys, xs].astype(np.float32) / 255


_NOTHING = (np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.float32))


def _polyline(points: np.ndarray, thickness: int, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An anti-aliased polyline as sparse (ys, xs, coverage 0..1)."""
    y0, y1, x0, x1 = _bbox(points, thickness + 2, scene.height, scene.width)
    if y1 <= y0 or x1 <= x0:
        return _NOTHING
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    fixed = np.round((points - (x0, y0)) * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    cv2.polylines(patch, [fixed], False, 255, max(1, int(thickness)), cv2.LINE_AA, shift=4)
    return _sparse(patch, y0, x0)


def _polygon(points: np.ndarray, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An anti-aliased filled polygon as sparse (ys, xs, coverage 0..1)."""
    y0, y1, x0, x1 = _bbox(points, 2, scene.height, scene.width)
    if y1 <= y0 or x1 <= x0:
        return _NOTHING
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    fixed = np.round((points - (x0, y0)) * 16).astype(np.int32)
    cv2.fillPoly(patch, [fixed], 255, cv2.LINE_AA, shift=4)
    return _sparse(patch, y0, x0)


def _layer(
    ys: np.ndarray,
    xs: np.ndarray,
    alpha: np.ndarray,
    colour: np.ndarray | tuple[float, float, float],
    kind: str,
    multiply: bool = False,
) -> list[_Layer]:
    """A layer of the pixels whose opacity reaches the threshold (empty list if none does)."""
    keep = alpha >= DAMAGE_OPACITY_THRESHOLD
    if not keep.any():
        return []
    colour = np.clip(np.asarray(colour, np.float32), 0, 255)
    if colour.ndim == 2:
        colour = colour[keep]
    index = DAMAGE_KINDS.index(kind) + 1
    opacity = np.minimum(alpha[keep], 1).astype(np.float32)
    return [_Layer(ys[keep], xs[keep], opacity, colour, multiply, index)]


def _bent_path(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, bow: float, wobble: float, step: float
) -> np.ndarray:
    """x,y points from start to end along a gentle arc (``bow`` px) with a slow ``wobble`` (px)."""
    length = float(np.hypot(*(end - start)))
    n = max(2, int(length / max(step, 1.0)) + 1)
    t = np.linspace(0.0, 1.0, n)
    direction = (end - start) / max(length, 1e-6)
    normal = np.array([-direction[1], direction[0]])
    frequencies = rng.uniform(1.0, 3.0, 2)
    phases = rng.uniform(0, 2 * math.pi, 2)
    waves = np.sin(2 * math.pi * np.outer(t, frequencies) + phases).sum(axis=1) / 2
    offset = bow * 4 * t * (1 - t) + wobble * waves
    return start + np.outer(t, end - start) + np.outer(offset, normal)


def _jagged(rng: np.random.Generator, path: np.ndarray, amplitude: float, memory: float = 0.7) -> np.ndarray:
    """Displace a path sideways by correlated noise (an AR(1) walk): a torn or cracked line."""
    return path + _normals(path) * _smooth_noise(rng, len(path), amplitude, memory)[:, None]


def _smooth_noise(rng: np.random.Generator, n: int, amplitude: float, memory: float = 0.85) -> np.ndarray:
    """(n,) correlated noise of about ``amplitude`` standard deviation (an AR(1) sequence)."""
    kicks = rng.normal(0, amplitude * math.sqrt(1 - memory**2), n)
    values = np.empty(n)
    values[0] = rng.normal(0, amplitude)
    for i in range(1, n):
        values[i] = memory * values[i - 1] + kicks[i]
    return values


def _normals(points: np.ndarray) -> np.ndarray:
    """(N, 2) unit normals of a polyline."""
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-6)[:, None]
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _densify(points: np.ndarray, step: float) -> np.ndarray:
    """Resample a polyline at about ``step`` px spacing."""
    lengths = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    samples = np.linspace(0, along[-1], max(2, int(along[-1] / step) + 1))
    return np.stack([np.interp(samples, along, points[:, i]) for i in (0, 1)], axis=1)


def _edge_point(rng: np.random.Generator, scene: _Scene, side: int) -> np.ndarray:
    """A random x,y point on image side 0 top, 1 right, 2 bottom, 3 left (just outside it)."""
    if side in (0, 2):
        return np.array([rng.uniform(0, scene.width), -1.0 if side == 0 else scene.height + 1.0])
    return np.array([-1.0 if side == 3 else scene.width + 1.0, rng.uniform(0, scene.height)])


def _make_crease(rng: np.random.Generator, scene: _Scene, budget: float) -> list[_Layer]:
    """A fold: a broken, finely jagged whitish crack, lit on one side and shadowed on the other."""
    unit = scene.unit
    crack = max(1.0, unit * scene.size * rng.uniform(0.9, 1.8))
    side = int(rng.integers(4))
    opposite = (side + 2) % 4 if rng.random() < 0.65 else (side + rng.choice((1, 3))) % 4
    start, end = _edge_point(rng, scene, side), _edge_point(rng, scene, opposite)
    span = float(np.hypot(*(end - start)))
    wanted = float(np.clip(budget / (3 * crack + 2.5), 0.15 * scene.diagonal, span))  # 2.5: anti-aliasing
    end = start + (end - start) * (wanted / span)  # a shorter crease runs in from the edge
    path = _bent_path(rng, start, end, rng.uniform(-0.015, 0.015) * wanted, 0.0015 * scene.diagonal, 2 * unit)
    crack_path = _jagged(rng, path, max(0.6, 0.5 * crack), memory=0.5)
    normals = _normals(path)
    noise = _Noise.make(rng, scene.height, scene.width, 10 * unit)
    fine = _Noise.make(rng, scene.height, scene.width, 2.5 * unit)
    lit = rng.choice((-1.0, 1.0))

    layers: list[_Layer] = []
    # The ridge: shadow on one side (a multiply: it darkens whatever is there), light on the other.
    ys, xs, cover = _polyline(path - normals * lit * crack, round(crack) + 1, scene)
    alpha = cover * rng.uniform(0.3, 0.5) * (0.4 + noise.at(ys, xs))
    layers += _layer(ys, xs, alpha, (90, 80, 72), "crease", multiply=True)
    ys, xs, cover = _polyline(path + normals * lit * crack, round(crack), scene)
    alpha = cover * rng.uniform(0.15, 0.3) * (0.4 + noise.at(ys, xs))
    layers += _layer(ys, xs, alpha, (240, 238, 230), "crease")
    # The crack: paper showing through broken emulsion, interrupted where the emulsion held.
    ys, xs, cover = _polyline(crack_path, round(crack), scene)
    broken = np.clip((noise.at(ys, xs) - 0.15) * 4, 0.15, 1.0) * (0.7 + 0.3 * fine.at(ys, xs))
    colour = scene.paper + (fine.at(ys, xs)[:, None] - 0.5) * 20
    layers += _layer(ys, xs, cover * rng.uniform(0.8, 0.97) * broken, colour, "crease")
    # A second, hairline strand of the crack beside the first in places.
    strand = _jagged(rng, path + normals * rng.choice((-1.0, 1.0)) * 0.8 * crack, 0.5 * crack)
    ys, xs, cover = _polyline(strand, 1, scene)
    alpha = cover * 0.8 * np.clip((fine.at(ys, xs) - 0.45) * 4, 0, 1)
    layers += _layer(ys, xs, alpha, scene.paper, "crease")
    # Flakes of emulsion lost along the crack.
    for _ in range(rng.poisson(wanted / (90 * unit))):
        centre = crack_path[rng.integers(len(crack_path))]
        flake = centre + rng.normal(0, crack * rng.uniform(0.5, 1.2), (7, 2))
        ys, xs, cover = _polygon(cv2.convexHull(flake.astype(np.float32))[:, 0], scene)
        layers += _layer(ys, xs, cover * 0.92, scene.paper, "crease")
    return layers


def _make_scratch(rng: np.random.Generator, scene: _Scene, budget: float) -> list[_Layer]:
    """A group of near-parallel thin scratches, bright or dark, with gaps along them."""
    unit = scene.unit
    count = int(rng.integers(1, 4))
    thickness = max(1, round(unit * scene.size * rng.uniform(0.35, 0.8)))
    length = float(np.clip(budget / (count * (thickness + 1.5)), 0.08 * scene.diagonal, 0.8 * scene.diagonal))
    angle = rng.uniform(0, math.pi)
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    centre = rng.uniform((0, 0), (scene.width, scene.height))
    colour = (242, 240, 232) if rng.random() < 0.6 else (38, 34, 30)  # emulsion scraped off, or dirt
    noise = _Noise.make(rng, scene.height, scene.width, 16 * unit)

    layers: list[_Layer] = []
    for _ in range(count):
        line_length = length * rng.uniform(0.5, 1.0)
        middle = centre + normal * rng.normal(0, 5 * unit) + direction * rng.normal(0, 0.1 * length)
        start, end = middle - direction * line_length / 2, middle + direction * line_length / 2
        path = _bent_path(rng, start, end, rng.uniform(-0.02, 0.02) * line_length, 0.5 * unit, 3 * unit)
        ys, xs, cover = _polyline(path, thickness, scene)
        gaps = np.clip((noise.at(ys, xs) - 0.22) * 4, 0, 1)
        layers += _layer(ys, xs, cover * rng.uniform(0.55, 0.9) * gaps, colour, "scratch")
    return layers


def _make_tear(rng: np.random.Generator, scene: _Scene, budget: float) -> list[_Layer]:
    """A rip from an edge: jagged white paper fibres along both lips (wider on one) and a gap."""
    unit = scene.unit
    mean_band = unit * scene.size * rng.uniform(5.0, 10.0)
    length = float(np.clip(budget / (0.55 * mean_band + 2), 0.12 * scene.diagonal, 0.55 * scene.diagonal))
    start = _edge_point(rng, scene, int(rng.integers(4)))
    inward = math.atan2(scene.height / 2 - start[1], scene.width / 2 - start[0]) + rng.normal(0, 0.5)
    end = start + length * np.array([math.cos(inward), math.sin(inward)])
    path = _bent_path(rng, start, end, rng.uniform(-0.12, 0.12) * length, 0.01 * scene.diagonal, 1.5 * unit)
    path = _jagged(rng, path, unit * scene.size, memory=0.9)
    normals = _normals(path)
    taper = (1 - np.linspace(0, 1, len(path))) ** 0.5

    # Lip widths: a slowly varying ragged profile plus fine fibres from point to point.
    n = len(path)
    wide_lip = mean_band * taper * (0.6 + _smooth_noise(rng, n, 0.3) + rng.uniform(-0.12, 0.12, n))
    narrow_lip = mean_band * taper * (0.2 + _smooth_noise(rng, n, 0.15) + rng.uniform(-0.06, 0.06, n))
    wide_lip, narrow_lip = np.maximum(wide_lip, 0), np.maximum(narrow_lip, 0)
    if rng.random() < 0.5:
        wide_lip, narrow_lip = narrow_lip, wide_lip
    outline = np.vstack([path + normals * wide_lip[:, None], (path - normals * narrow_lip[:, None])[::-1]])
    ys, xs, cover = _polygon(outline, scene)
    fibres = _Noise.make(rng, scene.height, scene.width, 1.5 * unit).at(ys, xs)
    colour = scene.paper + (fibres[:, None] - 0.5) * 24
    layers = _layer(ys, xs, cover * 0.97, colour, "tear")

    gap = path[: max(2, int(len(path) * rng.uniform(0.4, 0.8)))]  # the lips meet before the end
    ys, xs, cover = _polyline(gap, max(1, round(unit * scene.size * rng.uniform(0.4, 0.9))), scene)
    layers += _layer(ys, xs, cover * 0.9, scene.backing * 0.6, "tear")
    return layers


def _make_stain(rng: np.random.Generator, scene: _Scene, budget: float) -> list[_Layer]:
    """A water stain: blotchy translucent yellowing, dark tide lines at its rim and inside it."""
    largest = 0.22 * scene.diagonal * scene.size
    radius = float(np.clip(math.sqrt(budget / (math.pi * 0.6)), 6 * scene.unit, largest))  # 0.6: blotch fill
    if rng.random() < 0.4:  # water often comes in from an edge
        centre = _edge_point(rng, scene, int(rng.integers(4))) + rng.normal(0, radius * 0.3, 2)
    else:
        centre = rng.uniform((0, 0), (scene.width, scene.height))
    y0, y1, x0, x1 = _bbox(centre[None], 1.3 * radius, scene.height, scene.width)
    if y1 <= y0 or x1 <= x0:
        return []
    # A radial falloff roughened by two octaves of noise, computed on a small grid and resized.
    step = max(1, int(radius / 24))
    yy, xx = np.mgrid[y0:y1:step, x0:x1:step].astype(np.float32)
    blotch = _Noise.make(rng, y1 - y0, x1 - x0, radius / 2.5)
    detail = _Noise.make(rng, y1 - y0, x1 - x0, radius / 8)
    coarse = (
        1
        - np.hypot(xx - centre[0], yy - centre[1]) / radius
        + 0.45 * (blotch.at(yy - y0, xx - x0) - 0.5)
        + 0.15 * (detail.at(yy - y0, xx - x0) - 0.5)
    )
    field = cv2.resize(coarse, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) if step > 1 else coarse

    level = 0.2
    inside = (field > level).astype(np.uint8)
    if not inside.any():
        return []
    soft_edge = np.clip((field - level) * radius / 1.5, 0, 1)  # ~1.5 px anti-aliased outline
    rim_width = max(1.0, radius * rng.uniform(0.02, 0.05))
    rim = np.exp(-cv2.distanceTransform(inside, cv2.DIST_L2, 3) / rim_width)
    inner = (field > level + rng.uniform(0.12, 0.3)).astype(np.uint8)  # a second, fainter tide line
    tide = np.exp(-cv2.distanceTransform(inner, cv2.DIST_L2, 3) / rim_width) * inner * rng.uniform(0.3, 0.7)

    ys, xs = np.nonzero(inside)
    mottle = _Noise.make(rng, y1 - y0, x1 - x0, max(2.0, radius / 16)).at(ys, xs)
    tint = rng.uniform(0.3, 0.55) * (0.7 + 0.6 * mottle) * soft_edge[ys, xs]
    lines = rng.uniform(0.4, 0.65) * np.maximum(rim, tide)[ys, xs] * soft_edge[ys, xs]
    ys, xs = ys + y0, xs + x0
    yellow = np.array([245, rng.uniform(205, 225), rng.uniform(130, 170)], np.float32)
    brown = np.array([150, rng.uniform(100, 120), rng.uniform(50, 75)], np.float32)
    layers = _layer(ys, xs, tint, yellow, "stain", multiply=True)
    return layers + _layer(ys, xs, lines, brown, "stain", multiply=True)


def _make_spot(rng: np.random.Generator, scene: _Scene, budget: float) -> list[_Layer]:
    """Specks: dark or white dust and fibres, fuzzy mould, or brown foxing."""
    unit = scene.unit
    flavour = rng.choice(("dark dust", "white dust", "mould", "foxing"), p=(0.35, 0.3, 0.2, 0.15))
    soft = flavour in ("mould", "foxing")
    base = unit * scene.size * (1.8 if flavour == "foxing" else 0.8)
    radii = np.clip(base * rng.lognormal(0.0, 0.55, 40), 0.5, 6 * base)
    footprint = math.pi * (np.mean(radii) * (2 if soft else 1) + 0.8) ** 2  # blur and anti-aliasing widen
    count = int(np.clip(budget / footprint, 1, 40))
    radii = radii[:count]
    spread = unit * rng.uniform(4, 40) * (1 if soft or rng.random() < 0.5 else 6)  # clustered or scattered
    centres = rng.uniform((0, 0), (scene.width, scene.height)) + rng.normal(0, spread, (count, 2))
    squash = rng.uniform(0.4, 1.0, count)
    angles = rng.uniform(0, 180, count)
    fibres = 0 if soft else rng.binomial(3, 0.3)  # hairs and lint among the dust

    y0, y1, x0, x1 = _bbox(centres, 2 * radii.max() + 6 * unit + 2, scene.height, scene.width)
    if y1 <= y0 or x1 <= x0:
        return []
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for (cx, cy), radius, flat, angle in zip(centres, radii, squash, angles):
        centre = (int(round((cx - x0) * 16)), int(round((cy - y0) * 16)))
        axes = (max(1, int(radius * 16)), max(1, int(radius * flat * 16)))
        cv2.ellipse(patch, centre, axes, float(angle), 0, 360, 255, -1, cv2.LINE_AA, shift=4)
    for _ in range(fibres):
        root = centres[rng.integers(count)] - (x0, y0)
        hair = _walk(root, rng.uniform(0, 2 * math.pi), rng.normal(0, 0.5, 5), np.full(5, 2.5 * unit))
        cv2.polylines(patch, [np.round(hair * 16).astype(np.int32)], False, 255, 1, cv2.LINE_AA, shift=4)
    if soft:
        patch = cv2.GaussianBlur(patch, (0, 0), max(0.6, float(np.mean(radii)) * 0.5))
    ys, xs, cover = _sparse(patch, y0, x0)
    if flavour == "dark dust":
        return _layer(ys, xs, cover * rng.uniform(0.75, 0.95), (28, 26, 24), "spot")
    if flavour == "white dust":
        return _layer(ys, xs, cover * rng.uniform(0.8, 0.97), (246, 245, 240), "spot")
    if flavour == "mould":
        return _layer(ys, xs, np.sqrt(cover) * rng.uniform(0.45, 0.75), (208, 212, 196), "spot")
    return _layer(ys, xs, np.sqrt(cover) * rng.uniform(0.5, 0.8), (185, 120, 70), "spot", multiply=True)


def _make_missing_corner(rng: np.random.Generator, scene: _Scene, budget: float) -> list[_Layer]:
    """A corner (or a bite out of an edge) torn away: the backing shows, white fibres on the edge."""
    height, width = scene.height, scene.width
    # 0.8: the rest of the budget goes to the white fringe along the torn edge.
    area = float(np.clip(0.8 * budget, 0.002 * height * width, 0.2 * scene.size * height * width))
    jitter = max(1.0, 1.2 * scene.unit)

    if rng.random() < 0.7:  # a corner: a jagged line between points on two adjacent sides
        ratio = rng.uniform(0.5, 2.0)
        leg_x = min(math.sqrt(2 * area * ratio), 0.8 * width)
        leg_y = min(2 * area / leg_x, 0.8 * height)
        line = np.stack([np.linspace(leg_x, -2, 24), np.linspace(-2, leg_y, 24)], axis=1)
        closing = np.array([[-2.0, -2.0]])  # the corner itself, just outside the image
        transpose = False
    else:  # an edge piece: a jagged arc bitten out of one side
        transpose = rng.random() < 0.5  # left/right side instead of top/bottom
        along, across = (height, width) if transpose else (width, height)
        span = min(math.sqrt(area * rng.uniform(2.5, 6.0)), 0.8 * along)
        depth = min(1.3 * area / span, 0.6 * across)
        left = rng.uniform(0, along - span)
        theta = np.linspace(math.pi, 0, 24)
        line = np.stack([left + span / 2 * (1 + np.cos(theta)), depth * np.sin(theta)], axis=1)
        line[[0, -1], 1] = -2.0
        closing = np.empty((0, 2))

    # Roughen: a slow random walk across the edge plus fine serration; the ends stay put.
    line = _densify(line, step=max(1.0, 1.5 * scene.unit))
    walk = np.cumsum(rng.normal(0, jitter, len(line)))
    walk -= np.linspace(walk[0], walk[-1], len(line))
    rough = walk + rng.normal(0, 0.5 * jitter, len(line))
    rough[[0, -1]] = 0
    line = line + _normals(line) * rough[:, None]
    outline = np.vstack([closing, line])
    if transpose:
        line, outline = line[:, ::-1].copy(), outline[:, ::-1].copy()
    for axis, extent in ((0, width), (1, height)):
        if rng.random() < 0.5:  # which corner / which side
            line[:, axis] = extent - 1 - line[:, axis]
            outline[:, axis] = extent - 1 - outline[:, axis]

    fringe = max(1, round(scene.unit * scene.size * rng.uniform(1.0, 2.2)))
    fringe_line = _jagged(rng, line, 0.5 * fringe)
    ys, xs, cover = _polyline(fringe_line, 2 * fringe, scene)
    layers = _layer(ys, xs, cover * 0.92, scene.paper, "missing_corner")
    ys, xs, cover = _polygon(outline, scene)
    layers += _layer(ys, xs, cover, scene.backing, "missing_corner")
    return layers


_MAKERS = {
    "crease": _make_crease,
    "scratch": _make_scratch,
    "tear": _make_tear,
    "stain": _make_stain,
    "spot": _make_spot,
    "missing_corner": _make_missing_corner,
}
