"""What the restorer is evaluated on: the photos (centre squares), the settings (hole bins with
and without border contact, damage severities) and the masked input each seed makes; the
detector's evaluation reads the same photos and squares."""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..synth.damage import SEVERITIES, synthesize_damage
from ..synth.holes import HOLE_BINS, random_irregular_mask
from ..synth.physical import physical_damage
from ..train.data import IMAGE_EXTS, load_photo

CONTACT_SHEET_MAX_BYTES = 3_000_000


_BINS_TABLE, _SEVERITY_TABLE = "bins", "severity"

_BY_CATEGORY = "bins_by_category"  # the comparison's table for the hole-bin rows paired per photo category

# The severity table's damage: "synthetic" is the damage synthesiser (synth.damage; the restorer
# trains on its masks too), "physical" the physical model of print damage (synth.physical), written
# independently of everything the restorer trained on. A physical sample prints the photo, damages
# the print and scans it: the method sees the damaged scan with the exact footprint of the damage
# as its mask and is scored against the undamaged scan of the same print.
DAMAGE_GENERATORS = ("synthetic", "physical")


def bin_label(index: int) -> str:
    lo, hi = HOLE_BINS[index]
    return f"({lo:g}, {hi:g}]"


@dataclass(frozen=True)
class EvalImage:
    index: int  # position in the sorted list: part of every mask's seed
    file: str  # relative to the image folder, POSIX separators
    path: Path
    sha256: str
    width: int
    height: int
    source: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # manifest provenance


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SCORED_ROLES = ("eval", "test")  # validation photos (eval_photos) and held-out test photos (test_photos)
PHOTO_SETS = {"eval": "validation photos", "test": "test photos"}


def photo_set(images: list[EvalImage]) -> str:
    """What a run scored, for its tables: "test photos", "validation photos", both, or "photos"
    (a folder without a manifest)."""
    roles = sorted({i.source.get("role", "") for i in images})
    named = [PHOTO_SETS[r] for r in roles if r in PHOTO_SETS]
    return " and ".join(named) if named and len(named) == len(roles) else "photos"


def find_images(folder: str | os.PathLike[str], limit: int | None = None) -> list[EvalImage]:
    """The scored photos of ``folder``, sorted by file: its manifest's rows whose role is in
    :data:`SCORED_ROLES` (the stored hash is checked), or every image file below it when there is
    no manifest."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist (or is not a folder)")
    manifest = root / "manifest.csv"
    rows: dict[str, dict[str, str]] = {}
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
        roles = sorted({r.get("role") or "train" for r in table})  # inpaint.train.data: no role means training
        rows = {r["file"]: r for r in table if (r.get("role") or "train") in SCORED_ROLES}
        if not rows:
            raise ValueError(
                f"{manifest} lists no photo with role {' or '.join(SCORED_ROLES)} "
                f"(roles: {', '.join(roles) or 'none'}): "
                "evaluate on a folder of validation or test photos, never on training photos"
            )
        files = sorted(rows)
    else:
        wanted = set(IMAGE_EXTS)
        files = sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file()
            and p.suffix.lower() in wanted
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTS)}) in {root}")
    images = []
    for i, name in enumerate(files[:limit] if limit else files):
        path = root / name
        if not path.is_file():
            raise ValueError(f"{manifest} lists {name}, which is missing from {root}")
        digest = _sha256(path)
        row = rows.get(name, {})
        if row.get("sha256") and row["sha256"] != digest:
            raise ValueError(f"{path} does not match the sha256 in {manifest}: the file changed; re-fetch it")
        with Image.open(path) as im:
            width, height = im.size
        keep = ("source_package", "package_version", "license", "copyright", "role", "categories")
        images.append(EvalImage(i, name, path, digest, width, height, {k: row[k] for k in keep if row.get(k)}))
    return images


@functools.lru_cache(maxsize=8)
def load_square(path: str, size: int, sha256: str = "") -> np.ndarray:
    """The photo centre-cropped to a square and resized (Lanczos) to ``size``: read-only uint8
    (size, size, 3). ``sha256`` only keys the cache, so a changed file is never served stale."""
    im = load_photo(path)
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    square = im.crop((left, top, left + side, top + side))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    out = np.asarray(square, dtype=np.uint8).copy()
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Setting:
    """One damaged input of one photo at one size: a hole bin with or without border contact, or
    a damage-synthesiser severity; ``k`` numbers the masks of the same cell."""

    table: str  # "bins" | "severity"
    size: int
    k: int = 0
    bin: int | None = None
    border: bool | None = None
    severity: str | None = None
    damage: str = "synthetic"  # the severity table's generator (DAMAGE_GENERATORS)

    @property
    def tag(self) -> str:
        if self.table == _BINS_TABLE:
            return f"bin{self.bin}-{'border' if self.border else 'inner'}-{self.k}"
        return f"{self.severity}-{self.k}"

    def seed_words(self, seed: int, image_index: int) -> list[int]:
        """Entropy for the mask's generator: only the seed and where the mask sits in the plan."""
        if self.table == _BINS_TABLE:
            return [seed, image_index, self.size, 0, int(self.bin), int(bool(self.border)), self.k]
        generator = 1 + DAMAGE_GENERATORS.index(self.damage)  # 1: synthetic, 2: physical
        return [seed, image_index, self.size, generator, SEVERITIES.index(self.severity), 0, self.k]


def plan_settings(size: int, masks_per_bin: int, severity_table: bool, damage: str = "synthetic") -> list[Setting]:
    out = [
        Setting(_BINS_TABLE, size, k, b, border)
        for b in range(len(HOLE_BINS))
        for border in (False, True)
        for k in range(masks_per_bin)
    ]
    if severity_table:
        out += [
            Setting(_SEVERITY_TABLE, size, k, severity=s, damage=damage)
            for s in SEVERITIES
            for k in range(masks_per_bin)
        ]
    return out


@functools.lru_cache(maxsize=32)
def masked_input(image: EvalImage, setting: Setting, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ground truth, what the methods see, known mask) for one setting, built once and shared by
    every method (and by the time estimate and the contact sheet). Arrays are read-only."""
    gt = load_square(str(image.path), setting.size, image.sha256)
    rng = np.random.default_rng(setting.seed_words(seed, image.index))
    if setting.table == _BINS_TABLE:
        known = random_irregular_mask(
            setting.size, setting.size, rng, hole_range=HOLE_BINS[setting.bin], border=setting.border
        )
        seen = gt.copy()
        seen[~known] = HOLE_FILL
    elif setting.damage == "physical":
        scanned = physical_damage(gt, rng, severity=setting.severity)
        gt, seen, known = scanned.reference, scanned.image, ~scanned.footprint
    else:
        seen, known = synthesize_damage(gt, setting.severity, seed=rng)
    for a in (gt, seen, known):
        a.setflags(write=False)
    return gt, seen, known


@dataclass
class Example:
    """A sample kept for the contact sheet."""

    caption: str
    seen: np.ndarray
    known: np.ndarray
    gt: np.ndarray
    results: dict[str, tuple[np.ndarray, dict[str, float]]] = field(default_factory=dict)


HOLE_FILL = 255  # hole pixels of the bins' inputs: white, as in the paper's figures
