"""What the restorer's evaluation writes besides ``results.json``: ``results.md`` (a table per
metric and size, with hole bins and damage severities as rows, methods as columns and the best
value in bold, the paired pconv-vs-classical comparison and the seconds per image), ``chart.png``
(PSNR and SSIM per hole bin) and ``contact_sheet.png`` (examples a person can look at: input,
mask, every method's composite with its scores, ground truth).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..io.masks import known_to_image
from ..synth.damage import SEVERITIES
from ..synth.holes import HOLE_BINS
from .cases import _BINS_TABLE, _SEVERITY_TABLE, CONTACT_SHEET_MAX_BYTES, EvalImage, Example, Setting, bin_label
from .metrics import HIGHER_IS_BETTER, METRICS
from .sheets import caption_font, cell_image


def format_metric(metric: str, v: float | None) -> str:
    """A metric as the tables show it (L1 in percent; "-" for none)."""
    if v is None:
        return "-"
    return {
        "psnr": f"{v:.2f}",
        "ssim": f"{v:.4f}",
        "l1": f"{100 * v:.2f}",
        "perceptual": f"{v:.4f}",
        "seconds": f"{v:.3f}",
    }[metric]


_TITLES = {
    "psnr": "PSNR (dB, higher is better)",
    "ssim": "SSIM (higher is better)",
    "l1": "L1 (mean absolute error over the whole image, %, lower is better)",
    "perceptual": "Perceptual distance (MobileNetV2 features, lower is better)",
}


def _metric_table(
    metric: str, lead: Sequence[str], rows: Sequence[tuple[Sequence[str], dict[str, Any]]], methods: Sequence[str]
) -> list[str]:
    """A Markdown table: ``lead`` columns, then one column per method; the best value of each row
    (at the displayed precision) in bold. ``rows``: (lead cells, {method: cell dict})."""
    lines = ["| " + " | ".join([*lead, *methods]) + " |", "|" + "---|" * (len(lead) + len(methods))]
    for cells, by_method in rows:
        shown = {m: format_metric(metric, by_method[m].get(metric)) if m in by_method else "-" for m in methods}
        values = [by_method[m][metric] for m in methods if m in by_method and by_method[m].get(metric) is not None]
        if values:
            best = format_metric(metric, max(values) if HIGHER_IS_BETTER[metric] else min(values))
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
        f"- photos ({len(meta['images'])}): " + ", ".join(i["file"] for i in meta["images"]),
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
        "ratio, with holes touching the image border or not. `n` = samples per method in the row.",
    ]


def _shown_metrics(meta: dict[str, Any]) -> list[str]:
    """The metrics the run computed (the perceptual distance only when it was on)."""
    return [m for m in METRICS if m != "perceptual" or meta.get("perceptual") is not None]


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


def _severity_section(meta: dict[str, Any], agg: dict[str, Any], comp: Sequence[dict[str, Any]]) -> list[str]:
    """Per size, one table per metric with a row per damage severity (and its mean hole), then
    pconv against the best classical method per severity."""
    sev = _index(agg["severity"], ("size", "severity"))
    lines = [
        "",
        "## Damage synthesiser (the method sees the damaged photo and the exact mask; scored against the clean photo)",
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


def render_contact_sheet(examples: Sequence[Example], methods: Sequence[str], cell: int) -> Image.Image:
    """Rows = examples; columns = the input with the hole in red, the mask, each method's
    composite (captioned with its PSNR / SSIM), the ground truth."""
    columns = ["input (hole in red)", "mask (white = hole)", *methods, "ground truth"]
    gap, head, caption, foot = 6, 24, 20, 18
    font, small = caption_font(14), caption_font(12)
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
        tiles = [
            shown.round().astype(np.uint8),
            np.asarray(known_to_image(ex.known).convert("RGB")),
            *(ex.results[m][0] for m in methods),
            ex.gt,
        ]
        for j, tile in enumerate(tiles):
            x = gap + j * (cell + gap)
            sheet.paste(cell_image(tile, cell), (x, y))
            if 2 <= j < 2 + len(methods):
                scores = ex.results[methods[j - 2]][1]
                draw.text(
                    (x, y + cell + 2), f"{scores['psnr']:.2f} dB / {scores['ssim']:.3f}", fill="black", font=small
                )
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
    picks = [
        Setting(_BINS_TABLE, size, 0, 0, False),
        Setting(_BINS_TABLE, size, 0, 2, True),
        Setting(_BINS_TABLE, size, 0, 5, False),
    ]
    if severity:
        picks += [Setting(_SEVERITY_TABLE, size, 0, severity=s) for s in SEVERITIES]
    out = {}
    for r, s in enumerate(picks):
        img = images[(r * len(images)) // len(picks)]
        what = (
            f"holes {bin_label(s.bin)}, {'touching the border' if s.border else 'inside'}"
            if s.table == _BINS_TABLE
            else f"{s.severity} synthetic damage"
        )
        out[(img.index, s)] = f"{img.file}, {size} px: {what}"
    return out
