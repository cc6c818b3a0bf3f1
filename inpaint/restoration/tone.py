"""The tones of a monochrome print: a black-and-white, sepia or cyanotype photo scanned to RGB keeps
its own colour at every brightness in what is restored.

``tone_curve`` decides whether a photo is monochrome and measures its colour per luma level from
the known pixels; ``apply_tone_curve`` moves each filled pixel onto that curve at the fill's own
brightness, so a restoration invents no colour that no known pixel has.
"""

from __future__ import annotations

import math

import numpy as np

from ..io.photos import LUMA_601

# A photo is monochrome when every known pixel is close to the mean colour of the known pixels of
# its brightness. Measured on the evaluation photos (max channel deviation, grey levels): black-and-
# white and sepia-toned versions, also as JPEG at quality 75, have a mean of at most 3.8 and a 99th
# percentile of at most 13.4; every colour photo has at least 10.6 and 33.
MONOCHROME_MEAN, MONOCHROME_P99 = 5.0, 20.0


_TONE_SAMPLES = 1 << 16  # a regular grid of about 65k known pixels: plenty for 256 levels


def tone_curve(rgb8: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """For a monochrome photo stored in colour (a black-and-white, sepia or cyanotype print
    scanned to RGB, the usual case for old photos), its colour at every brightness: (256, 3)
    float, the mean colour of the known pixels of each luma level (interpolated between levels
    that occur). None for a colour photo. Looks at a grid of up to about 65k pixels."""
    step = max(1, math.ceil(math.sqrt(known.size / _TONE_SAMPLES)))
    pix = np.ascontiguousarray(rgb8[::step, ::step])[known[::step, ::step]].astype(np.float32)
    if len(pix) == 0:
        return None
    luma = np.clip(np.rint(pix @ LUMA_601), 0, 255).astype(np.int64)
    counts = np.bincount(luma, minlength=256)
    levels = np.flatnonzero(counts)
    curve = np.empty((256, 3))
    for c in range(3):
        sums = np.bincount(luma, weights=pix[:, c], minlength=256)
        curve[:, c] = np.interp(np.arange(256), levels, sums[levels] / counts[levels])
    deviation = np.abs(pix - curve[luma]).max(axis=1)
    if deviation.mean() > MONOCHROME_MEAN or np.percentile(deviation, 99) > MONOCHROME_P99:
        return None
    return curve


def apply_tone_curve(fill: np.ndarray, replaced: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """``fill`` with its ``replaced`` pixels moved onto the photo's tone curve at their own
    brightness: a restoration of a monochrome photo invents no colours (the network's fill can
    carry chroma noise that no known pixel has). Other pixels are untouched. In place: the fills
    are restore's own arrays, and a copy per candidate is 72 MB on a 24 MP scan."""
    luma = np.clip(np.rint(fill[replaced].astype(np.float64) @ LUMA_601), 0, 255).astype(np.int64)
    fill[replaced] = np.clip(np.rint(curve[luma]), 0, 255).astype(np.uint8)
    return fill
