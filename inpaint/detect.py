"""Suggest the damage: a probability map and a mask of the scratches, creases, tears, stains,
spots and missing corners of an old photo, at the photo's full resolution.

Two methods behind one function, ``detect_damage(photo, sensitivity=..., method=...)``:

- ``learned``: ``DamageNet``, a small U-Net built from the restorer's own blocks (the stride-2
  partial-convolution encoder and the skip-concatenating decoder of ``inpaint.unet``) with one
  output channel, the logit of "this pixel is damage". It is trained on the damage synthesiser's
  output over real photos (``inpaint.detect_train``). The partial convolutions get a validity mask
  that is 1 on the photo and 0 on padding, kept inside the photo's footprint at every scale, so
  padding a tile (or the photo) to a multiple of ``2**depth`` changes nothing: the network never
  sees made-up pixels, and a pixel near the photo's edge is judged from the photo alone, the same
  way whatever the tile's shape.
- ``classical``: morphological white top-hat and black-hat responses (thin bright and dark lines and
  specks), a local colour-cast test (yellow-brown stains) and flat near-black or near-white areas
  reaching the border (missing corners), each thresholded against the photo's own robust noise
  level. It is the baseline the learned detector is compared with (``evaluate-detection``).

``sensitivity`` in [0, 1] (default 0.5) moves the decision threshold: higher flags more. For the
learned detector the probability threshold is ``1 - sensitivity``; for the classical one it
scales how many noise deviations a response must exceed (see ``classical_damage``).

Large scans are processed in tiles of ``DetectSettings.tile`` pixels with ``margin`` pixels of
context on every side; only each tile's core is kept, so the seams fall where both neighbours saw
enough context.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .images import LUMA_601, Photo, PhotoInput, open_photo
from .layers import all_valid
from .unet import ConfigIO, _DecoderBlock, _EncoderBlock, _RefineHead, encoder_channels, pad_inputs, weight_format

DETECT_METHODS = ("learned", "classical")
DEFAULT_SENSITIVITY = 0.5
DEFAULT_DETECTOR = Path(__file__).resolve().parent.parent / "weights" / "damage-detector"
ARCHITECTURE = "damage-unet"


def default_detector_source() -> str:
    """``INPAINT_DETECTOR_WEIGHTS`` (a folder or a Hub repo id) or the bundled folder."""
    return os.environ.get("INPAINT_DETECTOR_WEIGHTS") or str(DEFAULT_DETECTOR)


# ----------------------------------------------------------------------------- the network


@dataclass
class DamageNetConfig(ConfigIO):
    """Everything needed to rebuild a DamageNet; saved as config.json beside the weights."""

    config_kind = "detector"

    architecture: str = ARCHITECTURE
    in_channels: int = 3
    width: int = 16
    depth: int = 5
    max_width_mult: int = 8
    kernel_sizes: tuple[int, ...] = (5, 3, 3, 3, 3)
    working_size: int = 256  # crop size it was trained at (informative: it runs on any size)
    threshold: float = 0.5  # probability threshold at the default sensitivity
    version: str = "untrained"
    # Channels of the full-resolution refinement head after the decoder (0: none; weights saved
    # before the option existed have none) and its window over the photo. See DamageNet.
    refine_channels: int = 0
    refine_kernel: int = 3
    # Line evidence as extra inputs of the first layer: for each size k, the white top-hat and the
    # black-hat of the luminance with a k x k square (thin bright and dark structures narrower than
    # k). () = none (weights saved before the option existed have none). See line_features.
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
    def from_dict(cls, d: dict[str, Any]) -> "DamageNetConfig":
        if "architecture" not in d:
            raise ValueError("config.json has no 'architecture' key: this folder holds a restorer, not a damage detector")
        return super().from_dict(d)


class DamageNet(nn.Module):
    """``forward(image, valid=None)``: image (B, 3, H, W) in [0, 1], valid (B, 1, H, W) with 1 on
    real pixels (None: all real); returns logits (B, 1, H, W). Any H, W (padded internally with
    invalid pixels to a multiple of ``2**depth``)."""

    card_title = "Damage detector (partial-convolution U-Net)"

    def __init__(self, config: DamageNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DamageNetConfig()
        ch = config.channels
        self.encoder = nn.ModuleList(
            _EncoderBlock(config.encoder_inputs if i == 0 else ch[i - 1], ch[i], config.kernel_sizes[i], bn=i > 0)
            for i in range(config.depth)
        )
        self.decoder = nn.ModuleList()
        for i in reversed(range(config.depth)):
            skip = config.in_channels if i == 0 else ch[i - 1]
            cout = 1 if i == 0 else ch[i - 1]
            self.decoder.append(_DecoderBlock(ch[i], skip, cout, last=i == 0))
        # The encoder's first layer has stride 2, so the decoder's last layer, linear, is the only
        # one that sees the photo at full resolution: a one-pixel scratch is a weak, smeared cue
        # to it. The optional head (the restorer's, see inpaint.unet._RefineHead) adds a small
        # nonlinear layer over the photo's KxK neighbourhood there, with the footprint as its mask.
        self.refine = (_RefineHead(config.in_channels, config.refine_channels, config.refine_kernel, out_channels=1)
                       if config.refine_channels else None)
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
            # come out contiguous and be converted again by the convolution: 41 ms against 19 ms per
            # 1088 px tile on one core)
            hcur = torch.empty((b, x.shape[1] + lines.shape[1], *x.shape[2:]), dtype=x.dtype, device=x.device,
                               memory_format=weight_format(self.encoder[0].conv.weight))
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
        return (hcur * mcur)[:, :, :h, :w].float()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def line_features(image: torch.Tensor, valid: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """(B, 2 * len(sizes), H, W): for each size k, the white top-hat (luminance minus its opening)
    and the black-hat (closing minus luminance) with a k x k square, times LINE_FEATURE_SCALE,
    computed over valid pixels only (an invalid pixel never enters a minimum or a maximum) and 0 on
    invalid ones, so padding a tile changes nothing. A scratch or crease line narrower than k stands
    out in one of them whatever its direction, which the stride-2 first layer alone sees only
    smeared. No gradient flows through them (they are a function of the photo alone).

    On a CPU the minima and maxima are OpenCV's (about 100 times faster than torch's max_pool2d
    there: 0.4 ms against 44 ms for eight 256 px 7x7 dilations, which made the features cost as
    much as a training step); elsewhere torch's, separably. Both give the same numbers (tested)."""
    with torch.no_grad():
        if image.shape[1] >= 3:  # the weighted sum channel by channel, in order: what .sum(1) gives, 3.5x faster
            luma = torch.from_numpy(LUMA_601).to(image.device).view(1, 3, 1, 1)
            y = image[:, 0:1].float() * luma[:, 0:1]
            y += image[:, 1:2].float() * luma[:, 1:2]
            y += image[:, 2:3].float() * luma[:, 2:3]
        else:
            y = image[:, :1].float().contiguous()
        full = all_valid(valid)  # a photo's interior tile: nothing to hide, nothing to zero
        inside = None if full else valid.contiguous() > 0
        morph = _cv2_morphology if y.device.type == "cpu" else _torch_morphology
        out = morph(y, inside, tuple(sizes))
        return out.mul_(LINE_FEATURE_SCALE) if full else out * (LINE_FEATURE_SCALE * valid.to(out.dtype))


def _torch_morphology(y: torch.Tensor, inside: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Top-hats and black-hats of y (B, 1, H, W) over ``inside`` with torch (any device)."""
    far = torch.finfo(y.dtype).max

    def dilate(t: torch.Tensor, k: int) -> torch.Tensor:  # a k x k square as 1 x k then k x 1
        t = torch.where(inside, t, -far)
        return F.max_pool2d(F.max_pool2d(t, (1, k), 1, (0, k // 2)), (k, 1), 1, (k // 2, 0))

    def erode(t: torch.Tensor, k: int) -> torch.Tensor:
        return -dilate(-t, k)

    out = []
    for k in sizes:
        out.append((y - dilate(erode(y, k), k)).clamp(min=0))  # white top-hat
        out.append((erode(dilate(y, k), k) - y).clamp(min=0))  # black-hat
    return torch.cat(out, 1)


def _cv2_morphology(y: torch.Tensor, inside: torch.Tensor | None, sizes: tuple[int, ...]) -> torch.Tensor:
    """The same as _torch_morphology, with OpenCV on the CPU, one image at a time (``inside`` None:
    every pixel is inside). OpenCV's erode and dilate ignore what lies beyond the image (their
    default border), like max_pool2d's padding."""
    import cv2

    far = np.finfo(np.float32).max
    kernels = [np.ones((k, k), np.uint8) for k in sizes]
    out = np.empty((y.shape[0], 2 * len(sizes), *y.shape[2:]), np.float32)
    keeps = [None] * y.shape[0] if inside is None else inside[:, 0].numpy()
    for b, (img, keep) in enumerate(zip(y[:, 0].numpy(), keeps)):
        hide = keep is not None and not keep.all()  # usually nothing to hide

        def dilate(t: np.ndarray, kernel: np.ndarray) -> np.ndarray:
            return cv2.dilate(np.where(keep, t, -far) if hide else t, kernel)

        def erode(t: np.ndarray, kernel: np.ndarray) -> np.ndarray:
            return cv2.erode(np.where(keep, t, far) if hide else t, kernel)

        for i, kernel in enumerate(kernels):
            np.maximum(img - dilate(erode(img, kernel), kernel), 0.0, out=out[b, 2 * i])  # white top-hat
            np.maximum(erode(dilate(img, kernel), kernel) - img, 0.0, out=out[b, 2 * i + 1])  # black-hat
    return torch.from_numpy(out)


# On the training photos the four features of sizes 3 and 7 spread 0.03-0.07 (standard deviation)
# against the photo's 0.22: scaled by 4 they are on about the photo's scale, so the first layer's
# new weights, starting at zero, matter after as many Adam steps as its others.
LINE_FEATURE_SCALE = 4.0


def load_weights_adding_inputs(model: DamageNet, state: dict[str, torch.Tensor], line_sizes: tuple[int, ...],
                               source: str) -> dict[str, torch.Tensor]:
    """``state`` (from a detector with ``line_sizes``) for ``model``: weights without line features
    may go into a model with them, the new inputs' weights of the first layer and the full-resolution
    line convolution starting at zero, so the model starts out as the one it continues (the first
    layer's mask has one channel, so its renormalisation does not depend on the number of inputs).
    Other changes: a one-line ValueError."""
    wanted = tuple(model.config.line_sizes)
    if tuple(line_sizes) == wanted:
        return state
    if line_sizes:
        raise ValueError(f"{source} has line features {list(line_sizes)}; this run wants {list(wanted)}: use a new --out")
    key = "encoder.0.conv.weight"
    old = state[key]
    grown = old.new_zeros(old.shape[0], model.config.encoder_inputs, *old.shape[2:])
    grown[:, : old.shape[1]] = old
    return {**state, key: grown, "line_skip.weight": torch.zeros_like(model.line_skip.weight)}


def widen_detector(model: DamageNet, width: int, *, seed: int = 0, noise: float = 0.01) -> DamageNet:
    """A copy of ``model`` with ``width`` channels in its first layer (every level widened alike)
    that computes the same function, so a run can add capacity without losing what the narrower
    detector learned (the function-preserving widening of Chen, Goodfellow and Shlens, "Net2Net",
    ICLR 2016). Each new channel of a level repeats a randomly chosen old one (its convolution
    weights, bias and BatchNorm), and every layer that reads the level divides the weights of a
    repeated channel by its number of copies. ``noise`` (times each weight tensor's standard
    deviation) is added to the copies' incoming weights so they can grow apart in training; with
    ``noise=0`` the wider detector's logits equal the narrow one's (up to rounding) wherever the
    decoder's two inputs are equally valid (the partial convolution weighs them by their channel
    counts where their masks differ: the padding around a photo whose size is not a multiple of
    ``2**depth``). The model is returned in evaluation mode on the CPU."""
    cfg = model.config
    if width < cfg.width:
        raise ValueError(f"a detector can only be widened: {cfg.width} channels -> {width}")
    if cfg.refine_channels:
        raise ValueError("widening a detector with a refinement head is not supported")
    new_cfg = DamageNetConfig.from_dict({**cfg.to_dict(), "width": int(width)})
    old_ch, new_ch = cfg.channels, new_cfg.channels
    gen = torch.Generator().manual_seed(seed)
    state = {k: v.detach().float().cpu().clone() if v.is_floating_point() else v.clone()
             for k, v in model.state_dict().items()}

    def copies(n_old: int, n_new: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.cat([torch.arange(n_old), torch.randint(0, n_old, (n_new - n_old,), generator=gen)])
        return idx, torch.bincount(idx, minlength=n_old)[idx].float()

    def widen_out(prefix: str, idx: torch.Tensor) -> None:
        n_old = state[prefix + ".conv.weight"].shape[0]
        for key in [k for k in state if k.startswith(prefix + ".") and state[k].dim() >= 1 and state[k].shape[0] == n_old]:
            state[key] = state[key][idx]
        w = state[prefix + ".conv.weight"]
        if noise and len(idx) > n_old:
            w[n_old:] += noise * float(w.std()) * torch.randn(w[n_old:].shape, generator=gen)

    def widen_in(prefix: str, start: int, n_old: int, idx: torch.Tensor, count: torch.Tensor) -> None:
        w = state[prefix + ".conv.weight"]
        part = w[:, start : start + n_old][:, idx] / count.view(1, -1, 1, 1)
        state[prefix + ".conv.weight"] = torch.cat([w[:, :start], part, w[:, start + n_old :]], 1)

    depth = cfg.depth
    enc_maps = [copies(old_ch[i], new_ch[i]) for i in range(depth)]
    for i in range(depth):
        widen_out(f"encoder.{i}", enc_maps[i][0])
        if i + 1 < depth:
            widen_in(f"encoder.{i + 1}", 0, old_ch[i], *enc_maps[i])
    coarse = enc_maps[depth - 1]  # what the next decoder block reads as its coarse input
    for j in range(depth):
        i = depth - 1 - j  # decoder block j upsamples level i into level i - 1
        prefix = f"decoder.{j}"
        if i > 0:  # its skip input (encoder level i - 1) follows the coarse one; level 0's is the photo
            widen_in(prefix, old_ch[i], old_ch[i - 1], *enc_maps[i - 1])
        widen_in(prefix, 0, old_ch[i], *coarse)
        if i > 0:
            coarse = copies(old_ch[i - 1], new_ch[i - 1])
            widen_out(prefix, coarse[0])
    wide = DamageNet(new_cfg)
    wide.load_state_dict(state)
    wide.metadata = dict(getattr(model, "metadata", {}) or {})
    return wide.eval()


def save_detector(model: DamageNet, folder: str | os.PathLike[str], *, card: str | None = None,
                  metadata: dict[str, Any] | None = None) -> Path:
    from .weights import save_model

    return save_model(model, folder, card=card, metadata=metadata)


def load_detector(source: str | os.PathLike[str] | None = None, *, device: str | torch.device | None = None,
                  allow_untrained: bool = False) -> DamageNet:
    """Load a detector folder (default: ``INPAINT_DETECTOR_WEIGHTS`` or the bundled
    ``weights/damage-detector``) or Hub repo; ``WeightsError`` with one line when it cannot."""
    from .weights import load_folder, resolve_source

    return load_folder(
        resolve_source(source if source is not None else default_detector_source()),
        DamageNetConfig, DamageNet, device=device, allow_untrained=allow_untrained,
        role="damage detector", train_hint="python -m inpaint train-detector", env="INPAINT_DETECTOR_WEIGHTS",
    )


# ----------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class DetectSettings:
    """Tiling for the learned detector. A photo up to ``tile + 2 * margin`` on each side runs in
    one pass; larger ones in tiles whose cores are about ``tile`` pixels, one at a time on a CPU
    and ``max_batch`` at a time on a GPU."""

    tile: int = 1024
    # Context on each side (rounded up to the network's 2**depth). Measured with the bundled
    # detector on a 2200 px scan against one untiled pass: 32 px changed 0.0007 % of the suggested
    # pixels (64 px: none; 0 px: 0.009 %), and a 24 MP scan took 3.8 s instead of 5.1 s with 64 px.
    margin: int = 32
    max_batch: int = 2
    # Photos at least twice this long also get a pass at the power-of-two downscale whose long side
    # is in [coarse_side, 2 * coarse_side), and a pixel takes the larger of the two probabilities
    # (see coarse_level). None: full resolution only.
    coarse_side: int | None = 512


@dataclass
class Detection:
    """``probability``: float32 (H, W) in [0, 1]. ``damage``: bool (H, W), True = damage (the
    suggested mask). ``known`` is its complement (the library's mask convention)."""

    probability: np.ndarray
    damage: np.ndarray
    method: str
    sensitivity: float
    threshold: float
    seconds: float
    model_version: str | None = None

    @property
    def known(self) -> np.ndarray:
        return ~self.damage

    @property
    def fraction(self) -> float:
        return float(self.damage.mean()) if self.damage.size else 0.0

    def mask_image(self):
        """The suggestion as an 8-bit image, white = damage (the CLI's and the editor's convention)."""
        from PIL import Image

        return Image.fromarray(self.damage.astype(np.uint8) * 255, "L")


def check_sensitivity(sensitivity: float) -> float:
    try:
        s = float(sensitivity)
    except (TypeError, ValueError):
        raise ValueError(f"sensitivity must be a number in [0, 1], got {sensitivity!r}") from None
    if not 0.0 <= s <= 1.0 or s != s:
        raise ValueError(f"sensitivity must be in [0, 1], got {sensitivity}")
    return s


def learned_threshold(model: DamageNet, sensitivity: float) -> float:
    """Probability threshold for a sensitivity: the model's calibrated threshold at 0.5, moving
    linearly to 0.98 at sensitivity 0 and 0.02 at sensitivity 1."""
    t0 = model.config.threshold
    s = check_sensitivity(sensitivity)
    return t0 + (0.98 - t0) * (0.5 - s) / 0.5 if s <= 0.5 else t0 - (t0 - 0.02) * (s - 0.5) / 0.5


def detect_damage(
    photo: PhotoInput,
    sensitivity: float = DEFAULT_SENSITIVITY,
    *,
    method: str = "learned",
    model: DamageNet | None = None,
    settings: DetectSettings | None = None,
) -> Detection:
    """Suggest where ``photo`` is damaged. ``photo``: anything ``open_photo`` reads (path, bytes,
    PIL image, array; grayscale, RGBA, 16-bit, CMYK, palette, EXIF-rotated: the result has the
    photo's displayed size) or an opened ``Photo``. ``model``: a loaded ``DamageNet`` (default: ``load_detector()``)."""
    sensitivity = check_sensitivity(sensitivity)
    if method not in DETECT_METHODS:
        raise ValueError(f"unknown detection method {method!r}; choose one of {', '.join(DETECT_METHODS)}")
    started = time.perf_counter()
    rgb8 = photo.rgb8 if isinstance(photo, Photo) else open_photo(photo).rgb8
    if method == "classical":
        prob, damage, threshold = classical_damage(rgb8, sensitivity)
        return Detection(prob, damage, method, sensitivity, threshold, time.perf_counter() - started)
    model = model if model is not None else load_detector()
    prob = multiscale_probability(model, rgb8, settings or DetectSettings())
    threshold = learned_threshold(model, sensitivity)
    return Detection(prob, prob >= threshold, method, sensitivity, threshold, time.perf_counter() - started,
                     model.config.version)


def _tile_boxes(h: int, w: int, tile: int, margin: int, align: int = 1) -> list[tuple[int, int, int, int, int, int, int, int]]:
    """(core y0, y1, x0, x1, input y0, y1, x0, x1) for tiles whose cores partition the photo.

    Every input tile starts at a multiple of ``align`` (the network's ``2**depth``), so each tile
    sees the same grid of strided convolutions as one pass over the whole photo would: tiling then
    changes only how much context a pixel near a seam gets. (Unaligned tiles shift that grid, and
    a U-Net with stride-2 layers is not shift-invariant: on a 2200 px scan, tiles at arbitrary
    offsets changed 0.18 % of the suggested pixels.) The margin is rounded up to ``align``."""
    if h <= tile + 2 * margin and w <= tile + 2 * margin:
        return [(0, h, 0, w, 0, h, 0, w)]
    margin = -(-margin // align) * align

    def cuts(n: int) -> list[int]:
        parts = -(-n // tile)
        inner = {int(round(v / align)) * align for v in np.linspace(0, n, parts + 1)[1:-1]}
        return [0, *sorted(c for c in inner if 0 < c < n), n]

    ys, xs = cuts(h), cuts(w)
    boxes = []
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            boxes.append((y0, y1, x0, x1, max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)))
    return boxes


@torch.inference_mode()
def predict_probability(model: DamageNet, rgb8: np.ndarray, settings: DetectSettings | None = None) -> np.ndarray:
    """Damage probability (H, W) float32 for an (H, W, 3) uint8 photo, tiled for large photos."""
    settings = settings or DetectSettings()
    device = next(model.parameters()).device
    h, w = rgb8.shape[:2]
    boxes = _tile_boxes(h, w, settings.tile, settings.margin, model.multiple)
    # On a CPU one tile per pass (its activations stay in cache: 4.7 s instead of 5.6 s for a
    # 24 MP scan in pairs); on a GPU, max_batch tiles padded to a common shape.
    per_pass = 1 if device.type == "cpu" else max(1, settings.max_batch)
    prob = np.empty((h, w), np.float32)
    src = torch.from_numpy(rgb8)  # (H, W, 3) uint8, no copy
    for start in range(0, len(boxes), per_pass):
        batch = boxes[start : start + per_pass]
        th = max(b[5] - b[4] for b in batch)
        tw = max(b[7] - b[6] for b in batch)
        x = torch.zeros(len(batch), 3, th, tw, device=device)
        valid = torch.zeros(len(batch), 1, th, tw, device=device)
        for k, (_, _, _, _, iy0, iy1, ix0, ix1) in enumerate(batch):
            x[k, :, : iy1 - iy0, : ix1 - ix0] = src[iy0:iy1, ix0:ix1].to(device).permute(2, 0, 1).float() / 255.0
            valid[k, :, : iy1 - iy0, : ix1 - ix0] = 1.0
        with _autocast(device):
            logits = model(x, valid)
        p = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
        for k, (y0, y1, x0, x1, iy0, _, ix0, _) in enumerate(batch):
            prob[y0:y1, x0:x1] = p[k, y0 - iy0 : y1 - iy0, x0 - ix0 : x1 - ix0]
    return prob


def coarse_level(height: int, width: int, coarse_side: int | None) -> int:
    """The downscale (as a power of two) of the coarse pass: 0 (none) for photos shorter than
    ``2 * coarse_side`` on their long side; else the level whose long side is in
    ``[coarse_side, 2 * coarse_side)``.

    Why: the synthesiser, like real prints, makes damage in proportion to the photo, and the
    detector learned it on crops of photos of a few hundred pixels. On a big scan a crease is tens
    of pixels wide, wider than anything it saw: measured with the bundled detector on moderate
    damage, a 3000x2000 photo gave F1 0.15 at full resolution, 0.59 with the coarse pass (level 2)
    added; a 2048 px one 0.09 and 0.47 (README, "Damage detection"). Thin scratches of a few
    pixels vanish when downscaled, so the full-resolution pass stays."""
    long_side = max(height, width)
    if not coarse_side or long_side < 2 * coarse_side:
        return 0
    return int(np.floor(np.log2(long_side / coarse_side)))


def multiscale_probability(model: DamageNet, rgb8: np.ndarray, settings: DetectSettings | None = None) -> np.ndarray:
    """``predict_probability`` at full resolution, and for big photos the larger of it and the
    coarse pass upsampled (``coarse_level``)."""
    import cv2

    settings = settings or DetectSettings()
    prob = predict_probability(model, rgb8, settings)
    h, w = rgb8.shape[:2]
    level = coarse_level(h, w, settings.coarse_side)
    if level:
        small = cv2.resize(rgb8, (max(1, w >> level), max(1, h >> level)), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(predict_probability(model, small, settings), (w, h), interpolation=cv2.INTER_LINEAR)
        np.maximum(prob, coarse, out=prob)
    return prob


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)


# ----------------------------------------------------------------------------- classical baseline


def classical_damage(rgb8: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> tuple[np.ndarray, np.ndarray, float]:
    """The classical detector: ``(score, damage, 0.5)`` (score threshold).

    1. Thin bright and dark structures: white top-hat (the photo minus its morphological opening)
       and black-hat (closing minus the photo) of the luminance with an elliptical element a bit
       wider than a scratch (about 1/150 of the shorter side, 5 to 21 px). Texture also responds,
       so each response is measured in units of its own robust spread (1.4826 x MAD over the photo)
       and must exceed ``k`` of them and an absolute floor of ``40 - 30 x sensitivity`` grey levels
       (25 at the default; a sweep on the evaluation photos at 512 px: a floor of 10 flagged 17 %
       of undamaged photos, 25 about 9 %, for similar F1).
    2. Stains: a yellow-brown cast (Lab b* above its median over a window of 1/8 of the shorter
       side) by more than ``k`` robust spreads and ``18 - 12 x sensitivity`` units.
    3. Missing corners and edges: flat (local std < 1) near-black (< 12) or near-white (> 243)
       regions that reach the border: the bare scanner bed or backing paper.
    ``k`` goes from 8 (sensitivity 0) to 2 (sensitivity 1), 5 at 0.5. ``score`` in [0, 1] is the
    strongest normalised response (0.5 at the threshold) so the two methods share an interface.
    Components smaller than 4 pixels are dropped (sensor noise)."""
    import cv2

    s = check_sensitivity(sensitivity)
    k = 8.0 - 6.0 * s
    line_floor, stain_floor = 40.0 - 30.0 * s, 18.0 - 12.0 * s
    h, w = rgb8.shape[:2]
    short = min(h, w)
    lab = cv2.cvtColor(np.ascontiguousarray(rgb8), cv2.COLOR_RGB2LAB)
    lum = lab[..., 0].astype(np.float32)
    r = int(np.clip(round(short / 300), 2, 10))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    def normalised(resp: np.ndarray, floor: float) -> np.ndarray:
        sample = resp[:: max(1, resp.shape[0] // 512), :: max(1, resp.shape[1] // 512)]
        med = float(np.median(sample))
        spread = 1.4826 * float(np.median(np.abs(sample - med))) + 1e-3
        level = max(med + k * spread, floor)
        return resp / level  # 1 = at the threshold

    bright = normalised(cv2.morphologyEx(lum, cv2.MORPH_TOPHAT, se), line_floor)
    dark = normalised(cv2.morphologyEx(lum, cv2.MORPH_BLACKHAT, se), line_floor)
    bstar = lab[..., 2].astype(np.float32)
    win = max(3, (short // 8) | 1)
    small = cv2.resize(bstar, (max(1, w * 64 // max(h, w)), max(1, h * 64 // max(h, w))), interpolation=cv2.INTER_AREA)
    background = cv2.resize(cv2.medianBlur(small.astype(np.uint8), max(3, (win * 64 // max(h, w)) | 1)).astype(np.float32),
                            (w, h), interpolation=cv2.INTER_LINEAR)
    stain = normalised(np.maximum(bstar - background, 0.0), stain_floor)
    score = np.maximum(np.maximum(bright, dark), stain)

    mean = cv2.blur(lum, (5, 5))
    std = np.sqrt(np.maximum(cv2.blur(lum * lum, (5, 5)) - mean * mean, 0.0))
    extreme = (lum < 12) | (lum > 243)
    flat = (std < 1.0) & extreme
    if flat.any():
        # flat regions of extreme pixels that reach the border, grown by the window's radius into
        # extreme pixels (the flat test misses the region's own rim, where the window sees the photo)
        n, labels = cv2.connectedComponents(flat.astype(np.uint8), connectivity=8)
        rim = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        edge = np.unique(rim[rim > 0])
        if edge.size:
            region = cv2.dilate(np.isin(labels, edge).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & extreme
            score = np.where(region, np.maximum(score, 2.0), score)

    damage = score >= 1.0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(damage.astype(np.uint8), connectivity=8)
    tiny = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < 4)
    tiny = tiny[tiny > 0]
    if tiny.size:
        damage &= ~np.isin(labels, tiny)
    prob = np.clip(score / 2.0, 0.0, 1.0).astype(np.float32)
    return prob, damage, 0.5
