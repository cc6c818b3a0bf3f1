"""What the photo-set commands (open_photos, eval_photos, test_photos) share on the command line:
the output and cache options, logging, a build that ends in a one-line error, and the per-source
outcome lines."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inpaint.datasets.dedupe import report_overlap
from inpaint.datasets.fetch import DEFAULT_CACHE, FetchError
from inpaint.datasets.manifest import AddResult, PhotoStore

WHEELS_AND_DEBS = "download cache; wheels/ and debs/ inside (default: %(default)s)"


def add_output_arguments(parser: argparse.ArgumentParser, cache_help: str = WHEELS_AND_DEBS) -> None:
    """--out and --cache (default: the shared download cache)."""
    parser.add_argument("--out", type=Path, required=True, help="output folder (outside the repo)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=cache_help)


def add_build_arguments(parser: argparse.ArgumentParser, cache_help: str = WHEELS_AND_DEBS) -> None:
    """--out, --cache, --min-side and -v, the options of every listed photo set."""
    add_output_arguments(parser, cache_help)
    parser.add_argument("--min-side", type=int, default=256)
    parser.add_argument("-v", "--verbose", action="store_true")


def store_summary(store: PhotoStore) -> str:
    """The stored photos' shorter sides, size on disk and manifest, for the last line of a build."""
    size = sum((store.root / r.file).stat().st_size for r in store.rows)
    sides = [min(r.width, r.height) for r in store.rows]
    return (
        f"shorter sides {min(sides, default=0)}-{max(sides, default=0)} px, {size / 2**20:.1f} MiB; "
        f"manifest: {store.manifest_path}"
    )


def overlap_exit(pairs: list[tuple[Path | None, Path]], message: str) -> int:
    """Check each (a, b) pair of folders whose a is given for near duplicates (dedupe.py): 2 after
    printing ``message`` when any pair has one, else 0."""
    flagged = sum(report_overlap(a, b) for a, b in pairs if a is not None)
    if flagged:
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def run_build(build: Callable[..., dict[str, Counter[AddResult]]], *args: Any, **kwargs: Any) -> dict | None:
    """``build(*args, **kwargs)``, or None after printing a download failure as one line."""
    try:
        return build(*args, **kwargs)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def build_and_report(
    build: Callable[..., dict[str, Counter[AddResult]]], args: argparse.Namespace, **kwargs: Any
) -> PhotoStore | None:
    """The body of a listed set's command: logging as ``-v`` says, ``build(args.out, args.cache,
    min_side=args.min_side, **kwargs)``, one line per source; the store built, or None after a
    download failure (printed as one line)."""
    setup_logging(args.verbose)
    summary = run_build(build, args.out, args.cache, min_side=args.min_side, **kwargs)
    if summary is None:
        return None
    print_outcomes(summary)
    return PhotoStore(args.out)


def print_outcomes(summary: dict[str, Counter[AddResult]]) -> None:
    """One line per source: how many photos were added, kept, skipped..."""
    for source, outcomes in summary.items():
        detail = ", ".join(f"{n} {k.value}" for k, n in outcomes.items())
        print(f"{source:32} {detail}")
