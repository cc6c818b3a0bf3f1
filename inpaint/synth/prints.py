"""What an old print and its scan go through: the damage detector's training samples and the
inputs of ``evaluate-detection``.

``damaged_sample`` takes a clean photo through three steps:

1. the print (``age_print``): kept in colour, turned black-and-white, sepia-toned, or faded (lower
   contrast, lifted blacks);
2. the damage: ``synthesize_damage`` at a given or random severity (its true mask is the
   detector's target), or none at all for ``clean_fraction`` of the samples, so that the network
   learns to answer "no damage";
3. the scan (``scan``): paper texture (low-frequency shading and fine grain), a little blur,
   sensor noise, brightness/contrast changes and JPEG compression, each with some probability.

``sample_kinds`` picks the damage kinds of one sample (the synthesiser's mix, or a single kind for
a share of the samples) and ``parse_kind_weights`` reads the command line's ``--kind-weights``.
Images are uint8 ``(H, W, 3)`` arrays; randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..io.photos import LUMA_601
from .damage import DAMAGE_KINDS, SEVERITIES, synthesize_damage


def age_print(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Step 1: colour, black-and-white, sepia or faded (uint8 (H, W, 3) in and out)."""
    pick = rng.random()
    x = photo.astype(np.float32)
    if pick < 0.3:
        return photo
    luma = x @ LUMA_601
    if pick < 0.6:
        x = np.repeat(luma[..., None], 3, axis=2)
    elif pick < 0.85:
        tone = np.array([1.0, 0.86, 0.66], np.float32) * rng.uniform(0.9, 1.07)
        x = luma[..., None] * tone + np.array([20.0, 12.0, 0.0], np.float32) * rng.uniform(0.0, 1.0)
    else:
        lift = rng.uniform(15, 60)
        x = lift + x * rng.uniform(0.55, 0.85)
        x = x + (x.mean(axis=2, keepdims=True) - x) * rng.uniform(0.2, 0.6)  # colours fade too
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def scan(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Step 3: paper texture, blur, noise, exposure, JPEG (uint8 (H, W, 3) in and out)."""
    import cv2

    h, w = photo.shape[:2]
    x = photo.astype(np.float32)
    if rng.random() < 0.6:  # paper: slow shading plus fine grain, multiplicative
        cells = rng.integers(3, 9)
        shade = cv2.resize(rng.normal(0, 1, (cells, cells)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(0.6, 1.5))
        x = x * (1.0 + rng.uniform(0.0, 0.06) * shade[..., None] + rng.uniform(0.0, 0.05) * grain[..., None])
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.5:
        x = x + rng.normal(0, rng.uniform(1.0, 6.0), x.shape).astype(np.float32)
    if rng.random() < 0.4:
        x = (x - 128.0) * rng.uniform(0.8, 1.2) + 128.0 + rng.uniform(-20, 20)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
        if ok:
            out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def damaged_sample(
    photo: np.ndarray,
    rng: np.random.Generator,
    clean_fraction: float = 0.15,
    severity: str | None = None,
    kinds: Any = None,
    *,
    reference: bool = False,
) -> tuple[np.ndarray, ...]:
    """A (scanned, aged, damaged) photo and its damage mask (bool, True = damage). With
    ``reference``, also the same print scanned without its damage, with the same scan draws (paper,
    blur, noise, exposure, JPEG quality): how much the damage changed each pixel of what the
    detector sees is the difference of the two (the generator ends in the same state either way)."""
    aged = age_print(photo, rng)
    if severity is None and rng.random() < clean_fraction:
        damaged, damage = aged, np.zeros(aged.shape[:2], bool)
    else:
        sev = severity or SEVERITIES[rng.integers(len(SEVERITIES))]
        damaged, known = synthesize_damage(aged, sev, seed=rng, kinds=kinds)
        damage = ~known
    if not reference:
        return scan(damaged, rng), damage
    scan_rng = copy.deepcopy(rng)  # scan() draws the same numbers whatever the pixels are
    return scan(damaged, rng), damage, scan(aged, scan_rng)


def sample_kinds(
    rng: np.random.Generator, single_kind_fraction: float, kind_weights: dict[str, float] | None = None
) -> tuple[str, ...] | None:
    """None (the synthesiser's plausible mix) or, with probability ``single_kind_fraction``, one
    damage kind: a photo with only scratches, say, as the per-kind evaluation has. In the mix a
    kind is a small share of the damaged pixels (a scratch group is thin), so alone it is what
    makes the loss attend to it. The kind is drawn uniformly, or in proportion to
    ``kind_weights`` (kinds it does not name weigh 1)."""
    if single_kind_fraction > 0 and rng.random() < single_kind_fraction:
        if not kind_weights:
            return (DAMAGE_KINDS[int(rng.integers(len(DAMAGE_KINDS)))],)
        w = np.array([kind_weights.get(k, 1.0) for k in DAMAGE_KINDS], float)
        return (DAMAGE_KINDS[int(rng.choice(len(DAMAGE_KINDS), p=w / w.sum()))],)
    return None


def parse_kind_weights(text: str) -> dict[str, float]:
    """``scratch=3,crease=2`` -> {"scratch": 3.0, "crease": 2.0}; a one-line ValueError otherwise."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, eq, value = part.partition("=")
        if kind not in DAMAGE_KINDS or not eq:
            raise ValueError(f"--kind-weights: {part!r} is not KIND=WEIGHT with KIND one of {', '.join(DAMAGE_KINDS)}")
        try:
            out[kind] = float(value)
        except ValueError:
            raise ValueError(f"--kind-weights: {value!r} is not a number") from None
        if not out[kind] >= 0:
            raise ValueError(f"--kind-weights: the weight of {kind} must be zero or positive")
    if out and not any(out.get(k, 1.0) > 0 for k in DAMAGE_KINDS):
        raise ValueError("--kind-weights: at least one kind needs a positive weight")
    return out
