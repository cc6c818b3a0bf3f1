"""The README's big-scan table for the damage detector: F1 of the suggestion on big photos with
moderate synthetic damage, at full resolution only and with the coarse pass, and the share of
the same photo flagged without damage.

The photos are scikit-image's astronaut upscaled to 2048x2048 and its coffee upscaled to
3000x2000 and 6000x4000 (bicubic); the damage is ``synthesize_damage(photo, "moderate", seed=3)``,
drawn at the photo's size (its sizes scale with the diagonal). Prints a Markdown table.

    .venv/bin/python bench/detect_big_scans.py [--weights weights/damage-detector]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="detector folder (default: the bundled weights/damage-detector)")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    import cv2
    import numpy as np
    from skimage import data

    from inpaint.detect.pipeline import DetectSettings, detect_damage
    from inpaint.eval.metrics import f1_counts, scores
    from inpaint.nn.damagenet import load_detector
    from inpaint.synth.damage import synthesize_damage

    model = load_detector(args.weights, device="cpu")
    cases = [
        ("astronaut", data.astronaut(), (2048, 2048)),
        ("coffee", data.coffee(), (3000, 2000)),
        ("coffee", data.coffee(), (6000, 4000)),
    ]
    print(f"Detector `{model.config.version}`, moderate damage (seed 3), sensitivity 0.5.\n")
    print("| photo | F1 full resolution only | F1 with the coarse pass | undamaged photo flagged (only / with) |")
    print("|---|---:|---:|---:|")
    for name, image, (w, h) in cases:
        photo = np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC))
        damaged, known = synthesize_damage(photo, "moderate", seed=3)
        truth = ~known
        f1, clean = [], []
        for coarse in (None, DetectSettings().coarse_side):
            settings = DetectSettings(coarse_side=coarse)
            found = detect_damage(damaged, model=model, settings=settings).damage
            f1.append(scores(*f1_counts(found, truth))["f1"])
            clean.append(detect_damage(photo, model=model, settings=settings).fraction)
        print(f"| {name}, {w}x{h} | {f1[0]:.2f} | {f1[1]:.2f} | {clean[0]:.2%} / {clean[1]:.2%} |", flush=True)


if __name__ == "__main__":
    main()
