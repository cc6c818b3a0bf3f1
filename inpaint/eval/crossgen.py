"""Evaluate damage detection on damage of another making than the detector's training data.

    python -m inpaint evaluate-detection --generator strokes --images EVAL_PHOTOS --out DIR
        [--methods learned,classical] [--weights DETECTOR] [--compare NAME=DETECTOR,...]
        [--size 512] [--repeats 2]
    python -m inpaint evaluate-detection --generator strokes,physical ...   (the cross table)

Two test generators, written independently of each other: ``synth.strokes`` (vector strokes and
blobs of any width, opacity and colour over the photo) and ``synth.physical`` (damage as it forms
on a print, over the photo printed and scanned). A detector trained on one is tested on the other;
a score on the generator it trained on says only how well it learned that generator. Protocol
(fixed seeds): every evaluation photo (never trained on) is centre-cropped to ``size`` pixels; for
each row (all kinds mixed, each kind, and for the strokes each width bin ``WIDTH_BINS``), the
generator damages it ``repeats`` times. Every method sees the same inputs.

The headline is F1 on plainly visible damage: a true pixel counts when the damage moved it by at
least ``PLAIN_CHANGE`` grey levels in some channel (found or missed); a flagged pixel outside the
damage is a false positive; a true pixel changed less is neither. Pixel counts are pooled over
photos and seeds per row. (For the physical generator, "moved" is against the same print scanned
without its damage.)

On the undamaged photos, each method's share of flagged pixels at every sensitivity in
``SENSITIVITIES``, and what the flagged pixels are: thin bright content (a white top-hat), thin
dark content (a black-hat), edges, texture, or flat areas (``content_classes``). The slider's
ends are reported as well: the recall of plainly visible damage at sensitivity 1 and the share of
clean pixels flagged at sensitivity 0.

Writes ``results.json`` and ``results.md``; with several generators, one folder of them per
generator and ``cross.json`` / ``cross.md``: each detector (and the generator it trained on) by
each test generator.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..detect.pipeline import DETECT_METHODS, detect_damage
from ..detect.sensitivity import learned_threshold
from ..nn.damagenet import DamageNet, load_detector
from ..synth.physical import PHYSICAL_KINDS, physical_damage
from ..synth.strokes import STROKE_KINDS, stroke_damage
from .cases import find_images, load_square
from .metrics import scores

PLAIN_CHANGE = 20  # grey levels: plainly visible
WIDTH_BINS: tuple[tuple[int, int], ...] = ((1, 2), (3, 5), (6, 10), (11, 20))
SENSITIVITIES = (0.0, 0.5, 1.0)
CONTENT_CLASSES = ("thin bright", "thin dark", "edge", "texture", "flat")
TEST_GENERATORS = ("strokes", "physical")
_GENERATOR_MODULES = {"strokes": "inpaint.synth.strokes", "physical": "inpaint.synth.physical"}


def content_classes(photo: np.ndarray) -> np.ndarray:
    """uint8 (H, W): the index into ``CONTENT_CLASSES`` of each pixel of a clean photo, first match
    wins: thin bright or dark structures narrower than 7 px standing out by 25 grey levels (hair
    strands, wires, collars, catchlights, window frames), edges (a Sobel gradient of 60 or more),
    texture (a local standard deviation of 12 or more over 7x7), else flat."""
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))
    bright = grey - cv2.morphologyEx(grey, cv2.MORPH_OPEN, square)
    dark = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, square) - grey
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)) / 4
    mean = cv2.blur(grey, (7, 7))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (7, 7)) - mean * mean, 0))
    out = np.full(grey.shape, CONTENT_CLASSES.index("flat"), np.uint8)
    for name, where in (
        ("texture", std >= 12),
        ("edge", gradient >= 60),
        ("thin dark", dark >= 25),
        ("thin bright", bright >= 25),
    ):
        out[where] = CONTENT_CLASSES.index(name)  # later assignments win: the list is in reverse
    return out


def _rows(generator: str = "strokes") -> list[tuple[str, dict[str, Any]]]:
    """(row name, the generator's options): all kinds mixed, then one row per kind and, for the
    strokes, one per width bin."""
    rows: list[tuple[str, dict[str, Any]]] = [("mixed", {})]
    if generator == "physical":
        return rows + [(kind, {"kinds": (kind,)}) for kind in PHYSICAL_KINDS]
    rows += [(kind, {"kinds": (kind,)}) for kind in STROKE_KINDS]
    rows += [(f"width {lo}-{hi} px", {"widths": (lo, hi)}) for lo, hi in WIDTH_BINS]
    return rows


def draw_damage(
    generator: str, photo: np.ndarray, rng: np.random.Generator, options: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the undamaged picture, the damaged one, the damage's footprint) from a test generator."""
    if generator == "physical":
        sample = physical_damage(photo, rng, **options)
        return sample.reference, sample.image, sample.footprint
    drawn = stroke_damage(photo, rng, **options)
    return photo, drawn.damaged, drawn.footprint


def trained_on(model: DamageNet) -> str:
    """The generator a detector's last training phase drew its damage from (``synth`` when its
    record does not say: the option did not exist when it was trained)."""
    phases = getattr(model, "metadata", {}).get("phases") or [{}]
    return str(phases[-1].get("generator") or "synth")


class _Counts:
    def __init__(self) -> None:
        self.f1: dict[tuple[str, str, float], list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
        self.clean: dict[tuple[str, float], np.ndarray] = defaultdict(
            lambda: np.zeros((2, len(CONTENT_CLASSES)), np.int64)
        )

    def add_damaged(
        self, key: tuple[str, str, float], flagged: np.ndarray, plain: np.ndarray, footprint: np.ndarray
    ) -> None:
        c = self.f1[key]
        c[0] += int((flagged & plain).sum())
        c[1] += int((flagged & ~footprint).sum())
        c[2] += int((~flagged & plain).sum())

    def add_clean(self, key: tuple[str, float], flagged: np.ndarray, classes: np.ndarray) -> None:
        n = len(CONTENT_CLASSES)
        self.clean[key][0] += np.bincount(classes.ravel(), minlength=n)
        self.clean[key][1] += np.bincount(classes[flagged], minlength=n)


def _suggestions(
    seen: np.ndarray, methods: Sequence[str], detectors: dict[str, DamageNet]
) -> dict[tuple[str, float], np.ndarray]:
    """Every method's and detector's mask at every sensitivity. A learned detector runs once per
    input: its sensitivity only moves the threshold on the same probabilities."""
    out = {}
    for name, model in detectors.items():
        probability = detect_damage(seen, SENSITIVITIES[0], method="learned", model=model).probability
        for s in SENSITIVITIES:
            out[(name, s)] = probability >= learned_threshold(model, s)
    for m in methods:
        if m != "learned":
            for s in SENSITIVITIES:
                out[(m, s)] = detect_damage(seen, s, method=m).damage
    return out


def _detectors(
    methods: Sequence[str], weights: str | None, model: DamageNet | None, compare: dict[str, Any] | None
) -> dict[str, DamageNet]:
    """The learned detectors by column name: "learned" (``model`` or ``weights``, with the method
    asked for), then each of ``compare`` (a name to a folder, a Hub id or a DamageNet)."""
    out: dict[str, DamageNet] = {}
    if "learned" in methods:
        out["learned"] = model if model is not None else load_detector(weights, device="cpu")
    for name, source in (compare or {}).items():
        if name in DETECT_METHODS or name in out:
            raise ValueError(f"--compare: the name {name!r} is taken; give each detector its own name")
        out[name] = source if isinstance(source, DamageNet) else load_detector(source, device="cpu")
    return out


def run(
    images_dir: str,
    out: str,
    methods: Sequence[str],
    *,
    generator: str = "strokes",
    weights: str | None = None,
    compare: dict[str, Any] | None = None,
    size: int = 512,
    repeats: int = 2,
    seed: int = 0,
    limit: int | None = None,
    model: DamageNet | None = None,
) -> dict[str, Any]:
    from tqdm import tqdm

    for m in methods:
        if m not in DETECT_METHODS:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(DETECT_METHODS)}")
    if generator not in TEST_GENERATORS:
        raise ValueError(f"unknown test generator {generator!r}; choose from {', '.join(TEST_GENERATORS)}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = find_images(images_dir, limit)
    detectors = _detectors(methods, weights, model, compare)
    columns = list(detectors) + [m for m in methods if m != "learned"]
    counts = _Counts()
    rows = _rows(generator)
    bar = tqdm(total=len(images) * (len(rows) * repeats + 1), unit="input", desc=f"evaluate-detection {generator}")
    for image in images:
        photo = load_square(str(image.path), size, image.sha256)
        classes = content_classes(photo)
        for key, flagged in _suggestions(photo, methods, detectors).items():
            counts.add_clean(key, flagged, classes)
        bar.update(1)
        for r, (name, options) in enumerate(rows):
            for k in range(repeats):
                rng = np.random.default_rng([seed, image.index, r, k])
                undamaged, damaged, footprint = draw_damage(generator, photo, rng, options)
                moved = np.abs(damaged.astype(np.int16) - undamaged.astype(np.int16)).max(-1)
                plain = footprint & (moved >= PLAIN_CHANGE)
                for (m, s), flagged in _suggestions(damaged, methods, detectors).items():
                    counts.add_damaged((m, name, s), flagged, plain, footprint)
                bar.update(1)
    bar.close()
    results = _results(images, counts, columns, detectors, generator, size, repeats, seed)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "results.md").write_text(markdown(results))
    return results


def cross(images_dir: str, out: str, methods: Sequence[str], generators: Sequence[str], **options) -> dict[str, Any]:
    """``run`` on each test generator (into ``out/GENERATOR``) and the cross table of their
    headlines: each method by each generator, F1 / precision / recall on plainly visible damage of
    all kinds mixed at sensitivity 0.5, with the generator each detector trained on."""
    per = {g: run(images_dir, str(Path(out) / g), methods, generator=g, **options) for g in generators}
    first = per[generators[0]]
    table = []
    for m in first["methods"]:
        clean = next(c["flagged_share"] for c in first["clean"] if c["method"] == m and c["sensitivity"] == 0.5)
        row = {"method": m, "trained_on": first["trained_on"].get(m), "clean_flagged_share": clean}
        for g, results in per.items():
            (cell,) = [t for t in results["table"] if (t["method"], t["row"], t["sensitivity"]) == (m, "mixed", 0.5)]
            row[g] = {k: cell[k] for k in ("f1", "precision", "recall", "tp", "fp", "fn")}
        table.append(row)
    summary = {
        "command": "python -m inpaint evaluate-detection --generator " + ",".join(generators),
        "generators": list(generators),
        "size": first["size"],
        "repeats": first["repeats"],
        "images": first["images"],
        "table": table,
    }
    Path(out, "cross.json").write_text(json.dumps(summary, indent=2) + "\n")
    Path(out, "cross.md").write_text(cross_markdown(summary))
    return summary


def cross_markdown(summary: dict[str, Any]) -> str:
    gens = summary["generators"]
    lines = [
        f"Damage detection by test generator: {len(summary['images'])} evaluation photos at {summary['size']} px, "
        f"{summary['repeats']} seeds per row. F1 / precision / recall on plainly visible damage "
        f"(changed by {PLAIN_CHANGE} grey levels or more), all kinds mixed, at sensitivity 0.5; the last "
        "column is the share of the undamaged photos' pixels flagged.",
        "",
        "| method | trained on | " + " | ".join(gens) + " | clean flagged |",
        "|---|---|" + "---:|" * (len(gens) + 1),
    ]
    for row in summary["table"]:
        cells = [f"{_f(row[g]['f1'])} / {_f(row[g]['precision'])} / {_f(row[g]['recall'])}" for g in gens]
        trained = row["trained_on"] or "(not trained)"
        lines.append(f"| {row['method']} | {trained} | " + " | ".join(cells) + f" | {row['clean_flagged_share']:.2%} |")
    return "\n".join(lines) + "\n"


def _results(
    images: list,
    counts: _Counts,
    columns: Sequence[str],
    detectors: dict[str, DamageNet],
    generator: str,
    size: int,
    repeats: int,
    seed: int,
) -> dict[str, Any]:
    table = [
        {"method": m, "row": row, "sensitivity": s, "tp": tp, "fp": fp, "fn": fn, **scores(tp, fp, fn)}
        for (m, row, s), (tp, fp, fn) in sorted(counts.f1.items())
    ]
    clean = []
    for (m, s), (total, flagged) in sorted(counts.clean.items()):
        clean.append(
            {
                "method": m,
                "sensitivity": s,
                "flagged_share": float(flagged.sum() / max(total.sum(), 1)),
                "by_class": {
                    c: {"pixels": int(t), "flagged": int(f)} for c, t, f in zip(CONTENT_CLASSES, total, flagged)
                },
            }
        )
    return {
        "command": f"python -m inpaint evaluate-detection --generator {generator}",
        "generator": _GENERATOR_MODULES[generator],
        "plain_change": PLAIN_CHANGE,
        "size": size,
        "repeats": repeats,
        "seed": seed,
        "methods": list(columns),
        "sensitivities": list(SENSITIVITIES),
        "rows": [name for name, _ in _rows(generator)],
        "model_version": detectors["learned"].config.version if "learned" in detectors else None,
        "model_versions": {name: m.config.version for name, m in detectors.items()},
        "trained_on": {name: trained_on(m) for name, m in detectors.items()},
        "images": [{"file": i.file, "sha256": i.sha256} for i in images],
        "table": table,
        "clean": clean,
    }


_GENERATOR_TITLES = {
    "inpaint.synth.strokes": "the independent stroke generator",
    "inpaint.synth.physical": "the physical damage model",
}


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def markdown(results: dict[str, Any]) -> str:
    methods, default = results["methods"], 0.5
    idx = {(r["method"], r["row"], r["sensitivity"]): r for r in results["table"]}
    row_names = results["rows"]
    lines = [
        f"Damage detection on {_GENERATOR_TITLES.get(results['generator'], results['generator'])}: "
        f"{len(results['images'])} evaluation photos at "
        f"{results['size']} px, {results['repeats']} seeds per row"
        + (f", detector `{results['model_version']}`" if results.get("model_version") else "")
        + ".",
        "",
        f"F1 / precision / recall on plainly visible damage (changed by {results['plain_change']} grey levels or more) "
        f"at sensitivity {default:g}; pixels pooled over photos and seeds:",
        "",
        "| row | " + " | ".join(f"{m} F1 / P / R" for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for row in row_names:
        cells = [idx.get((m, row, default)) for m in methods]
        lines.append(
            f"| {row} | "
            + " | ".join(
                "n/a" if c is None else f"{_f(c['f1'])} / {_f(c['precision'])} / {_f(c['recall'])}" for c in cells
            )
            + " |"
        )
    lines += [
        "",
        "The slider's range: recall of plainly visible damage (all rows pooled) and the share of clean "
        "pixels flagged, per sensitivity:",
        "",
        "| method | sensitivity | recall | clean pixels flagged |",
        "|---|---:|---:|---:|",
    ]
    clean = {(c["method"], c["sensitivity"]): c for c in results["clean"]}
    for m in methods:
        for s in results["sensitivities"]:
            tp = sum(idx[(m, r, s)]["tp"] for r in row_names if (m, r, s) in idx and r != "mixed")
            fn = sum(idx[(m, r, s)]["fn"] for r in row_names if (m, r, s) in idx and r != "mixed")
            recall = tp / (tp + fn) if tp + fn else None
            lines.append(f"| {m} | {s:g} | {_f(recall)} | {clean[(m, s)]['flagged_share']:.2%} |")
    lines += [
        "",
        f"What the flagged pixels of the clean photos are, at sensitivity {default:g}: the share of each "
        "content class flagged (the class's share of all pixels in brackets):",
        "",
        "| method | " + " | ".join(CONTENT_CLASSES) + " |",
        "|---|" + "---:|" * len(CONTENT_CLASSES),
    ]
    for m in methods:
        by = clean[(m, default)]["by_class"]
        total = sum(v["pixels"] for v in by.values())
        lines.append(
            f"| {m} | "
            + " | ".join(
                f"{by[c]['flagged'] / max(by[c]['pixels'], 1):.2%} ({by[c]['pixels'] / total:.0%})"
                for c in CONTENT_CLASSES
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
