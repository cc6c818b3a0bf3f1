"""Tiny detectors, smooth photos and a folder of them, shared by the detector's tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from inpaint.nn.damagenet import DamageNet, DamageNetConfig
from inpaint.train.detector import DetectorTask, DetectTrainConfig
from inpaint.train.loop import TrainingLoop

ROOT = Path(__file__).resolve().parents[2]


def tiny_net(seed: int = 0) -> DamageNet:
    torch.manual_seed(seed)
    net = DamageNet(DamageNetConfig(width=4, depth=3))
    # non-trivial BatchNorm statistics, so eval mode is not an identity
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def smooth_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with gentle noise: no edges a detector should flag."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([90 + 60 * xx / w, 110 + 40 * yy / h, 130 - 30 * (xx + yy) / (h + w)], axis=2)
    return np.clip(base + rng.normal(0, 1.5, base.shape), 0, 255).astype(np.uint8)


def detector_loop(cfg: DetectTrainConfig) -> TrainingLoop:
    return TrainingLoop(DetectorTask(cfg))


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "inpaint", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
