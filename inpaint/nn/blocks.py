"""The blocks both networks are built from, read from small to whole: helpers for padding and
memory layout, Monte-Carlo channel dropout, the stride-2 partial-convolution encoder block, the
upsampling decoder block that renormalises its coarse and skip inputs jointly or per group
without building their concatenation, the full-resolution refinement head, and
``unet_backbone``, which assembles encoder and decoder for either network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .pconv import PartialConv2d, all_valid, masked


def encoder_channels(width: int, depth: int, max_width_mult: int) -> list[int]:
    """w, 2w, 4w, ... capped at ``width * max_width_mult``: the paper's channel plan."""
    return [width * min(2**i, max_width_mult) for i in range(depth)]


def pad_inputs(
    module: nn.Module, image: torch.Tensor, mask: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, torch.Tensor]:
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


def sample_dropout(h: torch.Tensor, rates: torch.Tensor, generators: Sequence[torch.Generator] | None) -> torch.Tensor:
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


class EncoderBlock(nn.Module):
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


class DecoderBlock(nn.Module):
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
        dev = weight.device.type
        autocast = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else None
        # (under autocast the kernel comes out in the autocast dtype: a frozen layer of a model
        # fine-tuned in bf16 must not hand that copy to a float32 validation pass)
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device, coarse_channels, autocast)
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


class RefineHead(nn.Module):
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

    def __init__(
        self,
        channels: int,
        hidden: int,
        kernel: int = 3,
        out_channels: int | None = None,
        prior_channels: int = 0,
        gate: bool = False,
    ) -> None:
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

    def forward(
        self, y: torch.Tensor, image: torch.Tensor, mask: torch.Tensor, prior: torch.Tensor | None = None
    ) -> torch.Tensor:
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
        h = F.leaky_relu(
            F.conv2d(x, weight.contiguous(memory_format=weight_format(local)), bias, padding=self.pad),
            0.2,
            inplace=True,
        )
        out = y + self.out(h)
        if self.gate is not None:
            out = out + self.gate(h) * (prior - y)
        return out


def unet_backbone(
    in_channels: int,
    channels: Sequence[int],
    kernel_sizes: Sequence[int],
    out_channels: int,
    *,
    encoder_inputs: int | None = None,
    renorm: str = "joint",
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The U-Net both networks are built from: ``len(channels)`` stride-2 partial-convolution
    encoder blocks (BatchNorm except the first; the first reads ``encoder_inputs`` channels,
    default ``in_channels``) and as many decoder blocks, ``decoder[j]`` undoing
    ``encoder[depth - 1 - j]``: each upsamples, reads the skip of the level above (the input
    itself, ``in_channels``, for the last) and outputs that level's channels (``out_channels``
    for the last, which has a bias and no BatchNorm)."""
    depth = len(channels)
    first = in_channels if encoder_inputs is None else encoder_inputs
    encoder = nn.ModuleList(
        EncoderBlock(first if i == 0 else channels[i - 1], channels[i], kernel_sizes[i], bn=i > 0) for i in range(depth)
    )
    decoder = nn.ModuleList(
        DecoderBlock(
            channels[i],
            in_channels if i == 0 else channels[i - 1],
            out_channels if i == 0 else channels[i - 1],
            last=i == 0,
            renorm=renorm,
        )
        for i in reversed(range(depth))
    )
    return encoder, decoder
