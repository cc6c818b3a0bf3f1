"""The partial convolution (Liu et al., ECCV 2018): a convolution over the known pixels only,
renormalised by how many of them each window saw, and the mask it passes on.

``y = W^T (X * M) * sum(1) / sum(M) + b`` on windows with ``sum(M) > 0``, else 0; the new mask is
1 where any input of the window was valid. The bias is added outside the scaling. The layer keeps
no state between calls (the reference implementation caches the last mask on the module, which
is unsafe when two requests run at once); the all-ones counting kernel is a non-persistent buffer.

Masks are counted in float32, or in float64 when the weights or the mask are float64 (so the
layer can be gradient-checked in double precision); the counts are small integers, exact in
either. Mixed-precision autocast never reaches the mask arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair


def mask_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """The dtype mask counts and scales are computed in: float64 if any of ``dtypes`` is, else
    float32 (never a half type: a window's count must be exact)."""
    return torch.float64 if torch.float64 in dtypes else torch.float32


def all_valid(mask: torch.Tensor) -> bool:
    """Whether a CPU mask is 1 everywhere (the damage detector's interior tiles, a photo without
    holes), in one min-max pass. Always False elsewhere: checking would make a GPU wait."""
    if mask.device.type != "cpu" or mask.numel() == 0:
        return False
    low, high = torch.aminmax(mask)
    return bool(low == 1) and bool(high == 1)


def masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x * mask`` (mask broadcast over channels, in x's dtype), or ``x`` itself for a mask that
    is 1 everywhere on a CPU (``all_valid``), since ``x * 1`` is ``x`` exactly."""
    if all_valid(mask):
        return x
    return x * mask.to(x.dtype)


def _frame(scale: torch.Tensor) -> tuple[int, int, int, int] | None:
    """For the scale of a convolution whose input mask was 1 everywhere: the widths (top, bottom,
    left, right) of the frame of windows that hang over the border, outside which the scale is 1;
    None if it is not that shape."""
    h, w = scale.shape[-2:]
    off_col = (scale[0, 0, :, w // 2] != 1).to(torch.int32)
    off_row = (scale[0, 0, h // 2, :] != 1).to(torch.int32)
    top, bottom = int(off_col.cumprod(0).sum()), int(off_col.flip(0).cumprod(0).sum())
    left, right = int(off_row.cumprod(0).sum()), int(off_row.flip(0).cumprod(0).sum())
    if top + bottom >= h or left + right >= w or not bool((scale[..., top : h - bottom, left : w - right] == 1).all()):
        return None
    return top, bottom, left, right


class PartialConv2d(nn.Conv2d):
    """A ``Conv2d`` that takes ``(x, mask)`` and returns ``(y, new_mask)``.

    ``mask`` is either one channel ``(B, 1, H, W)`` shared by every input channel, or one mask per
    input channel ``(B, C_in, H, W)`` (the U-Net's decoder concatenates features whose masks
    differ). The returned mask is always ``(B, 1, H', W')``: a window is valid for every output
    channel as soon as any of its inputs was.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
        )
        kh, kw = _pair(kernel_size)
        # A constant all-ones kernel counts valid inputs per window; non-persistent so it is not
        # saved with the weights (it is rebuilt from the config).
        self.register_buffer("ones_kernel", torch.ones(1, 1, kh, kw), persistent=False)
        self.window_size = kh * kw

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        *,
        mask_channels: tuple[int, ...] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``mask_channels``: when ``mask`` has G channels, how many consecutive input channels
        each one covers (summing to C_in). It is the per-channel mask in compact form: the U-Net's
        decoder concatenates two feature groups with one mask each, and counting with 2 mask
        channels instead of C_in is much cheaper. (The U-Net's decoder goes further and never
        builds the concatenation: see ``blocks.DecoderBlock``, which uses ``mask_terms`` and
        ``finish``.)"""
        groups = self._groups(x, mask, mask_channels)
        scale, new_mask = self.mask_terms(mask, groups)
        full = all_valid(mask)
        if groups is None or full:
            xm = x if full else x * mask.to(x.dtype)
        else:
            xm = torch.cat([part * mask[:, g : g + 1].to(x.dtype) for g, part in enumerate(x.split(groups, 1))], 1)
        raw = F.conv2d(xm, self.weight, None, self.stride, self.padding, self.dilation)
        return self.finish(raw, scale, new_mask, full=full), new_mask.to(mask.dtype)

    def mask_terms(
        self, mask: torch.Tensor, groups: tuple[int, ...] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mask half of the layer: ``(scale, new_mask)``, both (B, 1, H', W') in ``mask_dtype``,
        where ``scale`` = sum(1) / sum(M) on windows that saw a valid input and 0 elsewhere.
        ``groups``: as ``mask_channels`` in ``forward`` (None for a one-channel or per-channel mask)."""
        acc = mask_dtype(self.weight.dtype, mask.dtype)
        with torch.autocast(device_type=mask.device.type, enabled=False):
            m = mask.to(acc)
            ones = self.ones_kernel.to(acc)
            if groups is None:
                # (B, 1) masks count windows; (B, C_in) masks count over channels too
                kernel = ones.expand(1, m.shape[1], -1, -1)
                total = float(self.window_size * m.shape[1])
            else:
                weights = torch.tensor(groups, dtype=acc, device=m.device).view(1, -1, 1, 1)
                kernel = ones * weights  # (1, G, kh, kw): group g counts c_g times
                total = float(self.window_size * sum(groups))
            if m.shape[1] > 1:
                # Channels-last: for a few mask channels the contiguous layout takes oneDNN's slow
                # path (see bench/bench_restore.py); the counts are small integers, exact in any
                # order, so the layout does not change them.
                m = m.contiguous(memory_format=torch.channels_last)
                kernel = kernel.contiguous(memory_format=torch.channels_last)
            counts = F.conv2d(m, kernel, None, self.stride, self.padding, self.dilation)
            new_mask = (counts > 0).to(acc)
            # sum(1)/sum(M), zero where the window saw nothing (clamp avoids 0/0).
            scale = total / counts.clamp(min=1.0) * new_mask
        return scale, new_mask

    def group_terms(self, masks: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-group renormalisation: for input groups with one-channel masks ``masks`` (each
        (B, 1, H, W)), the scale sum(1)/sum(M) of every group's own window (0 where that group saw
        nothing) and the new mask (valid where any group saw a valid input). A group's missing
        pixels are then made up from its own valid pixels, as in a one-group partial convolution,
        instead of being averaged with the other groups' channels."""
        acc = mask_dtype(self.weight.dtype, *(m.dtype for m in masks))
        with torch.autocast(device_type=masks[0].device.type, enabled=False):
            ones = self.ones_kernel.to(acc)
            counts = [F.conv2d(m.to(acc), ones, None, self.stride, self.padding, self.dilation) for m in masks]
            new_mask = (torch.stack(counts).sum(0) > 0).to(acc)
            scales = [float(self.window_size) / c.clamp(min=1.0) * (c > 0).to(acc) for c in counts]
        return scales, new_mask

    def finish(
        self, raw: torch.Tensor, scale: torch.Tensor, new_mask: torch.Tensor, *, full: bool = False
    ) -> torch.Tensor:
        """The output from ``raw`` = W^T (X * M) (no bias): renormalised, bias added, 0 on all-hole
        windows. ``full``: the input mask was 1 everywhere (``all_valid``); then, without autograd,
        ``raw`` is renormalised in place on the frame of windows that hang over the border only,
        since the scale is exactly 1 inside it (a window's count is its size) and no window is
        all hole: the same numbers without the passes over the features that multiply by the scale
        and by the new mask."""
        if full and not torch.is_grad_enabled():
            frame = _frame(scale)
            if frame is not None and all_valid(new_mask):
                return self._finish_in_frame(raw, scale, frame)
        out = raw * scale.to(raw.dtype)  # scale is 0 on all-hole windows
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(out.dtype)
            out = out * new_mask.to(out.dtype)  # all-hole windows output exactly 0, bias included
        return out

    def _finish_in_frame(
        self, raw: torch.Tensor, scale: torch.Tensor, frame: tuple[int, int, int, int]
    ) -> torch.Tensor:
        h, w = raw.shape[-2:]
        top, bottom, left, right = frame
        for ys, xs in (
            (slice(0, top), slice(None)),
            (slice(h - bottom, h), slice(None)),
            (slice(top, h - bottom), slice(0, left)),
            (slice(top, h - bottom), slice(w - right, w)),
        ):
            raw[..., ys, xs] *= scale[..., ys, xs].to(raw.dtype)
        if self.bias is not None:
            raw += self.bias.view(1, -1, 1, 1).to(raw.dtype)
        return raw

    def _groups(
        self, x: torch.Tensor, mask: torch.Tensor, mask_channels: tuple[int, ...] | None
    ) -> tuple[int, ...] | None:
        if mask.dim() != 4 or mask.shape[-2:] != x.shape[-2:] or mask.shape[0] != x.shape[0]:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit features {tuple(x.shape)}")
        if mask_channels is None:
            if mask.shape[1] not in (1, x.shape[1]):
                raise ValueError(
                    f"mask of shape {tuple(mask.shape)} does not fit features {tuple(x.shape)}: "
                    "expected (B, 1, H, W) or (B, C_in, H, W)"
                )
            return None
        groups = tuple(int(c) for c in mask_channels)
        if len(groups) != mask.shape[1] or sum(groups) != x.shape[1]:
            raise ValueError(f"mask_channels {groups} must have one entry per mask channel and sum to {x.shape[1]}")
        return groups
