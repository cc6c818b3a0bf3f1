"""Drawing helpers shared by the evaluations' contact sheets: the caption font and an image shown
in a square cell."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFont


def caption_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (the fixed bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def cell_image(a: np.ndarray, cell: int, enlarge: Image.Resampling = Image.Resampling.NEAREST) -> Image.Image:
    """A square uint8 (S, S, 3) array as a ``cell`` x ``cell`` image: as it is at that size,
    Lanczos-filtered when shrunk, resampled with ``enlarge`` when grown."""
    im = Image.fromarray(a)
    if im.width == cell:
        return im
    return im.resize((cell, cell), Image.Resampling.LANCZOS if im.width > cell else enlarge)
