"""What the restorer's evaluation writes besides ``results.json``: ``results.md`` (a table per
metric and size, with hole bins and damage severities as rows, methods as columns and the best
value in bold, the paired pconv-vs-classical comparison, the split by photo category, the PSNR
inside faces and the seconds per image), ``chart.png``
(PSNR, SSIM and the detail ratios per hole bin) and ``contact_sheet.png`` (examples a person can
look at: input, mask, every method's composite with its scores, ground truth, and under them 100%
crops of the largest hole).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..datasets.manifest import CATEGORIES
from ..io.masks import known_to_image
from ..synth.damage import SEVERITIES
from ..synth.holes import HOLE_BINS
from .cases import (
    _BINS_TABLE,
    _BY_CATEGORY,
    _SEVERITY_TABLE,
    CONTACT_SHEET_MAX_BYTES,
    EvalImage,
    Example,
    Setting,
    bin_label,
)
from .metrics import DETAIL_METRICS, HIGHER_IS_BETTER, METRICS
from .sheets import caption_font, cell_image


def format_metric(metric: str, v: float | None) -> str:
    """A metric as the tables show it (L1 in percent; "-" for none)."""
    if v is None:
        return "-"
    return {
        "psnr": f"{v:.2f}",
        "face_psnr": f"{v:.2f}",
        "ssim": f"{v:.4f}",
        "l1": f"{100 * v:.2f}",
        "perceptual": f"{v:.4f}",
        "seconds": f"{v:.3f}",
        "detail_fine": f"{v:.3f}",
        "detail_blurred": f"{v:.3f}",
    }[metric]


_TITLES = {
    "psnr": "PSNR (dB, higher is better)",
    "ssim": "SSIM (higher is better)",
    "l1": "L1 (mean absolute error over the whole image, %, lower is better)",
    "perceptual": "Perceptual distance (MobileNetV2 features, lower is better)",
    "detail_fine": "Detail ratio, fine (gradient energy of the fill over the original's in the hole; "
    "1 = as much detail, < 1 smoother, > 1 noisier; closest to 1 in bold)",
    "detail_blurred": "Detail ratio after a Gaussian blur of sigma 2 px (mid-frequency structure; "
    "1 = as much, < 1 smoother; closest to 1 in bold)",
}


def _best(metric: str, values: Sequence[float]) -> float:
    """The best of a row's values: the highest or lowest, or for a detail ratio the one closest to
    1 by factor (0.5 and 2 are equally far)."""
    if metric in DETAIL_METRICS:
        return min(values, key=lambda v: abs(np.log(v)) if v > 0 else np.inf)
    return max(values) if HIGHER_IS_BETTER[metric] else min(values)


def _metric_table(
    metric: str, lead: Sequence[str], rows: Sequence[tuple[Sequence[str], dict[str, Any]]], methods: Sequence[str]
) -> list[str]:
    """A Markdown table: ``lead`` columns, then one column per method; the best value of each row
    (at the displayed precision) in bold. ``rows``: (lead cells, {method: cell dict})."""
    lines = ["| " + " | ".join([*lead, *methods]) + " |", "|" + "---|" * (len(lead) + len(methods))]
    return lines + [_metric_row(metric, cells, by_method, methods) for cells, by_method in rows]


def _metric_row(metric: str, cells: Sequence[str], by_method: dict[str, dict[str, Any]], methods: Sequence[str]) -> str:
    """One Markdown table row: the lead ``cells``, then ``metric`` per method, the best in bold."""
    shown = {m: format_metric(metric, by_method[m].get(metric)) if m in by_method else "-" for m in methods}
    values = [by_method[m][metric] for m in methods if m in by_method and by_method[m].get(metric) is not None]
    if values:
        best = format_metric(metric, _best(metric, values))
        shown = {m: f"**{s}**" if s == best and len(values) > 1 else s for m, s in shown.items()}
    return "| " + " | ".join([*cells, *(shown[m] for m in methods)]) + " |"


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
            items = [
                f"{_label(c, label_key)} ({c['delta']:+.{2 if metric == 'psnr' else 4}f}{unit} vs "
                f"{c['best_classical']}, better on {c['better']}/{c['n']}"
                f"{', within noise' if c['within_noise'] else ''})"
                for c in these
                if c["verdict"] == verdict
            ]
            if items:
                groups.append(f"{verdict} on " + "; ".join(items))
        parts.append(f"{metric.upper()}: " + "; ".join(groups) if groups else f"{metric.upper()}: no data")
    if not parts:
        return ""
    return "**pconv vs the best classical method per row** (paired per sample): " + ". ".join(parts) + "."


def _label(c: dict[str, Any], key: str) -> str:
    return bin_label(c["bin"]) if key == "bin" else str(c[key])


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    """``results.md``: what was run, then per size the hole-bin tables of every metric with the
    pconv-vs-classical comparison, the damage synthesiser's tables and the seconds per image."""
    meta, agg, comp = results["metadata"], results["aggregates"], results["comparison"]
    lines = _run_lines(meta)
    for size in meta["sizes"]:
        lines += _bins_section(meta, agg, comp, size)
        lines += _category_section(meta, agg, comp, size)
        lines += _face_section(meta, agg, size)
    if agg["severity"]:
        lines += _severity_section(meta, agg, comp)
    lines += _seconds_section(meta, agg)
    path.write_text("\n".join(lines))


def _run_lines(meta: dict[str, Any]) -> list[str]:
    """The title, the run's date, command, photos, sizes, methods and model, and the protocol."""
    methods, sizes = meta["methods"], meta["sizes"]
    model = meta.get("model")
    lines = [
        "# Inpainting evaluation",
        "",
        f"- date: {meta['date']}; elapsed: {_duration(meta['elapsed_seconds'])}",
        f"- command: `{meta['command']}`",
        f"- {meta.get('photo_set', 'photos')} ({len(meta['images'])}): " + ", ".join(i["file"] for i in meta["images"]),
        f"- sizes: {', '.join(map(str, sizes))}; masks per (bin, border) and per severity: {meta['masks_per_bin']}; "
        f"seed: {meta['seed']}",
        f"- methods: {', '.join(methods)}"
        + (f"; PatchMatch patch {meta['patchmatch_patch']}" if "patchmatch" in methods else ""),
    ]
    if model:
        lines.append(
            f"- model: version `{model['version']}`, {model['steps']} training steps, "
            f"{model['parameters']:,} parameters, width {model['config']['width']}, depth "
            f"{model['config']['depth']}, working size {model['config']['working_size']} (from `{model['source']}`)"
        )
    return lines + [
        "",
        "Every method restores the same input and replaces exactly the hole (no dilation); metrics compare "
        "the composite with the ground truth over the whole image. Masks are binned by their hole-to-image "
        "ratio, with holes touching the image border or not. `n` = samples per method in the row. The detail "
        "ratios compare gradient energy (luminance, `np.gradient`) of the composite and the ground truth in the "
        "hole eroded by 1 px, as they are (fine) and after a Gaussian blur of sigma 2 px (blurred); a row's "
        "value is its summed energies' ratio.",
    ]


def _shown_metrics(meta: dict[str, Any]) -> list[str]:
    """The metrics the run computed (the perceptual distance only when it was on)."""
    return [m for m in (*METRICS, *DETAIL_METRICS) if m != "perceptual" or meta.get("perceptual") is not None]


def _n(by_method: dict[str, dict[str, Any]]) -> str:
    """A row's sample count: the most samples any of its methods has."""
    return str(max(c["n"] for c in by_method.values()))


def _bins_section(meta: dict[str, Any], agg: dict[str, Any], comp: Sequence[dict[str, Any]], size: int) -> list[str]:
    """One table per metric at ``size``: a row per hole bin and border setting, then all pooled;
    after the SSIM table, pconv against the best classical method per bin."""
    cells = _index(agg["bins"], ("size", "bin", "border"))
    overall = _index(agg["bins_overall"], ("size",))
    rows = []
    for b in range(len(HOLE_BINS)):
        for border in (False, True):
            by = cells.get((size, b, border), {})
            if by:
                rows.append(([bin_label(b), "yes" if border else "no", _n(by)], by))
    by = overall.get((size,), {})
    if by:
        rows.append((["all", "both", _n(by)], by))
    lines = ["", f"## {size} x {size}: hole-to-image ratio bins"]
    for metric in _shown_metrics(meta):
        lines += [
            "",
            f"### {_TITLES[metric]}",
            "",
            *_metric_table(metric, ["holes", "border", "n"], rows, meta["methods"]),
        ]
        if metric == "ssim":
            line = _comparison_line([c for c in comp if c.get("table") == _BINS_TABLE], size, "bin")
            lines += [
                "",
                line
                or "pconv was not evaluated in this run (or no classical method was), "
                "so there is no pconv-vs-classical comparison.",
            ]
    return lines


_GROUPS = {"people": "people", "old_print": "old prints", "scene": "scenes"}  # CATEGORIES as the tables name them


_CATEGORY_METRICS = ("psnr", "ssim", *DETAIL_METRICS)


def _groups(agg: dict[str, Any], size: int) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(label, {method: cell}) pooled over every hole bin at ``size``: all photos, then each photo
    category that has samples."""
    overall = _index(agg["bins_overall"], ("size",)).get((size,), {})
    by_cat = _index(agg.get("bins_overall_by_category", []), ("size", "category"))
    out = [("all photos", overall)] if overall else []
    return out + [(_GROUPS[c], by_cat[(size, c)]) for c in CATEGORIES if by_cat.get((size, c))]


def _category_section(
    meta: dict[str, Any], agg: dict[str, Any], comp: Sequence[dict[str, Any]], size: int
) -> list[str]:
    """PSNR, SSIM and the detail ratios per method, pooled over the hole bins, for all photos and
    each photo category, then pconv paired against each classical method per category; nothing
    when the photos have no categories."""
    groups = _groups(agg, size)
    if len(groups) < 2:
        return []
    lines = [
        "",
        f"## {size} x {size}: by photo category (all hole bins and border settings pooled)",
        "",
        "A photo of people that is an old print counts in both groups. Detail ratios: closest to 1 in bold.",
        "",
        "| photos | n | metric | " + " | ".join(meta["methods"]) + " |",
        "|" + "---|" * (3 + len(meta["methods"])),
    ]
    for label, by in groups:
        for metric in _CATEGORY_METRICS:
            lines.append(_metric_row(metric, [label, _n(by), metric], by, meta["methods"]))
    pairs = [c for c in comp if c.get("table") == _BY_CATEGORY and c["size"] == size]
    if pairs:
        lines += ["", "pconv paired per sample against each classical method, per category:", ""]
    for cat in CATEGORIES:
        parts = []
        for metric in ("psnr", "ssim"):
            these = [c for c in pairs if c["category"] == cat and c["metric"] == metric]
            if these:
                unit, digits = (" dB", 2) if metric == "psnr" else ("", 4)
                parts.append(
                    f"{metric.upper()} "
                    + "; ".join(
                        f"vs {c['best_classical']} {c['delta']:+.{digits}f}{unit} (better on {c['better']}/{c['n']}"
                        f"{', within noise' if c['within_noise'] else ''})"
                        for c in these
                    )
                )
        if parts:
            lines.append(f"- {_GROUPS[cat]}: " + ". ".join(parts) + ".")
    return lines


def _face_section(meta: dict[str, Any], agg: dict[str, Any], size: int) -> list[str]:
    """The PSNR over the hole pixels inside detected faces per method, pooled over the hole bins,
    for all photos and each category with a face in a hole; nothing when faces were not scored."""
    detector = meta.get("protocol", {}).get("face_detector")
    groups = _groups(agg, size)
    if detector is None or not groups:
        return []
    found = sum(1 for i in meta["images"] if i.get("faces", {}).get(str(size)))
    lines = [
        "",
        f"## {size} x {size}: PSNR inside faces (dB, higher is better; all hole bins and border settings pooled)",
        "",
        f"Frontal faces found in the ground truth by {_detector_name(detector)} in {found} of "
        f"{len(meta['images'])} photos. The PSNR is over the hole pixels inside the face boxes only, from the squared "
        "error pooled over all samples' face hole pixels; `n` = samples with a face in the hole.",
        "",
    ]
    rows = []
    for label, by in groups:
        some = next(iter(by.values()))
        if some.get("face_samples"):
            rows.append(([label, str(some["face_samples"]), f"{some['face_hole_pixels']:,}"], by))
    if not rows:
        return lines + ["No detected face overlaps a hole at this size."]
    return lines + _metric_table("face_psnr", ["photos", "n", "hole pixels in faces"], rows, meta["methods"])


def _detector_name(detector: dict[str, Any]) -> str:
    if "custom" in detector:
        return f"`{detector['custom']}`"
    return (
        f"scikit-image's LBP face cascade (min. neighbours {detector['min_neighbor_number']}, smallest face "
        f"{detector['min_size_fraction']:g} of the shorter side and at least {detector['min_size_px']} px, "
        f"scale factor {detector['scale_factor']:g})"
    )


_SEVERITY_TITLES = {  # by the severity table's generator (cases.DAMAGE_GENERATORS)
    "synthetic": "## Damage synthesiser (the method sees the damaged photo and the exact mask; scored against the "
    "clean photo)",
    "physical": "## Physical print damage (the method sees the damaged scan and the exact footprint of the damage; "
    "scored against the undamaged scan of the same print)",
}


def _severity_section(meta: dict[str, Any], agg: dict[str, Any], comp: Sequence[dict[str, Any]]) -> list[str]:
    """Per size, one table per metric with a row per damage severity (and its mean hole), then
    pconv against the best classical method per severity."""
    sev = _index(agg["severity"], ("size", "severity"))
    lines = [
        "",
        _SEVERITY_TITLES[meta["protocol"].get("damage", "synthetic")],
    ]
    for size in meta["sizes"]:
        rows = []
        for s in SEVERITIES:
            by = sev.get((size, s), {})
            if by:
                hole = np.mean([c["hole_ratio"] for c in by.values()])
                rows.append(([s, f"{100 * hole:.1f}%", _n(by)], by))
        for metric in _shown_metrics(meta):
            lines += [
                "",
                f"### {size} x {size}: {_TITLES[metric]}",
                "",
                *_metric_table(metric, ["severity", "mean hole", "n"], rows, meta["methods"]),
            ]
        line = _comparison_line([c for c in comp if c.get("table") == _SEVERITY_TABLE], size, "severity")
        if line:
            lines += ["", line]
    return lines


def _seconds_section(meta: dict[str, Any], agg: dict[str, Any]) -> list[str]:
    """Mean and median seconds of a restore call per method and size, and what they were timed on."""
    sizes = meta["sizes"]
    secs = _index(agg["seconds"], ("size",))
    lines = [
        "",
        "## Seconds per image (wall time of one restore call, mean / median)",
        "",
        "| method | " + " | ".join(f"{s} px" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for m in meta["methods"]:
        vals = [secs.get((s,), {}).get(m) for s in sizes]
        lines.append(
            f"| {m} | "
            + " | ".join(f"{c['seconds']:.3f} / {c['seconds_median']:.3f}" if c else "-" for c in vals)
            + " |"
        )
    env = meta["environment"]
    return lines + [
        "",
        f"Timed on {env['cpu_count']} CPU core(s) with {env['torch_threads']} torch thread(s); load "
        f"average at the start {env['load_average_at_start']} (other jobs on the machine slow every method "
        "alike). PatchMatch costs seconds per image and grows with the hole; leave it out with `--methods`.",
        "",
    ]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


_CHARTED = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "detail_fine": "detail ratio, fine",
    "detail_blurred": "detail ratio, blurred (sigma 2 px)",
}


def write_chart(path: Path, pooled: Sequence[dict[str, Any]], sizes: Sequence[int], methods: Sequence[str]) -> None:
    """PSNR, SSIM and the two detail ratios (with the original's 1 as a line) against the hole
    bin, one line per method, one column of panels per size."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(sizes), 3.75 * len(_CHARTED)), layout="constrained")
    axes = fig.subplots(len(_CHARTED), len(sizes), squeeze=False)
    by = _index(pooled, ("size", "bin"))
    for j, size in enumerate(sizes):
        for i, (metric, title) in enumerate(_CHARTED.items()):
            ax = axes[i][j]
            for m in methods:
                pts = [
                    (b, by[(size, b)][m][metric])
                    for b in range(len(HOLE_BINS))
                    if by.get((size, b), {}).get(m, {}).get(metric) is not None
                ]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=m, linestyle="--" if m == "pconv" else "-")
            if metric in DETAIL_METRICS:
                ax.axhline(1.0, color="black", linewidth=0.8, alpha=0.5)
            ax.set_xticks(range(len(HOLE_BINS)), [bin_label(b) for b in range(len(HOLE_BINS))], rotation=30)
            ax.set_title(f"{title} at {size} x {size}")
            ax.set_xlabel("hole-to-image ratio")
            ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.savefig(path, dpi=100)


CROP = 128  # side of the contact sheet's 100% crops (px), at most the cell


def hole_crop_box(known: np.ndarray, crop: int) -> tuple[int, int]:
    """(top, left) of a ``crop`` x ``crop`` window inside the image, centred on the hole pixel
    nearest the centroid of the largest 8-connected hole region (the image's centre when there is
    no hole)."""
    from scipy.ndimage import label

    h, w = known.shape
    labels, count = label(~known, structure=np.ones((3, 3), bool))
    if count:
        sizes = np.bincount(labels.ravel())[1:]
        ys, xs = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        cy, cx = int(ys[i]), int(xs[i])
    else:
        cy, cx = h // 2, w // 2
    return min(max(cy - crop // 2, 0), h - crop), min(max(cx - crop // 2, 0), w - crop)


def render_contact_sheet(
    examples: Sequence[Example], methods: Sequence[str], cell: int, crop: int | None = None
) -> Image.Image:
    """Rows = examples; columns = the input with the hole in red, the mask, each method's
    composite (captioned with its PSNR / SSIM), the ground truth. Under each example, the same
    columns as 100% crops (``crop`` px, default ``CROP``, at most the cell and the image) of its
    largest hole, pixels copied without resampling, each method's captioned with its detail ratios
    (fine / blurred); the crop's place is outlined on the input."""
    columns = ["input (hole in red)", "mask (white = hole)", *methods, "ground truth"]
    gap, head, caption, foot = 6, 24, 20, 18
    side = min(min(ex.gt.shape[:2]) for ex in examples) if examples else cell
    crop = min(CROP if crop is None else crop, cell, side)
    block = caption + cell + foot + crop + foot + gap
    font, small = caption_font(14), caption_font(12)
    width = gap + len(columns) * (cell + gap)
    height = head + len(examples) * block
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(columns):
        draw.text((gap + j * (cell + gap), 5), name, fill="black", font=font)
    for i, ex in enumerate(examples):
        y = head + i * block
        draw.text((gap, y + 3), f"{ex.caption}; below: 100% crops", fill=(60, 60, 60), font=small)
        y += caption
        shown = ex.seen.astype(np.float32)
        shown[~ex.known] = 0.5 * shown[~ex.known] + 0.5 * np.array([255, 0, 0], np.float32)
        tiles = [
            shown.round().astype(np.uint8),
            np.asarray(known_to_image(ex.known).convert("RGB")),
            *(ex.results[m][0] for m in methods),
            ex.gt,
        ]
        top, left = hole_crop_box(ex.known, crop)
        for j, tile in enumerate(tiles):
            x = gap + j * (cell + gap)
            sheet.paste(cell_image(tile, cell), (x, y))
            sheet.paste(
                Image.fromarray(np.ascontiguousarray(tile[top : top + crop, left : left + crop])), (x, y + cell + foot)
            )
            if 2 <= j < 2 + len(methods):
                scores = ex.results[methods[j - 2]][1]
                draw.text(
                    (x, y + cell + 2), f"{scores['psnr']:.2f} dB / {scores['ssim']:.3f}", fill="black", font=small
                )
                detail = [format_metric(m, scores.get(m)) for m in DETAIL_METRICS]
                draw.text((x, y + cell + foot + crop + 2), f"detail {' / '.join(detail)}", fill="black", font=small)
        scale = cell / ex.gt.shape[1]
        box = [gap + left * scale, y + top * scale, gap + (left + crop) * scale - 1, y + (top + crop) * scale - 1]
        draw.rectangle(box, outline=(255, 255, 0), width=1)
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


def _contact_plan(
    images: Sequence[EvalImage], size: int, severity: bool, damage: str = "synthetic"
) -> dict[tuple[int, Setting], str]:
    """Which (image index, setting) go on the contact sheet: small, medium and the largest holes
    (inner, border, inner) and every severity, each from a different photo where possible."""
    picks = [
        Setting(_BINS_TABLE, size, 0, 0, False),
        Setting(_BINS_TABLE, size, 0, 2, True),
        Setting(_BINS_TABLE, size, 0, 5, False),
    ]
    if severity:
        picks += [Setting(_SEVERITY_TABLE, size, 0, severity=s, damage=damage) for s in SEVERITIES]
    out = {}
    for r, s in enumerate(picks):
        img = images[(r * len(images)) // len(picks)]
        what = (
            f"holes {bin_label(s.bin)}, {'touching the border' if s.border else 'inside'}"
            if s.table == _BINS_TABLE
            else f"{s.severity} {s.damage} damage"
        )
        out[(img.index, s)] = f"{img.file}, {size} px: {what}"
    return out
