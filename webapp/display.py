"""Screen copies of photos: an 8-bit RGB preview no larger than the page needs, and the damage
drawn over it. Only what the browser shows goes through here; restorations and downloads keep the
photo's full resolution and representation."""

from __future__ import annotations

import numpy as np
from PIL import Image

import inpaint

DAMAGE_COLOUR = np.array([230, 40, 40], np.float32)


def preview_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """(width, height) scaled so that the longest side is at most ``side`` (never enlarged)."""
    w, h = size
    scale = min(1.0, side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def preview(image: inpaint.Photo | Image.Image | np.ndarray | bytes, side: int) -> Image.Image:
    """An RGB 8-bit copy for the screen, longest side at most ``side``. Accepts a Photo, a
    restoration (any mode the library returns: grey, 16-bit, CMYK, RGBA...) or image bytes."""
    photo = image if isinstance(image, inpaint.Photo) else inpaint.open_photo(image)
    rgb = Image.fromarray(photo.rgb8, "RGB")
    size = preview_size(rgb.size, side)
    return rgb if size == rgb.size else rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def shrink_damage(damage: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bool damage mask (H, W) at ``size`` (width, height); a preview pixel is damaged if any
    pixel under it is, so one-pixel scratches stay visible."""
    if damage.shape[::-1] == tuple(size):
        return damage
    box = Image.fromarray(damage.astype(np.uint8) * np.uint8(255)).resize(size, Image.Resampling.BOX)
    return np.asarray(box) > 0


def overlay(base: Image.Image, damage: np.ndarray, opacity: float = 0.65) -> Image.Image:
    """``base`` (RGB) with the damage (bool, full resolution) painted in red."""
    hole = shrink_damage(damage, base.size)
    out = np.asarray(base.convert("RGB"), dtype=np.float32).copy()
    out[hole] = (1 - opacity) * out[hole] + opacity * DAMAGE_COLOUR
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
