"""The scores both evaluations share: pooled pixel counts -> precision, recall, F1 and IoU for
the detector (also its training's validation), and the restorer's metrics of a composite against
the ground truth (L1, PSNR, SSIM, a perceptual distance of MobileNetV2 features, the detail
ratio of the fill's gradient energy to the original's in the hole, and the PSNR of the fill inside
the faces that a bundled detector finds in the ground truth).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def f1_counts(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """True positives, false positives, false negatives of two bool masks."""
    tp = int(np.count_nonzero(pred & truth))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp


def scores(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    """Precision, recall, F1, IoU from pooled counts (None where undefined: nothing predicted or
    nothing to find)."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    iou = tp / (tp + fp + fn) if tp + fp + fn else None
    return {"precision": precision, "recall": recall, "f1": f1, "iou": iou}


METRICS = ("psnr", "ssim", "l1", "perceptual")


HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "l1": False, "perceptual": False, "face_psnr": True}


PSNR_CAP = 100.0  # dB for an exact reconstruction, so that means stay finite


def pixel_metrics(gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """L1 (mean absolute error over the whole image, [0, 1] units), PSNR (dB) and SSIM of two
    uint8 (H, W, 3) images."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    diff = np.abs(gt.astype(np.float64) - out.astype(np.float64))
    if not diff.any():
        psnr = PSNR_CAP
    else:
        psnr = min(float(peak_signal_noise_ratio(gt, out, data_range=255)), PSNR_CAP)
    ssim = float(structural_similarity(gt, out, data_range=255, channel_axis=-1))
    return {"l1": float(diff.mean() / 255.0), "psnr": psnr, "ssim": ssim}


DETAIL_METRICS = ("detail_fine", "detail_blurred")  # closest to 1 is best: neither smoother nor noisier


DETAIL_SIGMA = {"detail_fine": 0.0, "detail_blurred": 2.0}  # Gaussian blur (px) before the gradient


LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, the weights of Pillow's "L" conversion


def detail_region(known: np.ndarray) -> np.ndarray:
    """The hole pixels the detail ratio measures: the hole eroded by one pixel with the 4-neighbour
    cross, counting outside the image as known. A measured pixel and its four neighbours are all
    filled, so its central differences never read a known pixel, a seam between fill and photo
    is not counted as detail, and no measured pixel lies on the image edge."""
    from scipy.ndimage import binary_erosion

    return binary_erosion(~np.asarray(known, dtype=bool), border_value=0)


def gradient_energy(image: np.ndarray, region: np.ndarray, sigma: float = 0.0) -> float:
    """Sum over ``region`` of gx^2 + gy^2 of an image's luminance (``LUMA_WEIGHTS`` for (H, W, 3),
    grey levels 0-255), gradients by ``np.gradient`` (central differences), after a Gaussian blur
    of the whole luminance image (``scipy.ndimage.gaussian_filter``, mirrored edges) when
    ``sigma`` > 0."""
    from scipy.ndimage import gaussian_filter

    a = np.asarray(image, dtype=np.float64)
    y = a @ np.asarray(LUMA_WEIGHTS) if a.ndim == 3 else a
    if sigma > 0:
        y = gaussian_filter(y, sigma, mode="reflect")
    gy, gx = np.gradient(y)
    return float(np.sum(gx[region] ** 2 + gy[region] ** 2))


def detail_energies(gt: np.ndarray, out: np.ndarray, known: np.ndarray) -> dict[str, float | int]:
    """The gradient energies behind the detail ratios of one composite: ``{name}_energy`` (the
    composite) and ``{name}_energy_gt`` (the ground truth) in the same pixels (``detail_region``),
    and ``detail_pixels``, how many were measured."""
    region = detail_region(known)
    out_e: dict[str, float | int] = {"detail_pixels": int(np.count_nonzero(region))}
    for name in DETAIL_METRICS:
        out_e[f"{name}_energy"] = gradient_energy(out, region, DETAIL_SIGMA[name])
        out_e[f"{name}_energy_gt"] = gradient_energy(gt, region, DETAIL_SIGMA[name])
    return out_e


def detail_ratio(energy: float, energy_gt: float) -> float | None:
    """energy / energy_gt: 1 = as much detail as the original, < 1 smoother, > 1 noisier or more
    edges; None when the original has no gradient there (nothing measured, or a flat hole)."""
    return energy / energy_gt if energy_gt > 0 else None


def detail_metrics(gt: np.ndarray, out: np.ndarray, known: np.ndarray) -> dict[str, float | int | None]:
    """The per-sample detail ratios (``DETAIL_METRICS``) of a composite ``out`` with the hole
    ``~known`` filled, with the energies they come from, so that cells can pool them (a ratio of
    sums)."""
    e = detail_energies(gt, out, known)
    ratios = {name: detail_ratio(e[f"{name}_energy"], e[f"{name}_energy_gt"]) for name in DETAIL_METRICS}
    return {**ratios, **e}


def pooled_detail_ratio(rows: Sequence[dict[str, Any]], name: str) -> float | None:
    """A cell's detail ratio: the sum of the composites' energies over the sum of the originals'
    (a ratio of sums, so near-flat holes, whose own ratios are unstable, weigh little)."""
    num = sum(r[f"{name}_energy"] for r in rows if r.get(f"{name}_energy") is not None)
    den = sum(r[f"{name}_energy_gt"] for r in rows if r.get(f"{name}_energy_gt") is not None)
    return detail_ratio(num, den)


# -- faces ----------------------------------------------------------------------------------------
# A face box is (top, left, height, width) in pixels of the image it was found in.
Box = tuple[int, int, int, int]


FACE_DETECTOR = {
    # scikit-image's LBP frontal-face cascade (an OpenCV-trained model shipped inside the
    # scikit-image wheel as skimage/data/lbpcascade_frontalface_opencv.xml); the OpenCV wheel this
    # project pins (5.x) has neither the Haar cascade files nor CascadeClassifier
    "cascade": "skimage.data.lbp_frontal_face_cascade_filename()",
    "scale_factor": 1.1,  # the search window grows by 10% per scale
    "step_ratio": 1.0,  # exhaustive search at every scale
    "min_size_fraction": 0.1,  # smallest face: 10% of the image's shorter side ...
    "min_size_px": 24,  # ... and never under the cascade's 24 px window
    "min_neighbor_number": 8,  # overlapping detections needed to accept a face
    "intersection_score_threshold": 0.5,  # skimage's default for merging detections
}


@functools.cache
def _face_cascade() -> Any:
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def detect_faces(image: np.ndarray) -> list[Box]:
    """Frontal faces in an RGB or grey uint8 image with the cascade and parameters of
    :data:`FACE_DETECTOR`, as (top, left, height, width) boxes sorted top to bottom; overlapping
    boxes of one face may both be returned (the face region is their union)."""
    p = FACE_DETECTOR
    h, w = image.shape[:2]
    side = max(p["min_size_px"], round(p["min_size_fraction"] * min(h, w)))
    if side > min(h, w):
        return []
    found = _face_cascade().detect_multi_scale(
        img=np.ascontiguousarray(image),
        scale_factor=p["scale_factor"],
        step_ratio=p["step_ratio"],
        min_size=(side, side),
        max_size=(h, w),
        min_neighbor_number=p["min_neighbor_number"],
        intersection_score_threshold=p["intersection_score_threshold"],
    )
    return sorted((int(d["r"]), int(d["c"]), int(d["height"]), int(d["width"])) for d in found)


def face_region(shape: tuple[int, ...], boxes: Sequence[Box]) -> np.ndarray:
    """Bool (H, W): the union of the boxes, clipped to the image."""
    region = np.zeros(shape[:2], dtype=bool)
    for top, left, height, width in boxes:
        region[max(top, 0) : max(top + height, 0), max(left, 0) : max(left + width, 0)] = True
    return region


def face_metrics(gt: np.ndarray, out: np.ndarray, known: np.ndarray, boxes: Sequence[Box]) -> dict[str, Any]:
    """The fill inside faces: over the hole pixels (``~known``) inside the union of ``boxes``,
    ``face_hole_pixels`` (how many), ``face_sq_error`` (the squared error summed over them and
    their three channels, for pooling) and ``face_psnr`` (dB, from the mean squared error over
    them, capped at ``PSNR_CAP``). With no hole pixel in a face, the count is 0 and the other two
    are None."""
    region = face_region(known.shape, boxes) & ~np.asarray(known, dtype=bool)
    count = int(np.count_nonzero(region))
    if not count:
        return {"face_hole_pixels": 0, "face_sq_error": None, "face_psnr": None}
    diff = gt[region].astype(np.float64) - out[region].astype(np.float64)
    sq = float(np.sum(diff**2))
    return {"face_hole_pixels": count, "face_sq_error": sq, "face_psnr": psnr_of_mse(sq / diff.size)}


def psnr_of_mse(mse: float) -> float:
    """10 log10(255^2 / MSE) in dB, ``PSNR_CAP`` for an exact match."""
    return PSNR_CAP if mse <= 0 else min(10.0 * math.log10(255.0**2 / mse), PSNR_CAP)


def pooled_face_psnr(rows: Sequence[dict[str, Any]]) -> float | None:
    """A cell's face PSNR: the PSNR of the squared errors summed over every row's face hole pixels
    divided by their number (times 3 channels), so that a sample weighs by its pixels; None when
    no row had a face in its hole."""
    with_face = [r for r in rows if r.get("face_sq_error") is not None]
    values = 3 * sum(r["face_hole_pixels"] for r in with_face)
    return psnr_of_mse(sum(r["face_sq_error"] for r in with_face) / values) if values else None


def _perceptual(extractor: Any, gt: np.ndarray, outs: Sequence[np.ndarray]) -> list[float]:
    """Perceptual distance of each output to ``gt``, all methods in one batch. The ground truth
    goes in once, as a batch of one that broadcasts against the outputs' features: M + 1 images
    through the network instead of 2M (the test checks equality with a one-to-one call)."""
    import torch

    from ..train.perceptual import perceptual_distance

    device = extractor.mean.device
    with torch.inference_mode():
        a = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float().div(255.0).to(device)  # (M, 3, H, W)
        b = torch.from_numpy(np.array(gt)).permute(2, 0, 1)[None].float().div(255.0).to(device)  # (1, 3, H, W)
        return [float(v) for v in perceptual_distance(extractor, a, b)]
