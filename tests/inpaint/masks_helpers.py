"""Test photos and masks shared by the mask and synthesis tests."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def make_damage(width: int = 64, height: int = 48) -> np.ndarray:
    """bool (H, W) damage covering about 12 % of the image: a thick stroke and a blob."""
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    draw.line([(4, 6), (width * 0.75, height * 0.6)], fill=255, width=5)
    draw.ellipse([width * 0.55, height * 0.62, width * 0.85, height * 0.92], fill=255)
    return np.asarray(image) > 127
