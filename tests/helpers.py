"""Small builders the tests share: tiny networks and free loopback ports.

Tiny networks are built from a fixed seed, so two calls with the same config give the same
weights; they are random (untrained) and meant for shapes, invariants and plumbing, never for
quality."""

from __future__ import annotations

import socket
from typing import Any

import torch

from inpaint.nn import DamageNet, DamageNetConfig, PConvUNet, PConvUNetConfig

TINY = {"width": 4, "depth": 3}


def tiny_restorer(seed: int = 0, **config: Any) -> PConvUNet:
    """A width-4, depth-3 restorer (``config`` overrides any field), seeded, in eval mode."""
    torch.manual_seed(seed)
    return PConvUNet(PConvUNetConfig(**{**TINY, **config})).eval()


def tiny_detector(seed: int = 0, **config: Any) -> DamageNet:
    """A width-4, depth-3 damage detector (``config`` overrides any field), seeded, in eval mode."""
    torch.manual_seed(seed)
    return DamageNet(DamageNetConfig(**{**TINY, **config})).eval()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reference_refine_head(
    head: torch.nn.Module, y: torch.Tensor, known: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The refinement head computed pixel by pixel, as its formula says: for each pixel, the
    window of [known image, 1 - mask] around it (outside the image: no image, all hole), then
    ``y + out(leaky_relu(local(window) + point(y)))``. ``y`` (B, C, H, W), ``known`` (B, 3, H, W)
    already multiplied by the mask, ``mask`` (B, 1, H, W). The one reference both networks' heads
    are tested against."""
    b, _, h, w = y.shape
    k = head.local.weight.shape[-1]
    r = k // 2
    out = torch.empty_like(y)
    for i in range(h):
        for j in range(w):
            window = torch.zeros(b, 4, k, k)
            window[:, 3] = 1.0
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    if 0 <= i + di < h and 0 <= j + dj < w:
                        window[:, :3, di + r, dj + r] = known[:, :, i + di, j + dj]
                        window[:, 3, di + r, dj + r] = 1 - mask[:, 0, i + di, j + dj]
            hidden = (window[:, None] * head.local.weight[None]).sum((2, 3, 4)) + head.local.bias
            hidden = hidden + y[:, :, i, j] @ head.point.weight[:, :, 0, 0].T
            hidden = torch.nn.functional.leaky_relu(hidden, 0.2)
            out[:, :, i, j] = y[:, :, i, j] + hidden @ head.out.weight[:, :, 0, 0].T + head.out.bias
    return out
