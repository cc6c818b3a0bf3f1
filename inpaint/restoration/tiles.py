"""How the partial-convolution network fills a full-resolution photo (``pconv_fills``).

The network is never run on the whole photo:

1. The damaged region (the union of every candidate's replaced pixels) is split into connected
   components, and each component is restored at a *level*: a power-of-two downscale chosen from
   its thickness (``assign_levels``), so that thin scratches are filled at full resolution and
   wide holes at a scale where they look like what the network was trained on. Very large scans
   are never worked on above ``TileSettings.max_side`` pixels (the scale of the training photos).
2. At each level the model runs on crops around the damage only, with context on every side; a
   region bigger than a tile is cut into tiles whose cores partition it (``_tiles``). All
   candidates of a tile run together: they differ by mask dilation and by Monte-Carlo dropout,
   each with its own seeded generator, so the same seed gives the same pixels.
3. The fill is upsampled back to full resolution, and only the replaced pixels take it: known
   pixels are never resampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..nn.unet import PConvUNet
from .candidates import CandidateSpec, Progress


@dataclass
class TileSettings:
    """How the network is run at one level. ``tile`` and ``context`` are in level pixels."""

    tile: int = 384  # crops bigger than this are tiled
    context: int = 64  # known context kept around each tile's core
    max_batch: int = 8  # tiles x candidates per forward pass (activations of 8 crops of 512 px: ~1 GB)
    single_max: int = 640  # a damaged region whose crop fits in this many pixels runs as one crop
    # The network never works on a view of the photo whose long side exceeds this: the training
    # photos are at most about 2000 px, so a 6000 px scan is restored at 1/4 scale (a sixteenth of
    # the pixels), where its content looks like what the model learned. None = no limit.
    max_side: int | None = 2048


def _component_boxes(damage: np.ndarray, margin: int) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (y0, y1, x0, x1), grown by ``margin``, of groups of damage that lie within
    ``margin`` of each other."""
    import cv2

    h, w = damage.shape
    grown = (
        cv2.dilate(damage.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, margin // 2))
        if margin
        else damage.astype(np.uint8)
    )
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, bw, bh = stats[i, :4]
        boxes.append((max(0, y - margin), min(h, y + bh + margin), max(0, x - margin), min(w, x + bw + margin)))
    return boxes


def assign_levels(damage: np.ndarray, working_size: int, max_level: int) -> tuple[np.ndarray, np.ndarray]:
    """Label the damage's connected components and give each a level (0 = full resolution, l =
    downscaled by 2**l) such that its half-thickness at that level is at most working_size / 4.
    Returns (labels (H, W) int32, level per label (n,) with level[0] unused)."""
    import cv2

    d8 = damage.astype(np.uint8)
    n, labels = cv2.connectedComponents(d8, connectivity=8)
    if n <= 1:
        return labels, np.zeros(1, np.int64)
    dist = cv2.distanceTransform(d8, cv2.DIST_L2, 3)
    # per-component maximum over the damaged pixels only (ndimage.maximum sorts all H*W labels)
    where = d8.astype(bool)
    half = np.zeros(n, np.float64)
    np.maximum.at(half, labels[where], dist[where])
    half = half[1:]
    # working_size / 4, measured with the bundled model on held-out photos: / 8 lost up to 0.75 dB
    # at 256 px (it downscaled holes the model fills better in place), never downscaling up to
    # 1.1 dB on the widest holes at 512 px.
    limit = max(working_size / 4.0, 4.0)
    levels = np.ceil(np.log2(np.maximum(half / limit, 1.0))).astype(np.int64)
    return labels, np.concatenate([[0], np.clip(levels, 0, max_level)])


def _downscale(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if img.shape[:2] == shape:
        return img
    return cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _level_shape(h: int, w: int, level: int) -> tuple[int, int]:
    return math.ceil(h / 2**level), math.ceil(w / 2**level)


def _pad_to(a: np.ndarray, multiple: int, value: bool | None) -> np.ndarray:
    """Pad the bottom/right to a multiple of ``multiple`` so that a level pixel covers exactly a
    multiple x multiple block (edge-replicated image; masks padded with ``value``)."""
    ph, pw = (-a.shape[0]) % multiple, (-a.shape[1]) % multiple
    if not (ph or pw):
        return a
    pad = ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2)
    if value is None:
        return np.pad(a, pad, mode="edge")
    return np.pad(a, pad, constant_values=value)


def _level_hole(damage: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A level pixel is a hole if any full-resolution pixel under it is damaged, so the model never
    sees a value that mixes damage into a 'known' pixel."""
    if damage.shape == shape:
        return damage
    return _downscale(damage.astype(np.float32), shape) > 0


def _with_context(
    y0: int, y1: int, x0: int, x1: int, context: int, h: int, w: int
) -> tuple[int, int, int, int, int, int, int, int]:
    """A core (y0, y1, x0, x1) and its crop: the core grown by ``context`` inside (h, w)."""
    return max(0, y0 - context), min(h, y1 + context), max(0, x0 - context), min(w, x1 + context), y0, y1, x0, x1


def _tiles(
    region: np.ndarray, tile: int, context: int, single_max: int = 0
) -> list[tuple[int, int, int, int, int, int, int, int]]:
    """Crops covering the True pixels of ``region`` (level pixels). Each item: crop (y0, y1, x0, x1)
    and its core (cy0, cy1, cx0, cx1); cores partition the plane, crops add context around them."""
    h, w = region.shape
    ys, xs = np.nonzero(region)
    by0, by1, bx0, bx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    # One crop while it stays small: overlapping tiles would run the network on their shared
    # context twice (a 512 px photo as 2x2 tiles of 384 px costs 2.25 times one 512 px crop).
    single = max(tile, single_max)
    if (
        min(h, by1 + context) - max(0, by0 - context) <= single
        and min(w, bx1 + context) - max(0, bx0 - context) <= single
    ):
        return [_with_context(by0, by1, bx0, bx1, context, h, w)]
    core = tile - 2 * context
    out = []
    for cy0 in range(by0, by1, core):
        for cx0 in range(bx0, bx1, core):
            cy1, cx1 = min(cy0 + core, by1), min(cx0 + core, bx1)
            if not region[cy0:cy1, cx0:cx1].any():
                continue
            out.append(_with_context(cy0, cy1, cx0, cx1, context, h, w))
    return out


def _device_autocast(device: torch.device):
    from contextlib import nullcontext

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return nullcontext()  # bf16 on CPUs without native bf16 is much slower than float32


def _generator(seed: int, level: int, tile: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + level * 10_007 + tile) % 2**63)


@torch.inference_mode()
def _run_tiles(
    model: PConvUNet,
    img: np.ndarray,
    holes: list[np.ndarray],
    specs: list[CandidateSpec],
    batch: list[tuple[int, ...]],
    level: int,
    first_index: int,
    device: torch.device,
) -> list[list[np.ndarray]]:
    """Run crops x candidates in one forward pass. Crops of one batch are padded (as holes) to a
    common size, and each one's own size goes to the model (a prior is computed per crop).
    Returns, per crop, one (h, w, 3) float array in [0, 255] per candidate."""
    hs = [t[1] - t[0] for t in batch]
    wsz = [t[3] - t[2] for t in batch]
    H, W = max(hs), max(wsz)
    k = len(specs)
    x = torch.zeros(len(batch) * k, 3, H, W)
    m = torch.zeros(len(batch) * k, 1, H, W)
    rates, gens, sizes = [], [], []
    for i, (y0, y1, x0, x1, *_core) in enumerate(batch):
        crop = torch.from_numpy(np.ascontiguousarray(img[y0:y1, x0:x1])).permute(2, 0, 1).float() / 255.0
        for j, spec in enumerate(specs):
            b = i * k + j
            x[b, :, : y1 - y0, : x1 - x0] = crop
            m[b, 0, : y1 - y0, : x1 - x0] = torch.from_numpy(~holes[j][y0:y1, x0:x1]).float()
            rates.append(spec.dropout)
            gens.append(_generator(spec.seed, level, first_index + i))
            sizes.append((y1 - y0, x1 - x0))
    # On a CPU, one sample per forward pass, at its own size: activations that fit the caches run
    # faster than one big batch, and a crop's pixels then depend neither on the split nor on the
    # other crops' sizes (padding beyond the next multiple of 2**depth reaches the U-Net's coarse
    # layers). Every sample has its own dropout generator.
    rates_t = torch.tensor(rates)
    with _device_autocast(device):
        if device.type == "cpu":
            outs = []
            for b, (hb, wb) in enumerate(sizes):
                o = model(
                    x[b : b + 1, :, :hb, :wb],
                    m[b : b + 1, :, :hb, :wb],
                    dropout=rates_t[b : b + 1],
                    generators=gens[b : b + 1],
                ).float()
                outs.append(F.pad(o, (0, W - wb, 0, H - hb)))
            out = torch.cat(outs)
        else:
            out = model(x.to(device), m.to(device), dropout=rates_t, generators=gens, sizes=sizes).float()
    out = (out.clamp(0, 1) * 255.0).permute(0, 2, 3, 1).cpu().numpy()
    result = []
    for i, (y0, y1, x0, x1, *_core) in enumerate(batch):
        result.append([out[i * k + j, : y1 - y0, : x1 - x0] for j in range(k)])
    return result


def pconv_fills(
    rgb8: np.ndarray,
    known: np.ndarray,
    replaced: list[np.ndarray],
    specs: list[CandidateSpec],
    model: PConvUNet,
    ts: TileSettings,
    report: Progress,
) -> list[np.ndarray]:
    """One filled copy of ``rgb8`` per spec: every damaged component at its level, in tiles, all
    candidates of a tile together; only the pixels ``replaced[k]`` takes the network's fill."""
    import cv2

    device = next(model.parameters()).device
    h, w = known.shape
    union = np.logical_or.reduce(replaced)
    ws = model.config.working_size
    max_level = max(0, int(math.floor(math.log2(max(min(h, w) / max(ws / 2, 16), 1)))))
    min_level = 0 if ts.max_side is None else max(0, math.ceil(math.log2(max(h, w) / ts.max_side)))
    labels, level_of = assign_levels(union, ws, max(max_level, min_level))
    level_of = np.maximum(level_of, min_level)
    level_map = level_of[labels]  # (H, W) level of every pixel of the union; 0 elsewhere
    fills = [rgb8.copy() for _ in specs]
    levels = sorted(set(level_of[1:].tolist()))
    jobs = []  # (level, crop and core) to run
    at_level = {lv: union & (level_map == lv) for lv in levels}  # full-resolution pixels of each level
    for lv in levels:
        region = _level_hole(_pad_to(at_level[lv], 2**lv, False), _level_shape(h, w, lv))
        jobs += [(lv, t) for t in _tiles(region, ts.tile, ts.context, ts.single_max)]
    done = 0
    for lv in levels:
        shape = _level_shape(h, w, lv)
        img = _downscale(_pad_to(rgb8, 2**lv, None), shape)
        holes = [_level_hole(_pad_to(rep, 2**lv, True), shape) for rep in replaced]
        mine = at_level[lv]
        lv_jobs = [t for l2, t in jobs if l2 == lv]
        per_batch = max(1, ts.max_batch // len(specs))
        for start in range(0, len(lv_jobs), per_batch):
            batch = lv_jobs[start : start + per_batch]
            outs = _run_tiles(model, img, holes, specs, batch, lv, start, device)
            for (y0, _y1, x0, _x1, cy0, cy1, cx0, cx1), tile_out in zip(batch, outs):
                # full-resolution extent of this core
                fy0, fy1 = cy0 * 2**lv, min(h, cy1 * 2**lv)
                fx0, fx1 = cx0 * 2**lv, min(w, cx1 * 2**lv)
                sel = mine[fy0:fy1, fx0:fx1]
                if not sel.any():
                    continue
                for k, out in enumerate(tile_out):  # out: (y1-y0, x1-x0, 3) float in [0, 255]
                    core = out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
                    if lv:
                        core = cv2.resize(
                            core, ((cx1 - cx0) * 2**lv, (cy1 - cy0) * 2**lv), interpolation=cv2.INTER_LINEAR
                        )
                    core = core[: fy1 - fy0, : fx1 - fx0]
                    take = sel & replaced[k][fy0:fy1, fx0:fx1]
                    fills[k][fy0:fy1, fx0:fx1][take] = np.clip(np.rint(core[take]), 0, 255).astype(np.uint8)
            done += len(batch)
            report(done / max(len(jobs), 1), f"restoring {done}/{len(jobs)} regions")
    return fills
