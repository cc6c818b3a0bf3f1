"""The grain finish: film grain and paper texture, measured on the photo's own known pixels and
synthesised into the pixels a candidate replaced.

A learned or interpolated fill is smooth: its gradient energy inside the hole is a small fraction
of the photo's, and a smear shows wherever the print has grain. ``measure_grain`` looks at the
known pixels around the damage (a band, widening to the whole photo when the band is too small):

- the *grain* is the luminance minus a Gaussian-smoothed copy. The smoothing is a normalised
  convolution over known pixels only, so a hole's values never reach the measurement;
- its *strength* is a robust standard deviation (the median absolute deviation) of that residual
  in a few brightness bins, since grain is signal-dependent. Pixels on the strongest quarter of
  the picture's gradients are left out, so edges are not counted as grain;
- its *grain size* is the sigma of the Gaussian that, low-passing white noise, gives the same
  lag-1 and lag-2 autocorrelation of the residual. A table made by running the same measurement
  on synthetic noise of known sigma maps one to the other, and also corrects the strength for the
  share of the grain that the smoothed copy absorbs;
- its *colour*: monochrome photos (grayscale files, black-and-white or sepia prints scanned to
  RGB) get the same noise in every channel, through the photo's tone curve. Colour photos get the
  luminance grain plus each channel's measured chroma share.

``add_grain`` draws that noise from the candidate's seed, scales it per pixel by the strength at
the fill's own brightness and adds it to the replaced pixels only. A photo without measurable
grain (below ``NOISE_FLOOR`` grey levels) gets nothing.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..io.photos import LUMA_601
from .tiles import _component_boxes

FINISHES = ("plain", "grain", "sharp")
"""How a candidate's fill is made beyond its method: as the restorer gives it, with the photo's
grain added after the restorer and the tone curve, or (``pconv`` only) by the sharpened network
(``restore(..., sharp_model=...)``: the bundled restorer fine-tuned with a patch discriminator)."""

SMOOTH_SIGMA = 3.0
"""Pixels: the smoothed copy the residual is taken against (grain sizes up to about this)."""
BAND = 32
"""Pixels around the damage first measured; then 4x wider; then the whole known area."""
MIN_PIXELS = 4000
"""Known pixels a measurement needs; fewer and the next, wider region is used."""
LEVEL_EDGES = np.linspace(0.0, 256.0, 9)
"""Eight brightness bins of the smoothed luminance."""
MIN_BIN = 300
"""Pixels a brightness bin needs to be measured; others are interpolated from their neighbours."""
NOISE_FLOOR = 0.5
"""Grey levels: a photo whose strongest grain is weaker than this is left plain."""
EDGE_QUANTILE = 75.0
"""Pixels whose smoothed gradient is above this percentile are picture structure, not grain..."""
EDGE_FACTOR = 3.0
"""...and so are those whose smoothed gradient is above this many times what the grain alone
gives (the grain measured first on the flatter half of the pixels)."""
MAX_CHROMA = 0.5
"""A channel's chroma grain is at most this share of the luminance grain: beyond it, what is
measured is the picture's colour detail, and added as noise it looks like confetti."""
_SIGMAS = np.array([0.0, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0])
"""The grain sizes (Gaussian sigma, px) the calibration table covers."""


@dataclass(frozen=True)
class Grain:
    """A photo's grain: ``strength`` (grey levels, the standard deviation of the luminance grain)
    at the brightness ``levels``; ``sigma`` the Gaussian correlation of its noise in pixels (0 =
    white); ``chroma`` each channel's departure from the luminance grain, relative to it (zeros:
    monochrome, the same noise in every channel)."""

    levels: np.ndarray
    strength: np.ndarray
    sigma: float
    chroma: np.ndarray

    @property
    def none(self) -> bool:
        return not (self.strength > 0).any()

    def std_at(self, luma: np.ndarray) -> np.ndarray:
        """The grain's strength at each brightness in ``luma`` (0-255)."""
        return np.interp(luma, self.levels, self.strength).astype(np.float32)


NO_GRAIN = Grain(np.array([0.0, 255.0]), np.zeros(2), 0.0, np.zeros(3))


def _kernel_norm(sigma: float) -> float:
    """Standard deviation of unit white noise after ``ndimage.gaussian_filter(., sigma)`` in 2-D."""
    delta = np.zeros(int(8 * sigma) + 9)
    delta[len(delta) // 2] = 1.0
    k = ndimage.gaussian_filter1d(delta, sigma, truncate=3.0)
    return float((k**2).sum())  # sqrt of the 2-D kernel's sum of squares, which is this squared


def correlated_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Unit-variance Gaussian noise of ``shape`` (H, W), low-passed by a Gaussian of ``sigma`` px."""
    z = rng.standard_normal(shape, dtype=np.float32)
    if sigma < 0.3:
        return z
    return ndimage.gaussian_filter(z, sigma, mode="reflect", truncate=3.0) / np.float32(_kernel_norm(sigma))


def _smooth_known(values: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised Gaussian smoothing of (H, W) or (H, W, C) ``values`` over the pixels where
    ``weight`` is 1: what is under weight 0 never enters. Returns the smoothed values and the
    known share of each window."""
    den = ndimage.gaussian_filter(weight, SMOOTH_SIGMA, mode="nearest", truncate=3.0)
    if values.ndim == 3:
        w3 = weight[..., None]
        num = ndimage.gaussian_filter(values * w3, (SMOOTH_SIGMA, SMOOTH_SIGMA, 0), mode="nearest", truncate=3.0)
        return num / np.maximum(den, 1e-6)[..., None], den
    num = ndimage.gaussian_filter(values * weight, SMOOTH_SIGMA, mode="nearest", truncate=3.0)
    return num / np.maximum(den, 1e-6), den


def _robust_std(x: np.ndarray) -> float:
    med = np.median(x)
    return float(1.4826 * np.median(np.abs(x - med)))


def _lag_correlations(r: np.ndarray, use: np.ndarray) -> tuple[float, float]:
    """Autocorrelation of ``r`` at lags 1 and 2 (horizontal and vertical pooled), over pairs of
    pixels that are both in ``use``."""
    out = []
    for lag in (1, 2):
        num = den_a = den_b = 0.0
        for a, b, ua, ub in (
            (r[:, :-lag], r[:, lag:], use[:, :-lag], use[:, lag:]),
            (r[:-lag], r[lag:], use[:-lag], use[lag:]),
        ):
            both = ua & ub
            va, vb = a[both].astype(np.float64), b[both].astype(np.float64)
            num += float(va @ vb)
            den_a += float(va @ va)
            den_b += float(vb @ vb)
        out.append(num / math.sqrt(den_a * den_b) if den_a > 0 and den_b > 0 else 0.0)
    return out[0], out[1]


def _residual(luma: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    smooth, share = _smooth_known(luma, weight)
    return luma - smooth, smooth, share


@functools.lru_cache(maxsize=1)
def _calibration() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each grain size in ``_SIGMAS``, measured on unit-variance noise as ``measure_grain``
    measures a photo: the residual's robust std, its lag-1 and lag-2 autocorrelations, and the
    root-mean-square gradient of the smoothed copy (what the grain alone makes of it)."""
    rng = np.random.default_rng(20240611)
    ratio, rho1, rho2, grad = [], [], [], []
    weight = np.ones((256, 256), np.float32)
    inner = np.zeros_like(weight, bool)
    inner[16:-16, 16:-16] = True
    for sigma in _SIGMAS:
        noise = correlated_noise(rng, (256, 256), float(sigma))
        r, smooth, _ = _residual(noise, weight)
        ratio.append(_robust_std(r[inner]))
        a, b = _lag_correlations(r, inner)
        rho1.append(a)
        rho2.append(b)
        gy, gx = np.gradient(smooth)
        grad.append(float(np.sqrt((gx**2 + gy**2)[inner].mean())))
    return np.array(ratio), np.array(rho1), np.array(rho2), np.array(grad)


def _fit_sigma(rho1: float, rho2: float) -> tuple[float, float]:
    """The grain size whose residual has these autocorrelations, and the residual's share of the
    grain's standard deviation at that size."""
    ratio, t1, t2, _ = _calibration()
    fine = np.linspace(_SIGMAS[0], _SIGMAS[-1], 261)
    f1, f2 = np.interp(fine, _SIGMAS, t1), np.interp(fine, _SIGMAS, t2)
    best = int(np.argmin((f1 - rho1) ** 2 + (f2 - rho2) ** 2))
    return float(fine[best]), float(np.interp(fine[best], _SIGMAS, ratio))


def _measure_region(rgb: np.ndarray, known: np.ndarray, damage: np.ndarray, monochrome: bool) -> Grain | None:
    """The grain measured on the known pixels of this crop that are not within 3 px of the
    damage; None when fewer than ``MIN_PIXELS`` remain after leaving out edges."""
    weight = known.astype(np.float32)
    luma = rgb.astype(np.float32) @ LUMA_601
    r, smooth, share = _residual(luma, weight)
    near = ndimage.binary_dilation(damage, iterations=3) if damage.any() else damage
    use = known & ~near & (share > 0.6)
    if use.sum() < MIN_PIXELS:
        return None
    gy, gx = np.gradient(smooth)
    grad = np.hypot(gx, gy)
    # a first look at the grain on the flatter half says how steep the grain alone makes the
    # smoothed copy; steeper than a few times that is an edge of the picture
    flat = use & (grad <= np.percentile(grad[use], 50.0))
    sigma0, share0 = _fit_sigma(*_lag_correlations(np.clip(r / max(_robust_std(r[flat]), 1e-6), -4, 4), flat))
    grain0 = _robust_std(r[flat]) / share0
    steep = EDGE_FACTOR * grain0 * float(np.interp(sigma0, _SIGMAS, _calibration()[3]))
    use &= (grad <= np.percentile(grad[use], EDGE_QUANTILE)) & (grad <= max(steep, 1e-3))
    if use.sum() < MIN_PIXELS * 0.5:
        return None
    level = smooth[use]
    res = r[use]
    centres, strengths = [], []
    for lo, hi in zip(LEVEL_EDGES[:-1], LEVEL_EDGES[1:]):
        in_bin = (level >= lo) & (level < hi)
        if in_bin.sum() >= MIN_BIN:
            centres.append(float(level[in_bin].mean()))
            strengths.append(_robust_std(res[in_bin]))
    if not centres:
        return None
    strength = np.array(strengths)
    # lag correlations of the residual normalised by its strength, outliers clipped
    local = np.interp(smooth, centres, strength).astype(np.float32)
    norm = np.where(local > 0, r / np.maximum(local, 1e-6), 0.0)
    norm = np.clip(norm, -4.0, 4.0)
    sigma, share_kept = _fit_sigma(*_lag_correlations(norm, use))
    # take out the 8-bit rounding (white, variance 1/12), then undo the smoothed copy's share
    white_share = _calibration()[0][0]
    strength = np.sqrt(np.maximum(strength**2 - white_share**2 / 12.0, 0.0)) / share_kept
    chroma = np.zeros(3)
    if not monochrome:
        res_rgb = rgb.astype(np.float32) - _smooth_known(rgb.astype(np.float32), weight)[0]
        lum_std = _robust_std(res)
        if lum_std > 0:
            for c in range(3):
                chroma[c] = min(MAX_CHROMA, _robust_std(res_rgb[..., c][use] - res) / lum_std)
    return Grain(np.array(centres), strength, sigma, chroma)


def measure_grain(rgb8: np.ndarray, known: np.ndarray, *, monochrome: bool) -> Grain:
    """The photo's grain, from its known pixels only: first a ``BAND``-pixel band around the
    damage, then a band 4 times wider, then the whole photo. ``NO_GRAIN`` when nothing measurable
    is there."""
    damage = ~known
    h, w = known.shape
    grain = None
    for band in (BAND, 4 * BAND, None):
        if band is None:
            y0, y1, x0, x1 = 0, h, 0, w
            region = known
        else:
            ys, xs = np.nonzero(damage)
            pad = band + int(3 * SMOOTH_SIGMA) + 1
            y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)
            x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)
            crop_damage = damage[y0:y1, x0:x1]
            region = known[y0:y1, x0:x1] & ndimage.binary_dilation(crop_damage, iterations=band)
        grain = _measure_region(rgb8[y0:y1, x0:x1], region, damage[y0:y1, x0:x1], monochrome)
        if grain is not None:
            break
    if grain is None or grain.strength.max() < NOISE_FLOOR:
        return NO_GRAIN
    return grain


def add_grain(
    fill: np.ndarray,
    replaced: np.ndarray,
    grain: Grain,
    seed: int,
    curve: np.ndarray | None = None,
) -> np.ndarray:
    """``fill`` (H, W, 3) uint8 with the photo's grain added to its ``replaced`` pixels, drawn from
    ``seed``. ``curve``: a monochrome print's tone curve (``tone.tone_curve``): the noise moves each
    pixel along it. Other pixels are untouched. In place, like ``tone.apply_tone_curve``."""
    if grain.none or not replaced.any():
        return fill
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6772_6169])
    pad = int(math.ceil(3 * grain.sigma)) + 1
    colour = bool(grain.chroma.any())
    todo = replaced.copy()  # boxes can overlap: each pixel gets the noise of the first box only
    for y0, y1, x0, x1 in _component_boxes(replaced, margin=pad):
        m = todo[y0:y1, x0:x1].copy()
        if not m.any():
            continue
        todo[y0:y1, x0:x1] &= ~m
        # the box is grown by the filter's reach, so the noise at the damage has full statistics
        shape = (y1 - y0, x1 - x0)
        view = fill[y0:y1, x0:x1]
        pix = view[m].astype(np.float32)
        luma = pix @ LUMA_601
        std = grain.std_at(luma)
        noise = correlated_noise(rng, shape, grain.sigma)[m] * std
        if curve is not None:
            level = np.clip(np.rint(luma + noise), 0, 255).astype(np.int64)
            view[m] = np.clip(np.rint(curve[level]), 0, 255).astype(np.uint8)
            continue
        new = pix + noise[:, None]
        if colour:
            chroma = np.stack([correlated_noise(rng, shape, grain.sigma)[m] for _ in range(3)], axis=1)
            chroma *= grain.chroma.astype(np.float32) * std[:, None]
            chroma -= (chroma @ LUMA_601)[:, None]  # chroma only: the luminance grain is the one above
            new += chroma
        view[m] = np.clip(np.rint(new), 0, 255).astype(np.uint8)
    return fill
