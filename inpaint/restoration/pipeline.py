"""The one inference entry point: photo + damage mask -> K candidate restorations at full resolution.

``restore`` reads the photo and the mask once, at the edge (``io.photos``, ``io.masks``), then:

1. plans the candidates (``plan_candidates``): each replaces the damage dilated by its own number
   of pixels (its *dilation*) and, for the network, uses its own Monte-Carlo dropout rate and seed;
2. has the chosen restorer (``methods.RESTORERS``) fill every candidate's replaced pixels: the
   network over resolution levels and tiles (``tiles``), a classical method on crops;
3. keeps a monochrome photo stored in colour (a black-and-white or sepia print scanned to RGB) in
   its own tones: each filled pixel takes the photo's colour at the fill's brightness, so no
   colour is invented (``tone``). Grayscale files get the fill's luminance;
4. finishes each fill as its spec says: ``plain`` leaves it, ``grain`` adds noise with the
   strength, grain size and colour measured on the photo's own known pixels (``grain``);
5. copies every other pixel from the upload, in the upload's own representation, so that it is
   bit-identical (tests check this on every candidate).

Cost grows with the damaged area, not the photo's area.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..io.masks import dilate_damage, load_mask, to_known_mask
from ..io.photos import Photo, PhotoInput, compose, open_photo, to_output
from ..nn.unet import PConvUNet
from .candidates import MAX_CANDIDATES, Candidate, CandidateSpec, Progress
from .grain import FINISHES, add_grain, measure_grain
from .methods import RESTORERS, create_restorer
from .tiles import TileSettings
from .tone import apply_tone_curve, tone_curve


def plan_candidates(
    n: int,
    seed: int,
    variation: float,
    method: str = "pconv",
    dilations: Sequence[int] | None = None,
    model_version: str | None = None,
    finishes: Sequence[str] | None = None,
) -> list[CandidateSpec]:
    """K candidate specs. The first is the model's plain answer (no dropout, the base dilation,
    the first finish); the others cycle through larger dilations and use Monte-Carlo dropout at a
    rate that grows with ``variation`` (0 = only dilation varies, 1 = strongly varied fills).

    ``finishes`` (default plain and grain) alternate in the Thue-Morse order: candidate k takes
    ``finishes[popcount(k) % len(finishes)]``, so K=4 gives plain d2, grain d4, grain d0, plain d6, and K=8
    then grain d2, plain d4, plain d0, grain d6. Unlike strict alternation, every dilation of
    the default cycle then occurs with both finishes, so a study can tell the finish's effect
    from the dilation's. A single finish is used by every candidate; with plain, grain and sharp,
    K=4 gives plain d2, grain d4, grain d0, sharp d6."""
    if not 1 <= n <= MAX_CANDIDATES:
        raise ValueError(f"the number of restorations must be between 1 and {MAX_CANDIDATES}, got {n}")
    if not 0.0 <= variation <= 1.0:
        raise ValueError(f"variation must be between 0 and 1, got {variation}")
    dil = list(dilations) if dilations else [2, 4, 0, 6]
    if any(d < 0 or d > 64 for d in dil):
        raise ValueError("dilations must be between 0 and 64 pixels")
    fin = list(finishes) if finishes else ["plain", "grain"]
    _check_finishes(fin)
    rate = round(0.5 * variation, 3) if method in RESTORERS and RESTORERS[method].stochastic else 0.0
    specs = []
    for k in range(n):
        dropout = 0.0 if k == 0 else rate
        finish = fin[bin(k).count("1") % len(fin)]
        specs.append(CandidateSpec(method, int(dil[k % len(dil)]), dropout, int(seed) + k, model_version, finish))
    return specs


def _check_finishes(finishes: Sequence[str]) -> None:
    bad = [f for f in finishes if f not in FINISHES]
    if bad or not 1 <= len(finishes) <= len(FINISHES):
        raise ValueError(f"finishes must be some of {', '.join(FINISHES)}, got {', '.join(map(str, finishes))}")


def restore(
    photo: PhotoInput,
    mask: Any,
    n: int = 4,
    *,
    seed: int = 0,
    method: str = "pconv",
    model: PConvUNet | None = None,
    variation: float = 0.5,
    dilations: Sequence[int] | None = None,
    mask_convention: str = "auto",
    resize_mask: bool = False,
    tiles: TileSettings | None = None,
    progress: Progress | None = None,
    specs: Sequence[CandidateSpec] | None = None,
    sharp_model: PConvUNet | None = None,
) -> list[Candidate]:
    """Restore ``photo`` where ``mask`` marks damage; return ``n`` candidates.

    ``mask``: a mask file's path, or anything ``io.masks.to_known_mask`` reads (an image with white
    or black marking damage, a painted RGBA layer), under ``mask_convention``; a bool array is taken in the
    library's convention (True = known). ``method``: ``pconv`` (needs ``model``) or a classical
    method. ``specs`` replaces the planned candidates with exact ones (a controlled study's
    conditions: each spec's dilation, dropout and seed; its method must be ``method``). An empty
    mask returns the photo unchanged (one candidate, method ``unchanged``) without running
    anything; a mask that covers everything is a ``ValueError``. ``sharp_model`` (``pconv`` only,
    e.g. ``inpaint.load_sharp_model()``) fills the candidates whose finish is ``sharp``; given it,
    the planned candidates span plain, grain and sharp.
    """
    restorer = create_restorer(method, model=model, tiles=tiles, sharp=sharp_model)
    ph = photo if isinstance(photo, Photo) else open_photo(photo)
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        if mask.shape != ph.data.shape[:2]:
            raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the photo is {ph.size[0]}x{ph.size[1]}")
        known = mask
    elif isinstance(mask, (str, os.PathLike)):
        known = load_mask(mask, mask_convention, size=ph.size, resize=resize_mask)
    else:
        known = to_known_mask(mask, mask_convention, size=ph.size, resize=resize_mask)
    if known.all():
        spec = CandidateSpec("unchanged", 0, 0.0, int(seed), None)
        return [Candidate(to_output(ph, ph.data.copy()), spec, np.zeros_like(known))]
    if not known.any():
        raise ValueError("the mask covers the whole photo, so nothing is left to restore from: mark only the damage")

    if specs is None:
        finishes = ["plain", "grain", "sharp"] if sharp_model is not None else None
        specs = plan_candidates(n, seed, variation, method, dilations, None, finishes)
    elif not 1 <= len(specs) <= MAX_CANDIDATES or any(s.method != method for s in specs):
        raise ValueError(f"give 1 to {MAX_CANDIDATES} specs, all with method {method!r}")
    else:
        _check_finishes(sorted({s.finish for s in specs}))
    specs = [dataclasses.replace(s, model_version=restorer.version_for(s.finish)) for s in specs]
    report = progress or (lambda f, msg: None)
    replaced = [~dilate_damage(known, s.dilation) for s in specs]  # True = replaced by candidate k
    t0 = time.perf_counter()
    fills = restorer.fill(ph.rgb8, known, replaced, list(specs), report)
    # (grayscale photos already take the fill's luminance in compose)
    curve = None if ph.grayscale else tone_curve(ph.rgb8, known)
    if curve is not None:
        fills = [apply_tone_curve(fill, rep, curve) for fill, rep in zip(fills, replaced)]
    if any(s.finish == "grain" for s in specs):
        grain = measure_grain(ph.rgb8, known, monochrome=ph.grayscale or curve is not None)
        fills = [
            add_grain(fill, rep, grain, s.seed, curve) if s.finish == "grain" else fill
            for fill, rep, s in zip(fills, replaced, specs)
        ]
    seconds = (time.perf_counter() - t0) / len(specs)
    out = []
    for spec, rep, fill in zip(specs, replaced, fills):
        out.append(Candidate(to_output(ph, compose(ph, fill, rep)), spec, rep, seconds))
    report(1.0, "done")
    return out
