"""The damage detector's network: ``DamageNet``, a small U-Net built by the restorer's own
``unet_backbone`` (stride-2 partial-convolution encoder, skip-concatenating decoder) with one
output channel, the logit of "this pixel is damage".

The partial convolutions get a validity mask that is 1 on the photo and 0 on padding, kept inside
the photo's footprint at every scale, so padding a tile (or the photo) to a multiple of
``2**depth`` changes nothing: the network never sees made-up pixels, and a pixel near the photo's
edge is judged from the photo alone, whatever the tile's shape. Optional line features (white
top-hat and black-hat responses, ``lines.line_features``) join the first layer's input and reach
the logit at full resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..io.weights import default_detector_source
from .base import ModelBase
from .blocks import RefineHead, encoder_channels, pad_inputs, unet_backbone, weight_format
from .config import ConfigIO, fill_missing
from .lines import line_features

ARCHITECTURE = "damage-unet"


@dataclass
class DamageNetConfig(ConfigIO):
    """Everything needed to rebuild a DamageNet; saved as config.json beside the weights.

    Schema 2 added ``config_version``; a config without it is schema 1, in which an absent
    ``refine_channels`` or ``line_sizes`` means none."""

    config_kind = "detector"
    schema_version = 2
    migrations = {1: fill_missing({"refine_channels": 0, "line_sizes": []})}

    architecture: str = ARCHITECTURE
    in_channels: int = 3
    width: int = 16
    depth: int = 5
    max_width_mult: int = 8
    kernel_sizes: tuple[int, ...] = (5, 3, 3, 3, 3)
    working_size: int = 256  # crop size it was trained at (informative: it runs on any size)
    threshold: float = 0.5  # probability threshold at the default sensitivity
    version: str = "untrained"
    # Channels of the full-resolution refinement head after the decoder (0: none) and its window
    # over the photo. See DamageNet.
    refine_channels: int = 0
    refine_kernel: int = 3
    # Line evidence as extra inputs of the first layer: for each size k, the white top-hat and the
    # black-hat of the luminance with a k x k square (thin bright and dark structures narrower than
    # k). () = none. See line_features.
    line_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.architecture != ARCHITECTURE:
            raise ValueError(f"not a damage detector (architecture {self.architecture!r}, expected {ARCHITECTURE!r})")
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        if len(self.kernel_sizes) < self.depth:
            self.kernel_sizes = self.kernel_sizes + (3,) * (self.depth - len(self.kernel_sizes))
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.refine_channels < 0:
            raise ValueError(f"refine_channels must be 0 (no head) or positive, got {self.refine_channels}")
        if self.refine_kernel < 1 or self.refine_kernel % 2 == 0:
            raise ValueError(f"refine_kernel must be odd and positive, got {self.refine_kernel}")
        self.line_sizes = tuple(int(k) for k in self.line_sizes)
        if any(k < 3 or k % 2 == 0 for k in self.line_sizes):
            raise ValueError(f"line_sizes must be odd and at least 3, got {list(self.line_sizes)}")

    @property
    def encoder_inputs(self) -> int:
        """Channels into the first layer: the photo's and two per line size."""
        return self.in_channels + 2 * len(self.line_sizes)

    @property
    def channels(self) -> list[int]:
        return encoder_channels(self.width, self.depth, self.max_width_mult)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DamageNetConfig:
        if "architecture" not in d:
            raise ValueError(
                "config.json has no 'architecture' key: this folder holds a restorer, not a damage detector"
            )
        return super().from_dict(d)


class DamageNet(ModelBase):
    """``forward(image, valid=None)``: image (B, 3, H, W) in [0, 1], valid (B, 1, H, W) with 1 on
    real pixels (None: all real); returns logits (B, 1, H, W). Any H, W (padded internally with
    invalid pixels to a multiple of ``2**depth``)."""

    config_class = DamageNetConfig
    role = "damage detector"
    train_hint = "python -m inpaint train-detector"
    weights_env = "INPAINT_DETECTOR_WEIGHTS"
    card_title = "Damage detector (partial-convolution U-Net)"

    def __init__(self, config: DamageNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DamageNetConfig()
        self.encoder, self.decoder = unet_backbone(
            config.in_channels, config.channels, config.kernel_sizes, 1, encoder_inputs=config.encoder_inputs
        )
        # The encoder's first layer has stride 2, so the decoder's last layer, linear, is the only
        # one that sees the photo at full resolution: a one-pixel scratch is a weak, smeared cue
        # to it. The optional head (the restorer's, see blocks.RefineHead) adds a small
        # nonlinear layer over the photo's KxK neighbourhood there, with the footprint as its mask.
        self.refine = (
            RefineHead(config.in_channels, config.refine_channels, config.refine_kernel, out_channels=1)
            if config.refine_channels
            else None
        )
        # Line features also reach the logit at full resolution, through one 3x3 convolution (zero
        # outside the photo, so padding still changes nothing): the first layer sees them only at
        # its stride of 2, and half of the scratch F1 a detector loses is in where the line's edges
        # fall. It starts at zero, so a detector that gains line features starts as itself.
        self.line_skip = None
        if config.line_sizes:
            self.line_skip = nn.Conv2d(2 * len(config.line_sizes), 1, 3, padding=1, bias=False)
            nn.init.zeros_(self.line_skip.weight)

    @property
    def multiple(self) -> int:
        return 2**self.config.depth

    def forward(self, image: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = image.shape
        if valid is None:
            valid = image.new_ones(b, 1, h, w)
        elif valid.shape != (b, 1, h, w):
            raise ValueError(f"valid must be (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(valid.shape)}")
        x, m = pad_inputs(self, image, valid, self.multiple)
        # The photo's footprint at every scale (a cell is valid if it covers any real pixel). Unlike
        # the restorer, whose masks grow into the hole layer by layer, the detector keeps every
        # layer's mask inside the footprint: features are never computed on the padding, so the
        # prediction for the photo does not depend on how much padding there is (tile shapes).
        foot = [m]
        for _ in range(self.config.depth):  # level by level (the padded size is a multiple of 2**depth)
            foot.append(F.max_pool2d(foot[-1], 2))
        skips = [(x, m)]  # the decoder's last layer sees the photo alone, as without line features
        lines = line_features(x, m, self.config.line_sizes) if self.line_skip is not None else None
        hcur, mcur = x, m
        if lines is not None:  # the first layer's input, built in x's layout (a concatenation would
            # come out contiguous and be converted again by the convolution)
            hcur = torch.empty(
                (b, x.shape[1] + lines.shape[1], *x.shape[2:]),
                dtype=x.dtype,
                device=x.device,
                memory_format=weight_format(self.encoder[0].conv.weight),
            )
            hcur[:, : x.shape[1]] = x
            hcur[:, x.shape[1] :] = lines
        for i, block in enumerate(self.encoder):
            hcur, mcur = block(hcur, mcur)
            mcur = mcur * foot[i + 1]
            skips.append((hcur, mcur))
        skips.pop()
        for j, block in enumerate(self.decoder):
            skip, skip_m = skips.pop()
            hcur, mcur = block(hcur, mcur, skip, skip_m)
            mcur = mcur * foot[self.config.depth - 1 - j]
        if lines is not None:
            hcur = hcur + self.line_skip(lines.to(hcur.dtype))  # (B, 1, H, W)
        if self.refine is not None:
            hcur = self.refine(hcur, x, m)
        out = (hcur * mcur)[:, :, :h, :w]
        return out.to(torch.promote_types(out.dtype, torch.float32))  # float32, or float64


def load_detector(
    source: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    allow_untrained: bool = False,
) -> DamageNet:
    """The damage detector from ``source`` (a folder or Hub repo id; default
    ``INPAINT_DETECTOR_WEIGHTS`` or the bundled ``weights/damage-detector``)."""
    return DamageNet.from_pretrained(
        source if source is not None else default_detector_source(), device=device, allow_untrained=allow_untrained
    )


def save_detector(
    model: DamageNet, folder: str | os.PathLike[str], *, card: str | None = None, metadata: dict[str, Any] | None = None
) -> Path:
    return model.save_pretrained(folder, card=card, metadata=metadata)
