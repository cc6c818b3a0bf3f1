"""The partial-convolution U-Net of Liu et al. (ECCV 2018), with Monte-Carlo dropout.

Encoder: ``depth`` stride-2 partial convolutions (kernels 7, 5, 5, 3, 3, ...; channels w, 2w, 4w,
8w, 8w, ...), ReLU, BatchNorm on every layer but the first. Decoder: nearest x2 upsampling of
features and mask, concatenation with the encoder's skip features and masks (the last layer gets
the input image and mask), a 3x3 partial convolution, BatchNorm and LeakyReLU(0.2) on every layer
but the last. ``decoder_renorm="per_group"`` renormalises the two concatenated inputs each by its
own valid count instead of jointly (see ``PConvUNetConfig``): jointly, the last layer averages a
missing image pixel over all its input channels and fills thin holes towards grey. An optional
full-resolution refinement head (``refine_channels``, not in the paper; see ``_RefineHead``) adds
a small nonlinear correction that sees exactly where the hole is; with ``prior="smooth"`` it also
sees a smooth fill of the hole computed from the known pixels (``inpaint.fill``: between the
harmonic and the biharmonic fill), which the network can start from; ``prior="smooth_gated"`` adds a
learned per-pixel gate that blends the output towards that fill directly.

Where dropout goes, and why: Monte-Carlo dropout is applied channel-wise (``dropout2d``) to the
outputs of the coarsest ``dropout_layers`` decoder layers. At those scales one feature covers a
large part of the hole, so dropping channels changes the fill's structure and shading (visibly
different candidates) while the fine decoder layers, which see the known pixels through the skips,
keep the fill consistent with its surroundings. Dropout in the encoder would instead corrupt the
description of the known pixels. The rate used at inference is a per-sample argument, so one batch
can hold candidates with different rates; each sample's drop pattern comes from its own seed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .fill import smooth_fill
from .layers import PartialConv2d, all_valid, masked

_PAPER_KERNELS = (7, 5, 5, 3, 3, 3, 3, 3)
RENORMS = ("joint", "per_group")
PRIORS = ("none", "smooth", "smooth_gated")


class ConfigIO:
    """JSON round trip shared by the model configs (config.json beside the weights)."""

    config_kind = "model"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kernel_sizes"] = list(d["kernel_sizes"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.config_kind} config keys: {', '.join(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def encoder_channels(width: int, depth: int, max_width_mult: int) -> list[int]:
    """w, 2w, 4w, ... capped at ``width * max_width_mult``: the paper's channel plan."""
    return [width * min(2**i, max_width_mult) for i in range(depth)]


def pad_inputs(module: nn.Module, image: torch.Tensor, mask: torch.Tensor, multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale the image to [-1, 1] and pad image and mask (with holes) on the bottom and right to a
    multiple of ``multiple``, in the module's memory format."""
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    x = (image - 0.5) * 2.0
    m = mask.to(x.dtype)
    if ph or pw:  # padded pixels are holes, so they never influence the result
        x = F.pad(x, (0, pw, 0, ph))
        m = F.pad(m, (0, pw, 0, ph))
    return match_memory_format(module, x, m)


@dataclass
class PConvUNetConfig(ConfigIO):
    """Everything needed to rebuild a PConvUNet; saved as config.json beside the weights."""

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
    # each input by its own valid count (see _DecoderBlock). Weights saved before this option
    # existed are "joint".
    decoder_renorm: str = "joint"
    # Channels of the full-resolution refinement head after the last decoder layer (0: none, the
    # paper's network). See _RefineHead.
    refine_channels: int = 0
    refine_kernel: int = 3  # the head's window over the known image and the hole indicator (odd)
    # What else the refinement head sees: "smooth" = inpaint.fill.smooth_fill of the known pixels
    # (between the harmonic and the biharmonic fill); "smooth_gated" = the same plus a gate that
    # blends the output towards it (see _RefineHead); "none" = nothing else (weights saved before
    # this option).
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
    def paper(cls, size: int = 512) -> "PConvUNetConfig":
        """The paper's model: width 64, depth 8 at 512x512 (depth 7 at 256x256)."""
        if size not in (256, 512):
            raise ValueError("the paper's configuration exists for 256 and 512")
        return cls(width=64, depth=8 if size == 512 else 7, working_size=size, dropout=0.1)

    @classmethod
    def compact(cls) -> "PConvUNetConfig":
        """A CPU-sized model (about 6.5M parameters) trained at 256x256, with per-group decoder
        renormalisation (the paper's presets keep the joint form)."""
        return cls(width=32, depth=7, working_size=256, dropout=0.1, decoder_renorm="per_group")



def sample_dropout(
    h: torch.Tensor, rates: torch.Tensor, generators: Sequence[torch.Generator] | None
) -> torch.Tensor:
    """Channel dropout with a rate per sample. ``rates``: (B,). Masks drawn on the CPU from
    each sample's generator (so results do not depend on batch composition or device)."""
    b, c = h.shape[:2]
    keep_p = (1.0 - rates.float()).clamp(min=1e-3).view(b, 1)
    if generators is None:
        u = torch.rand(b, c)
    else:
        u = torch.stack([torch.rand(c, generator=g) for g in generators])
    keep = (u < keep_p.cpu()).to(h.device, torch.float32) / keep_p.to(h.device)
    return h * keep.view(b, c, 1, 1).to(h.dtype)


def weight_format(weight: torch.Tensor) -> torch.memory_format:
    """``channels_last`` for a 4-d weight stored that way (see ``load_model``), else contiguous."""
    if weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def match_memory_format(module: nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The inputs in channels-last layout when the module's weights are (see ``load_model``)."""
    if weight_format(next(module.parameters())) is torch.channels_last:
        return tuple(t.contiguous(memory_format=torch.channels_last) for t in tensors)
    return tensors


class _EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, bn: bool) -> None:
        super().__init__()
        self.conv = PartialConv2d(cin, cout, k, stride=2, padding=k // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, m = self.conv(x, m)
        return F.relu(self.bn(h), inplace=not torch.is_grad_enabled()), m  # h is this block's own


# Nearest x2 upsampling followed by a 3x3 convolution (padding 1) is one transposed convolution
# (stride 2, 4x4 kernel, padding 1) of the small map: output row 2i takes input row i-1 through
# kernel row 0 and row i through rows 1 + 2; output row 2i+1 takes row i through rows 0 + 1 and row
# i+1 through row 2 (columns alike). _FOLD maps the 3 taps to the 4 taps of the transposed kernel.
_FOLD = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def upsampling_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The ``conv_transpose2d`` kernel (C_in, C_out, 4, 4) equal to nearest x2 upsampling followed
    by ``conv2d`` with ``weight`` (C_out, C_in, 3, 3) and padding 1."""
    fold = _FOLD.to(weight.device, weight.dtype)
    return torch.einsum("ik,ockl,jl->coij", fold, weight, fold)


class _DecoderBlock(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int, last: bool, renorm: str = "joint") -> None:
        super().__init__()
        self.renorm = renorm
        self.conv = PartialConv2d(cin + cskip, cout, 3, padding=1, bias=last)
        self.bn = nn.Identity() if last else nn.BatchNorm2d(cout)
        self.last = last
        self._frozen: tuple[tuple[Any, ...], torch.Tensor, torch.Tensor] | None = None

    def split_weights(self, coarse_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(transposed kernel for the coarse group, 3x3 kernel for the skip group), in the weight's
        memory format. Without autograd they are derived once per weight version and kept."""
        weight = self.conv.weight
        grad = torch.is_grad_enabled() and weight.requires_grad
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, coarse_channels)
        if not grad and self._frozen is not None and self._frozen[0] == key:
            return self._frozen[1], self._frozen[2]
        fmt = weight_format(weight)
        up = upsampling_kernel(weight[:, :coarse_channels]).contiguous(memory_format=fmt)
        side = weight[:, coarse_channels:].contiguous(memory_format=fmt)
        if not grad:
            self._frozen = (key, up.detach(), side.detach())
        return up, side

    def forward(
        self, h: torch.Tensor, m: torch.Tensor, skip: torch.Tensor, skip_m: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # The paper's block is a partial convolution of cat(upsample(h), skip) with one mask per
        # group. The convolution is linear, so it is computed as two without building the
        # concatenation: the skip part directly, and the upsampled part as one transposed
        # convolution of the coarse map (see upsampling_kernel: 16 instead of 36 multiply-adds per
        # coarse pixel and channel pair, no upsampled copy). Only the one-channel masks are upsampled.
        ch = h.shape[1]
        up, side = self.split_weights(ch)
        m_up = F.interpolate(m, scale_factor=2.0, mode="nearest")
        full = all_valid(m) and all_valid(skip_m)
        raw_up = F.conv_transpose2d(h if full else masked(h, m), up, stride=2, padding=1)
        raw_skip = F.conv2d(skip if full else masked(skip, skip_m), side, padding=1)
        if self.renorm == "per_group":
            (s_up, s_skip), m_out = self.conv.group_terms([m_up, skip_m])
            raw = raw_up * s_up.to(raw_up.dtype) + raw_skip * s_skip.to(raw_skip.dtype)
            scale = m_out
        else:
            scale, m_out = self.conv.mask_terms(torch.cat([m_up, skip_m], 1), (ch, skip.shape[1]))
            raw = raw_up + raw_skip if torch.is_grad_enabled() else raw_up.add_(raw_skip)
        y = self.bn(self.conv.finish(raw, scale, m_out, full=full))
        return (y if self.last else F.leaky_relu(y, 0.2, inplace=not torch.is_grad_enabled())), m_out.to(m.dtype)


class _RefineHead(nn.Module):
    """A residual head at full resolution, added to the last decoder layer's output ``y``:

        hidden = LeakyReLU(convKxK([image * M, 1 - M]) + convKxK(prior) + conv1x1(y))   (K = refine_kernel)
        out    = y + conv1x1(hidden) + gate1x1(hidden) * (prior - y)

    (the prior term only with ``prior_channels``: the restorer's smooth fill of the hole; the gate
    only with ``gate=True``: one linear, unbounded weight per pixel).

    Why: the last decoder layer is the network's only full-resolution layer, and it is linear and
    renormalised. A one-pixel hole loses the centre tap of the image kernel, and rescaling the
    other taps cannot put back a value proportional to the missing pixel's surroundings, so thin
    holes come out pulled towards mid-grey. The head sees which of a pixel's neighbours are known
    and their values, and is nonlinear. Hole values never reach it (the image is masked; the
    indicator depends on the mask alone). Outside the photo counts as hole (the indicator is
    padded with ones), and only the KxK convolution looks at neighbours, so padding a photo with
    holes still changes nothing. The last convolution starts at zero: a model continued with a new
    head starts out as exactly the model it continues. The damage detector uses the same head with
    one output channel (its logit), the photo's footprint as ``M`` (see ``inpaint.detect``): there
    the head gives the network a nonlinear look at one- and two-pixel lines at full resolution.
    The prior's convolution also starts at zero, so a prior added to a trained head changes nothing
    until it is trained; outside the photo the prior is zero, like the padded image.

    Why the gate: through the hidden layer alone the head has to rebuild the prior's value from a
    convolution of it, and a trained model kept too little of it (the smooth fill alone scored a
    higher SSIM than the model with its prior on the evaluation's masks). The gate lets the head say
    per pixel how far to move the decoder's fill towards the prior, a blend the hidden layer cannot
    express. It starts at zero too."""

    def __init__(self, channels: int, hidden: int, kernel: int = 3, out_channels: int | None = None,
                 prior_channels: int = 0, gate: bool = False) -> None:
        super().__init__()
        out_channels = channels if out_channels is None else out_channels  # the restorer: an image
        self.pad = kernel // 2
        self.local = nn.Conv2d(channels + 1, hidden, kernel)  # over the known image and the hole indicator
        self.point = nn.Conv2d(out_channels, hidden, 1, bias=False)  # over the decoder's output
        self.out = nn.Conv2d(hidden, out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.prior = nn.Conv2d(prior_channels, hidden, kernel, bias=False) if prior_channels else None
        if self.prior is not None:
            nn.init.zeros_(self.prior.weight)
        if gate and self.prior is None:
            raise ValueError("the gate blends towards the prior: it needs prior_channels")
        self.gate = nn.Conv2d(hidden, 1, 1) if gate else None
        if self.gate is not None:
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    def forward(self, y: torch.Tensor, image: torch.Tensor, mask: torch.Tensor,
                prior: torch.Tensor | None = None) -> torch.Tensor:
        # Computed as one convolution over [image * M, M, y] with zero padding: the indicator
        # 1 - M padded with ones is the constant 1 (its weights' sum, folded into the bias) minus M
        # padded with zeros, and y enters through the centre tap alone (the 1x1 "point" weights).
        # Same result as the formula above; 40 % less time than three convolutions and explicit
        # pads (the detector's head at full resolution on large scans).
        m = mask.to(y.dtype)
        local = self.local.weight
        extra_w, extra_x = [], []
        if self.prior is not None:
            if prior is None:
                raise ValueError("this head reads a prior: pass prior=")
            prior = prior.to(y.dtype)
            extra_w, extra_x = [self.prior.weight], [prior]
        weight = torch.cat([local[:, :-1], -local[:, -1:], *extra_w, F.pad(self.point.weight, (self.pad,) * 4)], 1)
        bias = self.local.bias + local[:, -1].sum((1, 2))
        x = torch.cat([image.to(y.dtype) * m, m, *extra_x, y], 1)
        h = F.leaky_relu(F.conv2d(x, weight.contiguous(memory_format=weight_format(local)), bias, padding=self.pad), 0.2, inplace=True)
        out = y + self.out(h)
        if self.gate is not None:
            out = out + self.gate(h) * (prior - y)
        return out


class PConvUNet(nn.Module):
    """Partial-convolution U-Net. ``forward(image, mask)`` with image (B, C, H, W) in [0, 1] and
    mask (B, 1, H, W), 1 = known; returns the raw prediction (B, C, H, W) in [0, 1] units (not
    clamped, not composited). Any H, W: inputs are padded with holes to a multiple of 2**depth."""

    def __init__(self, config: PConvUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PConvUNetConfig()
        ch = config.channels
        self.encoder = nn.ModuleList(
            _EncoderBlock(config.in_channels if i == 0 else ch[i - 1], ch[i], config.kernel_sizes[i], bn=i > 0)
            for i in range(config.depth)
        )
        # decoder[j] undoes encoder[depth-1-j]
        self.decoder = nn.ModuleList()
        for i in reversed(range(config.depth)):
            skip = config.in_channels if i == 0 else ch[i - 1]
            cout = config.in_channels if i == 0 else ch[i - 1]
            self.decoder.append(_DecoderBlock(ch[i], skip, cout, last=i == 0, renorm=config.decoder_renorm))
        self.refine = (_RefineHead(config.in_channels, config.refine_channels, config.refine_kernel,
                                   prior_channels=config.in_channels if config.prior != "none" else 0,
                                   gate=config.prior == "smooth_gated")
                       if config.refine_channels else None)

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
                        prior[i, :, :hi, :wi] = smooth_fill(image[i : i + 1, :, :hi, :wi], mask[i : i + 1, :, :hi, :wi])[0]
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
        return out.float() / 2.0 + 0.5

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

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def freeze_encoder_bn(self, frozen: bool = True) -> None:
        """The paper's fine-tuning stage: encoder BatchNorm uses and keeps its running statistics
        (and its affine parameters), also after later calls to ``train()``."""
        self._encoder_bn_frozen = frozen
        for block in self.encoder:
            if isinstance(block.bn, nn.BatchNorm2d):
                for p in block.bn.parameters():
                    p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> "PConvUNet":
        super().train(mode)
        if getattr(self, "_encoder_bn_frozen", False):
            for block in self.encoder:
                block.bn.eval()
        return self
