"""What crosses the library's edge: photos in and out, people's masks (their conventions), and
model folders (config.json, model.safetensors, README.md; local or on the Hub)."""

from .masks import (
    MaskConvention,
    detect_convention,
    dilate_damage,
    hole_ratio,
    known_to_image,
    load_mask,
    to_known_mask,
)
from .photos import Photo, open_photo, save_image
from .weights import WeightsError

__all__ = [
    "MaskConvention",
    "Photo",
    "WeightsError",
    "detect_convention",
    "dilate_damage",
    "hole_ratio",
    "known_to_image",
    "load_mask",
    "open_photo",
    "save_image",
    "to_known_mask",
]
