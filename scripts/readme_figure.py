"""Rebuild docs/images/restoration.jpg, the README's example: scikit-image's astronaut with severe
synthetic damage, its mask, the bundled model's first restoration, and the original.

    .venv/bin/python scripts/readme_figure.py [--weights weights] [--out docs/images/restoration.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from skimage import data

    import inpaint
    from inpaint.synth.damage import synthesize_damage

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(ROOT / "weights"))
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "restoration.jpg"))
    p.add_argument("--panel", type=int, default=384)
    args = p.parse_args()

    photo = data.astronaut()  # 512 x 512, public domain (NASA)
    damaged, known = synthesize_damage(photo, "severe", seed=11)
    model = inpaint.load_model(args.weights, device="cpu")
    first = inpaint.restore(damaged, known, n=4, seed=0, model=model)[0]
    panels = [damaged, np.repeat((~known)[..., None] * np.uint8(255), 3, axis=2), np.asarray(first.image), photo]
    gap, size = 6, args.panel
    sheet = Image.new("RGB", (len(panels) * size + (len(panels) - 1) * gap, size), "white")
    for i, a in enumerate(panels):
        sheet.paste(Image.fromarray(a).resize((size, size), Image.Resampling.LANCZOS), (i * (size + gap), 0))
    sheet.save(args.out, quality=88)
    print(f"wrote {args.out}: damage {1 - known.mean():.1%}, model {model.config.version}")


if __name__ == "__main__":
    main()
