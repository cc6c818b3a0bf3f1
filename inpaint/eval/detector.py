"""Evaluate damage detection: learned vs classical, per damage type and severity.

    python -m inpaint evaluate-detection --images EVAL_PHOTOS --out DIR [--methods learned,classical]
        [--weights DETECTOR] [--size 512] [--repeats 2] [--sensitivity 0.5] [--demo OLD_PHOTO]

Protocol (fixed seeds, so two runs give the same table): every evaluation photo (the ``role=eval``
rows of the folder's manifest; never trained on) is centre-cropped to a square of ``size`` pixels.
For each severity (minor / moderate / severe) and each damage kind (crease, scratch, tear, stain,
spot, missing corner) the photo goes through the same print-and-scan pipeline as the detector's
training samples (``inpaint.synth.prints.damaged_sample``: colour/black-and-white/sepia/faded, the
synthesised damage of that one kind, paper texture, blur, noise, JPEG), ``repeats`` times with
different seeds; a "mixed" row uses the synthesiser's own mix of kinds. Every method sees the same
inputs. Pixel counts are pooled over photos and seeds per cell: precision, recall, F1, IoU. The
false-positive rate is the share of pixels flagged on the same photos through the same pipeline
without damage. Seconds per photo are the mean wall time of ``detect_damage``.

Recall is also split by how visible each true damage pixel is in the input: how far the damage
moved it from the same print scanned without the damage (same scan draws), in grey levels; and
the plainly visible part by whether the damage made a pixel brighter or darker (a dark scratch
against a bright one). The synthesiser's mask counts every pixel a damage layer touched at 5 %
opacity or more, and after blur, noise and JPEG some of those are hard or impossible to see; the
split tells a missed faint pixel from a missed plain one.

Writes ``results.json``, ``results.md`` (the tables), ``contact-sheet.png`` (input, truth, each
method's suggestion) and, with ``--demo``, ``demo.png``: the photo beside its suggested masks.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..detect.pipeline import DETECT_METHODS, detect_damage
from ..nn.damagenet import DamageNet, load_detector
from ..synth.damage import DAMAGE_KINDS, SEVERITIES
from ..synth.prints import damaged_sample
from ..synth.truth import DARK_MIN_CHANGE, darker, truth_changes
from .cases import find_images, load_square
from .metrics import f1_counts, scores
from .sheets import caption_font, cell_image

ROWS = (*DAMAGE_KINDS, "mixed")


# How visible a damaged pixel is in what the detector sees: the largest channel difference between
# the scan and the same print scanned without the damage, in grey levels, split at these edges.
VISIBILITY_EDGES = (DARK_MIN_CHANGE, 20, 40)  # below the first, hardly visible (as --dark-weight counts)


PLAIN_BIN = 2  # "plainly visible": changed by VISIBILITY_EDGES[1] grey levels or more


_SHOWN = ("mixed", "crease", "scratch", "stain", "tear", "spot", "missing_corner")  # contact sheet: one per photo


def _inputs(
    photo: np.ndarray, image_index: int, severity: str | None, kind: str | None, repeat: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(what the detector sees, the true damage, the same print scanned without the damage)."""
    sev_i = -1 if severity is None else SEVERITIES.index(severity)
    kind_i = -1 if kind is None else ROWS.index(kind)
    rng = np.random.default_rng([seed, image_index, sev_i + 1, kind_i + 1, repeat])
    if severity is None:  # clean: the same print and scan, no damage
        return damaged_sample(photo, rng, clean_fraction=1.0, reference=True)
    return damaged_sample(photo, rng, severity=severity, kinds=None if kind == "mixed" else (kind,), reference=True)


def visibility_bins(changes: np.ndarray) -> np.ndarray:
    """For each true damage pixel (``truth_changes``), its bin of ``VISIBILITY_EDGES`` (0: changed
    by fewer than 8 grey levels in every channel, ... 3: by 40 or more in some channel)."""
    return np.digitize(np.abs(changes).max(axis=1), VISIBILITY_EDGES)


@dataclass
class _Truth:
    """The true damage of one input and how visible each of its pixels is."""

    mask: np.ndarray  # bool (H, W), True = damage
    bins: np.ndarray  # (N,) visibility bin of each true damage pixel
    plain: np.ndarray  # (N,) bool: plainly visible (bin >= PLAIN_BIN)
    dark: np.ndarray  # (M,) int64: 1 where a plainly visible pixel was made darker
    # bool (H, W): truth pixels the damage moved by fewer than VISIBILITY_EDGES[0] grey levels,
    # "don't care" in the visible-truth scores (neither found nor missed; a suggestion there is
    # not a false positive)
    faint: np.ndarray

    @classmethod
    def measure(cls, seen: np.ndarray, truth: np.ndarray, reference: np.ndarray) -> _Truth:
        changes = truth_changes(seen, reference, truth)
        bins = visibility_bins(changes)
        plain = bins >= PLAIN_BIN
        faint = np.zeros_like(truth)
        faint[truth] = bins == 0
        return cls(truth, bins, plain, darker(changes[plain]).astype(np.int64), faint)


class _Tally:
    """Pixel counts pooled over photos and seeds, per (method, severity, kind) cell."""

    def __init__(self, methods: Sequence[str]) -> None:
        self.methods = methods
        nbins = len(VISIBILITY_EDGES) + 1
        self.counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
        self.counts_visible: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])  # the faint truth ignored
        # [truth, found] pixels per visibility bin
        self.visible: dict[tuple, np.ndarray] = defaultdict(lambda: np.zeros((2, nbins), np.int64))
        # the plainly visible truth (bins >= PLAIN_BIN) split by polarity: [truth, found] x [brighter, darker]
        self.polarity: dict[tuple, np.ndarray] = defaultdict(lambda: np.zeros((2, 2), np.int64))
        self.clean = {m: [0, 0] for m in methods}  # flagged, total on the undamaged inputs
        self.seconds: dict[str, list[float]] = {m: [] for m in methods}  # of each detect_damage call

    def add_clean(self, method: str, damage: np.ndarray) -> None:
        self.clean[method][0] += int(damage.sum())
        self.clean[method][1] += damage.size

    def add_damaged(self, key: tuple[str, str, str], damage: np.ndarray, truth: _Truth) -> None:
        """Pool one suggestion against the truth of one damaged input (``key``: method, severity, kind)."""
        c = self.counts[key]
        for i, v in enumerate(f1_counts(damage, truth.mask)):
            c[i] += v
        cv = self.counts_visible[key]
        for i, v in enumerate(f1_counts(damage[~truth.faint], truth.mask[~truth.faint])):
            cv[i] += v
        found = damage[truth.mask]
        nbins = len(VISIBILITY_EDGES) + 1
        v = self.visible[key]
        v[0] += np.bincount(truth.bins, minlength=nbins)
        v[1] += np.bincount(truth.bins[found], minlength=nbins)
        pol = self.polarity[key]
        pol[0] += np.bincount(truth.dark, minlength=2)
        pol[1] += np.bincount(truth.dark[found[truth.plain]], minlength=2)

    def table(self) -> list[dict[str, Any]]:
        """One row per cell: counts and scores, the same with the faint truth ignored, the
        visibility and polarity splits."""
        rows = []
        for key, (tp, fp, fn) in sorted(self.counts.items()):
            m, sev, kind = key
            vtp, vfp, vfn = self.counts_visible[key]
            rows.append(
                {
                    "method": m,
                    "severity": sev,
                    "kind": kind,
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    **scores(tp, fp, fn),
                    "visible": {"tp": vtp, "fp": vfp, "fn": vfn, **scores(vtp, vfp, vfn)},
                    "truth_by_visibility": self.visible[key][0].tolist(),
                    "found_by_visibility": self.visible[key][1].tolist(),
                    "plain_truth_brighter_darker": self.polarity[key][0].tolist(),
                    "plain_found_brighter_darker": self.polarity[key][1].tolist(),
                }
            )
        return rows


def _detect_input(
    tally: _Tally,
    seen: np.ndarray,
    truth: np.ndarray,
    reference: np.ndarray,
    severity: str | None,
    kind: str | None,
    sensitivity: float,
    model: DamageNet | None,
) -> dict[str, np.ndarray]:
    """Every method's suggestion for one input, timed and pooled into ``tally``; severity None is
    an undamaged input."""
    measured = _Truth.measure(seen, truth, reference) if severity is not None else None
    preds = {}
    for m in tally.methods:
        t0 = time.perf_counter()
        det = detect_damage(seen, sensitivity, method=m, model=model)
        tally.seconds[m].append(time.perf_counter() - t0)
        preds[m] = det.damage
        if measured is None:
            tally.add_clean(m, det.damage)
        else:
            tally.add_damaged((m, severity, kind), det.damage, measured)
    return preds


def run(
    images_dir: str,
    out: str,
    methods: Sequence[str],
    *,
    weights: str | None = None,
    size: int = 512,
    repeats: int = 2,
    sensitivity: float = 0.5,
    seed: int = 0,
    limit: int | None = None,
    demo: str | None = None,
    model: DamageNet | None = None,
) -> dict[str, Any]:
    """Evaluate ``methods`` on the photos of ``images_dir``, write the outputs into ``out`` and
    return the results dict."""
    from tqdm import tqdm

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for m in methods:
        if m not in DETECT_METHODS:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(DETECT_METHODS)}")
    images = find_images(images_dir, limit)
    if "learned" in methods and model is None:
        model = load_detector(weights, device="cpu")
    tally = _Tally(methods)
    examples: list[tuple[str, np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    cells = [(sev, kind, r) for sev in SEVERITIES for kind in ROWS for r in range(repeats)] + [
        (None, None, r) for r in range(repeats)
    ]
    bar = tqdm(total=len(images) * len(cells), unit="input", desc="evaluate-detection")
    for image in images:
        photo = load_square(str(image.path), size, image.sha256)
        for sev, kind, r in cells:
            seen, truth, reference = _inputs(photo, image.index, sev, kind, r, seed)
            preds = _detect_input(tally, seen, truth, reference, sev, kind, sensitivity, model)
            if sev == "moderate" and r == 0 and len(examples) < 8 and kind == _SHOWN[image.index % len(_SHOWN)]:
                examples.append((f"{Path(image.file).stem} {kind}", seen, truth, preds))
            bar.update(1)
    bar.close()

    results = {
        "command": "python -m inpaint evaluate-detection",
        "images": [{"file": i.file, "sha256": i.sha256, **i.source} for i in images],
        "size": size,
        "repeats": repeats,
        "visibility_edges": list(VISIBILITY_EDGES),
        "sensitivity": sensitivity,
        "seed": seed,
        "methods": list(methods),
        "model_version": model.config.version if model is not None else None,
        "model_threshold": model.config.threshold if model is not None else None,
        "table": tally.table(),
        "false_positive_rate": {m: (f / t if t else None) for m, (f, t) in tally.clean.items()},
        "seconds_per_photo": {m: float(np.mean(v)) if v else None for m, v in tally.seconds.items()},
        "machine": {"processor": platform.processor() or platform.machine(), "python": platform.python_version()},
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown(results))
    if examples:
        contact_sheet(examples, list(methods)).save(out_dir / "contact-sheet.png")
    if demo:
        demo_sheet(demo, list(methods), sensitivity, model).save(out_dir / "demo.png")
    return results


def _f(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    methods = results["methods"]
    idx = {(r["method"], r["severity"], r["kind"]): r for r in results["table"]}
    lines = [
        f"Damage detection on {len(results['images'])} evaluation photos at {results['size']} px, "
        f"{results['repeats']} seeds per cell, sensitivity {results['sensitivity']:g}"
        + (f", detector `{results['model_version']}`" if results.get("model_version") else "")
        + ".",
        "",
        "F1 per damage kind and severity (pixels pooled over photos and seeds; best in bold):",
        *f1_table(idx, methods, lambda r: r.get("f1")),
    ]
    if any("visible" in r for r in results["table"]):
        edge = (results.get("visibility_edges") or VISIBILITY_EDGES)[0]
        lines += [
            "",
            f"The same with the faint truth ignored: true damage pixels the damage changed by fewer than {edge} "
            "grey levels in every channel count neither as found nor as missed, and a suggestion there is not a "
            "false positive (the synthesiser's mask counts every pixel a damage layer touched at 5% opacity):",
            *f1_table(idx, methods, lambda r: r.get("visible", {}).get("f1")),
        ]
    lines += [
        "",
        "Precision / recall / IoU, all severities pooled:",
        "",
        "| kind | " + " | ".join(f"{m} P / R / IoU" for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for kind in ROWS:
        cells = []
        for m in methods:
            tp = sum(idx.get((m, s, kind), {}).get("tp", 0) for s in SEVERITIES)
            fp = sum(idx.get((m, s, kind), {}).get("fp", 0) for s in SEVERITIES)
            fn = sum(idx.get((m, s, kind), {}).get("fn", 0) for s in SEVERITIES)
            sc = scores(tp, fp, fn)
            cells.append(f"{_f(sc['precision'], 2)} / {_f(sc['recall'], 2)} / {_f(sc['iou'], 2)}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += _visibility_table(results, idx, methods)
    lines += _polarity_table(results, idx, methods)
    lines += [
        "",
        "Undamaged photos (same print-and-scan pipeline, no damage): share of pixels flagged, and seconds per photo:",
        "",
        "| method | pixels flagged | seconds per photo |",
        "|---|---:|---:|",
    ]
    for m in methods:
        fpr = results["false_positive_rate"][m]
        lines.append(f"| {m} | {'n/a' if fpr is None else f'{fpr:.2%}'} | {_f(results['seconds_per_photo'][m], 3)} |")
    return "\n".join(lines) + "\n"


def f1_table(idx: dict, methods: list[str], value: Callable[[dict[str, Any]], float | None]) -> list[str]:
    """Rows of kinds, columns of severity x method, ``value(row)`` in each cell, the best in bold."""
    lines = [
        "",
        "| kind | " + " | ".join(f"{s} {m}" for s in SEVERITIES for m in methods) + " |",
        "|---|" + "---:|" * (len(SEVERITIES) * len(methods)),
    ]
    for kind in ROWS:
        cells = []
        for s in SEVERITIES:
            vals = {m: value(idx[(m, s, kind)]) if (m, s, kind) in idx else None for m in methods}
            best = max((v for v in vals.values() if v is not None), default=None)
            cells += [
                f"**{_f(vals[m])}**" if vals[m] is not None and vals[m] == best and len(methods) > 1 else _f(vals[m])
                for m in methods
            ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def _polarity_table(results: dict[str, Any], idx: dict, methods: list[str], severity: str = "moderate") -> list[str]:
    """Recall of the plainly visible true damage, split by whether the damage made a pixel brighter
    or darker (see ``darker``)."""
    edges = results.get("visibility_edges") or VISIBILITY_EDGES
    lines = [
        "",
        f"Recall of the plainly visible damage ({severity} severity, changed by {edges[PLAIN_BIN - 1]} grey levels "
        "or more) by whether the damage made the pixel brighter or darker; the share of those pixels that are "
        "darker, then the share of each the methods found:",
        "",
        "| kind | darker share | " + " | ".join(f"{m} recall brighter / darker" for m in methods) + " |",
        "|---|---:|" + "---:|" * len(methods),
    ]
    found_any = False
    for kind in ROWS:
        rows = {m: idx.get((m, severity, kind)) for m in methods}
        first = next((r for r in rows.values() if r and r.get("plain_truth_brighter_darker")), None)
        if first is None or not sum(first["plain_truth_brighter_darker"]):
            continue
        found_any = True
        bright, dark = first["plain_truth_brighter_darker"]
        cells = [f"{dark / (bright + dark):.0%}"]
        for r in rows.values():
            t, f = r["plain_truth_brighter_darker"], r["plain_found_brighter_darker"]
            cells.append(" / ".join("n/a" if not tt else f"{ff / tt:.0%}" for ff, tt in zip(f, t)))
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines if found_any else []


def _visibility_table(results: dict[str, Any], idx: dict, methods: list[str], severity: str = "moderate") -> list[str]:
    """Recall split by how visible the true damage is after the scan (see ``visibility_bins``)."""
    edges = results.get("visibility_edges")
    if not edges:
        return []
    names = [f"<{edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]}"]
    lines = [
        "",
        f"Recall by how visible the damage is after the scan ({severity} severity): the largest channel "
        "change from the same print scanned undamaged, in grey levels; the share of the true damage pixels in "
        "each bin, then the share of them each method found:",
        "",
        "| kind | truth " + " / ".join(names) + " | " + " | ".join(f"{m} recall" for m in methods) + " |",
        "|---|---:|" + "---:|" * len(methods),
    ]

    def shares(found: list[int], truth: list[int]) -> str:
        return " / ".join("n/a" if not t else f"{f / t:.0%}" for f, t in zip(found, truth))

    for kind in ROWS:
        rows = {m: idx.get((m, severity, kind)) for m in methods}
        first = next((r for r in rows.values() if r and r.get("truth_by_visibility")), None)
        if first is None:
            continue
        truth = first["truth_by_visibility"]
        cells = [shares(truth, [sum(truth)] * len(truth))]
        cells += [shares(r["found_by_visibility"], r["truth_by_visibility"]) if r else "n/a" for r in rows.values()]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def _overlay(photo: np.ndarray, damage: np.ndarray, colour=(255, 40, 40)) -> np.ndarray:
    out = photo.astype(np.float32).copy()
    out[damage] = 0.35 * out[damage] + 0.65 * np.array(colour, np.float32)
    return out.astype(np.uint8)


def contact_sheet(
    examples: list[tuple[str, np.ndarray, np.ndarray, dict[str, np.ndarray]]], methods: list[str], cell: int = 200
) -> Image.Image:
    cols = ["input", "truth", *methods]
    head, label_w = 24, 150
    sheet = Image.new("RGB", (label_w + cell * len(cols), head + cell * len(examples)), "white")
    draw = ImageDraw.Draw(sheet)
    font = caption_font(14)
    for j, c in enumerate(cols):
        draw.text((label_w + j * cell + 6, 4), c, fill="black", font=font)
    for i, (name, seen, truth, preds) in enumerate(examples):
        y = head + i * cell
        draw.text((4, y + cell // 2 - 8), name[:20], fill="black", font=font)
        tiles = [seen, _overlay(seen, truth, (40, 200, 40))] + [_overlay(seen, preds[m]) for m in methods]
        for j, t in enumerate(tiles):
            sheet.paste(cell_image(t, cell, enlarge=Image.Resampling.LANCZOS), (label_w + j * cell, y))
    return sheet


def demo_sheet(
    path: str, methods: list[str], sensitivity: float, model: DamageNet | None, width: int = 1600
) -> Image.Image:
    """The photo and each method's suggestion overlaid in red, side by side (scaled to ``width``)."""
    from ..io.photos import open_photo

    rgb = open_photo(path).rgb8
    panels = [("photo", rgb)]
    for m in methods:
        det = detect_damage(rgb, sensitivity, method=m, model=model)
        panels.append((f"{m}: {det.fraction:.1%} suggested", _overlay(rgb, det.damage)))
    w_each = width // len(panels)
    h_each = round(rgb.shape[0] * w_each / rgb.shape[1])
    sheet = Image.new("RGB", (w_each * len(panels), h_each + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (label, a) in enumerate(panels):
        sheet.paste(Image.fromarray(a).resize((w_each, h_each), Image.Resampling.LANCZOS), (j * w_each, 24))
        draw.text((j * w_each + 6, 4), label, fill="black", font=caption_font(14))
    return sheet


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", required=True, help="folder of evaluation photos (its manifest's role=eval rows)")
    p.add_argument("--out", required=True)
    p.add_argument("--methods", default="learned,classical", help="comma-separated: learned,classical")
    p.add_argument("--weights", help="detector folder or Hub repo id (default: the bundled detector)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=2, help="damage seeds per photo, kind and severity")
    p.add_argument("--sensitivity", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="only the first N photos (quick checks)")
    p.add_argument("--demo", help="a real old photo to show with its suggested masks (demo.png)")
    p.add_argument(
        "--generator",
        default="synth",
        help="the damage to detect: synth (the damage the bundled detector is trained on, by kind and "
        "severity), strokes (the independent stroke generator, by kind and width), physical (the physical "
        "damage model, by kind), or a comma-separated list of strokes and physical for the cross table "
        "(see inpaint.eval.crossgen)",
    )
    p.add_argument(
        "--compare",
        default="",
        help="with --generator strokes or physical: more detectors as columns beside the learned one, "
        "NAME=FOLDER[,NAME=FOLDER...] (e.g. physical=runs/det/model)",
    )


def _compare(text: str) -> dict[str, str]:
    pairs = [item.strip().partition("=") for item in text.split(",") if item.strip()]
    bad = ["".join(p) for p in pairs if not (p[0] and p[1] and p[2])]
    if bad:
        raise SystemExit(f"evaluate-detection: --compare takes NAME=FOLDER pairs, got {', '.join(bad)}")
    return {name: folder for name, _, folder in pairs}


def main(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    common = dict(weights=args.weights, size=args.size, repeats=args.repeats, seed=args.seed, limit=args.limit)
    generators = [g.strip() for g in args.generator.split(",") if g.strip()]
    if generators != ["synth"]:
        from . import crossgen

        unknown = [g for g in generators if g not in crossgen.TEST_GENERATORS]
        if unknown or not generators:
            choices = ", ".join(crossgen.TEST_GENERATORS)
            raise SystemExit(
                f"evaluate-detection: --generator {args.generator!r}: give synth, or one or more of {choices}"
            )
        common["compare"] = _compare(args.compare)
        if len(generators) > 1:
            summary = crossgen.cross(args.images, args.out, methods, generators, **common)
            print((Path(args.out) / "cross.md").read_text())
            return 0 if summary["table"] else 1
        results = crossgen.run(args.images, args.out, methods, generator=generators[0], **common)
    else:
        if args.compare:
            raise SystemExit("evaluate-detection: --compare works with --generator strokes or physical")
        results = run(args.images, args.out, methods, sensitivity=args.sensitivity, demo=args.demo, **common)
    print((Path(args.out) / "results.md").read_text())
    return 0 if results["table"] else 1
