"""Classical inpainting behind one signature, as baselines and as extra candidates.

Every filler takes ``image`` (H, W, 3) uint8 and ``known`` (H, W) bool (True = known pixel, the
library's convention) and returns a filled (H, W, 3) uint8 image. The known pixels of the result
are not guaranteed untouched by every library; ``restore`` pastes them back anyway.
``CLASSICAL_METHODS`` names them; ``classical_fill`` checks the arguments and runs one by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Filler = Callable[..., np.ndarray]


def _hole_u8(known: np.ndarray) -> np.ndarray:
    return np.where(known, 0, 255).astype(np.uint8)  # OpenCV and PatchMatch: non-zero = hole


def telea(image: np.ndarray, known: np.ndarray, *, radius: int = 5, seed: int = 0) -> np.ndarray:
    """Telea's fast marching method (OpenCV)."""
    import cv2

    bgr = np.ascontiguousarray(image[..., ::-1])
    return cv2.inpaint(bgr, _hole_u8(known), radius, cv2.INPAINT_TELEA)[..., ::-1].copy()


def navier_stokes(image: np.ndarray, known: np.ndarray, *, radius: int = 5, seed: int = 0) -> np.ndarray:
    """Bertalmio et al.'s Navier-Stokes based inpainting (OpenCV)."""
    import cv2

    bgr = np.ascontiguousarray(image[..., ::-1])
    return cv2.inpaint(bgr, _hole_u8(known), radius, cv2.INPAINT_NS)[..., ::-1].copy()


def biharmonic(image: np.ndarray, known: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Biharmonic interpolation (scikit-image), solved per connected hole."""
    from skimage.restoration import inpaint_biharmonic

    out = inpaint_biharmonic(image.astype(np.float32) / 255.0, ~known, channel_axis=-1)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def smooth(image: np.ndarray, known: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The multigrid fill between harmonic and biharmonic that the restorer's head reads as its
    prior (``inpaint.nn.smooth.smooth_fill``): evaluated on its own, it shows what the network adds."""
    import torch

    from ..nn.smooth import smooth_fill

    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
    m = torch.from_numpy(np.ascontiguousarray(known))[None, None].float()
    out = smooth_fill(x, m)[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def patchmatch(image: np.ndarray, known: np.ndarray, *, patch_size: int = 7, seed: int = 0) -> np.ndarray:
    """PatchMatch (Barnes et al. 2009) through pypatchmatch; seeded for reproducibility."""
    import patchmatch as pm

    pm.set_random_seed(int(seed) % 2**31)
    out = pm.inpaint(np.ascontiguousarray(image), _hole_u8(known), patch_size=patch_size)
    return np.asarray(out, dtype=np.uint8)


CLASSICAL_METHODS: dict[str, Filler] = {
    "telea": telea,
    "ns": navier_stokes,
    "biharmonic": biharmonic,
    "smooth": smooth,
    "patchmatch": patchmatch,
}


def classical_fill(method: str, image: np.ndarray, known: np.ndarray, *, seed: int = 0) -> np.ndarray:
    try:
        fn = CLASSICAL_METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}: choose pconv, {', '.join(CLASSICAL_METHODS)}") from None
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("classical fillers take an (H, W, 3) uint8 image")
    if known.shape != image.shape[:2]:
        raise ValueError(f"mask {known.shape} does not match image {image.shape[:2]}")
    return fn(image, known.astype(bool), seed=seed)
