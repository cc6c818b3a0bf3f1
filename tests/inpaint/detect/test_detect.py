"""The damage-suggestion pipeline (inpaint.detect): tiles, the coarse pass, sensitivity, odd photo
modes, the classical detector and the detect command."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint.detect.classical import classical_damage
from inpaint.detect.pipeline import (
    DetectSettings,
    _tile_boxes,
    coarse_level,
    detect_damage,
    learned_threshold,
    multiscale_probability,
    predict_probability,
)
from inpaint.eval.metrics import f1_counts
from tests.inpaint.detect_helpers import _cli, smooth_photo, tiny_net


def test_tile_boxes_partition_the_photo():
    for h, w, tile, margin in [(100, 140, 32, 8), (1000, 700, 256, 48), (50, 50, 64, 16)]:
        cover = np.zeros((h, w), int)
        for y0, y1, x0, x1, iy0, iy1, ix0, ix1 in _tile_boxes(h, w, tile, margin):
            cover[y0:y1, x0:x1] += 1
            assert iy0 <= y0 and iy1 >= y1 and ix0 <= x0 and ix1 >= x1
            assert iy0 >= max(0, y0 - margin) and iy1 <= min(h, y1 + margin)
        assert (cover == 1).all()


def test_tile_inputs_start_on_the_networks_grid():
    for h, w, tile, margin, align in [(1000, 700, 256, 48, 32), (4000, 6000, 1024, 48, 32), (130, 90, 40, 5, 8)]:
        cover = np.zeros((h, w), int)
        boxes = _tile_boxes(h, w, tile, margin, align)
        assert len(boxes) > 1
        for y0, y1, x0, x1, iy0, iy1, ix0, ix1 in boxes:
            cover[y0:y1, x0:x1] += 1
            assert iy0 % align == 0 and ix0 % align == 0
            assert iy0 <= y0 and iy1 >= y1 and ix0 <= x0 and ix1 >= x1
            assert y1 - y0 <= tile + align and x1 - x0 <= tile + align
        assert (cover == 1).all()


def test_aligned_tiles_with_enough_context_equal_one_pass():
    """Tiles on the network's grid, each with more context than the receptive field, give the
    whole-photo pass exactly; the same tiles off the grid do not (the U-Net is not shift-invariant)."""
    net = tiny_net()
    rgb = np.random.default_rng(2).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    whole = predict_probability(net, rgb, DetectSettings(tile=1024, margin=0))
    tiled = predict_probability(net, rgb, DetectSettings(tile=24, margin=32))
    assert len(_tile_boxes(100, 120, 24, 32, net.multiple)) > 1
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    boxes = _tile_boxes(100, 120, 24, 32, 1)
    assert any(b[4] % net.multiple or b[6] % net.multiple for b in boxes)
    shifted = np.empty_like(whole)
    for y0, y1, x0, x1, iy0, iy1, ix0, ix1 in boxes:
        x = torch.from_numpy(rgb[iy0:iy1, ix0:ix1]).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            p = torch.sigmoid(net(x))[0, 0].numpy()
        shifted[y0:y1, x0:x1] = p[y0 - iy0 : y1 - iy0, x0 - ix0 : x1 - ix0]
    assert np.abs(shifted - whole).max() > 1e-3


def test_tiled_inference_matches_one_pass_when_context_covers_the_photo():
    net = tiny_net()
    rgb = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    whole = predict_probability(net, rgb, DetectSettings(tile=1024, margin=0))
    tiled = predict_probability(net, rgb, DetectSettings(tile=32, margin=200, max_batch=3))
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    direct = torch.sigmoid(net(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255))[0, 0].detach().numpy()
    np.testing.assert_allclose(whole, direct, atol=1e-5)
    # with little context the tiles differ only near their seams, and stay probabilities
    rough = predict_probability(net, rgb, DetectSettings(tile=32, margin=4))
    assert rough.shape == (70, 90) and rough.dtype == np.float32 and 0 <= rough.min() and rough.max() <= 1


def _encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("method", ["learned", "classical"])
def test_odd_modes_come_back_at_the_displayed_size(method):
    rgb = smooth_photo(40, 60)
    net = tiny_net()
    rotated = Image.fromarray(rgb)
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display: 60 x 40 becomes 40 x 60
    inputs = {
        "gray": Image.fromarray(rgb[..., 0]),
        "rgba": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])),
        "gray16": rgb[..., 1].astype(np.uint16) * 257,
        "cmyk": Image.fromarray(rgb).convert("CMYK"),
        "palette": Image.fromarray(rgb).convert("P"),
        "exif": _encode(rotated, "JPEG", exif=exif.tobytes()),
    }
    from inpaint.io.photos import open_photo

    inputs["opened"] = open_photo(rgb)
    for name, photo in inputs.items():
        det = detect_damage(photo, method=method, model=net)
        expected = (60, 40) if name == "exif" else (40, 60)
        assert det.damage.shape == expected and det.probability.shape == expected, name
        assert det.damage.dtype == bool and det.probability.dtype == np.float32
        assert np.array_equal(det.known, ~det.damage)


def test_sensitivity_moves_the_threshold_and_grows_the_mask():
    net = tiny_net()
    net.config.threshold = 0.4
    assert learned_threshold(net, 0.5) == pytest.approx(0.4)
    assert learned_threshold(net, 0.0) == pytest.approx(0.98)
    assert learned_threshold(net, 1.0) == pytest.approx(0.02)
    rgb = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    for method in ("learned", "classical"):
        masks = [detect_damage(rgb, s, method=method, model=net).damage for s in (0.0, 0.3, 0.5, 0.8, 1.0)]
        for lo, hi in zip(masks, masks[1:]):
            assert not (lo & ~hi).any(), method  # more sensitive: a superset
    for bad in (-0.1, 1.5, float("nan"), "high"):
        with pytest.raises(ValueError, match="sensitivity"):
            detect_damage(rgb, bad, method="classical")
    with pytest.raises(ValueError, match="unknown detection method"):
        detect_damage(rgb, method="magic")


def test_bad_photos_get_one_line_errors():
    for bad in (b"not an image", _encode(Image.fromarray(smooth_photo(30, 30)))[:60]):
        with pytest.raises(ValueError) as info:
            detect_damage(bad, method="classical")
        assert "\n" not in str(info.value)


def test_classical_finds_thin_lines_and_a_missing_corner_and_leaves_a_clean_photo_alone():
    clean = smooth_photo(256, 320)
    _, damage, _ = classical_damage(clean)
    assert damage.mean() < 0.01

    photo = clean.copy()
    truth = np.zeros(photo.shape[:2], bool)
    rows = np.arange(30, 220)
    cols = (40 + rows * 0.6).astype(int)
    for dx in (0, 1):  # a 2 px bright scratch
        photo[rows, cols + dx] = 245
        truth[rows, cols + dx] = True
    photo[100:102, 150:300] = 25  # a dark 2 px line
    truth[100:102, 150:300] = True
    yy, xx = np.mgrid[0:256, 0:320]
    corner = (yy + xx) < 40  # a torn-off corner showing the black scanner bed
    photo[corner] = 0
    truth |= corner
    _, damage, _ = classical_damage(photo)
    tp, fp, fn = f1_counts(damage, truth)
    assert tp / (tp + fn) > 0.9
    assert fp / (~truth).sum() < 0.01


def test_cli_detect_single_folder_and_errors(tmp_path, photo_folder):
    out = tmp_path / "mask.png"
    r = _cli("detect", str(photo_folder / "p1.png"), "--method", "classical", "--out", str(out), "--probability")
    assert r.returncode == 0, r.stderr
    with Image.open(out) as m:
        assert m.size == (96, 80) and m.mode == "L" and set(np.unique(np.asarray(m))) <= {0, 255}
    assert (tmp_path / "mask-probability.png").is_file()

    (photo_folder / "broken.png").write_bytes(b"not a png")
    r = _cli("detect", str(photo_folder), "--method", "classical", "--out", str(tmp_path / "masks"))
    assert r.returncode == 1 and "broken.png" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["p0.png", "p1.png", "p2.png", "p3.png"]

    for args in (
        ["detect", str(photo_folder / "broken.png"), "--method", "classical", "--out", str(out)],
        ["detect", str(photo_folder / "p1.png"), "--out", str(tmp_path / "x.jpg")],
        ["detect", str(photo_folder / "p1.png"), "--weights", str(tmp_path / "nothing"), "--out", str(out)],
        ["detect", str(photo_folder / "p1.png"), "--sensitivity", "3", "--out", str(out)],
    ):
        r = _cli(*args)
        assert r.returncode == 2, args
        assert (
            r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        )


def test_coarse_level_keeps_the_coarse_view_near_the_training_scale():
    assert coarse_level(500, 700, 512) == 0 and coarse_level(1023, 800, 512) == 0
    assert coarse_level(600, 1024, 512) == 1 and coarse_level(4000, 6000, 512) == 3
    assert (6000 >> 3) in range(512, 1024)
    assert coarse_level(4000, 6000, None) == 0


def test_multiscale_probability_is_the_max_of_full_and_upsampled_coarse():
    import cv2

    net = tiny_net()
    rgb = np.random.default_rng(5).integers(0, 256, (70, 130, 3), dtype=np.uint8)
    settings = DetectSettings(coarse_side=32)
    full = predict_probability(net, rgb, settings)
    small = cv2.resize(rgb, (130 >> 2, 70 >> 2), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(predict_probability(net, small, settings), (130, 70), interpolation=cv2.INTER_LINEAR)
    got = multiscale_probability(net, rgb, settings)
    np.testing.assert_array_equal(got, np.maximum(full, coarse))
    assert (coarse > full).any()
    np.testing.assert_array_equal(multiscale_probability(net, rgb, DetectSettings(coarse_side=None)), full)
