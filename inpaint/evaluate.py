"""The paper-style evaluation: ``python -m inpaint evaluate --images DIR --out DIR [...]``.

Protocol (Liu et al. 2018, section 5, with fixed seeds so that every run and every method sees the
same masks):

- Photos: every evaluation photo of an image folder. With a ``manifest.csv`` only rows whose role
  is ``eval`` are used (``demo`` photos have no ground truth worth scoring and ``train`` photos must
  never be scored); a folder whose manifest lists no evaluation photo is refused.
- Sizes: each photo is centre-cropped to a square and resized (Lanczos) to every ``--sizes``.
- Masks: for each of the six hole-to-image bins (0.01, 0.1] ... (0.5, 0.6], ``--masks-per-bin``
  irregular masks with holes touching the border and as many without; each mask's generator is
  seeded from (seed, image index, size, bin, border, k) only. A second table uses the damage
  synthesiser (minor / moderate / severe): the method sees the damaged photo and the exact mask,
  and is scored against the clean photo.
- Every method restores the same input (``restore(..., n=1, dilations=[0])``: exactly the hole is
  replaced; hole pixels of the input are blanked to white so that no method can see the truth).
- Metrics on the composite against the ground truth: L1 (mean absolute error over the whole image
  in [0, 1] units, the paper's definition), PSNR and SSIM (scikit-image, data_range=255,
  channel_axis=-1), and a perceptual distance (MobileNetV2 features, ``features.perceptual_distance``;
  lower is better). Seconds: wall time of the ``restore`` call.

Outputs in ``--out``: ``results.json`` (metadata, every sample row, aggregates per cell with their
sample counts, the paired pconv-vs-classical comparison), ``results.md`` (tables), ``chart.png``
(PSNR and SSIM per hole bin) and ``contact_sheet.png`` (examples a person can look at).

Cost on this 2-core CPU, per restore call (measured at 256 / 512 px, small to large holes): Telea
and Navier-Stokes 0.02-0.2 / 0.06-1.6 s, biharmonic 0.2-0.8 / 0.2-4.6 s, PatchMatch 1.5-6 / 3-30 s.
PatchMatch dominates a full run; leave it out with ``--methods pconv,telea,ns,biharmonic,smooth``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import hashlib
import inspect
import io
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import classical
from .data import IMAGE_EXTS, load_photo
from .masks import HOLE_BINS, SEVERITIES, hole_ratio, known_to_image, random_irregular_mask, synthesize_damage
from .restore import METHODS, restore
from .weights import WeightsError, default_source, load_model

METRICS = ("psnr", "ssim", "l1", "perceptual")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "l1": False, "perceptual": False}
PSNR_CAP = 100.0  # dB for an exact reconstruction, so that means stay finite
HOLE_FILL = 255  # hole pixels of the bins' inputs: white, as in the paper's figures
DEFAULT_SIZES = (256, 512)
DEFAULT_PATCH = inspect.signature(classical.patchmatch).parameters["patch_size"].default
CONTACT_SHEET_MAX_BYTES = 3_000_000
_BINS_TABLE, _SEVERITY_TABLE = "bins", "severity"


def bin_label(index: int) -> str:
    lo, hi = HOLE_BINS[index]
    return f"({lo:g}, {hi:g}]"


@dataclass
class EvalConfig:
    """The options of one evaluation run (the command line's flags)."""

    images: str
    out: str
    methods: tuple[str, ...] = METHODS
    weights: str | None = None  # a model folder or Hub repo id; None = INPAINT_WEIGHTS or weights/
    sizes: tuple[int, ...] = DEFAULT_SIZES
    masks_per_bin: int = 1  # masks per (bin, border) and per severity, per photo and size
    seed: int = 0
    limit: int | None = None  # only the first N photos (sorted by file name)
    severity_table: bool = True
    patchmatch_patch: int = DEFAULT_PATCH
    perceptual: bool = True
    allow_untrained: bool = False
    save_samples: bool = False  # write every mask and composite as PNG under out/samples/
    device: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.methods, self.sizes = tuple(self.methods), tuple(int(s) for s in self.sizes)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(METHODS)}")
        if not self.sizes or min(self.sizes) < 32:
            raise ValueError(f"sizes must be at least 32 px, got {self.sizes}")
        if self.masks_per_bin < 1 or self.seed < 0 or (self.limit is not None and self.limit < 1):
            raise ValueError("--masks-per-bin and --limit must be >= 1 and --seed >= 0")
        if self.patchmatch_patch < 3 or self.patchmatch_patch % 2 == 0:
            raise ValueError(f"--patchmatch-patch must be an odd number >= 3, got {self.patchmatch_patch}")


# ----------------------------------------------------------------------------- photos


@dataclass(frozen=True)
class EvalImage:
    index: int  # position in the sorted list: part of every mask's seed
    file: str  # relative to the image folder, POSIX separators
    path: Path
    sha256: str
    width: int
    height: int
    source: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # manifest provenance


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_images(folder: str | os.PathLike[str], limit: int | None = None) -> list[EvalImage]:
    """The evaluation photos of ``folder``, sorted by file: its manifest's ``role=eval`` rows (the
    stored hash is checked), or every image file below it when there is no manifest."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist (or is not a folder)")
    manifest = root / "manifest.csv"
    rows: dict[str, dict[str, str]] = {}
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
        roles = sorted({r.get("role") or "train" for r in table})  # data.py: no role means training
        rows = {r["file"]: r for r in table if (r.get("role") or "train") == "eval"}
        if not rows:
            raise ValueError(f"{manifest} lists no photo with role 'eval' (roles: {', '.join(roles) or 'none'}): "
                             "evaluate on a folder of evaluation photos, never on training photos")
        files = sorted(rows)
    else:
        wanted = set(IMAGE_EXTS)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and p.suffix.lower() in wanted
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTS)}) in {root}")
    images = []
    for i, name in enumerate(files[:limit] if limit else files):
        path = root / name
        if not path.is_file():
            raise ValueError(f"{manifest} lists {name}, which is missing from {root}")
        digest = _sha256(path)
        row = rows.get(name, {})
        if row.get("sha256") and row["sha256"] != digest:
            raise ValueError(f"{path} does not match the sha256 in {manifest}: the file changed; re-fetch it")
        with Image.open(path) as im:
            width, height = im.size
        keep = ("source_package", "package_version", "license", "copyright")
        images.append(EvalImage(i, name, path, digest, width, height, {k: row[k] for k in keep if row.get(k)}))
    return images


@functools.lru_cache(maxsize=8)
def load_square(path: str, size: int, sha256: str = "") -> np.ndarray:
    """The photo centre-cropped to a square and resized (Lanczos) to ``size``: read-only uint8
    (size, size, 3). ``sha256`` only keys the cache, so a changed file is never served stale."""
    im = load_photo(path)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    square = im.crop((left, top, left + side, top + side))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    out = np.asarray(square, dtype=np.uint8).copy()
    out.setflags(write=False)
    return out


# ----------------------------------------------------------------------------- masked inputs


@dataclass(frozen=True)
class Setting:
    """One damaged input of one photo at one size: a hole bin with or without border contact, or
    a damage-synthesiser severity; ``k`` numbers the masks of the same cell."""

    table: str  # "bins" | "severity"
    size: int
    k: int = 0
    bin: int | None = None
    border: bool | None = None
    severity: str | None = None

    @property
    def tag(self) -> str:
        if self.table == _BINS_TABLE:
            return f"bin{self.bin}-{'border' if self.border else 'inner'}-{self.k}"
        return f"{self.severity}-{self.k}"

    def seed_words(self, seed: int, image_index: int) -> list[int]:
        """Entropy for the mask's generator: only the seed and where the mask sits in the plan."""
        if self.table == _BINS_TABLE:
            return [seed, image_index, self.size, 0, int(self.bin), int(bool(self.border)), self.k]
        return [seed, image_index, self.size, 1, SEVERITIES.index(self.severity), 0, self.k]


def plan_settings(size: int, masks_per_bin: int, severity_table: bool) -> list[Setting]:
    out = [Setting(_BINS_TABLE, size, k, b, border)
           for b in range(len(HOLE_BINS)) for border in (False, True) for k in range(masks_per_bin)]
    if severity_table:
        out += [Setting(_SEVERITY_TABLE, size, k, severity=s) for s in SEVERITIES for k in range(masks_per_bin)]
    return out


@functools.lru_cache(maxsize=32)
def masked_input(image: EvalImage, setting: Setting, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ground truth, what the methods see, known mask) for one setting, built once and shared by
    every method (and by the time estimate and the contact sheet). Arrays are read-only."""
    gt = load_square(str(image.path), setting.size, image.sha256)
    rng = np.random.default_rng(setting.seed_words(seed, image.index))
    if setting.table == _BINS_TABLE:
        known = random_irregular_mask(setting.size, setting.size, rng,
                                      hole_range=HOLE_BINS[setting.bin], border=setting.border)
        seen = gt.copy()
        seen[~known] = HOLE_FILL
    else:
        seen, known = synthesize_damage(gt, setting.severity, seed=rng)
    for a in (seen, known):
        a.setflags(write=False)
    return gt, seen, known


# ----------------------------------------------------------------------------- metrics


def pixel_metrics(gt: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """L1 (mean absolute error over the whole image, [0, 1] units), PSNR (dB) and SSIM of two
    uint8 (H, W, 3) images."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    diff = np.abs(gt.astype(np.float64) - out.astype(np.float64))
    if not diff.any():
        psnr = PSNR_CAP
    else:
        psnr = min(float(peak_signal_noise_ratio(gt, out, data_range=255)), PSNR_CAP)
    ssim = float(structural_similarity(gt, out, data_range=255, channel_axis=-1))
    return {"l1": float(diff.mean() / 255.0), "psnr": psnr, "ssim": ssim}


def _perceptual(extractor: Any, gt: np.ndarray, outs: Sequence[np.ndarray]) -> list[float]:
    """Perceptual distance of each output to ``gt``, all methods in one batch. The ground truth
    goes in once, as a batch of one that broadcasts against the outputs' features: M + 1 images
    through the network instead of 2M (the test checks equality with a one-to-one call)."""
    import torch

    from .features import perceptual_distance

    device = extractor.mean.device
    with torch.inference_mode():
        a = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float().div(255.0).to(device)  # (M, 3, H, W)
        b = torch.from_numpy(np.array(gt)).permute(2, 0, 1)[None].float().div(255.0).to(device)  # (1, 3, H, W)
        return [float(v) for v in perceptual_distance(extractor, a, b)]


def _touches_border(known: np.ndarray) -> bool:
    return not (known[0].all() and known[-1].all() and known[:, 0].all() and known[:, -1].all())


def _mask_hash(known: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(known).tobytes() + str(known.shape).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- running the methods


@contextlib.contextmanager
def _patchmatch_patch(size: int) -> Iterator[None]:
    """Stopgap while ``restore`` takes no per-method options: point the library's PatchMatch
    filler at ``size`` for the duration of the run, and always put the original back."""
    if size == DEFAULT_PATCH:
        yield
        return
    original = classical.CLASSICAL_METHODS["patchmatch"]
    classical.CLASSICAL_METHODS["patchmatch"] = functools.partial(classical.patchmatch, patch_size=size)
    try:
        yield
    finally:
        classical.CLASSICAL_METHODS["patchmatch"] = original


@dataclass
class Example:
    """A sample kept for the contact sheet."""

    caption: str
    seen: np.ndarray
    known: np.ndarray
    gt: np.ndarray
    results: dict[str, tuple[np.ndarray, dict[str, float]]] = field(default_factory=dict)


class Evaluator:
    """Runs every method on one masked input and scores the composites."""

    def __init__(self, cfg: EvalConfig, model: Any = None, extractor: Any = None) -> None:
        self.cfg, self.model, self.extractor = cfg, model, extractor

    def restore_one(self, method: str, seen: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, float]:
        """(composite uint8 (H, W, 3), wall seconds of the restore call)."""
        t0 = time.perf_counter()
        cand = restore(seen, known, n=1, seed=self.cfg.seed, method=method,
                       model=self.model if method == "pconv" else None, dilations=[0])[0]
        return np.asarray(cand.image), time.perf_counter() - t0

    def evaluate(self, image: EvalImage, setting: Setting, samples_dir: Path | None = None,
                 on_method: Any = None) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """One row per method for ``setting`` of ``image``, and the composites by method."""
        gt, seen, known = masked_input(image, setting, self.cfg.seed)
        if known.all():  # a synthesiser draw without damage: nothing to score
            return [], {}
        base: dict[str, Any] = {
            "table": setting.table, "image": image.file, "image_index": image.index, "size": setting.size,
            "bin": setting.bin, "bin_label": bin_label(setting.bin) if setting.bin is not None else None,
            "border": setting.border, "severity": setting.severity, "k": setting.k,
            "hole_ratio": hole_ratio(known), "touches_border": _touches_border(known),
            "mask_seed": setting.seed_words(self.cfg.seed, image.index), "mask_sha256": _mask_hash(known),
        }
        stem = f"{image.index:03d}_{Path(image.file).stem}_{setting.size}_{setting.tag}"
        if samples_dir is not None:
            known_to_image(known).save(samples_dir / f"{stem}_mask.png")
            base["mask_file"] = f"samples/{stem}_mask.png"
        rows, composites = [], {}
        for method in self.cfg.methods:
            comp, seconds = self.restore_one(method, seen, known)
            # restore() pastes every known pixel back, so the composite keeps the ground truth there
            assert np.array_equal(comp[known], gt[known]), f"{method} changed known pixels"
            composites[method] = comp
            row = {**base, "method": method, **pixel_metrics(gt, comp), "seconds": seconds}
            if samples_dir is not None:
                Image.fromarray(comp).save(samples_dir / f"{stem}_{method}.png")
                row["composite_file"] = f"samples/{stem}_{method}.png"
            rows.append(row)
            if on_method is not None:
                on_method(method)
        if self.extractor is not None:
            dists = _perceptual(self.extractor, gt, [composites[m] for m in self.cfg.methods])
            for row, d in zip(rows, dists):
                row["perceptual"] = d
        return rows, composites

    def time_one_input(self, image: EvalImage, size: int) -> dict[str, float]:
        """Seconds per method (and for the metrics) on one mid-range mask of ``image``; results
        are discarded. Used for the time estimate printed before a run."""
        gt, seen, known = masked_input(image, Setting(_BINS_TABLE, size, 0, 2, False), self.cfg.seed)
        times = {m: self.restore_one(m, seen, known)[1] for m in self.cfg.methods}
        spent = []
        for _ in range(2):  # the first pass pays one-off costs (imports, feature-network warm-up)
            t0 = time.perf_counter()
            for _ in self.cfg.methods:
                pixel_metrics(gt, seen)
            if self.extractor is not None:
                _perceptual(self.extractor, gt, [seen] * len(self.cfg.methods))
            spent.append(time.perf_counter() - t0)
        times["metrics"] = spent[-1]
        return times


# ----------------------------------------------------------------------------- aggregation


def _order(cfg: EvalConfig) -> Any:
    """A sort key for cells: size and method in the run's order, bins and severities in theirs."""
    def key(cell: dict[str, Any]) -> tuple:
        return (cfg.sizes.index(cell["size"]) if "size" in cell else 0,
                -1 if cell.get("bin") is None else cell["bin"],
                -1 if cell.get("border") is None else int(cell["border"]),
                -1 if cell.get("severity") is None else SEVERITIES.index(cell["severity"]),
                cfg.methods.index(cell["method"]) if "method" in cell else 0)
    return key


def aggregate(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Mean, standard deviation (ddof=1) and sample count ``n`` of every metric per cell."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    cells = []
    for key, rs in groups.items():
        cell: dict[str, Any] = dict(zip(keys, key))
        if cell.get("bin") is not None:
            cell["bin_label"] = bin_label(cell["bin"])
        cell["n"] = len(rs)
        for m in (*METRICS, "seconds", "hole_ratio"):
            vals = np.array([r[m] for r in rs if r.get(m) is not None], dtype=np.float64)
            if len(vals):
                cell[m] = float(vals.mean())
                cell[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        cell["seconds_median"] = float(np.median([r["seconds"] for r in rs]))
        cells.append(cell)
    return cells


def compare_pconv(rows: Sequence[dict[str, Any]], methods: Sequence[str], metric: str,
                  cell_keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per cell, pconv against the classical method with the best mean on ``metric``, paired by
    sample: ``delta`` = pconv - best (metric units), ``better`` = samples where pconv is better,
    ``within_noise`` = |mean delta| < 2 standard errors of the paired differences."""
    rivals = [m for m in methods if m != "pconv"]
    if "pconv" not in methods or not rivals:
        return []
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    cells: dict[tuple, dict[str, dict[tuple, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r.get(metric) is None:
            continue
        sample = (r["image_index"], r["size"], r["bin"], r["border"], r["severity"], r["k"])
        cells[tuple(r[k] for k in cell_keys)][r["method"]][sample] = r[metric]
    out = []
    for key, by_method in cells.items():
        means = {m: float(np.mean(list(by_method[m].values()))) for m in rivals if by_method.get(m)}
        if not means or not by_method.get("pconv"):
            continue
        best = max(means, key=lambda m: sign * means[m])
        common = sorted(set(by_method["pconv"]) & set(by_method[best]))
        diffs = np.array([by_method["pconv"][s] - by_method[best][s] for s in common])
        mean = float(diffs.mean())
        se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else float("inf")
        verdict = "ties" if mean == 0 else ("wins" if sign * mean > 0 else "loses")
        out.append({**dict(zip(cell_keys, key)), "metric": metric, "best_classical": best,
                    "pconv": float(np.mean(list(by_method["pconv"].values()))), "best": means[best],
                    "delta": mean, "delta_se": se if math.isfinite(se) else None, "n": len(diffs),
                    "better": int(np.sum(sign * diffs > 0)), "verdict": verdict,
                    "within_noise": bool(not math.isfinite(se) or abs(mean) < 2 * se)})
    return out


# ----------------------------------------------------------------------------- Markdown


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    return {"psnr": f"{v:.2f}", "ssim": f"{v:.4f}", "l1": f"{100 * v:.2f}", "perceptual": f"{v:.4f}",
            "seconds": f"{v:.3f}"}[metric]


_TITLES = {
    "psnr": "PSNR (dB, higher is better)",
    "ssim": "SSIM (higher is better)",
    "l1": "L1 (mean absolute error over the whole image, %, lower is better)",
    "perceptual": "Perceptual distance (MobileNetV2 features, lower is better)",
}


def _metric_table(metric: str, lead: Sequence[str], rows: Sequence[tuple[Sequence[str], dict[str, Any]]],
                  methods: Sequence[str]) -> list[str]:
    """A Markdown table: ``lead`` columns, then one column per method; the best value of each row
    (at the displayed precision) in bold. ``rows``: (lead cells, {method: cell dict})."""
    lines = ["| " + " | ".join([*lead, *methods]) + " |", "|" + "---|" * (len(lead) + len(methods))]
    for cells, by_method in rows:
        shown = {m: _fmt(metric, by_method[m].get(metric)) if m in by_method else "-" for m in methods}
        values = [by_method[m][metric] for m in methods if m in by_method and by_method[m].get(metric) is not None]
        if values:
            best = _fmt(metric, max(values) if HIGHER_IS_BETTER[metric] else min(values))
            shown = {m: f"**{s}**" if s == best and len(values) > 1 else s for m, s in shown.items()}
        lines.append("| " + " | ".join([*cells, *(shown[m] for m in methods)]) + " |")
    return lines


def _index(cells: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[tuple, dict[str, dict[str, Any]]]:
    """{cell key without method: {method: cell}}."""
    out: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for c in cells:
        out[tuple(c[k] for k in keys)][c["method"]] = c
    return out


def _comparison_line(comps: Sequence[dict[str, Any]], size: int, label_key: str) -> str:
    parts = []
    for metric in ("psnr", "ssim"):
        these = [c for c in comps if c["size"] == size and c["metric"] == metric]
        if not these:
            continue
        unit = " dB" if metric == "psnr" else ""
        groups = []
        for verdict in ("wins", "loses", "ties"):
            items = [f"{_label(c, label_key)} ({c['delta']:+.{2 if metric == 'psnr' else 4}f}{unit} vs "
                     f"{c['best_classical']}, better on {c['better']}/{c['n']}"
                     f"{', within noise' if c['within_noise'] else ''})"
                     for c in these if c["verdict"] == verdict]
            if items:
                groups.append(f"{verdict} on " + "; ".join(items))
        parts.append(f"{metric.upper()}: " + "; ".join(groups) if groups else f"{metric.upper()}: no data")
    if not parts:
        return ""
    return "**pconv vs the best classical method per row** (paired per sample): " + ". ".join(parts) + "."


def _label(c: dict[str, Any], key: str) -> str:
    return bin_label(c["bin"]) if key == "bin" else str(c[key])


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    meta, agg, comp = results["metadata"], results["aggregates"], results["comparison"]
    methods, sizes = meta["methods"], meta["sizes"]
    model = meta.get("model")
    lines = [
        "# Inpainting evaluation",
        "",
        f"- date: {meta['date']}; elapsed: {_duration(meta['elapsed_seconds'])}",
        f"- command: `{meta['command']}`",
        f"- photos ({len(meta['images'])}): " + ", ".join(i["file"] for i in meta["images"]),
        f"- sizes: {', '.join(map(str, sizes))}; masks per (bin, border) and per severity: {meta['masks_per_bin']}; "
        f"seed: {meta['seed']}",
        f"- methods: {', '.join(methods)}"
        + (f"; PatchMatch patch {meta['patchmatch_patch']}" if "patchmatch" in methods else ""),
    ]
    if model:
        lines.append(f"- model: version `{model['version']}`, {model['steps']} training steps, "
                     f"{model['parameters']:,} parameters, width {model['config']['width']}, depth "
                     f"{model['config']['depth']}, working size {model['config']['working_size']} (from `{model['source']}`)")
    lines += [
        "",
        "Every method restores the same input and replaces exactly the hole (no dilation); metrics compare "
        "the composite with the ground truth over the whole image. Masks are binned by their hole-to-image "
        "ratio, with holes touching the image border or not. `n` = samples per method in the row.",
    ]
    cells = _index(agg["bins"], ("size", "bin", "border"))
    overall = _index(agg["bins_overall"], ("size",))
    for size in sizes:
        lines += ["", f"## {size} x {size}: hole-to-image ratio bins"]
        for metric in METRICS:
            if metric == "perceptual" and meta.get("perceptual") is None:
                continue
            rows = []
            for b in range(len(HOLE_BINS)):
                for border in (False, True):
                    by = cells.get((size, b, border), {})
                    if by:
                        rows.append(([bin_label(b), "yes" if border else "no", str(max(c["n"] for c in by.values()))], by))
            by = overall.get((size,), {})
            if by:
                rows.append((["all", "both", str(max(c["n"] for c in by.values()))], by))
            lines += ["", f"### {_TITLES[metric]}", "", *_metric_table(metric, ["holes", "border", "n"], rows, methods)]
            if metric == "ssim":
                line = _comparison_line([c for c in comp if c.get("table") == _BINS_TABLE], size, "bin")
                lines += ["", line or "pconv was not evaluated in this run (or no classical method was), "
                                      "so there is no pconv-vs-classical comparison."]
    if agg["severity"]:
        sev = _index(agg["severity"], ("size", "severity"))
        lines += ["", "## Damage synthesiser (the method sees the damaged photo and the exact mask; "
                      "scored against the clean photo)"]
        for size in sizes:
            rows = []
            for s in SEVERITIES:
                by = sev.get((size, s), {})
                if by:
                    hole = np.mean([c["hole_ratio"] for c in by.values()])
                    rows.append(([s, f"{100 * hole:.1f}%", str(max(c["n"] for c in by.values()))], by))
            for metric in METRICS:
                if metric == "perceptual" and meta.get("perceptual") is None:
                    continue
                lines += ["", f"### {size} x {size}: {_TITLES[metric]}", "",
                          *_metric_table(metric, ["severity", "mean hole", "n"], rows, methods)]
            line = _comparison_line([c for c in comp if c.get("table") == _SEVERITY_TABLE], size, "severity")
            if line:
                lines += ["", line]
    secs = _index(agg["seconds"], ("size",))
    lines += ["", "## Seconds per image (wall time of one restore call, mean / median)", "",
              "| method | " + " | ".join(f"{s} px" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for m in methods:
        vals = [secs.get((s,), {}).get(m) for s in sizes]
        lines.append(f"| {m} | " + " | ".join(f"{c['seconds']:.3f} / {c['seconds_median']:.3f}" if c else "-"
                                               for c in vals) + " |")
    env = meta["environment"]
    lines += ["", f"Timed on {env['cpu_count']} CPU core(s) with {env['torch_threads']} torch thread(s); load average "
              f"at the start {env['load_average_at_start']} (other jobs on the machine slow every method alike). "
              "PatchMatch costs seconds per image and grows with the hole; leave it out with `--methods`.", ""]
    path.write_text("\n".join(lines))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


# ----------------------------------------------------------------------------- figures


def write_chart(path: Path, pooled: Sequence[dict[str, Any]], sizes: Sequence[int], methods: Sequence[str]) -> None:
    """PSNR and SSIM against the hole bin, one line per method, one column of panels per size."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(sizes), 7.5), layout="constrained")
    axes = fig.subplots(2, len(sizes), squeeze=False)
    by = _index(pooled, ("size", "bin"))
    for j, size in enumerate(sizes):
        for i, metric in enumerate(("psnr", "ssim")):
            ax = axes[i][j]
            for m in methods:
                pts = [(b, by[(size, b)][m][metric]) for b in range(len(HOLE_BINS)) if m in by.get((size, b), {})]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=m, linestyle="--" if m == "pconv" else "-")
            ax.set_xticks(range(len(HOLE_BINS)), [bin_label(b) for b in range(len(HOLE_BINS))], rotation=30)
            ax.set_title(f"{'PSNR (dB)' if metric == 'psnr' else 'SSIM'} at {size} x {size}")
            ax.set_xlabel("hole-to-image ratio")
            ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.savefig(path, dpi=100)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _cell(a: np.ndarray, cell: int) -> Image.Image:
    im = Image.fromarray(a)
    if im.width == cell:
        return im
    return im.resize((cell, cell), Image.Resampling.LANCZOS if im.width > cell else Image.Resampling.NEAREST)


def render_contact_sheet(examples: Sequence[Example], methods: Sequence[str], cell: int) -> Image.Image:
    """Rows = examples; columns = the input with the hole in red, the mask, each method's
    composite (captioned with its PSNR / SSIM), the ground truth."""
    columns = ["input (hole in red)", "mask (white = hole)", *methods, "ground truth"]
    gap, head, caption, foot = 6, 24, 20, 18
    font, small = _font(14), _font(12)
    width = gap + len(columns) * (cell + gap)
    height = head + len(examples) * (caption + cell + foot + gap)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(columns):
        draw.text((gap + j * (cell + gap), 5), name, fill="black", font=font)
    for i, ex in enumerate(examples):
        y = head + i * (caption + cell + foot + gap)
        draw.text((gap, y + 3), ex.caption, fill=(60, 60, 60), font=small)
        y += caption
        shown = ex.seen.astype(np.float32)
        shown[~ex.known] = 0.5 * shown[~ex.known] + 0.5 * np.array([255, 0, 0], np.float32)
        tiles = [shown.round().astype(np.uint8), np.asarray(known_to_image(ex.known).convert("RGB")),
                 *(ex.results[m][0] for m in methods), ex.gt]
        for j, tile in enumerate(tiles):
            x = gap + j * (cell + gap)
            sheet.paste(_cell(tile, cell), (x, y))
            if 2 <= j < 2 + len(methods):
                scores = ex.results[methods[j - 2]][1]
                draw.text((x, y + cell + 2), f"{scores['psnr']:.2f} dB / {scores['ssim']:.3f}", fill="black", font=small)
    return sheet


def write_contact_sheet(path: Path, examples: Sequence[Example], methods: Sequence[str], size: int) -> None:
    """The largest cell (at most 192 px) whose PNG stays under ``CONTACT_SHEET_MAX_BYTES``."""
    cell = 192 if size >= 64 else size
    while True:
        buf = io.BytesIO()
        render_contact_sheet(examples, methods, cell).save(buf, "PNG", optimize=True)
        if buf.tell() <= CONTACT_SHEET_MAX_BYTES or cell <= 64:
            path.write_bytes(buf.getvalue())
            return
        cell -= 16


def _contact_plan(images: Sequence[EvalImage], size: int, severity: bool) -> dict[tuple[int, Setting], str]:
    """Which (image index, setting) go on the contact sheet: small, medium and the largest holes
    (inner, border, inner) and every severity, each from a different photo where possible."""
    picks = [Setting(_BINS_TABLE, size, 0, 0, False), Setting(_BINS_TABLE, size, 0, 2, True),
             Setting(_BINS_TABLE, size, 0, 5, False)]
    if severity:
        picks += [Setting(_SEVERITY_TABLE, size, 0, severity=s) for s in SEVERITIES]
    out = {}
    for r, s in enumerate(picks):
        img = images[(r * len(images)) // len(picks)]
        what = (f"holes {bin_label(s.bin)}, {'touching the border' if s.border else 'inside'}"
                if s.table == _BINS_TABLE else f"{s.severity} synthetic damage")
        out[(img.index, s)] = f"{img.file}, {size} px: {what}"
    return out


# ----------------------------------------------------------------------------- the run


@dataclass
class Setup:
    """What a run loads once: the photos, the model (for pconv) and the feature extractor."""

    images: list[EvalImage]
    model: Any = None
    model_info: dict[str, Any] | None = None
    extractor: Any = None

    @classmethod
    def load(cls, cfg: EvalConfig) -> "Setup":
        """Raises ``ValueError`` (bad folder), ``WeightsError`` (missing or untrained weights) or
        ``FileNotFoundError`` (no MobileNetV2 weights) with a one-line message."""
        images = find_images(cfg.images, cfg.limit)
        model = info = extractor = None
        if "pconv" in cfg.methods:
            source = cfg.weights or default_source()
            model = load_model(source, device=cfg.device, allow_untrained=cfg.allow_untrained)
            meta = getattr(model, "metadata", {})
            info = {"source": str(source), "version": model.config.version, "config": model.config.to_dict(),
                    "steps": meta.get("steps"), "metadata": meta, "parameters": model.num_parameters()}
        if cfg.perceptual:
            from .features import FeatureExtractor

            device = next(model.parameters()).device if model is not None else (cfg.device or "cpu")
            extractor = FeatureExtractor().to(device)
        return cls(images, model, info, extractor)


def run(cfg: EvalConfig, setup: Setup | None = None, *, command: str | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Evaluate, write the four outputs into ``cfg.out`` and return the results dict."""
    from tqdm import tqdm

    setup = setup or Setup.load(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    samples_dir = out / "samples" if cfg.save_samples else None
    if samples_dir is not None:
        samples_dir.mkdir(exist_ok=True)
    images = setup.images
    ev = Evaluator(cfg, setup.model, setup.extractor)
    plan = [(img, s) for img in images for size in cfg.sizes
            for s in plan_settings(size, cfg.masks_per_bin, cfg.severity_table)]
    load_at_start = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()

    with _patchmatch_patch(cfg.patchmatch_patch):
        timing = {size: ev.time_one_input(images[0], size) for size in cfg.sizes}
        per_size = {size: sum(1 for _, s in plan if s.size == size) for size in cfg.sizes}
        estimate = sum(per_size[size] * sum(timing[size].values()) for size in cfg.sizes)
        print(f"evaluating {len(images)} photos x {len(cfg.sizes)} size(s) x "
              f"{len(plan) // max(len(images) * len(cfg.sizes), 1)} masked inputs = {len(plan)} inputs, "
              f"{len(cfg.methods)} method(s) each; expected about {_duration(estimate)}", flush=True)
        for size in cfg.sizes:
            print(f"  per input at {size} px: " + ", ".join(f"{k} {v:.2f} s" for k, v in timing[size].items())
                  + f" (timed on one {bin_label(2)} mask: bigger holes take longer)", flush=True)

        examples_wanted = _contact_plan(images, cfg.sizes[0], cfg.severity_table)
        examples: list[Example] = []
        rows: list[dict[str, Any]] = []
        skipped = []
        partial = out / "samples.partial.jsonl"  # survives a crash; removed when the run completes
        with partial.open("w") as log_file, tqdm(total=len(plan) * len(cfg.methods), unit="restore",
                                                  desc="evaluate", disable=not progress, dynamic_ncols=True) as bar:
            for img, s in plan:
                bar.set_postfix_str(f"{img.file} {s.size}px {s.tag}", refresh=False)
                new, composites = ev.evaluate(img, s, samples_dir, on_method=lambda _m: bar.update(1))
                if not new:
                    skipped.append({"image": img.file, "size": s.size, "setting": s.tag, "reason": "no damage"})
                    bar.update(len(cfg.methods))
                    continue
                rows += new
                for r in new:
                    log_file.write(json.dumps(r) + "\n")
                log_file.flush()
                caption = examples_wanted.get((img.index, s))
                if caption is not None:
                    gt, seen, known = masked_input(img, s, cfg.seed)
                    caption += f", hole {100 * new[0]['hole_ratio']:.1f}%"
                    examples.append(Example(caption, seen, known, gt,
                                            {r["method"]: (composites[r["method"]], r) for r in new}))

    bins_rows = [r for r in rows if r["table"] == _BINS_TABLE]
    sev_rows = [r for r in rows if r["table"] == _SEVERITY_TABLE]
    key = _order(cfg)
    aggregates = {
        "bins": sorted(aggregate(bins_rows, ("size", "bin", "border", "method")), key=key),
        "bins_pooled": sorted(aggregate(bins_rows, ("size", "bin", "method")), key=key),
        "bins_overall": sorted(aggregate(bins_rows, ("size", "method")), key=key),
        "severity": sorted(aggregate(sev_rows, ("size", "severity", "method")), key=key),
        "seconds": sorted(aggregate(rows, ("size", "method")), key=key),
    }
    comparison = []
    for metric in ("psnr", "ssim"):
        comparison += [{"table": _BINS_TABLE, **c} for c in compare_pconv(bins_rows, cfg.methods, metric, ("size", "bin"))]
        comparison += [{"table": _SEVERITY_TABLE, **c}
                       for c in compare_pconv(sev_rows, cfg.methods, metric, ("size", "severity"))]
    comparison.sort(key=lambda c: (c["table"], c["metric"], key(c)))

    results = {
        "metadata": _metadata(cfg, setup, command, load_at_start, estimate, time.perf_counter() - started, skipped),
        "aggregates": aggregates,
        "comparison": comparison,
        "samples": rows,
    }
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out / "results.json")
    write_markdown(out / "results.md", results)
    write_chart(out / "chart.png", aggregates["bins_pooled"], cfg.sizes, cfg.methods)
    if examples:
        write_contact_sheet(out / "contact_sheet.png", examples, cfg.methods, cfg.sizes[0])
    partial.unlink(missing_ok=True)
    return results


def _metadata(cfg: EvalConfig, setup: Setup, command: str | None, load: list[float] | None,
              estimate: float, elapsed: float, skipped: list[dict[str, Any]]) -> dict[str, Any]:
    import cv2
    import skimage
    import torch

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command or _command_line(),
        "arguments": dataclasses.asdict(cfg),
        "images": [{"file": i.file, "sha256": i.sha256, "width": i.width, "height": i.height, **i.source,
                    "upscaled_at": [s for s in cfg.sizes if min(i.width, i.height) < s]} for i in setup.images],
        "methods": list(cfg.methods),
        "sizes": list(cfg.sizes),
        "seed": cfg.seed,
        "masks_per_bin": cfg.masks_per_bin,
        "mask_seed_words": "bins: [seed, image_index, size, 0, bin, border, k]; "
                           "severity: [seed, image_index, size, 1, severity_index, 0, k] (numpy SeedSequence)",
        "protocol": {
            "hole_bins": [list(b) for b in HOLE_BINS],
            "severities": list(SEVERITIES),
            "preprocess": "centre crop to a square, Lanczos resize to each size",
            "hole_fill": HOLE_FILL,
            "restore": {"n": 1, "dilations": [0], "seed": cfg.seed},
            "metrics": "composite vs ground truth over the whole image; l1 in [0,1] units; psnr, ssim from "
                       f"skimage.metrics (data_range=255, channel_axis=-1), psnr capped at {PSNR_CAP:g} dB; "
                       "perceptual = features.perceptual_distance (MobileNetV2); seconds = wall time of restore()",
        },
        "model": setup.model_info,
        "perceptual": {"backbone": setup.extractor.backbone} if setup.extractor is not None else None,
        "patchmatch_patch": cfg.patchmatch_patch,
        "estimated_seconds": round(estimate, 1),
        "elapsed_seconds": round(elapsed, 1),
        "skipped": skipped,
        "environment": {
            "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "numpy": np.__version__, "scikit-image": skimage.__version__,
            "opencv": cv2.__version__, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_at_start": load, "git_commit": _git_commit(),
        },
    }


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "inpaint":
        return shlex.join(["python", "-m", "inpaint", *argv[1:]])
    return shlex.join(argv)


# ----------------------------------------------------------------------------- command line


def _csv_list(kind: type, allowed: Sequence[Any] | None = None) -> Any:
    def parse(text: str) -> tuple:
        try:
            items = tuple(dict.fromkeys(kind(t.strip()) for t in text.split(",") if t.strip()))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind.__name__}, got {text!r}") from None
        bad = [i for i in items if allowed is not None and i not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(map(str, allowed or ()))}; got {text!r}")
        return items
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = EvalConfig(images="", out="")
    p.add_argument("--images", required=True, help="folder of evaluation photos (its manifest.csv's role=eval rows)")
    p.add_argument("--out", required=True, help="output folder: results.json, results.md, chart.png, contact_sheet.png")
    p.add_argument("--methods", type=_csv_list(str, METHODS), default=d.methods,
                   help=f"comma-separated, default {','.join(METHODS)} (patchmatch costs seconds per image)")
    p.add_argument("--weights", help="model folder or Hub repo id for pconv (default: INPAINT_WEIGHTS or weights/)")
    p.add_argument("--sizes", type=_csv_list(int), default=d.sizes, help="square sizes, default 256,512")
    p.add_argument("--masks-per-bin", type=int, default=d.masks_per_bin,
                   help="masks per (hole bin, border) and per severity, per photo and size")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--limit", type=int, help="only the first N photos")
    p.add_argument("--severity-table", action=argparse.BooleanOptionalAction, default=d.severity_table,
                   help="also evaluate synthetic damage at each severity")
    p.add_argument("--perceptual", action=argparse.BooleanOptionalAction, default=d.perceptual,
                   help="compute the MobileNetV2 perceptual distance")
    p.add_argument("--patchmatch-patch", type=int, default=d.patchmatch_patch, help="PatchMatch patch size (odd)")
    p.add_argument("--allow-untrained", action="store_true", help="accept untrained weights (tests only)")
    p.add_argument("--save-samples", action="store_true", help="also write every mask and composite as PNG")
    p.add_argument("--device", help="torch device for pconv and the features (default: CUDA if present)")
    p.add_argument("--threads", type=int, help="torch and OpenCV threads (default: theirs)")


def main(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(EvalConfig)}
    try:
        cfg = EvalConfig(**{k: v for k, v in vars(args).items() if k in fields})
        if cfg.threads:
            import cv2
            import torch

            torch.set_num_threads(cfg.threads)
            cv2.setNumThreads(cfg.threads)
        setup = Setup.load(cfg)
    except (WeightsError, ValueError, FileNotFoundError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    results = run(cfg, setup)
    out = Path(cfg.out)
    print(f"wrote {out / 'results.json'} ({len(results['samples'])} rows), {out / 'results.md'}, "
          f"{out / 'chart.png'}, {out / 'contact_sheet.png'} in {_duration(results['metadata']['elapsed_seconds'])}")
    return 0
