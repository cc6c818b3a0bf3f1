"""The paper-style evaluation: ``python -m inpaint evaluate --images DIR --out DIR [...]``.

Protocol (Liu et al. 2018, section 5, with fixed seeds so that every run and every method sees the
same masks):

- Photos: every scored photo of an image folder. With a ``manifest.csv`` only rows whose role is
  ``eval`` (validation photos) or ``test`` (held-out test photos) are used (``demo`` photos have no
  ground truth worth scoring and ``train`` photos must never be scored); a folder whose manifest
  lists neither is refused. The results' metadata names the roles scored (``roles``,
  ``photo_set``), so the tables say which set they come from.
- Sizes: each photo is centre-cropped to a square and resized (Lanczos) to every ``--sizes``.
- Masks: for each of the six hole-to-image bins (0.01, 0.1] ... (0.5, 0.6], ``--masks-per-bin``
  irregular masks with holes touching the border and as many without; each mask's generator is
  seeded from (seed, image index, size, bin, border, k) only. A second table uses the damage
  synthesiser (minor / moderate / severe): the method sees the damaged photo and the exact mask,
  and is scored against the clean photo (``cases``).
- Every method restores the same input (``restore(..., n=1, dilations=[0])``: exactly the hole is
  replaced; hole pixels of the input are blanked to white so that no method can see the truth).
- Metrics on the composite against the ground truth: L1 (mean absolute error over the whole image
  in [0, 1] units, the paper's definition), PSNR and SSIM (scikit-image, data_range=255,
  channel_axis=-1), and a perceptual distance (MobileNetV2 features,
  ``inpaint.train.perceptual.perceptual_distance``; lower is better). Seconds: wall time of the
  ``restore`` call.
- Detail ratios (``metrics.detail_metrics``), because PSNR and SSIM reward a smooth fill: the
  gradient energy of the composite's luminance over the ground truth's, in the hole eroded by one
  pixel, ``detail_fine`` on the images as they are and ``detail_blurred`` after a Gaussian blur of
  sigma 2 px. 1 is as much detail as the original, less is smoother, more is noisier. A row holds
  its own ratios and the energies; a cell's ratio is the ratio of the summed energies.
- Faces (``metrics.detect_faces``, parameters in ``metrics.FACE_DETECTOR``): frontal faces are
  detected once per photo and size in the ground truth square; ``face_psnr`` is the PSNR of the
  composite over the hole pixels inside the union of the face boxes (``face_hole_pixels`` of
  them; None when no face overlaps the hole), and a cell's face PSNR is that of the squared
  errors pooled over all its rows' face hole pixels (``metrics.pooled_face_psnr``).
- Photo categories: each row lists its photo's ``categories`` from the manifest (people,
  old_print, scene; none without a manifest or a ``categories`` column). The hole-bin rows are
  also aggregated per category group (a photo of people that is an old print counts in both),
  with pconv paired against each classical method per group.

Outputs in ``--out``: ``results.json`` (metadata, every sample row, aggregates per cell with their
sample counts, the paired pconv-vs-classical comparison), ``results.md`` (tables), ``chart.png``
(PSNR and SSIM per hole bin) and ``contact_sheet.png`` (examples a person can look at), written by
``report``. PatchMatch is by far the slowest method and dominates a full run; leave it out with
``--methods pconv,telea,ns,biharmonic,smooth``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import inspect
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..datasets.manifest import CATEGORIES, parse_categories
from ..io.masks import hole_ratio, known_to_image
from ..io.weights import WeightsError, default_sharp_source, default_source
from ..nn.unet import load_model, load_sharp_model
from ..restoration import METHODS, CandidateSpec, classical, restore
from ..restoration.grain import FINISHES
from ..synth.damage import SEVERITIES
from ..synth.holes import HOLE_BINS, touches_border
from .cases import (
    _BINS_TABLE,
    _BY_CATEGORY,
    _SEVERITY_TABLE,
    DAMAGE_GENERATORS,
    HOLE_FILL,
    EvalImage,
    Example,
    Setting,
    bin_label,
    find_images,
    masked_input,
    photo_set,
    plan_settings,
)
from .metrics import (
    DETAIL_METRICS,
    DETAIL_SIGMA,
    FACE_DETECTOR,
    HIGHER_IS_BETTER,
    LUMA_WEIGHTS,
    METRICS,
    PSNR_CAP,
    Box,
    _perceptual,
    detail_metrics,
    detect_faces,
    face_metrics,
    pixel_metrics,
    pooled_detail_ratio,
    pooled_face_psnr,
)
from .report import _contact_plan, _duration, write_chart, write_contact_sheet, write_markdown

DEFAULT_SIZES = (256, 512)


DEFAULT_PATCH = inspect.signature(classical.patchmatch).parameters["patch_size"].default


@dataclass
class EvalConfig:
    """The options of one evaluation run (the command line's flags)."""

    images: str
    out: str
    methods: tuple[str, ...] = METHODS
    weights: str | None = None  # a model folder or Hub repo id; None = INPAINT_WEIGHTS or weights/
    sharp_weights: str | None = None  # the sharp finish's network; None = INPAINT_SHARP_WEIGHTS or weights/sharp
    sizes: tuple[int, ...] = DEFAULT_SIZES
    masks_per_bin: int = 1  # masks per (bin, border) and per severity, per photo and size
    seed: int = 0
    limit: int | None = None  # only the first N photos (sorted by file name)
    severity_table: bool = True
    damage: str = "synthetic"  # the severity table's generator: synthetic | physical (cases.DAMAGE_GENERATORS)
    patchmatch_patch: int = DEFAULT_PATCH
    perceptual: bool = True
    allow_untrained: bool = False
    save_samples: bool = False  # write every mask and composite as PNG under out/samples/
    device: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.methods, self.sizes = tuple(self.methods), tuple(int(s) for s in self.sizes)
        unknown = [m for m in self.methods if not _known_method(m)]
        if unknown or not self.methods:
            raise ValueError(
                f"unknown method(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(METHODS)}, "
                f"each optionally with a finish (+grain; pconv+sharp)"
            )
        if not self.sizes or min(self.sizes) < 32:
            raise ValueError(f"sizes must be at least 32 px, got {self.sizes}")
        if self.masks_per_bin < 1 or self.seed < 0 or (self.limit is not None and self.limit < 1):
            raise ValueError("--masks-per-bin and --limit must be >= 1 and --seed >= 0")
        if self.damage not in DAMAGE_GENERATORS:
            raise ValueError(f"--damage must be one of {', '.join(DAMAGE_GENERATORS)}, got {self.damage!r}")
        if self.patchmatch_patch < 3 or self.patchmatch_patch % 2 == 0:
            raise ValueError(f"--patchmatch-patch must be an odd number >= 3, got {self.patchmatch_patch}")


def split_method(name: str) -> tuple[str, str]:
    """(method, finish) of an evaluated method's name: ``pconv``, ``pconv+grain``, ``pconv+sharp``,
    ``smooth+grain``... (no suffix: the plain fill)."""
    method, _, finish = name.partition("+")
    return method, finish or "plain"


# Every method evaluate runs: each restorer's plain fill, each with the grain finish, and pconv's sharp.
METHOD_NAMES: tuple[str, ...] = (
    *METHODS,
    *(f"{m}+{f}" for f in FINISHES if f != "plain" for m in METHODS if f != "sharp" or m == "pconv"),
)


def _known_method(name: str) -> bool:
    return name in METHOD_NAMES


def _mask_hash(known: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(known).tobytes() + str(known.shape).encode()).hexdigest()[:16]


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


def photo_categories(image: EvalImage) -> list[str]:
    """The photo's categories from its manifest row, in ``CATEGORIES`` order (none without one)."""
    found = parse_categories(image.source.get("categories", ""))
    return [c for c in CATEGORIES if c in found]


class Evaluator:
    """Runs every method on one masked input and scores the composites. ``face_detector`` maps a
    ground truth square to face boxes (``metrics.detect_faces``; None skips the face metrics); it
    runs once per photo and size, and ``faces`` keeps its boxes by (file, size)."""

    def __init__(
        self,
        cfg: EvalConfig,
        model: Any = None,
        extractor: Any = None,
        face_detector: Any = detect_faces,
        sharp: Any = None,
    ):
        self.cfg, self.model, self.extractor, self.sharp = cfg, model, extractor, sharp
        self.face_detector = face_detector
        self.faces: dict[tuple[str, int], list[Box]] = {}

    def face_boxes(self, image: EvalImage, gt: np.ndarray) -> list[Box] | None:
        """The face boxes of ``image``'s ground truth at this size, detected on first use."""
        if self.face_detector is None:
            return None
        key = (image.file, int(gt.shape[0]))
        if key not in self.faces:
            self.faces[key] = [tuple(int(v) for v in b) for b in self.face_detector(gt)]
        return self.faces[key]

    def restore_one(self, method: str, seen: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, float]:
        """(composite uint8 (H, W, 3), wall seconds of the restore call)."""
        t0 = time.perf_counter()
        base, finish = split_method(method)
        cand = restore(
            seen,
            known,
            method=base,
            model=self.model if base == "pconv" else None,
            sharp_model=self.sharp if finish == "sharp" else None,
            specs=[CandidateSpec(base, 0, 0.0, self.cfg.seed, finish=finish)],
        )[0]
        return np.asarray(cand.image), time.perf_counter() - t0

    def evaluate(
        self, image: EvalImage, setting: Setting, samples_dir: Path | None = None, on_method: Any = None
    ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """One row per method for ``setting`` of ``image``, and the composites by method."""
        gt, seen, known = masked_input(image, setting, self.cfg.seed)
        if known.all():  # a synthesiser draw without damage: nothing to score
            return [], {}
        boxes = self.face_boxes(image, gt)
        base: dict[str, Any] = {
            "table": setting.table,
            "image": image.file,
            "image_index": image.index,
            "categories": photo_categories(image),
            "size": setting.size,
            "bin": setting.bin,
            "bin_label": bin_label(setting.bin) if setting.bin is not None else None,
            "border": setting.border,
            "severity": setting.severity,
            "damage": setting.damage if setting.severity is not None else None,
            "k": setting.k,
            "hole_ratio": hole_ratio(known),
            "touches_border": touches_border(~known),
            "mask_seed": setting.seed_words(self.cfg.seed, image.index),
            "mask_sha256": _mask_hash(known),
            "faces": None if boxes is None else len(boxes),
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
            row = {
                **base,
                "method": method,
                **pixel_metrics(gt, comp),
                **detail_metrics(gt, comp, known),
                **(face_metrics(gt, comp, known, boxes) if boxes is not None else {}),
                "seconds": seconds,
            }
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
                detail_metrics(gt, seen, known)
                boxes = self.face_boxes(image, gt)
                if boxes is not None:
                    face_metrics(gt, seen, known, boxes)
            if self.extractor is not None:
                _perceptual(self.extractor, gt, [seen] * len(self.cfg.methods))
            spent.append(time.perf_counter() - t0)
        times["metrics"] = spent[-1]
        return times


def _order(cfg: EvalConfig) -> Any:
    """A sort key for cells: size and method in the run's order, bins and severities in theirs."""

    def key(cell: dict[str, Any]) -> tuple:
        return (
            cfg.sizes.index(cell["size"]) if "size" in cell else 0,
            -1 if cell.get("bin") is None else cell["bin"],
            -1 if cell.get("border") is None else int(cell["border"]),
            -1 if cell.get("severity") is None else SEVERITIES.index(cell["severity"]),
            cfg.methods.index(cell["method"]) if "method" in cell else 0,
        )

    return key


def aggregate(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Mean, standard deviation (ddof=1) and sample count ``n`` of every metric per cell; the
    detail ratios are the cell's ratio of summed energies (``metrics.pooled_detail_ratio``), with
    the standard deviation of the rows' own ratios. ``face_psnr`` is pooled over the face hole
    pixels (``metrics.pooled_face_psnr``), with ``face_samples`` (rows with a face in the hole)
    and ``face_hole_pixels`` (their sum)."""
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
        for m in DETAIL_METRICS:
            own = [r[m] for r in rs if r.get(m) is not None]
            cell[m] = pooled_detail_ratio(rs, m)
            cell[f"{m}_std"] = float(np.std(own, ddof=1)) if len(own) > 1 else None
        with_face = [r for r in rs if r.get("face_hole_pixels")]
        cell["face_psnr"] = pooled_face_psnr(rs)
        cell["face_samples"] = len(with_face)
        cell["face_hole_pixels"] = sum(r["face_hole_pixels"] for r in with_face)
        cell["seconds_median"] = float(np.median([r["seconds"] for r in rs]))
        cells.append(cell)
    return cells


def compare_pconv(
    rows: Sequence[dict[str, Any]],
    methods: Sequence[str],
    metric: str,
    cell_keys: Sequence[str],
    against: str | None = None,
) -> list[dict[str, Any]]:
    """Per cell, pconv against the classical method with the best mean on ``metric`` (or against
    the method ``against``), paired by sample: ``delta`` = pconv - that method (metric units,
    reported under ``best_classical``), ``better`` = samples where pconv is better,
    ``within_noise`` = |mean delta| < 2 standard errors of the paired differences."""
    rivals = [m for m in methods if m in classical.CLASSICAL_METHODS and (against is None or m == against)]
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
        out.append(
            {
                **dict(zip(cell_keys, key)),
                "metric": metric,
                "best_classical": best,
                "pconv": float(np.mean(list(by_method["pconv"].values()))),
                "best": means[best],
                "delta": mean,
                "delta_se": se if math.isfinite(se) else None,
                "n": len(diffs),
                "better": int(np.sum(sign * diffs > 0)),
                "verdict": verdict,
                "within_noise": bool(not math.isfinite(se) or abs(mean) < 2 * se),
            }
        )
    return out


@dataclass
class Setup:
    """What a run loads once: the photos, the model (for pconv) and the feature extractor."""

    images: list[EvalImage]
    model: Any = None
    model_info: dict[str, Any] | None = None
    extractor: Any = None
    sharp: Any = None  # the sharp finish's network, when a method asks for it

    @classmethod
    def load(cls, cfg: EvalConfig) -> Setup:
        """Raises ``ValueError`` (bad folder), ``WeightsError`` (missing or untrained weights) or
        ``FileNotFoundError`` (no MobileNetV2 weights) with a one-line message."""
        images = find_images(cfg.images, cfg.limit)
        model = info = extractor = sharp = None
        if any(split_method(m)[0] == "pconv" for m in cfg.methods):
            source = cfg.weights or default_source()
            model = load_model(source, device=cfg.device, allow_untrained=cfg.allow_untrained)
            meta = getattr(model, "metadata", {})
            info = {
                "source": str(source),
                "version": model.config.version,
                "config": model.config.to_dict(),
                "steps": meta.get("steps"),
                "metadata": meta,
                "parameters": model.num_parameters(),
            }
        if any(split_method(m)[1] == "sharp" for m in cfg.methods):
            sharp = load_sharp_model(cfg.sharp_weights, device=cfg.device)
            info = {
                **(info or {}),
                "sharp": {"source": cfg.sharp_weights or default_sharp_source(), "version": sharp.config.version},
            }
        if cfg.perceptual:
            from ..train.perceptual import FeatureExtractor

            device = next(model.parameters()).device if model is not None else (cfg.device or "cpu")
            extractor = FeatureExtractor().to(device)
        return cls(images, model, info, extractor, sharp)


_PARTIAL = "samples.partial.jsonl"  # every row as it is scored: survives a crash, removed when the run completes


def run(
    cfg: EvalConfig,
    setup: Setup | None = None,
    *,
    command: str | None = None,
    progress: bool = True,
    face_detector: Any = detect_faces,
) -> dict[str, Any]:
    """Evaluate, write the four outputs into ``cfg.out`` and return the results dict
    (``face_detector``: see :class:`Evaluator`)."""
    setup = setup or Setup.load(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    samples_dir = out / "samples" if cfg.save_samples else None
    if samples_dir is not None:
        samples_dir.mkdir(exist_ok=True)
    ev = Evaluator(cfg, setup.model, setup.extractor, face_detector, setup.sharp)
    plan = [
        (img, s)
        for img in setup.images
        for size in cfg.sizes
        for s in plan_settings(size, cfg.masks_per_bin, cfg.severity_table, cfg.damage)
    ]
    load_at_start = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    with _patchmatch_patch(cfg.patchmatch_patch):
        estimate = _announce(cfg, ev, setup.images, plan)
        rows, examples, skipped = _evaluate_plan(cfg, ev, setup.images, plan, out, samples_dir, progress)
    aggregates, comparison = summarise(cfg, rows)
    results = {
        "metadata": _metadata(
            cfg, setup, command, load_at_start, estimate, time.perf_counter() - started, skipped, ev.faces
        ),
        "aggregates": aggregates,
        "comparison": comparison,
        "samples": rows,
    }
    if face_detector is not detect_faces:  # a caller's own detector (tests), or none
        name = getattr(face_detector, "__qualname__", type(face_detector).__name__)
        results["metadata"]["protocol"]["face_detector"] = None if face_detector is None else {"custom": name}
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out / "results.json")
    write_markdown(out / "results.md", results)
    write_chart(out / "chart.png", aggregates["bins_pooled"], cfg.sizes, cfg.methods)
    if examples:
        write_contact_sheet(out / "contact_sheet.png", examples, cfg.methods, cfg.sizes[0])
    (out / _PARTIAL).unlink(missing_ok=True)
    return results


def _announce(
    cfg: EvalConfig, ev: Evaluator, images: Sequence[EvalImage], plan: Sequence[tuple[EvalImage, Setting]]
) -> float:
    """Time every method on one input per size, print what the run will do and how long it should
    take; returns that estimate in seconds."""
    timing = {size: ev.time_one_input(images[0], size) for size in cfg.sizes}
    per_size = {size: sum(1 for _, s in plan if s.size == size) for size in cfg.sizes}
    estimate = sum(per_size[size] * sum(timing[size].values()) for size in cfg.sizes)
    print(
        f"evaluating {len(images)} photos x {len(cfg.sizes)} size(s) x "
        f"{len(plan) // max(len(images) * len(cfg.sizes), 1)} masked inputs = {len(plan)} inputs, "
        f"{len(cfg.methods)} method(s) each; expected about {_duration(estimate)}",
        flush=True,
    )
    for size in cfg.sizes:
        print(
            f"  per input at {size} px: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in timing[size].items())
            + f" (timed on one {bin_label(2)} mask: bigger holes take longer)",
            flush=True,
        )
    return estimate


def _evaluate_plan(
    cfg: EvalConfig,
    ev: Evaluator,
    images: Sequence[EvalImage],
    plan: Sequence[tuple[EvalImage, Setting]],
    out: Path,
    samples_dir: Path | None,
    progress: bool,
) -> tuple[list[dict[str, Any]], list[Example], list[dict[str, Any]]]:
    """Every method on every planned input: (the sample rows, the contact sheet's examples, the
    inputs skipped for having no damage). Each row is also appended to ``out/_PARTIAL``."""
    from tqdm import tqdm

    examples_wanted = _contact_plan(images, cfg.sizes[0], cfg.severity_table, cfg.damage)
    examples: list[Example] = []
    rows: list[dict[str, Any]] = []
    skipped = []
    with (
        (out / _PARTIAL).open("w") as log_file,
        tqdm(
            total=len(plan) * len(cfg.methods),
            unit="restore",
            desc="evaluate",
            disable=not progress,
            dynamic_ncols=True,
        ) as bar,
    ):
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
                examples.append(
                    Example(caption, seen, known, gt, {r["method"]: (composites[r["method"]], r) for r in new})
                )
    return rows, examples, skipped


def by_category(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row once per category of its photo, with that group's name under ``category`` (rows
    of photos without categories drop out)."""
    return [{**r, "category": c} for r in rows for c in r.get("categories") or ()]


def summarise(
    cfg: EvalConfig, rows: Sequence[dict[str, Any]]
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The aggregates per cell (bins with and without border, pooled, overall, and pooled and
    overall per photo category; severities; seconds) and the paired pconv-vs-classical comparison
    on PSNR and SSIM (against the best classical method per bin and severity, and against each
    classical method per size and category), in the run's order."""
    bins_rows = [r for r in rows if r["table"] == _BINS_TABLE]
    cat_rows = by_category(bins_rows)
    sev_rows = [r for r in rows if r["table"] == _SEVERITY_TABLE]
    key = _order(cfg)
    aggregates = {
        "bins": sorted(aggregate(bins_rows, ("size", "bin", "border", "method")), key=key),
        "bins_pooled": sorted(aggregate(bins_rows, ("size", "bin", "method")), key=key),
        "bins_overall": sorted(aggregate(bins_rows, ("size", "method")), key=key),
        "bins_pooled_by_category": sorted(
            aggregate(cat_rows, ("size", "bin", "category", "method")),
            key=lambda c: (CATEGORIES.index(c["category"]), key(c)),
        ),
        "bins_overall_by_category": sorted(
            aggregate(cat_rows, ("size", "category", "method")), key=lambda c: (CATEGORIES.index(c["category"]), key(c))
        ),
        "severity": sorted(aggregate(sev_rows, ("size", "severity", "method")), key=key),
        "seconds": sorted(aggregate(rows, ("size", "method")), key=key),
    }
    comparison = []
    for metric in ("psnr", "ssim"):
        comparison += [
            {"table": _BINS_TABLE, **c} for c in compare_pconv(bins_rows, cfg.methods, metric, ("size", "bin"))
        ]
        comparison += [
            {"table": _SEVERITY_TABLE, **c} for c in compare_pconv(sev_rows, cfg.methods, metric, ("size", "severity"))
        ]
        for rival in cfg.methods:
            if rival != "pconv":
                comparison += [
                    {"table": _BY_CATEGORY, **c}
                    for c in compare_pconv(cat_rows, cfg.methods, metric, ("size", "category"), against=rival)
                ]
    comparison.sort(
        key=lambda c: (
            c["table"],
            c["metric"],
            CATEGORIES.index(c["category"]) if "category" in c else -1,
            key(c),
            cfg.methods.index(c["best_classical"]),
        )
    )
    return aggregates, comparison


def _metadata(
    cfg: EvalConfig,
    setup: Setup,
    command: str | None,
    load: list[float] | None,
    estimate: float,
    elapsed: float,
    skipped: list[dict[str, Any]],
    faces: dict[tuple[str, int], list[Box]] | None = None,
) -> dict[str, Any]:
    import cv2
    import skimage
    import torch

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command or _command_line(),
        "arguments": dataclasses.asdict(cfg),
        "images": [
            {
                "file": i.file,
                "sha256": i.sha256,
                "width": i.width,
                "height": i.height,
                **i.source,
                "upscaled_at": [s for s in cfg.sizes if min(i.width, i.height) < s],
                "categories": photo_categories(i),
                "faces": {
                    str(size): [list(b) for b in faces[(i.file, size)]]
                    for size in cfg.sizes
                    if faces and (i.file, size) in faces
                },
            }
            for i in setup.images
        ],
        "roles": sorted({i.source.get("role", "") for i in setup.images} - {""}),
        "photo_set": photo_set(setup.images),
        "methods": list(cfg.methods),
        "sizes": list(cfg.sizes),
        "seed": cfg.seed,
        "masks_per_bin": cfg.masks_per_bin,
        "mask_seed_words": "bins: [seed, image_index, size, 0, bin, border, k]; "
        "severity: [seed, image_index, size, 1 (synthetic) or 2 (physical), severity_index, 0, k] (numpy SeedSequence)",
        "protocol": {
            "hole_bins": [list(b) for b in HOLE_BINS],
            "severities": list(SEVERITIES),
            "damage": cfg.damage,
            "preprocess": "centre crop to a square, Lanczos resize to each size",
            "hole_fill": HOLE_FILL,
            "restore": {"n": 1, "dilations": [0], "seed": cfg.seed},
            "metrics": "composite vs ground truth over the whole image; l1 in [0,1] units; psnr, ssim from "
            f"skimage.metrics (data_range=255, channel_axis=-1), psnr capped at {PSNR_CAP:g} dB; "
            "perceptual = inpaint.train.perceptual.perceptual_distance (MobileNetV2); "
            f"detail_fine, detail_blurred = gradient energy (np.gradient of luminance {list(LUMA_WEIGHTS)}, "
            f"Gaussian sigma {[DETAIL_SIGMA[m] for m in DETAIL_METRICS]} px first) of the composite over the "
            "ground truth's, summed over the hole eroded by 1 px (4-neighbour cross); per cell a ratio of "
            "summed energies; face_psnr = PSNR over the hole pixels inside the union of the face boxes "
            "(top, left, height, width; metadata.images[].faces per size) found in the ground truth square, "
            "None when no face overlaps the hole; per cell the PSNR of the mean squared error pooled over "
            "all face hole pixels; seconds = wall time of restore()",
            "face_detector": FACE_DETECTOR,
            "categories": "per photo from the manifest's categories column; the hole-bin rows are also "
            "aggregated per category (a photo in two categories counts in both)",
        },
        "model": setup.model_info,
        "perceptual": {"backbone": setup.extractor.backbone} if setup.extractor is not None else None,
        "patchmatch_patch": cfg.patchmatch_patch,
        "estimated_seconds": round(estimate, 1),
        "elapsed_seconds": round(elapsed, 1),
        "skipped": skipped,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scikit-image": skimage.__version__,
            "opencv": cv2.__version__,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": load,
            "git_commit": _git_commit(),
        },
    }


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _command_line() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name == "inpaint":
        return shlex.join(["python", "-m", "inpaint", *argv[1:]])
    return shlex.join(argv)


def _csv_list(kind: type, allowed: Sequence[Any] | None = None) -> Any:
    def parse(text: str) -> tuple:
        try:
            items = tuple(dict.fromkeys(kind(t.strip()) for t in text.split(",") if t.strip()))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}"
            ) from None
        bad = [i for i in items if allowed is not None and i not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(map(str, allowed or ()))}; got {text!r}")
        return items

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = EvalConfig(images="", out="")
    p.add_argument(
        "--images",
        required=True,
        help="folder of validation or test photos (its manifest.csv's role=eval or role=test rows)",
    )
    p.add_argument("--out", required=True, help="output folder: results.json, results.md, chart.png, contact_sheet.png")
    p.add_argument(
        "--methods",
        type=_csv_list(str, METHOD_NAMES),
        default=d.methods,
        help=f"comma-separated, default {','.join(METHODS)} (patchmatch costs seconds per image); a finish "
        "after + is a method too: pconv+grain, pconv+sharp, smooth+grain...",
    )
    p.add_argument("--weights", help="model folder or Hub repo id for pconv (default: INPAINT_WEIGHTS or weights/)")
    p.add_argument(
        "--sharp-weights",
        help="the sharpened network of pconv+sharp (default: INPAINT_SHARP_WEIGHTS or weights/sharp)",
    )
    p.add_argument("--sizes", type=_csv_list(int), default=d.sizes, help="square sizes, default 256,512")
    p.add_argument(
        "--masks-per-bin",
        type=int,
        default=d.masks_per_bin,
        help="masks per (hole bin, border) and per severity, per photo and size",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--limit", type=int, help="only the first N photos")
    p.add_argument(
        "--severity-table",
        action=argparse.BooleanOptionalAction,
        default=d.severity_table,
        help="also evaluate damage at each severity (the generator: --damage)",
    )
    p.add_argument(
        "--damage",
        choices=DAMAGE_GENERATORS,
        default=d.damage,
        help="the severity table's damage: the synthesiser the restorer also trains on (synthetic), or the "
        "physical model of a damaged, scanned print, written independently of it (physical; scored against "
        "the undamaged scan)",
    )
    p.add_argument(
        "--perceptual",
        action=argparse.BooleanOptionalAction,
        default=d.perceptual,
        help="compute the MobileNetV2 perceptual distance",
    )
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
    print(
        f"wrote {out / 'results.json'} ({len(results['samples'])} rows), {out / 'results.md'}, "
        f"{out / 'chart.png'}, {out / 'contact_sheet.png'} in {_duration(results['metadata']['elapsed_seconds'])}"
    )
    return 0
