"""Plain vs grain finish: detail and PSNR of the fill inside synthetic holes.

For each photo, a seeded irregular hole mask (strokes, 10-20% of the photo) is restored by the
bundled model twice, with the same dilation (0) and seed: finish ``plain`` and finish ``grain``.
Inside the hole it reports the gradient energy of the fill's luminance relative to the
original's (mean |np.gradient|^2), on the image as it is ("fine") and after a sigma=2 Gaussian
blur of both ("blurred": structure, with the grain mostly gone), and the PSNR against the
original over the hole and over the whole image.

    .venv/bin/python bench/grain_finish.py --crops /tmp/grain-crops

Photos: six of the evaluation photos (``~/.cache/inpaint-photos/eval``; the 1927 Solvay photo
centre-cropped to 768 px) and, when ``../shared/real-damage`` exists, three of its grainy old
prints (holes made the same way: these are real scans, so the original is known). ``--crops``
writes 100% crops (original | plain | grain) of each hole's largest part for looking; never
commit crops of the real scans.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

import inpaint
from inpaint.io.photos import LUMA_601
from inpaint.restoration import CandidateSpec
from inpaint.synth.holes import random_irregular_mask

EVAL = [
    "scikit-image/astronaut.png",
    "scikit-image/camera.png",
    "old_photos/Solvay_conference_1927.png",
    "sporco/barbara.png",
    "scikit-image/coffee.png",
    "sporco/kodim23.png",
]
REAL = ["old_b.png", "old_e.png", "old_g.png"]
MAX_SIDE = 768


def load(path: Path) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    y0, x0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    return np.ascontiguousarray(img[y0 : y0 + MAX_SIDE, x0 : x0 + MAX_SIDE])


def luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ LUMA_601.astype(np.float64)


def energy(lum: np.ndarray, hole: np.ndarray, blur: float) -> float:
    if blur:
        lum = ndimage.gaussian_filter(lum, blur)
    gy, gx = np.gradient(lum)
    return float((gx**2 + gy**2)[hole].mean())


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = d[where].mean() if where is not None else d.mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def crop_of(hole: np.ndarray, side: int = 160) -> tuple[slice, slice]:
    dist = ndimage.distance_transform_edt(hole)
    y, x = np.unravel_index(int(np.argmax(dist)), hole.shape)
    h, w = hole.shape
    y0, x0 = min(max(0, y - side // 2), max(0, h - side)), min(max(0, x - side // 2), max(0, w - side))
    return slice(y0, y0 + side), slice(x0, x0 + side)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eval", type=Path, default=Path.home() / ".cache/inpaint-photos/eval")
    p.add_argument("--real", type=Path, default=Path("../shared/real-damage"))
    p.add_argument("--crops", type=Path, help="write 100%% crops (original | plain | grain) here")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    model = inpaint.load_model()
    photos = [(name, args.eval / name) for name in EVAL]
    if args.real.is_dir():
        photos += [(f"real/{name}", args.real / name) for name in REAL]
    else:
        print(f"{args.real} not found: the real scans are skipped")
    if args.crops:
        args.crops.mkdir(parents=True, exist_ok=True)
    rows = []
    print(
        "| photo | hole | fine plain | fine grain | blurred plain | blurred grain | PSNR hole plain | grain | PSNR image plain | grain |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k, (name, path) in enumerate(photos):
        img = load(path)
        known = random_irregular_mask(*img.shape[:2], np.random.default_rng(args.seed + k), hole_range=(0.1, 0.2))
        hole = ~known
        specs = [CandidateSpec("pconv", 0, 0.0, args.seed), CandidateSpec("pconv", 0, 0.0, args.seed, finish="grain")]
        plain, grain = (np.asarray(c.image) for c in inpaint.restore(img, known, model=model, specs=specs))
        lo, lp, lg = luma(img), luma(plain), luma(grain)
        row = [
            energy(lp, hole, 0) / energy(lo, hole, 0),
            energy(lg, hole, 0) / energy(lo, hole, 0),
            energy(lp, hole, 2) / energy(lo, hole, 2),
            energy(lg, hole, 2) / energy(lo, hole, 2),
            psnr(plain, img, hole),
            psnr(grain, img, hole),
            psnr(plain, img),
            psnr(grain, img),
        ]
        rows.append(row)
        print(
            f"| {name} | {hole.mean():.1%} | "
            + " | ".join(f"{v:.3f}" if i < 4 else f"{v:.2f}" for i, v in enumerate(row))
            + " |"
        )
        if args.crops:
            ys, xs = crop_of(hole)
            sheet = np.concatenate([img[ys, xs], plain[ys, xs], grain[ys, xs]], axis=1)
            Image.fromarray(sheet).save(args.crops / f"{k:02d}-{Path(name).stem}.png")
    mean = np.mean(rows, axis=0)
    print("| mean | | " + " | ".join(f"{v:.3f}" if i < 4 else f"{v:.2f}" for i, v in enumerate(mean)) + " |")


if __name__ == "__main__":
    main()
