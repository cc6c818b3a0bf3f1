"""The scores both evaluations share: pooled pixel counts -> precision, recall, F1 and IoU for
the detector (also its training's validation), and the restorer's metrics of a composite against
the ground truth (L1, PSNR, SSIM, and a perceptual distance of MobileNetV2 features).
"""

from __future__ import annotations

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


HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "l1": False, "perceptual": False}


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
