"""Benchmark detect_damage(): the learned detector and the classical baseline on a 512x512 photo
and on a 6000x4000 scan (tiled), in one run so their ratio is measured under the same load.

Each case runs in a fresh process so that its peak memory (max RSS) is its own. Prints a Markdown
table; the figures in the README come from this script.

    .venv/bin/python bench/bench_detect.py [--weights weights/damage-detector] [--repeats 3] [--skip-large]
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


def make_photo(size: str):
    import cv2
    import numpy as np
    from skimage import data

    from inpaint.synth.damage import synthesize_damage

    if size == "512":
        photo = cv2.resize(data.astronaut(), (512, 512), interpolation=cv2.INTER_AREA)
    else:  # a real photo upscaled to 24 MP (content does not change the cost)
        photo = cv2.resize(data.coffee(), (6000, 4000), interpolation=cv2.INTER_LINEAR)
    damaged, _ = synthesize_damage(photo, "moderate", seed=3)
    return np.ascontiguousarray(damaged)


def run_case(method: str, size: str, weights: str | None, repeats: int) -> dict:
    import torch

    from inpaint.detect.pipeline import detect_damage
    from inpaint.nn.damagenet import load_detector

    torch.set_num_threads(os.cpu_count() or 1)
    photo = make_photo(size)
    model = load_detector(weights, device="cpu") if method == "learned" else None
    detect_damage(photo[:256, :256], method=method, model=model)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        det = detect_damage(photo, method=method, model=model)
        times.append(time.perf_counter() - t0)
    return {
        "method": method,
        "size": size,
        "seconds": min(times),
        "median": sorted(times)[len(times) // 2],
        "flagged": det.fraction,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", help="detector folder (default: the bundled weights/damage-detector)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-large", action="store_true")
    p.add_argument("--case", help=argparse.SUPPRESS)  # internal: method,size
    args = p.parse_args()
    if args.case:
        method, size = args.case.split(",")
        print(json.dumps(run_case(method, size, args.weights, args.repeats)))
        return
    sizes = ["512"] + ([] if args.skip_large else ["6000x4000"])
    rows = []
    for size in sizes:
        for method in ("learned", "classical"):
            cmd = [sys.executable, __file__, "--case", f"{method},{size}", "--repeats", str(args.repeats)]
            if args.weights:
                cmd += ["--weights", args.weights]
            out = subprocess.run(
                cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
            )
            if out.returncode != 0:
                sys.exit(
                    f"case {method} {size} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"
                )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average before: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; best of {args.repeats}\n"
    )
    print("| photo | method | seconds (best) | median | learned / classical | suggested | peak RSS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    by = {(r["size"], r["method"]): r for r in rows}
    for r in rows:
        ratio = r["seconds"] / by[(r["size"], "classical")]["seconds"]
        print(
            f"| {r['size']} | {r['method']} | {r['seconds']:.3f} | {r['median']:.3f} | {ratio:.1f}x | "
            f"{r['flagged']:.2%} | {r['peak_rss_mb']:.0f} MB |"
        )


if __name__ == "__main__":
    main()
