"""A small patch discriminator for the restorer's adversarial term: per-patch logits of "this
looks like the photo" for an image and its hole mask. Training only; never shipped or run by
the app.

Four stride-2 convolutions (4x4 kernels, spectral normalisation, LeakyReLU 0.2) and a stride-1
output convolution: each logit sees a window of about 70 px, the scale of grain, hair and fabric
that a smooth fill loses. The hole mask is a fourth input channel, so the network can tell
where to look; the loss (``train.losses``) weights each patch by how much of the hole it covers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    def __init__(self, width: int = 32, layers: int = 4) -> None:
        super().__init__()
        if width < 1 or layers < 1:
            raise ValueError("the discriminator needs a width and a number of layers of at least 1")
        blocks: list[nn.Module] = []
        channels = 4
        for i in range(layers):
            out = width * min(2**i, 8)
            blocks += [spectral_norm(nn.Conv2d(channels, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            channels = out
        blocks.append(spectral_norm(nn.Conv2d(channels, 1, 4, stride=1, padding=1)))
        self.net = nn.Sequential(*blocks)

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """``image`` (B, 3, H, W) in [0, 1], ``hole`` (B, 1, H, W) with 1 = filled -> logits
        (B, 1, h, w), one per patch."""
        return self.net(torch.cat([image * 2.0 - 1.0, hole], dim=1))
