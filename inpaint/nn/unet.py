"""The restorer: the partial-convolution U-Net of Liu et al. (ECCV 2018), with Monte-Carlo dropout.

Encoder: ``depth`` stride-2 partial convolutions (kernels 7, 5, 5, 3, 3, ...; channels w, 2w, 4w,
8w, 8w, ...), ReLU, BatchNorm on every layer but the first. Decoder: nearest x2 upsampling of
features and mask, concatenation with the encoder's skip features and masks (the last layer gets
the input image and mask), a 3x3 partial convolution, BatchNorm and LeakyReLU(0.2) on every layer
but the last (both built by ``blocks.unet_backbone``). ``decoder_renorm="per_group"``
renormalises the two concatenated inputs each by its own valid count instead of jointly:
jointly, the last layer averages a missing image pixel over all its input channels and fills thin
holes towards grey. An optional full-resolution refinement head (``refine_channels``, not in the
paper; see ``blocks.RefineHead``) adds a small nonlinear correction that sees exactly where the
hole is; with ``prior="smooth"`` it also sees a smooth fill of the hole computed from the known
pixels (``smooth.smooth_fill``), which the network can start from; ``prior="smooth_gated"`` adds
a learned per-pixel gate that blends the output towards that fill directly.

Where dropout goes, and why: Monte-Carlo dropout is applied channel-wise to the outputs of the
coarsest ``dropout_layers`` decoder layers. At those scales one feature covers a large part of
the hole, so dropping channels changes the fill's structure and shading (visibly different
candidates) while the fine decoder layers, which see the known pixels through the skips, keep
the fill consistent with its surroundings. Dropout in the encoder would instead corrupt the
description of the known pixels. The rate used at inference is a per-sample argument, so one
batch can hold candidates with different rates; each sample's drop pattern comes from its own
seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io.weights import default_sharp_source, default_source, overlay_base_version
from .base import ModelBase
from .blocks import RefineHead, encoder_channels, pad_inputs, sample_dropout, unet_backbone
from .config import ConfigIO, fill_missing
from .smooth import smooth_fill

_PAPER_KERNELS = (7, 5, 5, 3, 3, 3, 3, 3)


RENORMS = ("joint", "per_group")


PRIORS = ("none", "smooth", "smooth_gated")


@dataclass
class PConvUNetConfig(ConfigIO):
    """Everything needed to rebuild a PConvUNet; saved as config.json beside the weights.

    Schema 2 added ``config_version``; a config without it is schema 1, in which an absent
    ``decoder_renorm``, ``refine_channels`` or ``prior`` means the paper's network (joint
    renormalisation, no refinement head, no prior)."""

    schema_version = 2
    migrations = {1: fill_missing({"decoder_renorm": "joint", "refine_channels": 0, "prior": "none"})}

    in_channels: int = 3
    width: int = 64  # channels of the first encoder layer
    depth: int = 8  # number of stride-2 encoder layers; inputs are padded to a multiple of 2**depth
    max_width_mult: int = 8  # channels stop growing at width * this (512 for width 64)
    kernel_sizes: tuple[int, ...] = _PAPER_KERNELS
    dropout: float = 0.0  # channel dropout rate used while training
    dropout_layers: int = 3  # coarsest decoder layers that carry (Monte-Carlo) dropout
    working_size: int = 512  # the image size the model was trained at (restore crops to this)
    version: str = "untrained"  # a label stored with every candidate (model version)
    # How a decoder layer renormalises its two inputs (coarse features, skip): "joint" is the
    # paper's form (one sum(1)/sum(M) over all channels of the window); "per_group" renormalises
    # each input by its own valid count (see DecoderBlock).
    decoder_renorm: str = "joint"
    # Channels of the full-resolution refinement head after the last decoder layer (0: none, the
    # paper's network). See RefineHead.
    refine_channels: int = 0
    refine_kernel: int = 3  # the head's window over the known image and the hole indicator (odd)
    # What else the refinement head sees: "smooth" = inpaint.nn.smooth.smooth_fill of the known pixels
    # (between the harmonic and the biharmonic fill); "smooth_gated" = the same plus a gate that
    # blends the output towards it (see RefineHead); "none" = nothing else.
    prior: str = "none"

    def __post_init__(self) -> None:
        self.kernel_sizes = tuple(int(k) for k in self.kernel_sizes)
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        if len(self.kernel_sizes) < self.depth:
            self.kernel_sizes = self.kernel_sizes + (3,) * (self.depth - len(self.kernel_sizes))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.refine_kernel < 1 or self.refine_kernel % 2 == 0:
            raise ValueError(f"refine_kernel must be odd and positive, got {self.refine_kernel}")
        if self.refine_channels < 0:
            raise ValueError(f"refine_channels must be 0 (no head) or positive, got {self.refine_channels}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        if self.prior != "none" and not self.refine_channels:
            raise ValueError("a prior is read by the refinement head: it needs refine_channels > 0")
        if self.decoder_renorm not in RENORMS:
            raise ValueError(f"decoder_renorm must be one of {', '.join(RENORMS)}, got {self.decoder_renorm!r}")

    @property
    def channels(self) -> list[int]:
        return encoder_channels(self.width, self.depth, self.max_width_mult)

    @classmethod
    def paper(cls, size: int = 512) -> PConvUNetConfig:
        """The paper's model: width 64, depth 8 at 512x512 (depth 7 at 256x256)."""
        if size not in (256, 512):
            raise ValueError("the paper's configuration exists for 256 and 512")
        return cls(width=64, depth=8 if size == 512 else 7, working_size=size, dropout=0.1)

    @classmethod
    def compact(cls) -> PConvUNetConfig:
        """A CPU-sized model (about 6.5M parameters) trained at 256x256, with per-group decoder
        renormalisation (the paper's presets keep the joint form)."""
        return cls(width=32, depth=7, working_size=256, dropout=0.1, decoder_renorm="per_group")


class PConvUNet(ModelBase):
    """Partial-convolution U-Net. ``forward(image, mask)`` with image (B, C, H, W) in [0, 1] and
    mask (B, 1, H, W), 1 = known; returns the raw prediction (B, C, H, W) in [0, 1] units (not
    clamped, not composited). Any H, W: inputs are padded with holes to a multiple of 2**depth."""

    config_class = PConvUNetConfig
    role = "restorer"
    train_hint = "python -m inpaint train"
    weights_env = "INPAINT_WEIGHTS"
    card_title = "Partial-convolution U-Net"

    def __init__(self, config: PConvUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PConvUNetConfig()
        self.encoder, self.decoder = unet_backbone(
            config.in_channels, config.channels, config.kernel_sizes, config.in_channels, renorm=config.decoder_renorm
        )
        self.refine = (
            RefineHead(
                config.in_channels,
                config.refine_channels,
                config.refine_kernel,
                prior_channels=config.in_channels if config.prior != "none" else 0,
                gate=config.prior == "smooth_gated",
            )
            if config.refine_channels
            else None
        )

    @property
    def multiple(self) -> int:
        return 2**self.config.depth

    def forward(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        *,
        dropout: torch.Tensor | float | None = None,
        generators: Sequence[torch.Generator] | None = None,
        sizes: Sequence[tuple[int, int]] | None = None,
    ) -> torch.Tensor:
        """``dropout``: None = the training rate while training and none in eval mode; a float or a
        (B,) tensor = Monte-Carlo dropout at that rate per sample, in any mode. ``generators``: one
        torch.Generator per sample for reproducible Monte-Carlo samples. ``sizes``: for photos
        padded with holes to a common size, each one's own (h, w), so that a model with a prior
        computes it over the photo alone and the padding changes nothing (the partial
        convolutions never see it anyway); None = every sample fills the whole tensor."""
        b, _, h, w = image.shape
        if mask.shape != (b, 1, h, w):
            raise ValueError(f"mask must be (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(mask.shape)}")
        rates = self._rates(dropout, b, image.device)

        prior = None
        if self.config.prior != "none":
            # from the photo as given (not the padded one, whose padding is hole), in float32;
            # zero outside the photo like the padded image
            with torch.autocast(image.device.type, enabled=False):
                if sizes is None:
                    prior = smooth_fill(image, mask)
                else:
                    if len(sizes) != b:
                        raise ValueError(f"sizes must give one (h, w) per sample, got {len(sizes)} for {b}")
                    prior = torch.full((b, image.shape[1], h, w), 0.5, device=image.device)
                    for i, (hi, wi) in enumerate(sizes):
                        prior[i, :, :hi, :wi] = smooth_fill(
                            image[i : i + 1, :, :hi, :wi], mask[i : i + 1, :, :hi, :wi]
                        )[0]
            prior = pad_inputs(self, prior, mask, self.multiple)[0]  # scaled and padded like the image
        x, m = pad_inputs(self, image, mask, self.multiple)

        skips = [(x, m)]
        hcur, mcur = x, m
        for block in self.encoder:
            hcur, mcur = block(hcur, mcur)
            skips.append((hcur, mcur))
        skips.pop()  # the bottleneck is the decoder's input, not a skip

        for j, block in enumerate(self.decoder):
            skip, skip_m = skips.pop()
            hcur, mcur = block(hcur, mcur, skip, skip_m)
            if rates is not None and j < self.config.dropout_layers and not block.last:
                hcur = sample_dropout(hcur, rates, generators)
        if self.refine is not None:
            hcur = self.refine(hcur, x, m, prior)

        out = hcur[:, :, :h, :w]
        return out.to(torch.promote_types(out.dtype, torch.float32)) / 2.0 + 0.5  # float32, or float64

    def _rates(self, dropout: torch.Tensor | float | None, b: int, device: torch.device) -> torch.Tensor | None:
        if dropout is None:
            if self.training and self.config.dropout > 0:
                return torch.full((b,), self.config.dropout, device=device)
            return None
        rates = torch.as_tensor(dropout, dtype=torch.float32, device=device).reshape(-1)
        if rates.numel() == 1:
            rates = rates.expand(b)
        if rates.numel() != b or bool(((rates < 0) | (rates >= 1)).any()):
            raise ValueError("dropout must be one rate in [0, 1) or one per sample")
        return rates if bool((rates > 0).any()) else None

    def freeze_encoder_bn(self, frozen: bool = True) -> None:
        """The paper's fine-tuning stage: encoder BatchNorm uses and keeps its running statistics
        (and its affine parameters), also after later calls to ``train()``."""
        self._encoder_bn_frozen = frozen
        for block in self.encoder:
            if isinstance(block.bn, nn.BatchNorm2d):
                for p in block.bn.parameters():
                    p.requires_grad_(not frozen)
        self.train(self.training)

    def train_only(self, prefixes: Sequence[str]) -> None:
        """Fine-tuning some layers: only parameters whose names start with one of ``prefixes``
        train, and BatchNorm outside them uses and keeps its running statistics, also after
        later calls to ``train()``."""
        names = [n for n, _ in self.named_parameters()]
        unknown = [p for p in prefixes if not any(n.startswith(p) for n in names)]
        if unknown:
            raise ValueError(f"no parameters under {', '.join(unknown)} in this model")
        self._trained_prefixes = tuple(prefixes)
        for name, p in self.named_parameters():
            p.requires_grad_(name.startswith(self._trained_prefixes))
        self.train(self.training)

    def train(self, mode: bool = True) -> PConvUNet:
        super().train(mode)
        if getattr(self, "_encoder_bn_frozen", False):
            for block in self.encoder:
                block.bn.eval()
        trained = getattr(self, "_trained_prefixes", None)
        if trained is not None:
            for name, m in self.named_modules():
                if isinstance(m, nn.BatchNorm2d) and not name.startswith(trained):
                    m.eval()
        return self


def load_model(
    source: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    allow_untrained: bool = False,
) -> PConvUNet:
    """The restorer from ``source`` (a folder or Hub repo id; default ``INPAINT_WEIGHTS`` or the
    bundled ``weights/``); see ``ModelBase.from_pretrained``."""
    return PConvUNet.from_pretrained(
        source if source is not None else default_source(), device=device, allow_untrained=allow_untrained
    )


def save_model(
    model: nn.Module, folder: str | os.PathLike[str], *, card: str | None = None, metadata: dict[str, Any] | None = None
) -> Path:
    """``model.save_pretrained(folder, ...)`` for either network."""
    return model.save_pretrained(folder, card=card, metadata=metadata)


def load_sharp_model(
    source: str | os.PathLike[str] | None = None, *, device: str | torch.device | None = None
) -> PConvUNet:
    """The sharpened restorer of the ``sharp`` finish (default ``INPAINT_SHARP_WEIGHTS`` or the
    bundled ``weights/sharp``, an overlay of the bundled restorer's high-resolution layers)."""
    return PConvUNet.from_pretrained(source if source is not None else default_sharp_source(), device=device)


def sharp_model_for(
    model: PConvUNet, source: str | os.PathLike[str] | None = None, *, device: str | torch.device | None = None
) -> PConvUNet | None:
    """The sharpened restorer in ``source`` (default: ``load_sharp_model``'s) when it is an overlay
    of ``model``'s version, on ``model``'s device; None when it holds no overlay of this model (an
    overlay of the bundled restorer must not meet another one). Weights that do not load raise
    ``WeightsError``."""
    source = source if source is not None else default_sharp_source()
    if overlay_base_version(source) != model.config.version:
        return None
    return load_sharp_model(source, device=device or next(model.parameters()).device)
