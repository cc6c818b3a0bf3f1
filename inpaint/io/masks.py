"""People's damage masks, converted once at the library's edge, and the two operations on masks the
runtime needs (growing the damage, measuring it).

Inside the library a mask is a bool (or float) ``(H, W)`` array with True/1 = KNOWN pixel and
False/0 = DAMAGED, the paper's convention. Files and editors speak other conventions (white
strokes on black, black on white, a painted RGBA layer); ``to_known_mask`` converts any of them,
with the convention explicit or detected, and nothing else in the library has to guess. Going back
out, ``known_to_image`` writes the user-facing convention: an "L" image, white = damage.

The file reads top-down: user masks -> known masks (conventions, binarising, size checks), files;
then growing the damage (``dilate_damage``) and measuring it (``hole_ratio``). Random masks and
synthetic damage, which only training and evaluation need, live in ``inpaint.synth``.
"""

from __future__ import annotations

from enum import StrEnum
from os import PathLike

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError


class MaskConvention(StrEnum):
    """How a user's mask marks damage. Members are strings, so plain strings work everywhere."""

    AUTO = "auto"  # decide from the mask itself (see to_known_mask)
    WHITE_IS_DAMAGE = "white-is-damage"  # white strokes on black
    BLACK_IS_DAMAGE = "black-is-damage"  # black strokes on white
    ALPHA = "alpha"  # a painted RGBA/LA layer over transparency: alpha > 0 = damage


# Luminance contrast (as a fraction of full scale) below which a mask counts as one flat colour:
# JPEG noise or a faint gradient must not be split into "damage" and "background".
_MIN_CONTRAST = 0.25


# Relative aspect-ratio difference beyond which a mask cannot belong to the photo (rounding when
# a photo and its mask are scaled separately stays far below 2 %).
_ASPECT_TOLERANCE = 0.02


# Pillow modes that numpy reads directly; everything else is converted to RGB(A) first.
_NATIVE_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


MaskInput = Image.Image | np.ndarray


def to_known_mask(
    mask: MaskInput,
    convention: MaskConvention | str = "auto",
    size: tuple[int, int] | None = None,
    resize: bool = False,
) -> np.ndarray:
    """Convert a user's mask to the library's bool ``(H, W)`` mask, True = known pixel.

    ``mask`` is a PIL image of any mode (1, L, LA, P, RGB, RGBA, I;16, I, F, ...) or a numpy array
    ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)`` (LA), ``(H, W, 3)`` or ``(H, W, 4)`` of bool, integers or
    floats.

    Rules, in order:
    - Scale: values are read against the smallest full scale that holds them, 1, 255 or 65535, so a
      0/1 uint8 label array, a 0/255 image, a 16-bit PNG and a float mask in [0, 1] all work.
    - Alpha: an image with an alpha channel that is not fully opaque, under "auto" or "alpha", is a
      painted layer over transparency (what Gradio's ImageEditor returns): damage = alpha > 0. A
      soft brush's faint fringe therefore counts as damage, the safe side: re-creating a few good
      pixels costs little, keeping damaged ones shows. A fully opaque alpha carries no information
      and is ignored; the colours are then read like any other mask.
    - Binarising: luminance (ITU-R 601, as Pillow's "L") is thresholded at the midpoint of its own
      range, (min + max) / 2, so anti-aliased, blurred or bilinear-resized masks come out strictly
      binary with the edge where the original edge was; grey or coloured strokes also work. A mask
      whose contrast is below a quarter of full scale is one flat colour and is split at half scale.
      Anti-aliased masks must not stay grey: partial values leave visible seams at hole borders.
    - "auto": damage is the minority colour. Masks mark damage as strokes on a background, so the
      colour covering less of the mask is the damage; a tie makes white the damage. A flat mask
      therefore means "no damage". Masks covering more than half the image (evaluation masks up to
      60 %) need an explicit convention.

    ``size`` is the photo's PIL size ``(width, height)``. A mask of another size raises
    ``ValueError`` unless ``resize`` is True; then the damage is scaled to the photo (area
    averaging when shrinking, where any damage in a target pixel's footprint keeps it damaged so thin
    scratches survive; bilinear then >= 0.5 when enlarging) and stays binary. A mask whose aspect
    ratio differs from the photo's by more than 2 % was made for another or a cropped photo and
    raises ``ValueError`` even with ``resize=True``: stretching it would mark the wrong pixels.
    """
    _, damage = _read_damage(mask, convention)
    if size is not None:
        damage = _fit_damage_to_size(damage, size, resize)
    return ~damage


def detect_convention(mask: MaskInput) -> str:
    """The convention "auto" resolves to for ``mask``: "alpha", "white-is-damage" or "black-is-damage".

    For UIs that show what was detected, so a person can override a wrong guess.
    """
    resolved, _ = _read_damage(mask, MaskConvention.AUTO)
    return resolved.value


def _read_damage(mask: MaskInput, convention: MaskConvention | str) -> tuple[MaskConvention, np.ndarray]:
    """(the resolved convention, bool damage (H, W)) for a user's mask; see ``to_known_mask``."""
    convention = _check_convention(convention)
    array = _as_mask_array(mask)
    scale = _full_scale(array)
    channels = 1 if array.ndim == 2 else array.shape[2]

    if channels in (2, 4):
        alpha = array[..., -1]
        painted_layer = bool(np.any(alpha < scale))
        if painted_layer and convention in (MaskConvention.AUTO, MaskConvention.ALPHA):
            return MaskConvention.ALPHA, alpha > 0
    elif convention == MaskConvention.ALPHA:
        raise ValueError(
            "convention 'alpha' needs a mask with an alpha channel (RGBA or LA); "
            f"this one has {channels} channel(s): use 'white-is-damage' or 'black-is-damage'"
        )

    white = _binarise(_luminance(array, channels), scale)
    if convention in (MaskConvention.AUTO, MaskConvention.ALPHA):  # ALPHA here: alpha fully opaque
        white_is_minority = 2 * np.count_nonzero(white) <= white.size
        convention = MaskConvention.WHITE_IS_DAMAGE if white_is_minority else MaskConvention.BLACK_IS_DAMAGE
    damage = white if convention == MaskConvention.WHITE_IS_DAMAGE else ~white
    return convention, damage


def _check_convention(convention: MaskConvention | str) -> MaskConvention:
    try:
        return MaskConvention(convention)
    except ValueError:
        allowed = ", ".join(repr(c.value) for c in MaskConvention)
        raise ValueError(f"unknown mask convention {convention!r}; use one of {allowed}") from None


def _as_mask_array(mask: MaskInput) -> np.ndarray:
    """A numpy view of the mask: (H, W) or (H, W, C) with C in 2 (LA), 3 (RGB), 4 (RGBA)."""
    if isinstance(mask, Image.Image):
        mode = mask.mode
        if mode in ("P", "PA"):  # a palette may carry transparency; RGBA keeps it
            has_alpha = mode == "PA" or "transparency" in mask.info
            mask = mask.convert("RGBA" if has_alpha else "RGB")
        elif mode not in _NATIVE_MODES:  # La, RGBa, RGBX, CMYK, YCbCr, ...
            mask = mask.convert("RGBA" if mode[-1] in "aA" else "RGB")
        array = np.asarray(mask)
    elif isinstance(mask, np.ndarray):
        array = mask
    else:
        raise ValueError(
            f"mask must be a PIL image or a numpy array, got {type(mask).__name__}; use load_mask() to read a mask file"
        )

    if array.dtype != bool and array.dtype.kind not in "uif":
        raise ValueError(f"mask array must hold bools, integers or floats, got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"mask is empty (shape {array.shape}); draw the damage on the photo first")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ValueError(f"mask must be HxW, HxWx1, HxWx2 (LA), HxWx3 (RGB) or HxWx4 (RGBA); got shape {array.shape}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError("mask contains NaN or infinite values")
    if array.dtype.kind in "if" and array.min() < 0:
        raise ValueError(f"mask values must not be negative (minimum {array.min()})")
    return array


def _full_scale(array: np.ndarray) -> float:
    """The smallest of 1, 255 and 65535 that holds every value: what "white" is for this mask."""
    if array.dtype == bool:
        return 1.0
    top = float(array.max())
    for scale in (1.0, 255.0, 65535.0):
        if top <= scale:
            return scale
    raise ValueError(f"mask values go up to {top:g}; expected at most 1, 255 or 65535")


def _luminance(array: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) luminance in the array's own scale; alpha channels are ignored."""
    if channels in (1, 2):
        grey = array if channels == 1 else array[..., 0]
        return grey.view(np.uint8) if grey.dtype == bool else grey
    rgb = array[..., :3]
    if rgb.dtype not in (np.uint8, np.uint16, np.float32):  # what cvtColor accepts
        rgb = rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _binarise(luminance: np.ndarray, scale: float) -> np.ndarray:
    """True where the mask is white: above the midpoint of its range (see ``to_known_mask``)."""
    low, high = float(luminance.min()), float(luminance.max())
    threshold = (low + high) / 2 if high - low >= _MIN_CONTRAST * scale else scale / 2
    return luminance > threshold


def _fit_damage_to_size(damage: np.ndarray, size: tuple[int, int], resize: bool) -> np.ndarray:
    """The damage at the photo's ``(width, height)``, or a ValueError saying why it cannot be."""
    width, height = _check_size(size)
    mask_height, mask_width = damage.shape
    if (mask_width, mask_height) == (width, height):
        return damage

    mask_aspect, photo_aspect = mask_width / mask_height, width / height
    if abs(mask_aspect / photo_aspect - 1) > _ASPECT_TOLERANCE:
        raise ValueError(
            f"mask is {mask_width}x{mask_height} (aspect {mask_aspect:.2f}) but the photo is "
            f"{width}x{height} (aspect {photo_aspect:.2f}): the aspect ratios differ, so the mask was "
            "made for another or a cropped photo; draw the mask on this photo"
        )
    if not resize:
        raise ValueError(
            f"mask is {mask_width}x{mask_height} but the photo is {width}x{height}; pass "
            "resize=True to scale the mask to the photo, or save the mask at the photo's size"
        )

    values = damage.astype(np.float32)
    if width < mask_width or height < mask_height:
        # Area averaging; any damage inside a target pixel keeps it damaged (a 1 px scratch survives).
        return cv2.resize(values, (width, height), interpolation=cv2.INTER_AREA) > 0
    return cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be the photo's (width, height), got {size!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be a positive (width, height), got {size!r}")
    return width, height


def _as_known(known: np.ndarray) -> np.ndarray:
    """A library mask as bool (H, W), True = known; floats count as known from 0.5 up."""
    known = np.asarray(known)
    if known.ndim != 2 or known.size == 0:
        raise ValueError(f"a known mask must be a non-empty HxW array, got shape {known.shape}")
    if known.dtype == bool:
        return known
    if known.dtype.kind not in "uif":
        raise ValueError(f"a known mask must be bool or numeric, got dtype {known.dtype}")
    return known >= 0.5


def damage_from_known(known: np.ndarray) -> np.ndarray:
    """The damage as bool (H, W), True = damaged: the inverse of the library's mask."""
    return ~_as_known(known)


def known_to_image(known: np.ndarray) -> Image.Image:
    """The mask as the user-facing file convention: an "L" image, WHITE = DAMAGE, black = known."""
    damage = damage_from_known(known)
    return Image.fromarray(damage.astype(np.uint8) * np.uint8(255))


def load_mask(
    path: str | PathLike[str],
    convention: MaskConvention | str = "auto",
    size: tuple[int, int] | None = None,
    resize: bool = False,
) -> np.ndarray:
    """Read a mask file and convert it with ``to_known_mask`` (True = known pixel)."""
    try:
        image = Image.open(path)
        image.load()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError) as error:
        raise ValueError(f"cannot read mask file {str(path)!r}: {error}; save the mask as PNG") from error
    with image:
        return to_known_mask(image, convention, size=size, resize=resize)


# Up to this radius a disk kernel in cv2.dilate is the faster way; beyond, its cost grows with the
# kernel while an exact distance transform's does not.
_MAX_KERNEL_RADIUS = 16


def dilate_damage(known: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the damaged region by ``pixels`` with a disk; returns a new known mask (bool).

    A pixel becomes damaged when a damaged pixel lies within Euclidean distance ``pixels`` of it
    (disk x^2 + y^2 <= pixels^2). Growing a hole hides the half-damaged fringe of a crease or stain
    from the inpainter, which otherwise copies it. ``pixels=0`` returns a copy. Only the damage's
    bounding box (plus the radius) is processed.
    """
    if isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels < 0:
        raise ValueError(f"pixels must be a non-negative integer, got {pixels!r}")
    known = np.ascontiguousarray(_as_known(known))
    known01 = known.view(np.uint8)  # 1 = known, 0 = damaged
    damage = cv2.compare(known01, 0, cv2.CMP_EQ)  # 255 = damaged
    x, y, w, h = cv2.boundingRect(damage)
    if pixels == 0 or w == 0:
        return known.copy()

    pixels = int(pixels)
    y0, x0 = max(0, y - pixels), max(0, x - pixels)
    y1, x1 = min(known.shape[0], y + h + pixels), min(known.shape[1], x + w + pixels)
    crop = known01[y0:y1, x0:x1]
    if pixels <= _MAX_KERNEL_RADIUS:
        kept = cv2.erode(crop, _disk(pixels)).view(bool)  # outside the image counts as known
    else:
        # Exact Euclidean distance from every pixel to the nearest damaged one.
        kept = cv2.distanceTransform(crop, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > pixels
    out = known.copy()
    out[y0:y1, x0:x1] = kept
    return out


def _disk(radius: int) -> np.ndarray:
    """A (2r+1, 2r+1) uint8 disk: x^2 + y^2 <= r^2 (OpenCV's MORPH_ELLIPSE is a coarser shape)."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (yy * yy + xx * xx <= radius * radius).astype(np.uint8)


def hole_ratio(known: np.ndarray) -> float:
    """The fraction of pixels that are damaged (counted in integers, so bin edges are exact)."""
    known = _as_known(known)
    return (known.size - np.count_nonzero(known)) / known.size
