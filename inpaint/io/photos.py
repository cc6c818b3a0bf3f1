"""Reading photos at the library's edge, and writing results back in the photo's own form.

A ``Photo`` keeps the upload exactly as displayed (EXIF orientation applied) at its own precision,
plus an 8-bit RGB view for the model. Restored pixels are written into a copy of the original
representation, so every pixel that is not replaced stays bit-identical: grayscale stays grayscale,
16-bit stays 16-bit, alpha is kept, CMYK stays CMYK. Palette images become RGB(A) (a palette cannot
hold new colours) and bilevel images become 8-bit grayscale.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

PhotoInput = str | os.PathLike | bytes | io.IOBase | Image.Image | np.ndarray


DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 12000x8000 scan; far beyond that is a decompression bomb


@dataclass
class Photo:
    """``kind``: rgb | gray | rgba | la | gray16 | rgb16 | cmyk. ``data``: the original pixels as
    an array ((H, W) or (H, W, C); uint8 or uint16; CMYK as 4 channels). ``rgb8``: (H, W, 3) uint8
    for the model. ``as_array``: the caller gave a numpy array (results come back as arrays)."""

    kind: str
    data: np.ndarray
    rgb8: np.ndarray
    as_array: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.data.shape[1], self.data.shape[0]  # (width, height), PIL order

    @property
    def grayscale(self) -> bool:
        return self.kind in ("gray", "la", "gray16")


def _is_16bit_rgb_png(raw: bytes) -> bool:
    # PNG IHDR: bit depth at byte 24, colour type at byte 25 (2 = RGB, 6 = RGBA)
    return raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 26 and raw[24] == 16 and raw[25] in (2, 6)


def open_photo(source: PhotoInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Read a photo from a path, bytes, a file object, a PIL image or an array.

    Raises ``ValueError`` with a one-line message for anything that is not a readable image,
    truncated files, and images above ``max_pixels`` (checked from the header, before decoding)."""
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        return _from_pil(source, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{path} does not exist or is not a file")
        raw = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    elif hasattr(source, "read"):
        raw = source.read()
    else:
        raise ValueError(f"cannot read a photo from a {type(source).__name__}")
    if _is_16bit_rgb_png(raw):
        return _from_16bit_png(raw, max_pixels)
    try:
        with warnings.catch_warnings():
            # our own limit (checked from the header, before decoding) replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(raw))
            _check_pixels(im.size, max_pixels)
            im.load()
    except Image.DecompressionBombError:
        raise ValueError(
            f"the image is far above the {max_pixels / 1e6:.0f} MP limit (a possible decompression bomb); downscale it first"
        ) from None
    except UnidentifiedImageError:
        raise ValueError("the file is not an image that can be read (use PNG, JPEG, TIFF, WebP or BMP)") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"the image file is truncated or corrupt ({str(e).splitlines()[0]})") from None
    return _from_pil(im, max_pixels)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise ValueError(
            f"the image is {w}x{h} ({w * h / 1e6:.0f} MP), above the {max_pixels / 1e6:.0f} MP limit; "
            "downscale it first"
        )
    if w < 1 or h < 1:
        raise ValueError("the image is empty")


def _from_pil(im: Image.Image, max_pixels: int) -> Photo:
    _check_pixels(im.size, max_pixels)
    try:
        im = ImageOps.exif_transpose(im)  # orientation as displayed
    except Exception as e:  # a malformed EXIF block must not lose the photo
        warnings.warn(f"ignoring unreadable EXIF orientation: {e}", stacklevel=2)
    mode = im.mode
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
        mode = im.mode
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode == "RGB":
        data = np.asarray(im, dtype=np.uint8).copy()
        return Photo("rgb", data, data.copy())
    if mode == "L":
        data = np.asarray(im, dtype=np.uint8).copy()
        return Photo("gray", data, np.repeat(data[..., None], 3, axis=2))
    if mode == "RGBA":
        data = np.asarray(im, dtype=np.uint8).copy()
        return Photo("rgba", data, data[..., :3].copy())
    if mode == "LA":
        data = np.asarray(im, dtype=np.uint8).copy()
        return Photo("la", data, np.repeat(data[..., :1], 3, axis=2))
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        data = np.asarray(im)
        if data.min() < 0 or data.max() > 65535:
            raise ValueError(f"unsupported {mode} image with values outside 0..65535")
        data = data.astype(np.uint16)
        return Photo("gray16", data, np.repeat(_to8(data)[..., None], 3, axis=2))
    if mode == "CMYK":
        data = np.asarray(im, dtype=np.uint8).copy()
        return Photo("cmyk", data, np.asarray(im.convert("RGB"), dtype=np.uint8).copy())
    if mode in ("RGBX", "YCbCr", "LAB", "HSV", "La", "RGBa"):
        return _from_pil(im.convert("RGB"), max_pixels)
    raise ValueError(f"unsupported image mode {mode}; save the photo as an 8- or 16-bit PNG or a JPEG")


def _from_16bit_png(raw: bytes, max_pixels: int) -> Photo:
    import cv2

    im = Image.open(io.BytesIO(raw))  # header only, for the size check
    _check_pixels(im.size, max_pixels)
    arr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("the 16-bit PNG is truncated or corrupt")
    arr = arr[..., :3][..., ::-1]  # BGR(A) -> RGB; a 16-bit alpha channel is not kept
    return _from_array(np.ascontiguousarray(arr))


def _from_array(a: np.ndarray) -> Photo:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ValueError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.dtype == np.uint8:
        if a.ndim == 2:
            return Photo("gray", a.copy(), np.repeat(a[..., None], 3, axis=2), as_array=True)
        if a.shape[2] == 4:
            return Photo("rgba", a.copy(), a[..., :3].copy(), as_array=True)
        own = a.copy()  # one private copy serves as both (neither is ever written to)
        return Photo("rgb", own, own, as_array=True)
    if a.dtype == np.uint16:
        if a.ndim == 2:
            return Photo("gray16", a.copy(), np.repeat(_to8(a)[..., None], 3, axis=2), as_array=True)
        return Photo("rgb16", a[..., :3].copy(), _to8(a[..., :3]), as_array=True)
    raise ValueError(f"image arrays must be uint8 or uint16, got {a.dtype}")


def _to8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a.astype(np.float32) / 257.0), 0, 255).astype(np.uint8)


def compose(photo: Photo, fill_rgb8: np.ndarray, replaced: np.ndarray) -> np.ndarray:
    """A copy of ``photo.data`` with the pixels where ``replaced`` is True taken from the (H, W, 3)
    fill, converted to the photo's representation. Nothing else is touched."""
    out = photo.data.copy()
    if not replaced.any():
        return out
    fill = fill_rgb8[replaced].astype(np.float32)  # (N, 3)
    if photo.grayscale:
        # the model works in RGB; a black-and-white photo gets the fill's luminance (ITU-R 601)
        luma = fill @ LUMA_601
        if photo.kind == "gray16":
            # precision beyond 8 bits comes from the fill being 8-bit; scale to the full range
            out[replaced] = np.clip(np.rint(luma * 257.0), 0, 65535).astype(np.uint16)
        elif photo.kind == "la":
            out[..., 0][replaced] = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
        else:
            out[replaced] = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    elif photo.kind == "rgb16":
        out[replaced] = np.clip(np.rint(fill * 257.0), 0, 65535).astype(np.uint16)
    elif photo.kind == "rgba":
        out[..., :3][replaced] = fill_rgb8[replaced]  # alpha is the upload's
    elif photo.kind == "cmyk":
        pix = Image.fromarray(fill_rgb8[replaced][None].astype(np.uint8), "RGB").convert("CMYK")
        out[replaced] = np.asarray(pix)[0]
    else:
        out[replaced] = fill_rgb8[replaced]
    return out


LUMA_601 = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 luminance weights


_PIL_MODES = {"rgb": "RGB", "gray": "L", "rgba": "RGBA", "la": "LA", "cmyk": "CMYK", "gray16": "I;16"}


def to_output(photo: Photo, data: np.ndarray) -> Image.Image | np.ndarray:
    """A PIL image in the photo's mode, or an array when the caller gave one (or for 16-bit RGB,
    which PIL cannot hold)."""
    if photo.as_array or photo.kind == "rgb16":
        return data
    if photo.kind == "gray16":
        return Image.fromarray(data.astype(np.uint16))  # mode I;16
    return Image.fromarray(data, _PIL_MODES[photo.kind])


def save_image(
    image: Image.Image | np.ndarray,
    path: str | os.PathLike,
    compress_level: int = 6,
    *,
    text: dict[str, str] | None = None,
) -> Path:
    """Save losslessly: PNG (TIFF for CMYK, which PNG cannot hold); 16-bit arrays through OpenCV.
    The suffix is chosen here: ``path``'s own suffix is replaced only if it is an image suffix
    (so a name like ``p0.25`` keeps its dot). ``compress_level``: zlib level 0-9 of a PNG, a
    trade of time for size; the pixels are the same at every level. ``text``: entries the file
    carries where ``carries_text`` says it can, a PNG's uncompressed iTXt chunks (key: text) or,
    for a TIFF, its ImageDescription tag (the one entry's text)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".bmp"):
        path = path.with_name(path.name + ".png")
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint16 and image.ndim == 3:
            import cv2

            if not cv2.imwrite(
                str(path.with_suffix(".png")),
                np.ascontiguousarray(image[..., ::-1]),
                [cv2.IMWRITE_PNG_COMPRESSION, compress_level],
            ):
                raise OSError(f"could not write {path}")
            return path.with_suffix(".png")
        image = Image.fromarray(image)
    if image.mode == "CMYK":
        path = path.with_suffix(".tiff")
        if text and len(text) > 1:
            raise ValueError("a TIFF carries one text entry (its ImageDescription)")
        extra = {"description": next(iter(text.values()))} if text else {}
        image.save(path, compression="tiff_lzw", **extra)
        return path
    path = path.with_suffix(".png")
    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_itxt(key, value)
    image.save(path, compress_level=compress_level, pnginfo=info)
    return path


def carries_text(image: Image.Image | np.ndarray) -> bool:
    """Whether ``save_image`` writes ``image`` with Pillow, so that the file carries ``text``: every
    result but a 16-bit RGB array, which OpenCV writes."""
    return not (isinstance(image, np.ndarray) and image.dtype == np.uint16 and image.ndim == 3)
