"""A contact sheet of the damage suggestion over every photo in a folder: each photo, then each
detector's suggestion in red over it, one row per photo, with the share suggested.

    .venv/bin/python scripts/suggestion_sheet.py FOLDER --out sheet.jpg [--methods learned,classical]
        [--sensitivity 0.5] [--weights DETECTOR] [--row-height 320]

For looking at what the suggestion does to real damage (for example the scans of damaged prints
kept outside the repository): write the sheet outside the repository, never commit it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


def overlay(rgb: np.ndarray, damage: np.ndarray) -> np.ndarray:
    out = rgb.astype(np.float32)
    out[damage] = 0.3 * out[damage] + 0.7 * np.array((255, 30, 30), np.float32)
    return out.astype(np.uint8)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import inpaint

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder")
    p.add_argument("--out", required=True)
    p.add_argument("--methods", default="learned,classical")
    p.add_argument("--sensitivity", type=float, default=0.5)
    p.add_argument("--weights")
    p.add_argument("--row-height", type=int, default=320)
    args = p.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    model = inpaint.load_detector(args.weights) if "learned" in methods else None
    rows = []
    for path in sorted(f for f in Path(args.folder).iterdir() if f.suffix.lower() in SUFFIXES):
        rgb = inpaint.open_photo(path).rgb8
        panels = [(path.name, rgb)]
        for m in methods:
            found = inpaint.detect_damage(rgb, args.sensitivity, method=m, model=model)
            panels.append((f"{m}: {found.fraction:.1%}", overlay(rgb, found.damage)))
        h = args.row_height
        w = round(rgb.shape[1] * h / rgb.shape[0])
        row = Image.new("RGB", (w * len(panels), h + 20), "white")
        draw = ImageDraw.Draw(row)
        for j, (label, a) in enumerate(panels):
            row.paste(Image.fromarray(a).resize((w, h), Image.Resampling.LANCZOS), (j * w, 20))
            draw.text((j * w + 4, 3), label, fill="black")
        rows.append(row)
        print(f"{path.name}: " + ", ".join(label for label, _ in panels[1:]))
    if not rows:
        print(f"no photos in {args.folder}", file=sys.stderr)
        return 2
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    sheet.save(args.out, quality=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
