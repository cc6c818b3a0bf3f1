"""Training photos: any photo decoded to upright RGB, random multi-scale square crops of a folder
(or of its manifest's training photos), CelebA and Places365 in their own layouts, weighted mixes
of them, the ``--data`` spec that names them, and the seeding of DataLoader workers."""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

log = logging.getLogger(__name__)


IMAGE_EXTS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


MAX_CONSECUTIVE_FAILURES = 64


AUTO_CACHE_MAX_FILES = 2000  # build_dataset caches folders up to this size (~4 GB at crop 256)


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB. Transparent pixels are composited on white (their colour values are
    often garbage), 16/32-bit grayscale is scaled to 8 bits rather than clipped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        im = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8))
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def load_photo(path: str | Path, *, min_short_side: float | None = None) -> Image.Image:
    """Decode a photo to upright RGB. With ``min_short_side``, JPEGs may decode at 1/2-1/8 scale
    as long as the shorter side stays at least that long (DCT-domain scaling: much faster)."""
    with Image.open(path) as im:
        if min_short_side is not None and im.format == "JPEG":
            k = max(min_short_side / min(im.size), 1e-6)
            if k < 1.0:
                im.draft("RGB", (math.ceil(im.width * k), math.ceil(im.height * k)))
        im.load()
        return to_rgb(ImageOps.exif_transpose(im))


class PhotoCropDataset(Dataset):
    """Random square crops of a list of photo files; subclasses only find the files.

    File names are kept in one numpy byte array rather than a list of str: DataLoader workers
    fork the dataset, and touching millions of Python objects would copy their memory pages into
    every worker.
    """

    def __init__(
        self,
        root: str | Path,
        files: Sequence[str],
        *,
        crop: int = 256,
        scale: tuple[float, float] = (0.5, 1.0),
        hflip: bool = True,
        cache_decoded: bool = False,
        name: str = "",
    ) -> None:
        if crop < 1:
            raise ValueError(f"crop must be a positive size in pixels, got {crop}")
        lo, hi = scale
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"scale is the crop's fraction of the shorter side: need 0 < min <= max <= 1, got {scale}")
        if not files:
            raise ValueError(f"{name or type(self).__name__}: no images found under {root}")
        self.root = Path(root)
        self.crop, self.scale, self.hflip = crop, (float(lo), float(hi)), hflip
        self._files = np.array([f.encode("utf-8") for f in files], dtype=np.bytes_)
        self.cache_decoded = cache_decoded
        # the largest shorter side a crop can need, with margin so resampling never upscales
        self._cache_side = math.ceil(crop / lo * 1.25)
        self._cache: dict[int, np.ndarray] = {}
        # how many times a failing file was replaced by the next one, and which files failed;
        # per process: each DataLoader worker counts in its own copy of the dataset
        self.skipped = 0
        self.bad_files: set[str] = set()

    def __len__(self) -> int:
        return len(self._files)

    def path(self, index: int) -> Path:
        return self.root / self._files[index].decode("utf-8")

    # -- loading
    def _decode(self, index: int, needed_short_side: float) -> Image.Image:
        if not self.cache_decoded:
            return load_photo(self.path(index), min_short_side=needed_short_side)
        cached = self._cache.get(index)
        if cached is None:
            im = load_photo(self.path(index), min_short_side=self._cache_side)
            if min(im.size) > self._cache_side:
                k = self._cache_side / min(im.size)
                im = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.Resampling.LANCZOS)
            cached = self._cache[index] = np.asarray(im)
        return Image.fromarray(cached)

    def preload(self) -> None:
        """Decode every photo into the cache now (with ``cache_decoded=True``): call it before
        creating a DataLoader so forked workers share the decoded pixels instead of each
        decoding them again."""
        if not self.cache_decoded:
            raise ValueError("preload() needs cache_decoded=True")
        for index in range(len(self)):
            try:
                self._decode(index, 0)
            except _DECODE_ERRORS as exc:
                self._note_bad(index, exc)

    def _note_bad(self, index: int, exc: BaseException) -> None:
        name = str(self.path(index))
        if name not in self.bad_files:
            self.bad_files.add(name)
            log.warning("skipping unreadable image %s: %s", name, exc)

    # -- augmentation
    def _random_crop(self, index: int) -> torch.Tensor:
        s, u, v, flip = torch.rand(4).tolist()
        lo, hi = self.scale
        frac = min(1.0, lo + (hi - lo) * s)  # the crop's side as a fraction of the shorter side
        # the decoded image needs a shorter side of at least crop / frac for a full-quality crop
        im = self._decode(index, self.crop / frac)
        side = frac * min(im.size)
        x0, y0 = u * (im.width - side), v * (im.height - side)
        out = im.resize((self.crop, self.crop), Image.Resampling.BICUBIC, box=(x0, y0, x0 + side, y0 + side))
        if self.hflip and flip < 0.5:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.asarray(out, dtype=np.float32) / 255.0  # (H, W, 3)
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous().clamp_(0.0, 1.0)  # (3, H, W)

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} images")
        index %= n
        last: BaseException | None = None
        for attempt in range(min(n, MAX_CONSECUTIVE_FAILURES)):
            candidate = (index + attempt) % n
            try:
                return self._random_crop(candidate)
            except _DECODE_ERRORS as exc:
                self._note_bad(candidate, exc)
                self.skipped += 1
                last = exc
        raise RuntimeError(
            f"{min(n, MAX_CONSECUTIVE_FAILURES)} consecutive images from "
            f"{self.path(index)} on failed to load; last error: {last}"
        )


def _read_manifest_files(root: Path, roles: Sequence[str] | None) -> list[str] | None:
    """Files of ``root/manifest.csv`` whose role is in ``roles`` (all when None); None if there
    is no manifest."""
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        return None
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "file" not in rows[0]:
        raise ValueError(f"{manifest} has no 'file' column")
    kept = [r["file"] for r in rows if roles is None or (r.get("role") or "train") in roles]
    if rows and not kept:
        found = sorted({r.get("role") or "train" for r in rows})
        raise ValueError(
            f"{manifest} lists only photos with role {', '.join(found)}, not "
            f"{', '.join(roles or ())}: this folder is not for training"
        )
    return kept


class ImageFolderDataset(PhotoCropDataset):
    """Every photo under ``root`` (recursively by default), or the photos its ``manifest.csv``
    lists (only those whose role is in ``roles``, when given: ``build_dataset`` passes
    ``("train",)`` so that an evaluation folder is refused for training). Hidden files
    (``.name``, e.g. macOS ``._`` files) are ignored."""

    def __init__(
        self,
        root: str | Path,
        *,
        crop: int = 256,
        scale: tuple[float, float] = (0.5, 1.0),
        hflip: bool = True,
        recursive: bool = True,
        exts: Sequence[str] = IMAGE_EXTS,
        cache_decoded: bool = False,
        use_manifest: bool = True,
        roles: Sequence[str] | None = None,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"image folder {root} does not exist (or is not a folder)")
        files = _read_manifest_files(root, roles) if use_manifest else None
        if files is None:
            wanted = {e.lower() if e.startswith(".") else "." + e.lower() for e in exts}
            pattern = root.rglob("*") if recursive else root.glob("*")
            files = sorted(
                p.relative_to(root).as_posix()
                for p in pattern
                if p.suffix.lower() in wanted
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
        if not files:
            raise ValueError(f"no images ({', '.join(exts)}) in {root}")
        super().__init__(
            root, files, crop=crop, scale=scale, hflip=hflip, cache_decoded=cache_decoded, name="image folder"
        )


CELEBA_SPLITS = {"train": 0, "val": 1, "valid": 1, "test": 2}


class CelebADataset(PhotoCropDataset):
    """CelebA's aligned faces (178x218) in one of the official splits."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        crop: int = 256,
        scale: tuple[float, float] = (0.5, 1.0),
        hflip: bool = True,
        cache_decoded: bool = False,
    ) -> None:
        if split not in CELEBA_SPLITS:
            raise ValueError(f"CelebA split must be train, val or test, got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"CelebA folder {root} does not exist")
        if not (root / "img_align_celeba").is_dir() and (root / "celeba").is_dir():
            root = root / "celeba"  # torchvision's download layout
        images = root / "img_align_celeba"
        if (images / "img_align_celeba").is_dir():
            images = images / "img_align_celeba"  # Kaggle's copy nests the folder
        if not images.is_dir():
            raise ValueError(
                f"{root} has no img_align_celeba/ folder (expected the CelebA 'Align&Cropped' images there)"
            )
        wanted = CELEBA_SPLITS[split]
        files = [name for name, part in _celeba_partition(root) if part == wanted]
        if files and not (images / files[0]).is_file():
            raise ValueError(f"{images / files[0]} listed in the partition file does not exist")
        super().__init__(
            images, files, crop=crop, scale=scale, hflip=hflip, cache_decoded=cache_decoded, name=f"CelebA {split}"
        )


def _celeba_partition(root: Path) -> list[tuple[str, int]]:
    for candidate in (root / "list_eval_partition.txt", root / "Eval" / "list_eval_partition.txt"):
        if candidate.is_file():
            pairs = []
            for line in candidate.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    pairs.append((parts[0], int(parts[1])))
            return pairs
    kaggle = root / "list_eval_partition.csv"
    if kaggle.is_file():
        with kaggle.open(newline="", encoding="utf-8") as fh:
            return [(row["image_id"], int(row["partition"])) for row in csv.DictReader(fh)]
    raise ValueError(f"{root} has no list_eval_partition.txt (CelebA's official split file)")


PLACES2_LAYOUT = {
    "train": ("places365_train_standard.txt", ("data_256", "data_256_standard", "data_large", "data_large_standard")),
    "val": ("places365_val.txt", ("val_256", "val_large")),
}


class Places2Dataset(PhotoCropDataset):
    """Places365-Standard scenes (the small 256x256 release, or the large one)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        crop: int = 256,
        scale: tuple[float, float] = (0.5, 1.0),
        hflip: bool = True,
        cache_decoded: bool = False,
    ) -> None:
        if split not in PLACES2_LAYOUT:
            raise ValueError(f"Places2 split must be train or val, got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"Places2 folder {root} does not exist")
        list_name, folders = PLACES2_LAYOUT[split]
        listing = root / list_name
        if not listing.is_file():
            raise ValueError(f"{root} has no {list_name} (from filelist_places365-standard.tar)")
        images = next((root / f for f in folders if (root / f).is_dir()), None)
        if images is None:
            raise ValueError(f"{root} has none of the image folders {', '.join(folders)}")
        files = [
            line.split()[0].lstrip("/") for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        if files and not (images / files[0]).is_file():
            raise ValueError(f"{images / files[0]} listed in {list_name} does not exist")
        super().__init__(
            images, files, crop=crop, scale=scale, hflip=hflip, cache_decoded=cache_decoded, name=f"Places2 {split}"
        )


class MixedDataset(Dataset):
    """Draws each item from one of several datasets chosen by weight, e.g. faces:scenes 1:1
    whatever their sizes.

    Item ``i`` is a function of (seed, epoch, i) only: the source is picked with probability
    weight / total and the item uniformly within it. Set ``epoch`` (or call ``set_epoch``) each
    epoch so that a large source contributes different items each time (as DistributedSampler
    does); the crops themselves follow torch's worker-seeded generator.
    """

    def __init__(self, sources: Sequence[tuple[Dataset, float]], *, length: int | None = None, seed: int = 0) -> None:
        if not sources:
            raise ValueError("MixedDataset needs at least one (dataset, weight) pair")
        for ds, weight in sources:
            if not weight > 0:
                raise ValueError(f"weights must be positive, got {weight}")
            if len(ds) == 0:  # type: ignore[arg-type]
                raise ValueError(f"{type(ds).__name__} is empty")
        self.datasets = [ds for ds, _ in sources]
        weights = np.array([float(w) for _, w in sources], dtype=np.float64)
        self.probabilities = weights / weights.sum()
        total = sum(len(d) for d in self.datasets)  # type: ignore[arg-type]
        self.length = int(length) if length is not None else total
        if self.length < 1:
            raise ValueError(f"length must be positive, got {length}")
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def locate(self, index: int) -> tuple[int, int]:
        """(source number, index within that source) for item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        rng = np.random.default_rng([self.seed, self.epoch, index])
        source = int(rng.choice(len(self.datasets), p=self.probabilities))
        return source, int(rng.integers(len(self.datasets[source])))  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> torch.Tensor:
        source, item = self.locate(index)
        return self.datasets[source][item]


DATASET_KINDS = ("folder", "celeba", "places2")


_KIND_ALIASES = {
    "folder": "folder",
    "images": "folder",
    "celeba": "celeba",
    "places2": "places2",
    "places": "places2",
    "places365": "places2",
}


def parse_data_spec(spec: str) -> list[tuple[str, str, float]]:
    """``"celeba:/data/celeba:1,folder:/data/photos:2"`` -> [(kind, path, weight), ...].

    Entries are separated by commas; the weight after the last colon is optional (default 1), so
    a path may itself contain colons. A path starting with ``~`` is expanded to the home folder."""
    entries = []
    for raw in spec.split(","):
        raw = raw.strip()
        if not raw:
            continue
        kind, sep, rest = raw.partition(":")
        kind = kind.strip().lower()
        if not sep or not rest.strip():
            raise ValueError(
                f"data source {raw!r} should look like kind:path[:weight] with kind one of {', '.join(DATASET_KINDS)}"
            )
        if kind not in _KIND_ALIASES:
            raise ValueError(f"unknown data source kind {kind!r} in {raw!r}: use one of {', '.join(DATASET_KINDS)}")
        path, weight = rest, 1.0
        head, colon, tail = rest.rpartition(":")
        if colon:
            try:
                weight, path = float(tail), head
            except ValueError:
                pass  # the last colon belongs to the path
        if not weight > 0 or not math.isfinite(weight):
            raise ValueError(f"weight in {raw!r} must be a positive number")
        # "folder:~/photos": the shell expands a ~ only at the start of a word
        entries.append((_KIND_ALIASES[kind], os.path.expanduser(path.strip()), weight))
    if not entries:
        raise ValueError("empty data spec: give e.g. folder:/path/to/photos")
    return entries


def build_dataset(
    spec: str,
    crop: int = 256,
    *,
    split: str = "train",
    scale: tuple[float, float] = (0.5, 1.0),
    hflip: bool = True,
    length: int | None = None,
    seed: int = 0,
    cache_decoded: bool | None = None,
) -> Dataset:
    """The dataset a ``--data`` flag describes. One source without ``length`` is returned as is
    (so a shuffling DataLoader sees each photo once per epoch); several are mixed by weight.

    ``cache_decoded=None`` (the default) caches and preloads folders of up to
    ``AUTO_CACHE_MAX_FILES`` photos and nothing else. Preloading here, in the main process, lets
    DataLoader workers (re-forked every epoch when not persistent) share the decoded pixels."""
    sources: list[tuple[Dataset, float]] = []
    for kind, path, weight in parse_data_spec(spec):
        common = dict(crop=crop, scale=scale, hflip=hflip)
        if kind == "folder":
            ds: Dataset = ImageFolderDataset(path, roles=("train",), **common)
            # The offline set is ~230 photos, several at 2160 px: decoding one per crop costs several
            # times what cutting a crop from the decoded cache does.
            if cache_decoded or (cache_decoded is None and len(ds) <= AUTO_CACHE_MAX_FILES):
                ds.cache_decoded = True
                started = time.perf_counter()
                ds.preload()
                log.info(
                    "decoded %d photos from %s into memory in %.1f s", len(ds), path, time.perf_counter() - started
                )
        elif kind == "celeba":
            ds = CelebADataset(path, split=split, cache_decoded=bool(cache_decoded), **common)
        else:
            ds = Places2Dataset(path, split=split, cache_decoded=bool(cache_decoded), **common)
        sources.append((ds, weight))
    if len(sources) == 1 and length is None:
        return sources[0][0]
    return MixedDataset(sources, length=length, seed=seed)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader: seed numpy and ``random`` from torch's per-worker seed
    (base seed from the loader's ``generator`` + worker id), so each worker draws different
    numbers and a run with the same generator seed repeats exactly.

    Ctrl-C reaches the whole process group; only the main process acts on it (it finishes its
    step and checkpoints), so a worker ignores it. SIGTERM keeps its default: it is also how
    ``multiprocessing`` ends daemonic workers at exit, and a worker that ignored it kept a run
    that had failed from ever exiting. (A SIGTERM to the whole group ends the workers; the trainer
    then checkpoints as for any stop.) OpenCV's thread count is not touched here: calling into
    OpenCV's thread pool right after a fork, when the parent had used it, can deadlock."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def loader_generator(seed: int) -> torch.Generator:
    """The ``generator`` to give DataLoader for reproducible shuffling and worker seeds."""
    return torch.Generator().manual_seed(seed)
