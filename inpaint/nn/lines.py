"""Line evidence for the detector: for each size k, the white top-hat (luminance minus its
opening) and the black-hat (closing minus luminance) with a k x k square, i.e. thin bright and
dark structures narrower than k, computed only over the photo's valid pixels (padding never
leaks in).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..io.photos import LUMA_601
from .pconv import all_valid


def line_features(image: torch.Tensor, valid: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """(B, 2 * len(sizes), H, W): for each size k, the white top-hat (luminance minus its opening)
    and the black-hat (closing minus luminance) with a k x k square, times LINE_FEATURE_SCALE,
    computed over valid pixels only (an invalid pixel never enters a minimum or a maximum) and 0 on
    invalid ones, so padding a tile changes nothing. A scratch or crease line narrower than k stands
    out in one of them whatever its direction, which the stride-2 first layer alone sees only
    smeared. No gradient flows through them (they are a function of the photo alone).

    On a CPU the minima and maxima are OpenCV's (much faster there than torch's max_pool2d);
    elsewhere torch's, separably. Both give the same numbers (tested)."""
    with torch.no_grad():
        if (
            image.shape[1] >= 3
        ):  # the weighted sum channel by channel, in order: the floats .sum(1) gives, in fewer passes
            luma = torch.from_numpy(LUMA_601).to(image.device).view(1, 3, 1, 1)
            y = image[:, 0:1].float() * luma[:, 0:1]
            y += image[:, 1:2].float() * luma[:, 1:2]
            y += image[:, 2:3].float() * luma[:, 2:3]
        else:
            y = image[:, :1].float().contiguous()
        full = all_valid(valid)  # a photo's interior tile: nothing to hide, nothing to zero
        inside = None if full else valid.contiguous() > 0
        morph = _cv2_morphology if y.device.type == "cpu" else _torch_morphology
        out = morph(y, inside, tuple(sizes))
        return out.mul_(LINE_FEATURE_SCALE) if full else out * (LINE_FEATURE_SCALE * valid.to(out.dtype))


def _torch_morphology(y: torch.Tensor, inside: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Top-hats and black-hats of y (B, 1, H, W) over ``inside`` with torch (any device)."""
    far = torch.finfo(y.dtype).max

    def dilate(t: torch.Tensor, k: int) -> torch.Tensor:  # a k x k square as 1 x k then k x 1
        t = torch.where(inside, t, -far)
        return F.max_pool2d(F.max_pool2d(t, (1, k), 1, (0, k // 2)), (k, 1), 1, (k // 2, 0))

    def erode(t: torch.Tensor, k: int) -> torch.Tensor:
        return -dilate(-t, k)

    out = []
    for k in sizes:
        out.append((y - dilate(erode(y, k), k)).clamp(min=0))  # white top-hat
        out.append((erode(dilate(y, k), k) - y).clamp(min=0))  # black-hat
    return torch.cat(out, 1)


def _cv2_morphology(y: torch.Tensor, inside: torch.Tensor | None, sizes: tuple[int, ...]) -> torch.Tensor:
    """The same as _torch_morphology, with OpenCV on the CPU, one image at a time (``inside`` None:
    every pixel is inside). OpenCV's erode and dilate ignore what lies beyond the image (their
    default border), like max_pool2d's padding."""
    import cv2

    far = np.finfo(np.float32).max
    kernels = [np.ones((k, k), np.uint8) for k in sizes]
    out = np.empty((y.shape[0], 2 * len(sizes), *y.shape[2:]), np.float32)
    keeps = [None] * y.shape[0] if inside is None else inside[:, 0].numpy()
    for b, (img, keep) in enumerate(zip(y[:, 0].numpy(), keeps)):
        hide = keep is not None and not keep.all()  # usually nothing to hide

        def dilate(t: np.ndarray, kernel: np.ndarray, keep=keep, hide=hide) -> np.ndarray:
            return cv2.dilate(np.where(keep, t, -far) if hide else t, kernel)

        def erode(t: np.ndarray, kernel: np.ndarray, keep=keep, hide=hide) -> np.ndarray:
            return cv2.erode(np.where(keep, t, far) if hide else t, kernel)

        for i, kernel in enumerate(kernels):
            np.maximum(img - dilate(erode(img, kernel), kernel), 0.0, out=out[b, 2 * i])  # white top-hat
            np.maximum(erode(dilate(img, kernel), kernel) - img, 0.0, out=out[b, 2 * i + 1])  # black-hat
    return torch.from_numpy(out)


# On the training photos the four features of sizes 3 and 7 spread 0.03-0.07 (standard deviation)
# against the photo's 0.22: scaled by 4 they are on about the photo's scale, so the first layer's
# new weights, starting at zero, matter after as many Adam steps as its others.
LINE_FEATURE_SCALE = 4.0
