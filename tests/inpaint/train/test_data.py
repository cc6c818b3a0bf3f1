"""Training datasets on tiny fixtures built here in the exact CelebA / Places365 / folder layouts."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from inpaint.train.data import (
    CelebADataset,
    ImageFolderDataset,
    MixedDataset,
    Places2Dataset,
    build_dataset,
    load_photo,
    loader_generator,
    parse_data_spec,
    seed_worker,
)

# ----------------------------------------------------------------------------- fixtures


def save(path: Path, im: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def solid(color: tuple[int, int, int], size=(40, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


def gradient(width: int = 100, height: int = 50) -> Image.Image:
    """R = 2x, G = 5y: a crop's position and scale can be read back from its pixels."""
    x = np.arange(width, dtype=np.uint8)[None, :].repeat(height, 0) * 2
    y = np.arange(height, dtype=np.uint8)[:, None].repeat(width, 1) * 5
    return Image.fromarray(np.stack([x, y, np.zeros_like(x)], axis=-1))


COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]


def color_of(t: torch.Tensor) -> tuple[int, int, int]:
    return tuple(int(round(v)) for v in (t.mean(dim=(1, 2)) * 255).tolist())


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    root = tmp_path / "celeba"
    lines = []
    for i, color in enumerate(COLORS, start=1):
        save(root / "img_align_celeba" / f"{i:06d}.jpg", solid(color, (178, 218)), quality=95)
        lines.append(f"{i:06d}.jpg {0 if i <= 3 else 1 if i <= 5 else 2}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def places_root(tmp_path: Path) -> Path:
    root = tmp_path / "places365"
    train = ["/a/airfield/00000001.jpg 0", "/a/airfield/00000002.jpg 0", "/b/beach/00000001.jpg 48"]
    for line, color in zip(train, COLORS[:3], strict=True):
        save(root / "data_256" / line.split()[0].lstrip("/"), solid(color, (256, 256)), quality=95)
    (root / "places365_train_standard.txt").write_text("\n".join(train) + "\n")
    val = ["Places365_val_00000001.jpg 165", "Places365_val_00000002.jpg 358"]
    for line, color in zip(val, COLORS[3:5], strict=True):
        save(root / "val_256" / line.split()[0], solid(color, (256, 256)), quality=95)
    (root / "places365_val.txt").write_text("\n".join(val) + "\n")
    return root


# ----------------------------------------------------------------------------- folder


def test_folder_returns_float_crops_in_range(tmp_path: Path) -> None:
    save(tmp_path / "a.jpg", gradient(120, 80))
    save(tmp_path / "sub" / "b.png", gradient(60, 90))
    save(tmp_path / "sub" / "c.webp", gradient(300, 200))
    ds = ImageFolderDataset(tmp_path, crop=32)
    assert len(ds) == 3
    for i in range(3):
        x = ds[i]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert len(ImageFolderDataset(tmp_path, crop=32, recursive=False)) == 1
    assert len(ImageFolderDataset(tmp_path, crop=32, exts=(".png",))) == 1


def test_folder_ignores_hidden_and_non_images(tmp_path: Path) -> None:
    save(tmp_path / "a.jpg", solid((1, 2, 3)))
    save(tmp_path / "._a.jpg", solid((1, 2, 3)))
    save(tmp_path / ".cache" / "b.jpg", solid((1, 2, 3)))
    (tmp_path / "notes.txt").write_text("not a photo")
    assert [ImageFolderDataset(tmp_path).path(0).name] == ["a.jpg"]


def test_crop_position_scale_and_flip(tmp_path: Path) -> None:
    save(tmp_path / "g.png", gradient(100, 50))
    torch.manual_seed(0)
    full = ImageFolderDataset(tmp_path, crop=50, scale=(1.0, 1.0), hflip=False)
    starts = []
    for _ in range(30):
        r, g = (full[0][:2] * 255).numpy()
        # the crop spans the full height (G = 5y) and a 50-px window of the width (R = 2x)
        assert np.allclose(g[:, 25], np.arange(50) * 5, atol=3)
        slope = np.diff(r[25]).mean()
        assert slope == pytest.approx(2.0, abs=0.2)
        starts.append(r[25, 0])
        assert r[25, 0] <= 2 * 50 + 3  # the window stays inside the photo
    assert max(starts) - min(starts) > 20  # the position is random
    half = ImageFolderDataset(tmp_path, crop=50, scale=(0.5, 0.5), hflip=False)
    assert np.diff((half[0][0] * 255).numpy()[25]).mean() == pytest.approx(1.0, abs=0.15)  # 2x zoom
    flipping = ImageFolderDataset(tmp_path, crop=50, scale=(1.0, 1.0), hflip=True)
    flips = sum(np.diff((flipping[0][0] * 255).numpy()[25]).mean() < 0 for _ in range(200))
    assert 60 < flips < 140  # p = 1/2, n = 200: 7 standard deviations either side


def test_small_images_are_upscaled_to_the_crop(tmp_path: Path) -> None:
    save(tmp_path / "tiny.jpg", solid((10, 200, 30), (20, 13)), quality=95)
    x = ImageFolderDataset(tmp_path, crop=64)[0]
    assert x.shape == (3, 64, 64)
    assert color_of(x) == pytest.approx((10, 200, 30), abs=3)


def test_modes_become_rgb(tmp_path: Path) -> None:
    save(tmp_path / "gray.png", Image.new("L", (40, 40), 100))
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # fully transparent black -> white
    save(tmp_path / "rgba.png", rgba)
    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([10, 20, 30] * 256)
    save(tmp_path / "pal.gif", pal)
    wide = Image.fromarray(np.full((40, 40), 65535 // 2, dtype=np.uint16))  # 16-bit grayscale
    save(tmp_path / "deep.png", wide)
    cmyk = Image.new("CMYK", (40, 40), (0, 0, 0, 0))
    save(tmp_path / "cmyk.jpg", cmyk)
    ds = ImageFolderDataset(tmp_path, crop=16, exts=(".png", ".gif", ".jpg"))
    got = {ds.path(i).name: ds[i] for i in range(len(ds))}
    assert {k: v.shape for k, v in got.items()} == {k: (3, 16, 16) for k in got}
    gray = got["gray.png"]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert color_of(gray) == (100, 100, 100)
    assert color_of(got["rgba.png"]) == (255, 255, 255)
    assert color_of(got["pal.gif"]) == (10, 20, 30)
    assert color_of(got["deep.png"]) == pytest.approx((127, 127, 127), abs=1)
    assert color_of(got["cmyk.jpg"]) == pytest.approx((255, 255, 255), abs=2)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (60, 30), (255, 0, 0))
    im.paste((0, 0, 255), (30, 0, 60, 30))  # stored: left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the right half ends up at the bottom
    save(tmp_path / "rotated.jpg", im, exif=exif.tobytes(), quality=95)
    upright = load_photo(tmp_path / "rotated.jpg")
    assert upright.size == (30, 60)
    top, bottom = np.asarray(upright)[5, 15], np.asarray(upright)[55, 15]
    assert top[0] > 200 and top[2] < 50 and bottom[2] > 200 and bottom[0] < 50


def test_corrupt_files_are_skipped_deterministically(tmp_path: Path, caplog) -> None:
    for i, color in enumerate(COLORS[:3]):
        save(tmp_path / f"{i}.jpg", solid(color), quality=95)
    (tmp_path / "1.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    good = (tmp_path / "2.jpg").read_bytes()
    (tmp_path / "3.jpg").write_bytes(good[: len(good) // 2])  # truncated
    ds = ImageFolderDataset(tmp_path, crop=16)
    with caplog.at_level(logging.WARNING, logger="inpaint.train.data"):
        first, again = ds[1], ds[1]
    assert color_of(first) == color_of(again) == pytest.approx(COLORS[2], abs=3)  # the next file
    assert color_of(ds[3]) == pytest.approx(COLORS[0], abs=3)  # wraps around to the start
    assert ds.skipped == 3 and {Path(p).name for p in ds.bad_files} == {"1.jpg", "3.jpg"}
    assert caplog.text.count("skipping unreadable image") == 2  # once per file, not per skip
    for p in tmp_path.glob("*.jpg"):
        p.write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="consecutive images"):
        ImageFolderDataset(tmp_path, crop=16)[0]


def test_cache_keeps_shrunk_decoded_photos(tmp_path: Path) -> None:
    save(tmp_path / "big.jpg", gradient(250, 200), quality=95)
    save(tmp_path / "small.png", gradient(40, 30))
    ds = ImageFolderDataset(tmp_path, crop=32, scale=(0.5, 1.0), cache_decoded=True)
    ds.preload()
    shapes = {ds.path(i).name: ds._cache[i].shape for i in range(len(ds))}
    assert min(shapes["big.jpg"][:2]) == 80  # 32 / 0.5 * 1.25: enough for every crop scale
    assert shapes["small.png"] == (30, 40, 3)  # never upscaled in the cache
    assert ds[0].shape == ds[1].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="cache_decoded"):
        ImageFolderDataset(tmp_path).preload()


def test_manifest_roles_guard_training(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        save(tmp_path / "pkg" / name, solid((9, 9, 9)))
    (tmp_path / "manifest.csv").write_text("file,source_package,role\npkg/a.jpg,x,train\npkg/b.jpg,x,eval\n")
    assert len(ImageFolderDataset(tmp_path)) == 2  # the manifest's files, not every file
    assert len(build_dataset(f"folder:{tmp_path}", crop=16)) == 1  # training: role train only
    (tmp_path / "manifest.csv").write_text("file,role\npkg/b.jpg,eval\npkg/c.jpg,demo\n")
    with pytest.raises(ValueError, match="not for training"):
        build_dataset(f"folder:{tmp_path}", crop=16)


def test_folder_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageFolderDataset(tmp_path / "empty")
    save(tmp_path / "x.jpg", solid((1, 1, 1)))
    with pytest.raises(ValueError, match="scale"):
        ImageFolderDataset(tmp_path, scale=(0.5, 1.5))


# ----------------------------------------------------------------------------- CelebA, Places2


def test_celeba_splits(celeba_root: Path) -> None:
    names = {
        split: [
            CelebADataset(celeba_root, split, crop=32).path(i).name
            for i in range(len(CelebADataset(celeba_root, split)))
        ]
        for split in ("train", "val", "test")
    }
    assert names == {
        "train": ["000001.jpg", "000002.jpg", "000003.jpg"],
        "val": ["000004.jpg", "000005.jpg"],
        "test": ["000006.jpg"],
    }
    x = CelebADataset(celeba_root, "test", crop=32, scale=(1.0, 1.0))[0]
    assert x.shape == (3, 32, 32) and color_of(x) == pytest.approx(COLORS[5], abs=3)


def test_celeba_alternative_layouts(celeba_root: Path, tmp_path: Path) -> None:
    assert len(CelebADataset(celeba_root.parent, "val")) == 2  # torchvision: root/celeba/
    kaggle = tmp_path / "kaggle"
    for i in (1, 2):
        save(kaggle / "img_align_celeba" / "img_align_celeba" / f"{i:06d}.jpg", solid(COLORS[i]))
    (kaggle / "list_eval_partition.csv").write_text("image_id,partition\n000001.jpg,0\n000002.jpg,2\n")
    assert [CelebADataset(kaggle, "test").path(0).name] == ["000002.jpg"]


def test_celeba_errors(celeba_root: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        CelebADataset(celeba_root, "training")
    (celeba_root / "list_eval_partition.txt").unlink()
    with pytest.raises(ValueError, match="list_eval_partition"):
        CelebADataset(celeba_root)
    with pytest.raises(ValueError, match="img_align_celeba"):
        CelebADataset(celeba_root / "img_align_celeba")


def test_places2_splits_and_layouts(places_root: Path) -> None:
    train = Places2Dataset(places_root, "train", crop=64)
    assert [train.path(i).relative_to(places_root).as_posix() for i in range(len(train))] == [
        "data_256/a/airfield/00000001.jpg",
        "data_256/a/airfield/00000002.jpg",
        "data_256/b/beach/00000001.jpg",
    ]
    val = Places2Dataset(places_root, "val", crop=64, scale=(1.0, 1.0))
    assert len(val) == 2 and color_of(val[1]) == pytest.approx(COLORS[4], abs=3)
    assert train[2].shape == (3, 64, 64)
    (places_root / "data_256").rename(places_root / "data_256_standard")  # torchvision's name
    assert len(Places2Dataset(places_root, "train")) == 3


def test_places2_errors(places_root: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        Places2Dataset(places_root, "test")
    (places_root / "places365_val.txt").unlink()
    with pytest.raises(ValueError, match="places365_val.txt"):
        Places2Dataset(places_root, "val")
    (places_root / "places365_train_standard.txt").write_text("/z/zoo/00000009.jpg 1\n")
    with pytest.raises(ValueError, match="does not exist"):
        Places2Dataset(places_root, "train")


# ----------------------------------------------------------------------------- mixing, specs


class Constant(Dataset):
    def __init__(self, value: float, n: int) -> None:
        self.value, self.n = value, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.full((3, 4, 4), self.value + i / 1000)


def test_mixed_dataset_follows_weights_deterministically() -> None:
    mixed = MixedDataset([(Constant(0.0, 10), 1.0), (Constant(0.5, 1000), 3.0)], length=10000, seed=7)
    sources = np.array([mixed.locate(i)[0] for i in range(len(mixed))])
    # P(source 1) = 3/4; sd of the fraction = sqrt(.75 * .25 / 10000) ~ 0.0043
    assert abs(sources.mean() - 0.75) < 0.02
    assert mixed.locate(123) == MixedDataset(
        [(Constant(0.0, 10), 1.0), (Constant(0.5, 1000), 3.0)], length=10000, seed=7
    ).locate(123)
    other_seed = MixedDataset([(Constant(0.0, 10), 1.0), (Constant(0.5, 1000), 3.0)], length=10000, seed=8)
    assert [mixed.locate(i) for i in range(50)] != [other_seed.locate(i) for i in range(50)]
    before = [mixed.locate(i) for i in range(50)]
    mixed.set_epoch(1)
    assert [mixed.locate(i) for i in range(50)] != before  # new items each epoch
    source, item = mixed.locate(5)
    assert mixed[5][0, 0, 0].item() == pytest.approx((0.0, 0.5)[source] + item / 1000)


def test_mixed_dataset_errors() -> None:
    with pytest.raises(ValueError, match="positive"):
        MixedDataset([(Constant(0, 3), 0.0)])
    with pytest.raises(ValueError, match="empty"):
        MixedDataset([(Constant(0, 0), 1.0)])
    assert len(MixedDataset([(Constant(0, 3), 1), (Constant(0, 4), 1)])) == 7
    with pytest.raises(IndexError):
        MixedDataset([(Constant(0, 3), 1)]).locate(3)


def test_parse_data_spec() -> None:
    assert parse_data_spec("celeba:/d/celeba:1,places2:/d/places, folder:/w/photos:2.5") == [
        ("celeba", "/d/celeba", 1.0),
        ("places2", "/d/places", 1.0),
        ("folder", "/w/photos", 2.5),
    ]
    assert parse_data_spec("folder:/odd:name") == [("folder", "/odd:name", 1.0)]
    assert parse_data_spec("places365:/p:3") == [("places2", "/p", 3.0)]
    home = str(Path.home())
    assert parse_data_spec("folder:~/photos:2,celeba: ~/celeba") == [
        ("folder", f"{home}/photos", 2.0),
        ("celeba", f"{home}/celeba", 1.0),
    ]
    for bad, message in [
        ("imagenet:/x", "unknown data source kind 'imagenet'"),
        ("folder", "kind:path"),
        ("folder:/x:0", "positive"),
        ("", "empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_data_spec(bad)


def test_build_dataset_from_spec(tmp_path: Path, celeba_root: Path, places_root: Path) -> None:
    save(tmp_path / "photos" / "a.jpg", solid((5, 5, 5), (64, 64)))
    single = build_dataset(f"folder:{tmp_path / 'photos'}", crop=16)
    assert isinstance(single, ImageFolderDataset) and len(single._cache) == 1  # preloaded
    assert not build_dataset(f"folder:{tmp_path / 'photos'}", cache_decoded=False).cache_decoded
    mixed = build_dataset(
        f"celeba:{celeba_root}:1,places2:{places_root}:1,folder:{tmp_path / 'photos'}:2", crop=16, length=100, seed=3
    )
    assert isinstance(mixed, MixedDataset) and len(mixed) == 100
    assert mixed.probabilities.tolist() == [0.25, 0.25, 0.5]
    assert mixed[0].shape == (3, 16, 16)
    assert len(build_dataset(f"celeba:{celeba_root}", split="val")) == 2
    with pytest.raises(ValueError, match="does not exist"):
        build_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        build_dataset(f"folder:{tmp_path / 'empty'}")


# ----------------------------------------------------------------------------- reproducibility


def test_workers_draw_different_crops_reproducibly(tmp_path: Path) -> None:
    for i in range(4):  # four identical photos: any difference comes from the random crop
        save(tmp_path / f"{i}.png", gradient(100, 50))
    ds = ImageFolderDataset(tmp_path, crop=24, scale=(0.5, 1.0))

    def run() -> torch.Tensor:
        loader = DataLoader(
            ds, batch_size=1, num_workers=2, worker_init_fn=seed_worker, generator=loader_generator(1234), shuffle=False
        )
        return torch.cat(list(loader))

    first, second = run(), run()
    assert torch.equal(first, second)
    assert not torch.allclose(first[0], first[1])  # worker 0 and worker 1 differ
    assert len({tuple(x.flatten()[:64].tolist()) for x in first}) == 4
