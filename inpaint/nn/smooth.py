"""A smooth fill of the holes from the known pixels: the restorer's optional prior, and the
``smooth`` method of the restoration registry.

``smooth_fill`` gives a fill between the harmonic one (each hole pixel the mean of its neighbours)
and the biharmonic one (the hole minimising the squared Laplacian), nearer the biharmonic, as a
few dozen small batched tensor operations on the model's device:

1. pull: a pyramid of the known pixels, each level the mask-weighted 2x2 mean of the one below,
   until no level-wide hole is left;
2. push: from the coarsest level down, the holes of each level start from the bilinear upsampling
   of the level above, then relax with Jacobi sweeps of the 5-point Laplacian and damped sweeps of
   the bilaplacian, known pixels fixed.

It is not solved to convergence (``tests/inpaint/nn/test_smooth.py`` measures it against direct sparse
solves of both problems): it is a prior for the network to correct, fixed once a model is trained
with it (changing the sweeps changes what such a model sees). Only ``image * mask`` is read, so
(like the partial convolutions) the values inside the hole never matter. Outside the image counts
as the edge pixels repeated (replicate padding). How it compares with scikit-image's biharmonic
fill is in docs/model.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Sweeps per pyramid level: the coarse levels are tiny, so they get many; the full-resolution
# level only needs to smooth what the upsampling left.
HARMONIC_SWEEPS = 8


BIHARMONIC_SWEEPS = 48


FINE_BIHARMONIC_SWEEPS = 16


# The bilaplacian sweep's step (L(L(x)) has eigenvalues in [0, 4], so a step under 0.5 is stable).
BIHARMONIC_STEP = 0.4


def _laplacian(x: torch.Tensor) -> torch.Tensor:
    """The 5-point Laplacian / 4 (the mean of the 4 neighbours minus the pixel), edges replicated.
    Accumulated in place (same operations in the same order as the plain expression): the fill
    is memory-bound, and this halves its time."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    out = p[..., :-2, 1:-1] + p[..., 2:, 1:-1]
    out += p[..., 1:-1, :-2]
    out += p[..., 1:-1, 2:]
    return out.mul_(0.25).sub_(x)


def _relax(x: torch.Tensor, hole: torch.Tensor, harmonic: int, biharmonic: int) -> torch.Tensor:
    """Jacobi sweeps on the hole pixels of ``x`` (updated in place): ``harmonic`` replace each by
    the mean of its neighbours, then ``biharmonic`` damped steps against the bilaplacian."""
    for _ in range(harmonic):
        x += _laplacian(x).mul_(hole)
    for _ in range(biharmonic):
        x -= _laplacian(_laplacian(x)).mul_(BIHARMONIC_STEP).mul_(hole)
    return x


@torch.no_grad()
def smooth_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``image`` (B, C, H, W), ``mask`` (B, 1, H, W) with 1 = known. Returns the image with its
    holes filled smoothly (float32, same shape; known pixels exactly as given). A mask without
    any known pixel gives zeros."""
    b, c, h, w = image.shape
    x = image.float()
    m = mask.float().expand(b, c, h, w)
    values, weights = [x * m], [m]
    while min(values[-1].shape[-2:]) > 1 and bool((weights[-1] == 0).any()):
        v, wt = values[-1], weights[-1]
        pad = (0, v.shape[-1] % 2, 0, v.shape[-2] % 2)
        total, count = F.avg_pool2d(F.pad(v * wt, pad), 2), F.avg_pool2d(F.pad(wt, pad), 2)
        values.append(total / count.clamp(min=1e-12))
        weights.append((count > 0).float())
    fill = values[-1]
    for level in range(len(values) - 2, -1, -1):
        known, wt = values[level], weights[level]
        up = F.interpolate(fill, scale_factor=2.0, mode="bilinear", align_corners=False)
        hole = 1.0 - wt
        fill = known * wt + hole * up[..., : known.shape[-2], : known.shape[-1]]
        fill = _relax(fill, hole, HARMONIC_SWEEPS, FINE_BIHARMONIC_SWEEPS if level == 0 else BIHARMONIC_SWEEPS)
    return fill
