"""Suggest the damage: a probability map and a mask of the scratches, creases, tears, stains,
spots and missing corners of an old photo, at the photo's full resolution.

Two methods behind one function, ``detect_damage(photo, sensitivity=..., method=...)``:

- ``learned``: ``DamageNet`` (``inpaint.nn.damagenet``), a small U-Net of the restorer's
  partial-convolution blocks with one output channel, the logit of "this pixel is damage",
  trained on the damage synthesiser's output over real photos (``inpaint.train.detector``). Its
  partial convolutions get a validity mask that is 1 on the photo and 0 on padding, so padding a
  tile (or the photo) to a multiple of ``2**depth`` changes nothing: a pixel near the photo's edge
  is judged from the photo alone, the same way whatever the tile's shape.
- ``classical``: morphological line, stain and missing-corner responses (``classical``), the
  baseline the learned detector is compared with.

``sensitivity`` in [0, 1] (default 0.5) moves the decision threshold: higher flags more
(``sensitivity``). Large scans are processed in tiles of ``DetectSettings.tile`` pixels with
``margin`` pixels of context on every side; only each tile's core is kept, so the seams fall where
both neighbours saw enough context. Big photos also get a pass at a coarser scale
(``coarse_level``), where damage drawn in proportion to the photo has the width the detector
learned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..io.photos import Photo, PhotoInput, open_photo
from ..nn.damagenet import DamageNet, load_detector
from .classical import classical_damage
from .sensitivity import DEFAULT_SENSITIVITY, check_sensitivity, learned_threshold

DETECT_METHODS = ("learned", "classical")


@dataclass(frozen=True)
class DetectSettings:
    """Tiling for the learned detector. A photo up to ``tile + 2 * margin`` on each side runs in
    one pass; larger ones in tiles whose cores are about ``tile`` pixels, one at a time on a CPU
    and ``max_batch`` at a time on a GPU."""

    tile: int = 1024
    # Context on each side (rounded up to the network's 2**depth). Measured with the bundled
    # detector on a 2200 px scan against one untiled pass: 32 px changed 0.0007 % of the suggested
    # pixels (64 px: none; 0 px: 0.009 %), and 64 px costs more time on big scans.
    margin: int = 32
    max_batch: int = 2
    # Photos at least twice this long also get a pass at the power-of-two downscale whose long side
    # is in [coarse_side, 2 * coarse_side), and a pixel takes the larger of the two probabilities
    # (see coarse_level). None: full resolution only.
    coarse_side: int | None = 512


@dataclass
class Detection:
    """``probability``: float32 (H, W) in [0, 1]. ``damage``: bool (H, W), True = damage (the
    suggested mask). ``known`` is its complement (the library's mask convention)."""

    probability: np.ndarray
    damage: np.ndarray
    method: str
    sensitivity: float
    threshold: float
    seconds: float
    model_version: str | None = None

    @property
    def known(self) -> np.ndarray:
        return ~self.damage

    @property
    def fraction(self) -> float:
        return float(self.damage.mean()) if self.damage.size else 0.0

    def mask_image(self):
        """The suggestion as an 8-bit image, white = damage (the CLI's and the editor's convention)."""
        from PIL import Image

        return Image.fromarray(self.damage.astype(np.uint8) * 255, "L")


def detect_damage(
    photo: PhotoInput,
    sensitivity: float = DEFAULT_SENSITIVITY,
    *,
    method: str = "learned",
    model: DamageNet | None = None,
    settings: DetectSettings | None = None,
) -> Detection:
    """Suggest where ``photo`` is damaged. ``photo``: anything ``open_photo`` reads (path, bytes,
    PIL image, array; grayscale, RGBA, 16-bit, CMYK, palette, EXIF-rotated: the result has the
    photo's displayed size) or an opened ``Photo``. ``model``: a loaded ``DamageNet`` (default: ``load_detector()``)."""
    sensitivity = check_sensitivity(sensitivity)
    if method not in DETECT_METHODS:
        raise ValueError(f"unknown detection method {method!r}; choose one of {', '.join(DETECT_METHODS)}")
    started = time.perf_counter()
    rgb8 = photo.rgb8 if isinstance(photo, Photo) else open_photo(photo).rgb8
    if method == "classical":
        prob, damage, threshold = classical_damage(rgb8, sensitivity)
        return Detection(prob, damage, method, sensitivity, threshold, time.perf_counter() - started)
    model = model if model is not None else load_detector()
    prob = multiscale_probability(model, rgb8, settings or DetectSettings())
    threshold = learned_threshold(model, sensitivity)
    return Detection(
        prob, prob >= threshold, method, sensitivity, threshold, time.perf_counter() - started, model.config.version
    )


def _tile_boxes(
    h: int, w: int, tile: int, margin: int, align: int = 1
) -> list[tuple[int, int, int, int, int, int, int, int]]:
    """(core y0, y1, x0, x1, input y0, y1, x0, x1) for tiles whose cores partition the photo.

    Every input tile starts at a multiple of ``align`` (the network's ``2**depth``), so each tile
    sees the same grid of strided convolutions as one pass over the whole photo would: tiling then
    changes only how much context a pixel near a seam gets (unaligned tiles shift that grid, and a
    U-Net with stride-2 layers is not shift-invariant). The margin is rounded up to ``align``."""
    if h <= tile + 2 * margin and w <= tile + 2 * margin:
        return [(0, h, 0, w, 0, h, 0, w)]
    # on a 2200 px scan, tiles at arbitrary offsets changed 0.18 % of the suggested pixels
    margin = -(-margin // align) * align

    def cuts(n: int) -> list[int]:
        parts = -(-n // tile)
        inner = {int(round(v / align)) * align for v in np.linspace(0, n, parts + 1)[1:-1]}
        return [0, *sorted(c for c in inner if 0 < c < n), n]

    ys, xs = cuts(h), cuts(w)
    boxes = []
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            boxes.append(
                (y0, y1, x0, x1, max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin))
            )
    return boxes


@torch.inference_mode()
def predict_probability(model: DamageNet, rgb8: np.ndarray, settings: DetectSettings | None = None) -> np.ndarray:
    """Damage probability (H, W) float32 for an (H, W, 3) uint8 photo, tiled for large photos."""
    settings = settings or DetectSettings()
    device = next(model.parameters()).device
    h, w = rgb8.shape[:2]
    boxes = _tile_boxes(h, w, settings.tile, settings.margin, model.multiple)
    # On a CPU one tile per pass (its activations stay in cache, which is faster than pairs); on a
    # GPU, max_batch tiles padded to a common shape.
    per_pass = 1 if device.type == "cpu" else max(1, settings.max_batch)
    prob = np.empty((h, w), np.float32)
    src = torch.from_numpy(rgb8)  # (H, W, 3) uint8, no copy
    for start in range(0, len(boxes), per_pass):
        batch = boxes[start : start + per_pass]
        th = max(b[5] - b[4] for b in batch)
        tw = max(b[7] - b[6] for b in batch)
        x = torch.zeros(len(batch), 3, th, tw, device=device)
        valid = torch.zeros(len(batch), 1, th, tw, device=device)
        for k, (_, _, _, _, iy0, iy1, ix0, ix1) in enumerate(batch):
            x[k, :, : iy1 - iy0, : ix1 - ix0] = src[iy0:iy1, ix0:ix1].to(device).permute(2, 0, 1).float() / 255.0
            valid[k, :, : iy1 - iy0, : ix1 - ix0] = 1.0
        with _autocast(device):
            logits = model(x, valid)
        p = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
        for k, (y0, y1, x0, x1, iy0, _, ix0, _) in enumerate(batch):
            prob[y0:y1, x0:x1] = p[k, y0 - iy0 : y1 - iy0, x0 - ix0 : x1 - ix0]
    return prob


def coarse_level(height: int, width: int, coarse_side: int | None) -> int:
    """The downscale (as a power of two) of the coarse pass: 0 (none) for photos shorter than
    ``2 * coarse_side`` on their long side; else the level whose long side is in
    ``[coarse_side, 2 * coarse_side)``.

    Why: the synthesiser, like real prints, makes damage in proportion to the photo, and the
    detector learned it on crops of photos of a few hundred pixels. On a big scan a crease is tens
    of pixels wide, wider than anything it saw. Thin scratches of a few pixels vanish when
    downscaled, so the full-resolution pass stays."""
    # What the coarse pass gains on big scans: docs/detection.md, "Big scans: the coarse pass".
    long_side = max(height, width)
    if not coarse_side or long_side < 2 * coarse_side:
        return 0
    return int(np.floor(np.log2(long_side / coarse_side)))


def multiscale_probability(model: DamageNet, rgb8: np.ndarray, settings: DetectSettings | None = None) -> np.ndarray:
    """``predict_probability`` at full resolution, and for big photos the larger of it and the
    coarse pass upsampled (``coarse_level``)."""
    import cv2

    settings = settings or DetectSettings()
    prob = predict_probability(model, rgb8, settings)
    h, w = rgb8.shape[:2]
    level = coarse_level(h, w, settings.coarse_side)
    if level:
        small = cv2.resize(rgb8, (max(1, w >> level), max(1, h >> level)), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(predict_probability(model, small, settings), (w, h), interpolation=cv2.INTER_LINEAR)
        np.maximum(prob, coarse, out=prob)
    return prob


def _autocast(device: torch.device):
    """float16 on CUDA, float32 elsewhere (the restorer's tiles prefer bfloat16 where CUDA has it:
    ``restoration.tiles._device_autocast``)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)
