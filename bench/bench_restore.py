"""Benchmark restore(): K = 1, 4, 8 partial-conv restorations of a 512x512 photo with about 15%
damage next to the classical methods, and a 6000x4000 photo with about 1% scattered scratches.

Each case runs in a fresh process so that its peak memory (max RSS) is its own. Prints a Markdown
table; the figures in the README come from this script.

    .venv/bin/python bench/bench_restore.py [--weights weights] [--repeats 3] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_inputs(kind: str):
    import numpy as np
    from skimage import data, transform

    from inpaint.synth.damage import synthesize_damage_mask
    from inpaint.synth.holes import random_irregular_mask

    if kind == "512":
        img = (transform.resize(data.astronaut(), (512, 512), anti_aliasing=True) * 255).round().astype(np.uint8)
        known = random_irregular_mask(512, 512, np.random.default_rng(7), hole_range=(0.14, 0.16))
        return img, known
    # 6000x4000: a real photo upscaled (texture does not matter for timing), thin scratches ~1%
    import cv2

    img = cv2.resize(data.coffee(), (6000, 4000), interpolation=cv2.INTER_LINEAR)  # uint8, 72 MB
    known = synthesize_damage_mask(4000, 6000, "minor", 3, kinds=("scratch", "crease"))
    return img, known


def run_case(method: str, n: int, size: str, weights: str | None, repeats: int) -> dict:
    import torch

    from inpaint import load_model, restore

    torch.set_num_threads(os.cpu_count() or 1)
    img, known = make_inputs(size)
    model = None
    if method == "pconv":
        try:
            model = load_model(weights, device="cpu")
            label = model.config.version
        except ValueError:
            from inpaint import PConvUNet, PConvUNetConfig

            model = PConvUNet(PConvUNetConfig.compact()).eval()  # same cost as trained weights
            label = "compact (untrained: timing only)"
    else:
        label = method
    restore(img, known, n=n, seed=0, method=method, model=model)  # warm-up (threads, allocator, JIT)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        restore(img, known, n=n, seed=r, method=method, model=model)
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    diversity = None
    if n > 1:  # mean absolute difference (0-255) inside the damage, over all pairs of candidates
        import numpy as np

        cands = restore(img, known, n=n, seed=0, method=method, model=model)
        hole = ~known
        pairs = [
            np.abs(a.image[hole].astype(np.int16) - b.image[hole].astype(np.int16)).mean()
            for i, a in enumerate(cands)
            for b in cands[i + 1 :]
        ]
        diversity = round(float(np.mean(pairs)), 2)
    return {
        "diversity": diversity,
        "method": method,
        "model": label,
        "n": n,
        "size": size,
        "hole": round(float(1 - known.mean()), 4),
        "best_s": min(times),
        "median_s": sorted(times)[len(times) // 2],
        "peak_rss_mb": round(peak_mb),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = ap.parse_args()
    if args.case:
        method, n, size = args.case.split(":")
        print(json.dumps(run_case(method, int(n), size, args.weights, args.repeats)))
        return

    cases = [
        ("telea", 1, "512"),
        ("ns", 1, "512"),
        ("biharmonic", 1, "512"),
        ("patchmatch", 1, "512"),
        ("pconv", 1, "512"),
        ("pconv", 4, "512"),
        ("pconv", 8, "512"),
    ]
    if not args.skip_large:
        cases += [("telea", 1, "6000x4000"), ("pconv", 1, "6000x4000"), ("pconv", 4, "6000x4000")]
    print(
        f"# restore() benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads = cores, best of {args.repeats} after a warm-up\n"
    )
    print("| photo | damage | method | K | best s | median s | peak RSS MB | vs Telea (same photo) | diversity |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for method, n, size in cases:
        cmd = [
            sys.executable,
            __file__,
            "--case",
            f"{method}:{n}:{size}",
            "--repeats",
            str(1 if size != "512" else args.repeats),
        ]
        if args.weights:
            cmd += ["--weights", args.weights]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if out.returncode:
            print(f"| {size} | | {method} | {n} | failed: {out.stderr.strip().splitlines()[-1]} | | | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        base = next((b for b in results if b["method"] == "telea" and b["size"] == r["size"]), None)
        ratio = f"{r['best_s'] / base['best_s']:.1f}x" if base and base is not r else ""
        name = r["model"] if method == "pconv" else method
        print(
            f"| {size} | {100 * r['hole']:.1f}% | {name} | {n} | {r['best_s']:.3f} | {r['median_s']:.3f} | "
            f"{r['peak_rss_mb']} | {ratio} | {'' if r['diversity'] is None else r['diversity']} |",
            flush=True,
        )
    print("\ndiversity: mean absolute difference (0-255) inside the damage between every pair of the K candidates")


if __name__ == "__main__":
    main()
