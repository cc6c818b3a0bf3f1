"""Physical damage on an old print and its scan, with the truth of where the damage shows.

``physical_damage`` takes a clean photo through three stages:

1. the print (``_make_print``): black-and-white, sepia-toned or colour, on a paper whose white is
   not pure and whose blacks are lifted; film grain strongest in the mid-tones, sometimes a
   halftone dot screen (a print reproduced in a book or newspaper), paper texture (slow shading and
   fine fibre) and fading (lower contrast, yellowing, the cyan dye of colour prints fading first);
2. the damage, one small drawing function per kind (``PHYSICAL_KINDS``):

   - ``scratch``: emulsion scratches, bright (the paper shows) or dark (dirt in the groove),
     1-20 px wide at 512 x 512, straight, curved or branching, tapered, with uneven depth;
   - ``crack``: a crack network, a Voronoi graph of jagged cracks with paper-white cores and dark
     lifted edges, over a patch or the whole print;
   - ``crease``: a fold, usually across the whole print, lit from one side (a highlight on one
     flank, a shadow on the other) with a broken white line of cracked emulsion along its crest;
   - ``tear``: missing corners, bites out of an edge and slits from an edge, showing paper, mount
     card or the scanner's background, with a white rim of torn paper fibre;
   - ``dust`` and ``hair``: specks, curly lint fibres and long thin filaments, dark on prints and
     bright on scans of negatives;
   - ``spot``, ``foxing``, ``stain``, ``water_mark``: round spots (dark, or chipped to the paper with a
     dark halo), clusters of rust-brown speckles, translucent tinted blobs with a darker rim, and
     tide lines with a lighter interior;
   - ``silvering``: a bluish metallic sheen over the dark tones, strongest towards the edges;
   - ``ink``: pen handwriting and strokes in blue, black or red ink;
   - ``tape``: yellowed translucent tape or its residue, with darker adhesive edges;
3. the scan (``_scan``), applied to the damaged print and to the same print without its damage
   with the same draws: resampling, blur, vignetting, white balance and exposure,
   signal-dependent noise, JPEG.

The truth is where the damage visibly changed the scan: ``footprint`` holds the pixels where the
two scans differ by ``VISIBLE_CHANGE`` grey levels or more in some channel, and outside it the
damaged scan is the reference scan, bit for bit. ``kind_map`` names the kind that changed each
footprint pixel (the top-most one drawn there, or the nearest one where the scan's blur spread it).
Sizes scale with the image's diagonal (a 512 x 512 image is the reference). Images are uint8
``(H, W, 3)``; all randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.signal import lfilter
from scipy.spatial import Voronoi

from ..io.photos import LUMA_601
from .content import maybe_thin_content
from .damage import SEVERITIES
from .truth import DARK_MIN_CHANGE

PHYSICAL_KINDS: tuple[str, ...] = (
    "scratch",
    "crack",
    "crease",
    "tear",
    "dust",
    "hair",
    "spot",
    "foxing",
    "stain",
    "water_mark",
    "silvering",
    "ink",
    "tape",
)

PRINT_TYPES: tuple[str, ...] = ("bw", "sepia", "colour")

# A pixel is damage where the damage moved some channel of the scan by this many grey levels or
# more (evaluate-detection's first visibility edge); smaller changes are snapped back to the reference.
VISIBLE_CHANGE = DARK_MIN_CHANGE

_REFERENCE_DIAGONAL = math.hypot(512, 512)

# Elements per kind scale with severity; with kinds=None, how many kinds a sample carries.
_SEVERITY_COUNT = {"minor": 0.5, "moderate": 1.0, "severe": 1.8}
_SEVERITY_KINDS = {"minor": (1, 2), "moderate": (2, 4), "severe": (3, 6)}

# kinds=None: how often each kind is picked (relative), common damage first.
_KIND_WEIGHT = dict(zip(PHYSICAL_KINDS, (3, 1.2, 1.5, 1.2, 2.5, 1.2, 1.5, 1, 1.2, 0.8, 0.6, 0.6, 0.5)))


@dataclass(frozen=True)
class PhysicalDamage:
    """A damaged scanned print (``image``), the same print scanned undamaged with the same scan draws
    (``reference``), where the damage visibly changed the scan (``footprint``, bool, True = damage),
    which kind did (``kind_map``, uint8, 0 = none, i + 1 = ``PHYSICAL_KINDS[i]``), the print type and
    the kinds drawn."""

    image: np.ndarray
    reference: np.ndarray
    footprint: np.ndarray
    kind_map: np.ndarray
    print_type: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class _Scene:
    h: int
    w: int
    scale: float  # the image's diagonal over the reference diagonal
    paper: np.ndarray  # (3,) the print's paper white
    count: float  # element-count multiplier from the severity
    bright_debris: bool  # dust and hair on a scanned negative print bright


def physical_damage(
    photo: np.ndarray, rng: np.random.Generator, *, kinds=None, severity: str | None = None, content: float = 0.0
) -> PhysicalDamage:
    """Print ``photo``, damage the print with ``kinds`` (names from ``PHYSICAL_KINDS``; None = a random
    mix for the severity) at ``severity`` (one of ``SEVERITIES``; None = random), and scan it. With
    probability ``content``, thin picture content that is not damage (``synth.content``: hair, wires,
    lettering, a white border...) is drawn into the photo first, so it is in both scans and never in
    the footprint."""
    _check_inputs(photo, rng, severity)
    kinds = _check_kinds(kinds)
    if not 0.0 <= content <= 1.0:
        raise ValueError(f"physical_damage: content is a probability, got {content}")
    photo = maybe_thin_content(photo, rng, content)
    severity = severity or SEVERITIES[int(rng.integers(len(SEVERITIES)))]
    if kinds is None:
        lo, hi = _SEVERITY_KINDS[severity]
        p = np.array([_KIND_WEIGHT[k] for k in PHYSICAL_KINDS])
        pick = rng.choice(len(PHYSICAL_KINDS), size=int(rng.integers(lo, hi + 1)), replace=False, p=p / p.sum())
        kinds = tuple(PHYSICAL_KINDS[i] for i in sorted(pick))
    printed, paper, print_type = _make_print(photo, rng)
    h, w = photo.shape[:2]
    scene = _Scene(h, w, math.hypot(h, w) / _REFERENCE_DIAGONAL, paper, _SEVERITY_COUNT[severity], rng.random() < 0.2)
    damaged, labels = printed.copy(), np.zeros((h, w), np.uint8)
    for kind in sorted(kinds, key=_PAINT_ORDER.index):  # bottom to top: a tear cuts through a stain
        alpha = _DRAW[kind](damaged, rng, scene)
        labels[alpha > 0.02] = PHYSICAL_KINDS.index(kind) + 1
    image, reference = _scan(np.clip(damaged, 0, 255), printed, rng)
    change = np.abs(image.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
    footprint = change >= VISIBLE_CHANGE
    image = np.where(footprint[..., None], image, reference)
    return PhysicalDamage(image, reference, footprint, _kind_map(labels, footprint), print_type, kinds)


def _check_inputs(photo, rng, severity) -> None:
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(
            "physical_damage: photo must be a uint8 (H, W, 3) array; convert it with np.asarray(img.convert('RGB'))"
        )
    if min(photo.shape[:2]) < 32:
        raise ValueError(
            f"physical_damage: the photo is {photo.shape[0]} x {photo.shape[1]}; give one at least 32 x 32"
        )
    if not isinstance(rng, np.random.Generator):
        raise ValueError("physical_damage: rng must be a numpy.random.Generator, e.g. np.random.default_rng(seed)")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"physical_damage: severity {severity!r} is not one of {', '.join(SEVERITIES)} (or None)")


def _check_kinds(kinds) -> tuple[str, ...] | None:
    if kinds is None:
        return None
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in kinds if k not in PHYSICAL_KINDS]
    if unknown or not kinds:
        raise ValueError(f"physical_damage: kinds {unknown or '()'} are not among {', '.join(PHYSICAL_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def _kind_map(labels: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """The drawn kind at each footprint pixel, or the nearest drawn one where the scan spread it."""
    if not labels.any():
        return np.zeros_like(labels)
    _, (iy, ix) = distance_transform_edt(labels == 0, return_indices=True)
    return np.where(footprint, labels[iy, ix], 0).astype(np.uint8)


# ---------------------------------------------------------------- the print and the scan


def _noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Smooth value noise (H, W) with about ``cells`` features across the longer side, std ~1."""
    ch, cw = max(2, round(cells * h / max(h, w))), max(2, round(cells * w / max(h, w)))
    return cv2.resize(rng.normal(0, 1, (ch, cw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _make_print(photo: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """The photo as an aged print: float32 (H, W, 3) in 0-255, its paper white and its type."""
    h, w = photo.shape[:2]
    x = photo.astype(np.float32) / 255.0
    print_type = PRINT_TYPES[int(rng.choice(3, p=[0.35, 0.3, 0.35]))]
    paper = np.array([246, 242, 232], np.float32) - rng.uniform(0, 25) * np.array([0.4, 0.7, 1.3], np.float32)
    x = np.clip(0.5 + (x - 0.5) * rng.uniform(0.75, 1.15), 0, 1) ** rng.uniform(0.8, 1.25)
    luma = x @ LUMA_601
    if rng.random() < 0.1:  # halftone: a rotated dot screen thresholds the tone
        period, angle = (
            rng.uniform(2.5, 4.0) * max(1.0, math.hypot(h, w) / _REFERENCE_DIAGONAL),
            rng.uniform(0, np.pi / 2),
        )
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        u, v = (xx * math.cos(angle) + yy * math.sin(angle)), (-xx * math.sin(angle) + yy * math.cos(angle))
        screen = 0.5 + 0.25 * (np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period))
        dots = cv2.GaussianBlur((luma > screen).astype(np.float32), (0, 0), 0.6)
        luma = luma + rng.uniform(0.4, 0.8) * (dots - luma)
        x = np.clip(x + (luma - x @ LUMA_601)[..., None], 0, 1)
    if print_type == "bw":
        ink = np.repeat(luma[..., None], 3, axis=2) * (0.96 + 0.04 * rng.random(3)).astype(np.float32)
    elif print_type == "sepia":
        dark = np.array([58, 34, 18], np.float32) * rng.uniform(0.6, 1.3) / 255
        ink = dark + luma[..., None] * (paper / 255 - dark) * rng.uniform(0.92, 1.0)
    else:
        fade = np.array([1.0, rng.uniform(0.88, 1.0), rng.uniform(0.65, 0.95)], np.float32)  # cyan dye fades first
        ink = (luma[..., None] + (x - luma[..., None]) * rng.uniform(0.35, 1.0)) * fade + (1 - fade) * 0.25
    lift = rng.uniform(0.02, 0.22)  # the print's blacks are never black
    out = paper * (lift + (1 - lift) * np.clip(ink, 0, 1))
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 1.3))
    out = out + (rng.uniform(2, 12) * grain * 4 * luma * (1 - luma))[..., None]
    texture = (
        1
        + rng.uniform(0, 0.05) * _noise(rng, h, w, rng.uniform(2, 8))
        + rng.uniform(0, 0.02) * cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    )
    out = out * texture[..., None]
    out = out + rng.uniform(0, 0.25) * (paper * np.array([1.0, 0.95, 0.8], np.float32) - out)  # yellowing
    return np.clip(out, 0, 255).astype(np.float32), paper, print_type


def _scan(damaged: np.ndarray, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Both prints through one scan (every random draw made once and applied to both): uint8 each."""
    h, w = damaged.shape[:2]
    steps = []
    if rng.random() < 0.5:  # the scanner's resolution: down and back up
        f, up = rng.uniform(0.6, 0.95), (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
        size = (max(8, round(w * f)), max(8, round(h * f)))
        steps.append(lambda x: cv2.resize(cv2.resize(x, size, interpolation=cv2.INTER_AREA), (w, h), interpolation=up))
    if rng.random() < 0.6:
        sigma = rng.uniform(0.3, 1.1) * max(1.0, math.hypot(h, w) / _REFERENCE_DIAGONAL)
        steps.append(lambda x: cv2.GaussianBlur(x, (0, 0), sigma))
    if rng.random() < 0.5:  # vignetting, off-centre
        cy, cx = h * rng.uniform(0.3, 0.7), w * rng.uniform(0.3, 0.7)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (0.25 * (h * h + w * w))
        fall = (1 - rng.uniform(0.05, 0.3) * r2)[..., None]
        steps.append(lambda x: x * fall)
    gain, offset = rng.uniform(0.96, 1.04, 3).astype(np.float32) * rng.uniform(0.85, 1.1), rng.uniform(-12, 12)
    steps.append(lambda x: x * gain + offset)
    if rng.random() < 0.7:  # sensor noise, larger in the brights (shot noise)
        noise, sigma = rng.normal(0, 1, (h, w, 3)).astype(np.float32), rng.uniform(1.0, 5.0)
        steps.append(lambda x: x + noise * sigma * np.sqrt(np.clip(x, 0, 255) / 255 + 0.15))
    quality = int(rng.integers(45, 96)) if rng.random() < 0.6 else None
    out = []
    for x in (damaged, clean):
        for step in steps:
            x = step(x)
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        if quality is not None:
            _, buf = cv2.imencode(".jpg", x[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            x = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
        out.append(x)
    return out[0], out[1]


# ---------------------------------------------------------------- drawing helpers


def _densify(points: np.ndarray, step: float = 0.5) -> np.ndarray:
    """The polyline (N, 2) of x, y resampled every ``step`` pixels."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0, s[-1], max(2, int(s[-1] / step) + 1))
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def _walk(
    rng: np.random.Generator, start, heading: float, length: float, turn: float, memory: float = 0.9
) -> np.ndarray:
    """A smooth random path (N, 2) of ``length`` pixels: its curvature is an AR(1) process."""
    n = max(2, int(length / 2))
    curvature = lfilter([1.0], [1.0, -memory], rng.normal(0, turn, n))
    angle = heading + np.cumsum(curvature)
    steps = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _densify(np.asarray(start, float) + np.concatenate([[[0, 0]], np.cumsum(steps, axis=0)]))


def _paint_paths(scene: _Scene, paths: list, halfwidths: list, opacities: list | None = None) -> np.ndarray:
    """Opacity (H, W) of the dense paths, each point a disc of its half-width (a scalar or one per point)."""
    spread = [lambda v, p=p: np.broadcast_to(np.asarray(v, np.float32), (len(p),)) for p in paths]
    pts = np.concatenate(paths)
    hw = np.concatenate([f(v) for f, v in zip(spread, halfwidths)])
    op = np.concatenate([f(v) for f, v in zip(spread, opacities or [1.0] * len(paths))])
    col, row = np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)
    keep = (row >= 0) & (row < scene.h) & (col >= 0) & (col < scene.w)
    if not keep.any():
        return np.zeros((scene.h, scene.w), np.float32)
    index = np.full((scene.h, scene.w), -1, np.int64)
    index[row[keep], col[keep]] = np.nonzero(keep)[0]
    dist, (iy, ix) = distance_transform_edt(index < 0, return_indices=True)
    near = index[iy, ix]
    return (np.clip(hw[near] + 0.5 - dist, 0, 1) * op[near]).astype(np.float32)


def _over(img: np.ndarray, alpha: np.ndarray, colour) -> None:
    """Paint ``colour`` ((3,) or (H, W, 3)) over ``img`` with ``alpha`` (H, W), in place."""
    img += alpha[..., None] * (np.asarray(colour, np.float32) - img)


def _tint(img: np.ndarray, alpha: np.ndarray, factor) -> None:
    """Multiply ``img`` towards ``factor`` ((3,), 0-1 per channel) with ``alpha`` (H, W), in place."""
    img *= 1 - alpha[..., None] * (1 - np.asarray(factor, np.float32))


def _count(rng: np.random.Generator, scene: _Scene, lo: int, hi: int) -> int:
    return max(1, round(rng.integers(lo, hi + 1) * scene.count))


def _grid(scene: _Scene) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0 : scene.h, 0 : scene.w]
    return xx.astype(np.float32), yy.astype(np.float32)


def _edge_point(rng: np.random.Generator, scene: _Scene, side: int) -> np.ndarray:
    t = rng.uniform(0.05, 0.95)
    return np.array(
        [(t * scene.w, 0.0), (scene.w - 1.0, t * scene.h), (t * scene.w, scene.h - 1.0), (0.0, t * scene.h)][side]
    )


# ---------------------------------------------------------------- one drawing function per kind


def _scratch(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Emulsion scratches: bright (to the paper) or dark (dirt), 1-20 px, straight, curved or branching."""
    diag = math.hypot(scene.h, scene.w)
    total = np.zeros((scene.h, scene.w), np.float32)
    for _ in range(_count(rng, scene, 1, 5)):
        width = max(1.0, math.exp(rng.uniform(0, math.log(20))) * scene.scale)
        shape = rng.choice(3, p=[0.35, 0.4, 0.25])  # straight, curved, branching
        start = np.array([rng.uniform(0, scene.w), rng.uniform(0, scene.h)])
        length = diag * rng.uniform(0.1, 0.8)
        main = _walk(rng, start, rng.uniform(0, 2 * np.pi), length, (0.002, 0.008, 0.008)[shape], 0.97)
        paths = [main]
        if shape == 2:
            for i in rng.integers(0, len(main), int(rng.integers(2, 6))):
                heading = math.atan2(*(main[min(i + 1, len(main) - 1)] - main[max(i - 1, 0)])[::-1])
                turn = rng.choice([-1, 1]) * rng.uniform(0.3, 1.0)
                paths.append(_walk(rng, main[i], heading + turn, length * rng.uniform(0.1, 0.4), 0.03, 0.9))
        halfs, ops = [], []
        for k, p in enumerate(paths):
            t = np.linspace(0, 1, len(p))
            taper = np.clip(np.sin(np.pi * t) * 3, 0.15, 1) ** 0.7
            halfs.append(0.5 * width * (1 if k == 0 else rng.uniform(0.3, 0.7)) * taper - 0.5 + 0.5 * (width <= 1.5))
            ops.append(np.clip(0.75 + 0.35 * lfilter([0.05], [1, -0.95], rng.normal(0, 3, len(p))), 0.25, 1))
        alpha = _paint_paths(scene, paths, halfs, ops)
        if rng.random() < 0.6:  # bright: the emulsion is gone and the paper shows
            _over(img, alpha, scene.paper * rng.uniform(0.9, 1.0))
        else:
            _over(img, alpha * rng.uniform(0.6, 0.95), np.full(3, rng.uniform(15, 70)))
        total = np.maximum(total, alpha)
    return total


def _crack(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """A crack network: a sparse Voronoi graph of jagged cracks of uneven width, with paper-white
    cores and dark lifted edges."""
    whole = rng.random() < 0.4
    centre = np.array([rng.uniform(0, scene.w), rng.uniform(0, scene.h)])
    radius = math.hypot(scene.h, scene.w) * (0.8 if whole else rng.uniform(0.12, 0.35))
    n = int(rng.integers(8, 30) * (2 if whole else 1) * scene.count) + 4
    vor = Voronoi(centre + radius * 1.3 * rng.uniform(-1, 1, (n, 2)))
    core_w, edge_w = rng.uniform(0.3, 2.0) * scene.scale, rng.uniform(0.6, 2.5) * scene.scale
    paths, cores, edges = [], [], []
    for a, b in vor.ridge_vertices:
        if a < 0 or b < 0 or rng.random() < 0.4:
            continue
        p, q = vor.vertices[a], vor.vertices[b]
        if max(np.hypot(*(p - centre)), np.hypot(*(q - centre))) > radius * rng.uniform(0.7, 1.0):
            continue
        line = _densify(np.stack([p, q]))
        normal = np.array([q[1] - p[1], p[0] - q[0]]) / max(1e-6, np.hypot(*(q - p)))
        jag = lfilter([0.1], [1, -0.9], rng.normal(0, 3 * scene.scale, len(line)))
        jag += lfilter([0.5], [1, -0.5], rng.normal(0, 0.6 * scene.scale, len(line)))
        jag -= np.linspace(jag[0], jag[-1], len(line))  # the ends stay on the graph's vertices
        paths.append(line + jag[:, None] * normal)
        vary = np.clip(1 + 0.6 * lfilter([0.05], [1, -0.95], rng.normal(0, 3, len(line))), 0.2, 2.0)
        cores.append(core_w * vary)
        edges.append(core_w * vary + edge_w)
    if not paths:
        return np.zeros((scene.h, scene.w), np.float32)
    core = _paint_paths(scene, paths, cores)
    edge = _paint_paths(scene, paths, edges)
    _tint(img, edge * rng.uniform(0.3, 0.6), np.array([0.55, 0.5, 0.45]))
    _over(img, core * rng.uniform(0.75, 1.0), scene.paper)
    return edge


def _crease(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Folds: a long line, lit from one side, with a broken white crest of cracked emulsion."""
    xx, yy = _grid(scene)
    diag = math.hypot(scene.h, scene.w)
    total = np.zeros((scene.h, scene.w), np.float32)
    for _ in range(_count(rng, scene, 1, 2)):
        p0 = np.array([rng.uniform(0.15, 0.85) * scene.w, rng.uniform(0.15, 0.85) * scene.h])
        theta = rng.uniform(0, np.pi)
        u = (xx - p0[0]) * math.cos(theta) + (yy - p0[1]) * math.sin(theta)
        v = -(xx - p0[0]) * math.sin(theta) + (yy - p0[1]) * math.cos(theta)
        wobble = np.interp(
            u, np.linspace(-diag, diag, 64), lfilter([0.2], [1, -0.8], rng.normal(0, 3, 64)) * scene.scale
        )
        v = v + rng.uniform(-0.15, 0.15) * u**2 / diag + wobble
        width = rng.uniform(2, 12) * scene.scale
        g = v / width
        along = np.ones_like(u)
        if rng.random() < 0.3:  # a fold from one edge that ends inside the print
            along = 1 / (1 + np.exp((u - rng.uniform(-0.2, 0.3) * diag) / (0.03 * diag)))
        shade = 2.33 * g * np.exp(-(g**2)) * along * rng.uniform(0.25, 0.6)  # + highlight, - shadow
        shade *= rng.choice([-1, 1])
        bright = np.clip(shade, 0, None)
        _over(img, bright, scene.paper)
        _tint(img, np.clip(-shade, 0, None), np.array([0.35, 0.33, 0.3]))
        crest_w = rng.uniform(0.5, 2.5) * scene.scale
        cells = int(rng.integers(30, 120))  # cracked where the fold bent the emulsion most
        broken = np.clip(np.interp(u, np.linspace(-diag, diag, cells), rng.normal(0.3, 0.6, cells)), 0, 1)
        crest = np.clip(crest_w + 0.5 - np.abs(v), 0, 1) * broken * along
        _over(img, crest * rng.uniform(0.6, 1.0), scene.paper)
        total = np.maximum(total, np.maximum(np.abs(shade) * 4, crest))
    return np.clip(total, 0, 1)


def _tear(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Missing corners, bites out of an edge and slits, showing paper, card or background, with a
    white rim of torn fibre."""
    diag = math.hypot(scene.h, scene.w)
    corners = np.array([(0, 0), (scene.w - 1, 0), (scene.w - 1, scene.h - 1), (0, scene.h - 1)], float)
    missing = np.zeros((scene.h, scene.w), np.uint8)
    for _ in range(_count(rng, scene, 1, 2)):
        side, pick = int(rng.integers(4)), rng.random()
        size = diag * rng.uniform(0.04, 0.18)
        if pick < 0.45:  # a corner
            c, a, b = corners[side], corners[(side + 1) % 4], corners[(side - 1) % 4]
            p, q = (
                c + (a - c) / np.hypot(*(a - c)) * size * rng.uniform(0.6, 1.6),
                c + (b - c) / np.hypot(*(b - c)) * size,
            )
            rim = [p, c + (p - c + q - c) * rng.uniform(0.2, 0.45), q]
            poly = [c]
        else:  # a bite or a slit from an edge
            e = _edge_point(rng, scene, side)
            inward = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)][side], float)
            along = inward[::-1] * np.array([1, -1])
            half = size * (rng.uniform(0.4, 1.0) if pick < 0.8 else rng.uniform(0.03, 0.08))
            depth = size * (rng.uniform(0.3, 0.9) if pick < 0.8 else rng.uniform(1.5, 3.0))
            rim = [e - along * half, e + inward * depth + along * rng.uniform(-0.3, 0.3) * half, e + along * half]
            poly = []
        edge = _densify(np.array(rim), 2.0)
        normal = np.gradient(edge, axis=0)[:, ::-1] * np.array([1, -1])
        normal /= np.maximum(1e-6, np.hypot(*normal.T))[:, None]
        jag = lfilter([0.3], [1, -0.7], rng.normal(0, 2.5 * scene.scale, len(edge)))
        jag[[0, -1]] = 0
        pts = np.concatenate([np.array(poly).reshape(-1, 2), edge + jag[:, None] * normal])
        cv2.fillPoly(missing, [np.rint(pts).astype(np.int32)], 1, lineType=cv2.LINE_8)
    inside = missing.astype(bool)
    dist = distance_transform_edt(~inside)
    fibre = np.clip(rng.uniform(1, 4) * scene.scale * (1 + 0.5 * _noise(rng, scene.h, scene.w, 40)) - dist, 0, 1)
    _over(img, fibre * (~inside) * rng.uniform(0.7, 1.0), scene.paper * 1.02)
    fill = [scene.paper * 0.97, np.array([205, 190, 160]) * rng.uniform(0.7, 1.05), np.full(3, rng.uniform(5, 60))]
    fill.append(np.full(3, rng.uniform(225, 255)))  # a white scanner lid
    colour = fill[int(rng.choice(4, p=[0.25, 0.25, 0.3, 0.2]))]
    img[inside] = colour + rng.normal(0, 2, (inside.sum(), 1))
    return np.maximum(inside.astype(np.float32), fibre * (~inside))


def _debris_colour(rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    return np.full(3, rng.uniform(225, 255) if scene.bright_debris else rng.uniform(10, 60))


def _dust(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Dust specks and curly lint fibres, dark on prints, bright on scanned negatives."""
    n = _count(rng, scene, 15, 120)
    specks = [np.array([[rng.uniform(0, scene.w), rng.uniform(0, scene.h)]]) for _ in range(n)]
    radii = [max(0.5, rng.uniform(0.2, 2.5) * scene.scale) for _ in range(n)]
    lint = [
        _walk(
            rng,
            (rng.uniform(0, scene.w), rng.uniform(0, scene.h)),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(6, 50) * scene.scale,
            0.25,
            0.7,
        )
        for _ in range(_count(rng, scene, 0, 8))
    ]
    halfs = radii + [max(0.4, rng.uniform(0.1, 0.9) * scene.scale) for _ in lint]
    ops = [rng.uniform(0.5, 1.0) for _ in specks + lint]
    alpha = _paint_paths(scene, specks + lint, halfs, ops)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.5)
    _over(img, alpha, _debris_colour(rng, scene))
    return alpha


def _hair(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Hairs: long thin curved filaments, a little out of focus, dark on prints, bright on negatives."""
    diag = math.hypot(scene.h, scene.w)
    paths = [
        _walk(
            rng,
            (rng.uniform(0, scene.w), rng.uniform(0, scene.h)),
            rng.uniform(0, 2 * np.pi),
            diag * rng.uniform(0.1, 0.5),
            0.03,
            0.95,
        )
        for _ in range(_count(rng, scene, 1, 3))
    ]
    halfs = [rng.uniform(0.2, 1.5) * scene.scale for _ in paths]
    alpha = _paint_paths(scene, paths, halfs, [rng.uniform(0.7, 1.0) for _ in paths])
    alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.3, 0.9))
    _over(img, alpha, _debris_colour(rng, scene))
    return alpha


def _blob_field(rng: np.random.Generator, scene: _Scene, radius: float) -> tuple[np.ndarray, tuple[slice, slice]]:
    """A noisy radial distance (1 at an irregular outline) over a box around a random centre."""
    cx, cy = rng.uniform(0, scene.w), rng.uniform(0, scene.h)
    r = int(radius * 1.8) + 2
    box = (slice(max(0, int(cy) - r), min(scene.h, int(cy) + r)), slice(max(0, int(cx) - r), min(scene.w, int(cx) + r)))
    yy, xx = np.mgrid[box].astype(np.float32)
    h, w = yy.shape
    wobble = 0.22 * _noise(rng, h, w, 5) + 0.08 * _noise(rng, h, w, 14)
    return np.hypot(xx - cx, yy - cy) / radius * (1 + wobble), box


def _spot(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Round spots: dark (mould, fly specks) or chipped to the paper with a dark halo."""
    total = np.zeros((scene.h, scene.w), np.float32)
    for _ in range(_count(rng, scene, 2, 12)):
        field, box = _blob_field(rng, scene, rng.uniform(1.0, 15.0) * scene.scale)
        core = np.clip((1 - field) * 4, 0, 1)
        patch = img[box]
        if rng.random() < 0.5:
            _over(patch, core * rng.uniform(0.5, 0.95), np.array([40, 32, 25]) * rng.uniform(0.5, 1.5))
            alpha = core
        else:
            halo = np.clip(1 - np.abs(field - 1.05) * 5, 0, 1) * rng.uniform(0.3, 0.6)
            _tint(patch, halo, np.array([0.45, 0.42, 0.4]))
            _over(patch, core, scene.paper)
            alpha = np.maximum(core, halo)
        total[box] = np.maximum(total[box], alpha)
    return total


def _foxing(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Foxing: clusters of rust-brown speckles with a faint diffuse halo."""
    brown = np.array([0.78, 0.58, 0.38]) * rng.uniform(0.85, 1.05)
    paths, halfs = [], []
    for _ in range(_count(rng, scene, 1, 4)):
        centre, spread = np.array([rng.uniform(0, scene.w), rng.uniform(0, scene.h)]), rng.uniform(5, 40) * scene.scale
        n = int(rng.integers(8, 60))
        paths += list((centre + rng.normal(0, spread, (n, 2)))[:, None, :])
        halfs += list(rng.exponential(1.2, n) * scene.scale + 0.3)
    speckles = _paint_paths(scene, paths, halfs, list(rng.uniform(0.4, 1.0, len(paths))))
    halo = cv2.GaussianBlur(speckles, (0, 0), 4 * scene.scale + 1) * 1.5
    alpha = np.clip(np.maximum(cv2.GaussianBlur(speckles, (0, 0), 0.7), halo * 0.5), 0, 1)
    _tint(img, alpha, brown)
    return alpha


def _stain(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Stains: translucent tinted blobs, darker where the liquid dried at the rim."""
    total = np.zeros((scene.h, scene.w), np.float32)
    for _ in range(_count(rng, scene, 1, 3)):
        field, box = _blob_field(rng, scene, math.hypot(scene.h, scene.w) * rng.uniform(0.03, 0.15))
        body = np.clip((1 - field) * 6, 0, 1) * rng.uniform(0.25, 0.6)
        rim = np.exp(-(((field - 0.97) / 0.04) ** 2)) * rng.uniform(0.2, 0.5)
        tints = [np.array([0.85, 0.7, 0.45]), np.array([0.7, 0.62, 0.55]), np.array([0.8, 0.75, 0.5])]
        alpha = np.clip(body + rim, 0, 1)
        _tint(img[box], alpha, tints[int(rng.integers(3))] * rng.uniform(0.85, 1.05))
        total[box] = np.maximum(total[box], alpha)
    return total


def _water_mark(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Water marks: tide lines (a few nested rings) around a slightly lighter, yellowed interior."""
    total = np.zeros((scene.h, scene.w), np.float32)
    for _ in range(_count(rng, scene, 1, 2)):
        field, box = _blob_field(rng, scene, math.hypot(scene.h, scene.w) * rng.uniform(0.06, 0.25))
        rings = sum(
            np.exp(-(((field - level) / rng.uniform(0.006, 0.02)) ** 2)) * rng.uniform(0.3, 0.7)
            for level in np.sort(rng.uniform(0.75, 1.0, int(rng.integers(1, 4))))
        )
        rings = np.clip(rings, 0, 1)
        inside = np.clip((1 - field) * 8, 0, 1) * rng.uniform(0.08, 0.2)
        _over(img[box], inside, scene.paper * np.array([1.0, 0.96, 0.85]))
        _tint(img[box], rings, np.array([0.72, 0.6, 0.45]))
        total[box] = np.maximum(total[box], np.maximum(rings, inside))
    return total


def _silvering(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Silver mirroring: a bluish metallic sheen over the dark tones, strongest towards the edges."""
    xx, yy = _grid(scene)
    edge = np.minimum(np.minimum(xx, scene.w - 1 - xx), np.minimum(yy, scene.h - 1 - yy)) / max(scene.h, scene.w)
    band = rng.uniform(0.08, 0.3)
    reach = np.clip(1 - edge / band + 0.3 * _noise(rng, scene.h, scene.w, 8), 0, 1) ** 1.5
    dark = np.clip(1.2 - (img @ LUMA_601) / 190, 0, 1)  # dense tones mirror most
    sheen = 1 + 0.25 * _noise(rng, scene.h, scene.w, 30)
    alpha = np.clip(reach * dark * sheen * rng.uniform(0.5, 0.9), 0, 1).astype(np.float32)
    _over(img, alpha, np.array([150, 160, 178]) * rng.uniform(0.8, 1.1))
    return alpha


def _ink(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Pen marks: a line of looping handwriting, or a few free strokes, in blue, black or red ink."""
    colours = [np.array([35, 50, 130]), np.array([25, 25, 30]), np.array([150, 30, 35])]
    paths = []
    for _ in range(_count(rng, scene, 1, 2)):
        if rng.random() < 0.65:  # handwriting: a trochoid drifting along a baseline
            letters, size = int(rng.integers(5, 20)), rng.uniform(6, 18) * scene.scale
            t = np.linspace(0, letters * 2 * np.pi, letters * 40)
            tall = rng.choice([0.45, 0.45, 0.7, 1.6, -1.2], letters)  # x-height, ascenders, descenders
            r = size * np.interp(t, np.linspace(0, t[-1], letters), tall) * rng.uniform(0.8, 1.2)
            pts = np.stack(
                [t / (2 * np.pi) * size * rng.uniform(1.2, 1.8) + r * np.cos(t) * 0.5, r * np.sin(t)], axis=1
            )
            a = rng.uniform(-0.3, 0.3)
            pts = pts @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
            paths.append(_densify(pts + [rng.uniform(0, 0.7) * scene.w, rng.uniform(0.05, 0.95) * scene.h]))
        else:
            start = (rng.uniform(0, scene.w), rng.uniform(0, scene.h))
            paths.append(
                _walk(
                    rng,
                    start,
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.05, 0.3) * math.hypot(scene.h, scene.w),
                    0.05,
                    0.9,
                )
            )
    halfs = [rng.uniform(0.4, 2.0) * scene.scale for _ in paths]
    alpha = _paint_paths(scene, paths, halfs, [rng.uniform(0.75, 1.0) for _ in paths])
    _over(img, alpha, colours[int(rng.integers(3))] * rng.uniform(0.8, 1.2))
    return alpha


def _tape(img: np.ndarray, rng: np.random.Generator, scene: _Scene) -> np.ndarray:
    """Tape or its residue: a yellowed translucent strip with darker adhesive edges, often over an edge."""
    xx, yy = _grid(scene)
    diag = math.hypot(scene.h, scene.w)
    total = np.zeros((scene.h, scene.w), np.float32)
    for _ in range(_count(rng, scene, 1, 2)):
        side = int(rng.integers(4))
        c = _edge_point(rng, scene, side) + rng.normal(0, 0.05 * diag, 2)
        theta = (0.0, np.pi / 2)[side % 2] + np.pi / 2 + rng.normal(0, 0.3)
        length, width = diag * rng.uniform(0.08, 0.3), diag * rng.uniform(0.03, 0.08)
        u = (xx - c[0]) * math.cos(theta) + (yy - c[1]) * math.sin(theta)
        v = -(xx - c[0]) * math.sin(theta) + (yy - c[1]) * math.cos(theta)
        out = np.maximum(np.abs(u) - length / 2, np.abs(v) - width / 2)  # < 0 inside the strip
        ragged = out + 1.5 * scene.scale * _noise(rng, scene.h, scene.w, 60)
        inside = np.clip(0.5 - ragged, 0, 1)
        edge = np.exp(-((ragged / (rng.uniform(1.5, 5) * scene.scale)) ** 2)) * rng.uniform(0.2, 0.5)
        body = inside * rng.uniform(0.25, 0.6) * (1 + 0.15 * _noise(rng, scene.h, scene.w, 20))
        _tint(img, np.clip(body, 0, 1), np.array([1.0, 0.9, 0.62]))
        _tint(img, edge, np.array([0.6, 0.52, 0.38]))
        total = np.maximum(total, np.clip(np.maximum(body, edge), 0, 1))
    return total


# Painting order, bottom to top: stains and tape under the scratches; tears cut through everything.
_PAINT_ORDER = (
    "silvering",
    "stain",
    "water_mark",
    "foxing",
    "tape",
    "spot",
    "crease",
    "crack",
    "scratch",
    "ink",
    "tear",
    "dust",
    "hair",
)

_DRAW = {
    "scratch": _scratch,
    "crack": _crack,
    "crease": _crease,
    "tear": _tear,
    "dust": _dust,
    "hair": _hair,
    "spot": _spot,
    "foxing": _foxing,
    "stain": _stain,
    "water_mark": _water_mark,
    "silvering": _silvering,
    "ink": _ink,
    "tape": _tape,
}
