"""The restorer's loss (Liu et al., 2018): valid-pixel and hole L1, perceptual and style terms on
frozen ImageNet features, total variation on the 1-pixel dilation of the hole, and an optional
SSIM term of the composite computed as the evaluation computes SSIM; and the hinge terms of a
patch discriminator (``nn.discriminator``) for a restorer trained adversarially."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .perceptual import FeatureExtractor, gram


@dataclass
class LossWeights:
    valid: float = 1.0
    hole: float = 6.0
    perceptual: float = 0.05
    style: float = 120.0
    tv: float = 0.1
    ssim: float = 0.0
    adversarial: float = 0.0  # the patch discriminator's hinge term (trained beside, in train.restorer)


SSIM_WINDOW = 7  # skimage.metrics.structural_similarity's default (uniform), as evaluate uses it


def ssim_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM of each image of a batch in [0, 1], (B, C, H, W) -> (B,), with the evaluation's window:
    uniform 7x7, 'valid' borders, K1 0.01, K2 0.03, averaged over channels. (skimage also scales
    the variances by N/(N-1); the difference is below 0.001 on photos.)"""
    from pytorch_msssim import ssim

    win = x.new_full((x.shape[1], 1, 1, SSIM_WINDOW), 1.0 / SSIM_WINDOW)
    return ssim(x, y, data_range=1.0, size_average=False, win=win, K=(0.01, 0.03))


class InpaintingLoss(nn.Module):
    """``forward(output, target, mask) -> (total, parts)``; mask (B, 1, H, W) with 1 = known.
    ``extractor`` may be None to train with the pixel terms only (perceptual/style weights 0)."""

    def __init__(self, extractor: FeatureExtractor | None, weights: LossWeights | None = None) -> None:
        super().__init__()
        self.extractor = extractor
        self.w = weights or LossWeights()
        if extractor is None and (self.w.perceptual or self.w.style):
            raise ValueError("perceptual and style terms need a feature extractor")

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        output, target, mask = output.float(), target.float(), mask.float()
        hole = 1.0 - mask
        comp = mask * target + hole * output
        parts: dict[str, torch.Tensor] = {
            "valid": (mask * (output - target)).abs().mean(),
            "hole": (hole * (output - target)).abs().mean(),
            "tv": total_variation(comp, hole),
        }
        if self.w.ssim:
            parts["ssim"] = 1.0 - ssim_per_image(comp, target).mean()
        if self.extractor is not None and (self.w.perceptual or self.w.style):
            f_out = self.extractor(output)
            f_comp = self.extractor(comp)
            with torch.no_grad():
                f_gt = self.extractor(target)
            perc = output.new_zeros(())
            style = output.new_zeros(())
            for a, c, g in zip(f_out, f_comp, f_gt):
                a, c, g = a.float(), c.float(), g.float()
                perc = perc + (a - g).abs().mean() + (c - g).abs().mean()
                gg = gram(g)
                style = style + (gram(a) - gg).abs().mean() + (gram(c) - gg).abs().mean()
            parts["perceptual"] = perc
            parts["style"] = style
        total = sum(getattr(self.w, k) * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}


def total_variation(comp: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbours inside the 1-pixel dilation of the hole."""
    region = F.max_pool2d(hole, kernel_size=3, stride=1, padding=1)  # (B, 1, H, W)
    rh = region[:, :, :, 1:] * region[:, :, :, :-1]
    rv = region[:, :, 1:, :] * region[:, :, :-1, :]
    dh = (comp[:, :, :, 1:] - comp[:, :, :, :-1]).abs() * rh
    dv = (comp[:, :, 1:, :] - comp[:, :, :-1, :]).abs() * rv
    return dh.mean() + dv.mean()


def patch_weights(hole: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """How much of the hole each discriminator patch covers, (B, 1, h, w) at the logits' size."""
    return F.adaptive_avg_pool2d(hole.float(), logits.shape[-2:])


def adversarial_loss(fake_logits: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The restorer's hinge term: minus the discriminator's mean logit over the fill's patches,
    each weighted by its share of hole pixels (patches of known pixels carry no signal)."""
    w = patch_weights(hole, fake_logits)
    return -(w * fake_logits.float()).sum() / w.sum().clamp(min=1e-6)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: real photos above +1 everywhere, filled patches below -1,
    weighted by their share of hole pixels."""
    w = patch_weights(hole, fake_logits)
    real = F.relu(1.0 - real_logits.float()).mean()
    fake = (w * F.relu(1.0 + fake_logits.float())).sum() / w.sum().clamp(min=1e-6)
    return real + fake
