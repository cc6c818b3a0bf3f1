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
