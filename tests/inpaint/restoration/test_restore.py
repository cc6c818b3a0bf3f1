"""restore(): authenticity, determinism, full resolution, modes, and bad input."""

import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint import PConvUNet, PConvUNetConfig, open_photo, restore
from inpaint.io.masks import dilate_damage
from inpaint.restoration import plan_candidates
from inpaint.restoration.tiles import TileSettings, assign_levels

MAGENTA = np.array([255, 0, 255], np.uint8)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PConvUNet(PConvUNetConfig(width=4, depth=3, working_size=64, dropout=0.1)).eval()


def photo(h=96, w=128, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w)], -1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def damage(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[~known] = MAGENTA
    return out


def stroke_mask(h=96, w=128) -> np.ndarray:
    known = np.ones((h, w), bool)
    known[40:46, 10:110] = False  # a crease
    known[10:30, 70:90] = False  # a stain
    return known


@pytest.mark.parametrize("method", ["pconv", "telea", "ns", "biharmonic", "smooth", "patchmatch"])
def test_every_pixel_outside_the_replaced_region_is_bit_identical(model, method):
    known = stroke_mask()
    img = damage(photo(), known)
    cands = restore(img, known, n=3, seed=5, method=method, model=model)
    assert len(cands) == 3
    for c in cands:
        assert c.image.shape == img.shape and c.image.dtype == np.uint8
        expected = ~dilate_damage(known, c.spec.dilation)
        assert np.array_equal(c.replaced, expected)  # replaced = damage dilated by its dilation
        assert np.array_equal(c.image[~c.replaced], img[~c.replaced])
        assert not (c.image[~known] == MAGENTA).all(axis=-1).any(), "some damaged pixel was not filled"
        assert c.params["method"] == method and "seconds" in c.params


def test_same_seed_same_pixels_and_candidates_differ(model):
    known = stroke_mask()
    img = damage(photo(), known)
    a = restore(img, known, n=4, seed=11, model=model, variation=1.0)
    b = restore(img, known, n=4, seed=11, model=model, variation=1.0)
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image)
    hole = ~known
    diffs = [
        np.abs(a[i].image[hole].astype(int) - a[j].image[hole].astype(int)).mean()
        for i in range(4)
        for j in range(i + 1, 4)
    ]
    assert min(diffs) > 0, "every pair of candidates must differ inside the hole"
    c = restore(img, known, n=4, seed=12, model=model, variation=1.0)
    assert not np.array_equal(a[1].image, c[1].image)  # another seed, another Monte-Carlo sample
    specs = [x.spec for x in a]
    assert specs[0].dropout == 0.0 and all(s.dropout > 0 for s in specs[1:])
    assert len({s.seed for s in specs}) == 4


def test_concurrent_requests_match_sequential(model):
    known = stroke_mask()
    img = damage(photo(), known)
    expected = [c.image for c in restore(img, known, n=2, seed=3, model=model)]
    results = [None, None]

    def run(i):
        results[i] = [c.image for c in restore(img, known, n=2, seed=3, model=model)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert all(np.array_equal(x, y) for x, y in zip(r, expected))


def test_large_photo_is_restored_in_tiles_and_levels(model):
    """A wide hole goes to a coarser level, a long thin scratch is tiled at full resolution; the
    result is full size, filled everywhere it was damaged, identical elsewhere."""
    h, w = 700, 900
    img = photo(h, w, seed=2)
    known = np.ones((h, w), bool)
    known[100:400, 100:300] = False  # wide hole: level > 0
    known[600:603, 20:880] = False  # long thin scratch: level 0, several tiles
    labels, levels = assign_levels(~known, working_size=64, max_level=3)
    assert levels[labels[250, 200]] > 0 and levels[labels[601, 500]] == 0
    dmg = damage(img, known)
    cands = restore(dmg, known, n=2, seed=1, model=model, dilations=[0, 3], tiles=TileSettings(tile=128, context=24))
    for c in cands:
        assert c.image.shape == (h, w, 3)
        assert np.array_equal(c.image[~c.replaced], dmg[~c.replaced])
        assert not (c.image[c.replaced] == MAGENTA).all(axis=-1).any()


def test_empty_mask_returns_the_photo_without_running_the_model():
    class Exploding(PConvUNet):
        def forward(self, *a, **k):
            raise AssertionError("the model must not run")

    img = photo()
    cands = restore(img, np.ones(img.shape[:2], bool), n=4, model=Exploding(PConvUNetConfig(width=4, depth=3)))
    assert len(cands) == 1 and cands[0].spec.method == "unchanged"
    assert np.array_equal(cands[0].image, img) and not cands[0].replaced.any()


def test_bad_input_is_a_clear_error(model):
    img = photo()
    with pytest.raises(ValueError, match="whole photo"):
        restore(img, np.zeros(img.shape[:2], bool), model=model)
    with pytest.raises(ValueError, match="mask is 10x10"):
        restore(img, np.ones((10, 10), bool), model=model)
    with pytest.raises(ValueError, match="between 1 and 8"):
        restore(img, stroke_mask(), n=9, model=model)
    with pytest.raises(ValueError, match="needs a model"):
        restore(img, stroke_mask())
    with pytest.raises(ValueError, match="unknown method"):
        restore(img, stroke_mask(), method="magic")
    with pytest.raises(ValueError, match="not an image"):
        restore(b"certainly not a picture", stroke_mask(), method="telea")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        restore(buf.getvalue()[: len(buf.getvalue()) // 2], stroke_mask(), method="telea")


def test_decompression_bomb_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, "PNG")  # 144 MP of zeros compresses to a few KB
    with pytest.raises(ValueError, match="MP limit"):
        open_photo(buf.getvalue())


def test_user_mask_images_and_conventions(model):
    img = photo()
    known = stroke_mask()
    white_on_black = Image.fromarray(np.where(known, 0, 255).astype(np.uint8))
    black_on_white = Image.fromarray(np.where(known, 255, 0).astype(np.uint8))
    a = restore(img, white_on_black, n=1, method="telea", dilations=[0])[0]
    b = restore(img, black_on_white, n=1, method="telea", dilations=[0])[0]
    c = restore(img, black_on_white, n=1, method="telea", dilations=[0], mask_convention="black-is-damage")[0]
    assert (
        np.array_equal(a.replaced, ~known) and np.array_equal(b.replaced, ~known) and np.array_equal(c.replaced, ~known)
    )
    big = white_on_black.resize((256, 192), Image.BILINEAR)  # resized and anti-aliased
    with pytest.raises(ValueError):
        restore(img, big, n=1, method="telea")
    d = restore(img, big, n=1, method="telea", dilations=[0], resize_mask=True)[0]
    assert abs(int(d.replaced.sum()) - int((~known).sum())) < 0.1 * (~known).sum()


# ----------------------------------------------------------------------------- image modes


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _check_known_identical(out: np.ndarray, original: np.ndarray, replaced: np.ndarray):
    assert out.shape == original.shape and out.dtype == original.dtype
    assert np.array_equal(out[~replaced], original[~replaced])


def test_grayscale_stays_grayscale(model):
    gray = Image.fromarray(photo()[..., 0])
    c = restore(_png(gray), stroke_mask(), n=2, model=model)[1]
    assert c.image.mode == "L"
    _check_known_identical(np.asarray(c.image), np.asarray(gray), c.replaced)


def test_rgba_keeps_its_alpha(model):
    rgba = np.dstack([photo(), np.random.default_rng(0).integers(0, 256, (96, 128), dtype=np.uint8)])
    c = restore(_png(Image.fromarray(rgba, "RGBA")), stroke_mask(), n=1, model=model)[0]
    assert c.image.mode == "RGBA"
    out = np.asarray(c.image)
    assert np.array_equal(out[..., 3], rgba[..., 3])  # alpha everywhere, even in the hole
    _check_known_identical(out, rgba, c.replaced)


def test_16bit_grayscale_keeps_16_bits(model):
    g16 = (np.random.default_rng(1).integers(0, 65536, (96, 128))).astype(np.uint16)
    c = restore(_png(Image.fromarray(g16)), stroke_mask(), n=1, model=model)[0]
    out = np.asarray(c.image)
    assert out.dtype == np.uint16
    _check_known_identical(out, g16, c.replaced)


def test_16bit_rgb_png_keeps_16_bits(model, tmp_path):
    import cv2

    rgb16 = (np.random.default_rng(2).integers(0, 65536, (96, 128, 3))).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), rgb16[..., ::-1])
    c = restore(path, stroke_mask(), n=1, model=model)[0]
    assert isinstance(c.image, np.ndarray) and c.image.dtype == np.uint16
    _check_known_identical(c.image, rgb16, c.replaced)


def test_cmyk_stays_cmyk(model):
    cmyk = Image.fromarray(photo()).convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, "TIFF")
    c = restore(buf.getvalue(), stroke_mask(), n=1, model=model)[0]
    assert c.image.mode == "CMYK"
    _check_known_identical(np.asarray(c.image), np.asarray(cmyk), c.replaced)


def test_palette_becomes_rgb_with_the_same_colours(model):
    pal = Image.fromarray(photo()).quantize(64)
    c = restore(_png(pal), stroke_mask(), n=1, model=model)[0]
    assert c.image.mode == "RGB"
    _check_known_identical(np.asarray(c.image), np.asarray(pal.convert("RGB")), c.replaced)


def test_exif_rotated_photo_comes_back_as_displayed(model):
    img = photo(96, 128)
    stored = Image.fromarray(np.rot90(img, k=1).copy())  # stored sideways, turned 90 degrees CCW...
    exif = stored.getexif()
    exif[0x0112] = 6  # ...with Orientation 6: "turn 90 degrees CW to display"
    buf = io.BytesIO()
    stored.save(buf, "PNG", exif=exif)
    shown = open_photo(buf.getvalue())
    assert shown.size == (128, 96) and np.array_equal(shown.data, img)
    c = restore(buf.getvalue(), stroke_mask(), n=1, model=model)[0]
    assert c.image.size == (128, 96)
    _check_known_identical(np.asarray(c.image), img, c.replaced)


def test_plan_candidates():
    specs = plan_candidates(8, seed=100, variation=0.5)
    assert [s.seed for s in specs] == list(range(100, 108))
    assert specs[0].dropout == 0 and {s.dropout for s in specs[1:]} == {0.25}
    assert specs[0].finish == "plain" and {s.finish for s in specs} == {"plain", "grain"}
    assert all(s.dropout == 0 for s in plan_candidates(3, 0, 1.0, method="telea"))
    with pytest.raises(ValueError):
        plan_candidates(2, 0, 1.5)


def test_max_side_restores_big_photos_at_a_coarser_level(model, monkeypatch):
    """With max_side=200 a 420x600 photo is worked on at 1/4 scale (150 px long side): the model
    only ever sees crops of that view, and the full-resolution result is still exact outside."""
    import inpaint.restoration.tiles as R

    seen = []
    original = R._run_tiles

    def spy(model_, img, *a, **k):
        seen.append(img.shape)
        return original(model_, img, *a, **k)

    monkeypatch.setattr(R, "_run_tiles", spy)
    h, w = 420, 600
    known = np.ones((h, w), bool)
    known[200:203, 30:570] = False  # a thin scratch that would be level 0 without the cap
    dmg = damage(photo(h, w, seed=4), known)
    c = restore(dmg, known, n=1, model=model, dilations=[0], tiles=TileSettings(max_side=200))[0]
    assert seen and all(s[:2] == (105, 150) for s in seen)
    assert np.array_equal(c.image[~c.replaced], dmg[~c.replaced])
    assert not (c.image[c.replaced] == MAGENTA).all(axis=-1).any()


def test_study_folder_command_precomputes_conditions(tmp_path, model):
    """`python -m inpaint study-folder` writes the layout `python -m study create` reads."""
    import csv

    from inpaint.cli import main
    from inpaint.nn.unet import save_model

    save_model(model, tmp_path / "w", metadata={"steps": 1})
    (tmp_path / "p").mkdir()
    (tmp_path / "m").mkdir()
    known = stroke_mask()
    Image.fromarray(damage(photo(), known)).save(tmp_path / "p" / "a.png")
    Image.fromarray(np.where(known, 0, 255).astype(np.uint8)).save(tmp_path / "m" / "a.png")
    out = tmp_path / "study"
    assert (
        main(
            [
                "study-folder",
                "--photos",
                str(tmp_path / "p"),
                "--masks",
                str(tmp_path / "m"),
                "--conditions",
                "pconv:2:0,pconv:4:0.25,telea:0",
                "--weights",
                str(tmp_path / "w"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(out / "candidates.csv")))
    assert [(r["method"], r["dilation"], r["dropout"]) for r in rows] == [
        ("pconv", "2", "0.0"),
        ("pconv", "4", "0.25"),
        ("telea", "0", "0.0"),
    ]
    for r in rows:
        img = np.asarray(Image.open(out / r["image"]))
        replaced = ~dilate_damage(known, int(r["dilation"]))
        assert np.array_equal(img[~replaced], np.asarray(Image.open(out / r["photo"]))[~replaced])
    assert (
        main(
            [
                "study-folder",
                "--photos",
                str(tmp_path / "p"),
                "--masks",
                str(tmp_path / "m"),
                "--conditions",
                "magic:1",
                "--out",
                str(out),
            ]
        )
        == 2
    )


@pytest.mark.parametrize("level", [0, 3, 6, 9])
def test_save_image_is_lossless_at_every_compression_level(tmp_path, level):
    """The app saves with a fast PNG level; the file must still hold exactly the restored pixels,
    8-bit RGB and 16-bit RGB alike."""
    import cv2

    from inpaint import save_image

    rgb = photo()
    rgb16 = np.random.default_rng(3).integers(0, 65536, (40, 50, 3)).astype(np.uint16)
    p8 = save_image(rgb, tmp_path / f"a{level}", compress_level=level)
    p16 = save_image(rgb16, tmp_path / f"b{level}.png", compress_level=level)
    assert p8.suffix == ".png" and np.array_equal(np.asarray(Image.open(p8)), rgb)
    assert np.array_equal(cv2.imread(str(p16), cv2.IMREAD_UNCHANGED)[..., ::-1], rgb16)
    sizes = {lv: save_image(rgb, tmp_path / f"s{lv}", compress_level=lv).stat().st_size for lv in (0, 9)}
    assert sizes[0] > sizes[9]  # the level reaches the encoder


def _sepia(grey: np.ndarray) -> np.ndarray:
    g = grey.astype(np.float64)
    return np.clip(np.rint(np.stack([g * 0.95 + 12, g * 0.8 + 10, g * 0.6 + 6], -1)), 0, 255).astype(np.uint8)


def test_monochrome_photos_in_rgb_get_fills_without_invented_colour(model):
    """Old prints are usually scanned to RGB. The network's fill can carry chroma that no pixel of
    the photo has; the fill is moved onto the photo's own tone curve (grey stays grey, sepia stays
    sepia), while known pixels stay bit-identical and colour photos are left alone."""
    from inpaint.restoration.tone import tone_curve

    grey = photo()[..., 0]
    known = stroke_mask()
    rgb_grey = np.repeat(grey[..., None], 3, axis=2)
    for c in restore(rgb_grey, known, n=2, model=model, seed=1):
        out = np.asarray(c.image)
        _check_known_identical(out, rgb_grey, c.replaced)
        fill = out[c.replaced].astype(int)
        assert (fill[:, 0] == fill[:, 1]).all() and (fill[:, 1] == fill[:, 2]).all()
    sepia = _sepia(grey)
    curve = tone_curve(sepia, known)
    luma_known = np.rint(sepia[known].astype(float) @ [0.299, 0.587, 0.114]).astype(int)
    for level in np.unique(luma_known):  # on every level that occurs: the photo's mean colour there
        np.testing.assert_allclose(curve[level], sepia[known][luma_known == level].mean(0))
    c = restore(sepia, known, n=1, model=model)[0]
    out = np.asarray(c.image)
    _check_known_identical(out, sepia, c.replaced)
    fill = out[c.replaced].astype(np.float64)
    luma = np.clip(np.rint(fill @ [0.299, 0.587, 0.114]), 0, 255).astype(int)
    assert np.abs(fill - curve[luma]).max() <= 1.0  # on the curve (to rounding)
    assert tone_curve(photo(), known) is None  # a colour photo: fills keep the model's colours


@pytest.mark.parametrize("prior", ["none", "smooth"])
def test_a_crop_comes_out_the_same_whatever_else_shares_its_batch(prior):
    """On a CPU every crop of a batch runs alone at its own size, so a small edge crop is not
    changed by a large crop beside it (padding past the next multiple of 2**depth would reach the
    U-Net's coarse layers, and the prior would fill it)."""
    from inpaint.restoration import CandidateSpec
    from inpaint.restoration.tiles import _run_tiles

    torch.manual_seed(0)
    net = PConvUNet(PConvUNetConfig(width=4, depth=3, dropout=0.1, refine_channels=4, prior=prior)).eval()
    torch.nn.init.normal_(net.refine.out.weight, std=0.5)
    if net.refine.prior is not None:
        torch.nn.init.normal_(net.refine.prior.weight, std=0.3)
    img = photo(64, 80, seed=2)
    hole = np.zeros((64, 80), bool)
    hole[10:14, 5:75] = True
    hole[40:60, 60:70] = True
    specs = [CandidateSpec("pconv", 0, 0.0, 1), CandidateSpec("pconv", 0, 0.2, 2)]
    small, large = (40, 64, 56, 80), (0, 64, 0, 64)  # 24 x 24 pads to 24 x 24; 64 x 64 to 64 x 64
    cpu = torch.device("cpu")
    together = _run_tiles(net, img, [hole, hole], specs, [small, large], 0, 0, cpu)
    alone = _run_tiles(net, img, [hole, hole], specs, [small], 0, 0, cpu)
    for j in range(2):
        assert together[0][j].shape == (24, 24, 3)
        np.testing.assert_array_equal(together[0][j], alone[0][j])
    assert not np.array_equal(together[0][0], together[0][1])  # the two candidates differ


def test_photo_and_mask_can_be_given_as_paths(tmp_path):
    """``restore("scan.png", "mask.png")``: the mask file is read with its convention (white =
    damage here), the same as passing the known mask; a bad mask file is one ValueError line."""
    img = photo(40, 56, seed=9)
    known = np.ones((40, 56), bool)
    known[10:20, 15:30] = False
    Image.fromarray(img).save(tmp_path / "scan.png")
    Image.fromarray(np.where(known, 0, 255).astype(np.uint8)).save(tmp_path / "mask.png")
    by_path = restore(str(tmp_path / "scan.png"), tmp_path / "mask.png", n=1, method="telea")[0]
    by_array = restore(img, known, n=1, method="telea")[0]
    assert np.array_equal(np.asarray(by_path.image), np.asarray(by_array.image))
    assert np.array_equal(by_path.replaced, by_array.replaced)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read mask file"):
        restore(img, str(tmp_path / "broken.png"), n=1, method="telea")
