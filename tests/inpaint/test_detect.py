"""Damage detection: the network, tiled inference, the classical baseline, weights, training,
evaluation and the command line."""

import io
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from inpaint.nn.damagenet import load_detector, save_detector
from inpaint.nn.damagenet import DamageNet, DamageNetConfig
from inpaint.detect.pipeline import DetectSettings, _tile_boxes, coarse_level, detect_damage, learned_threshold, multiscale_probability, predict_probability
from inpaint.detect.classical import classical_damage
from inpaint.train.surgery import widen_detector
from inpaint.train.detector import DamageDataset, DetectorTask, DetectTrainConfig, detection_loss, pick_threshold, thin_damage
from inpaint.train.loop import TrainingLoop
from inpaint.synth.prints import damaged_sample, parse_kind_weights, sample_kinds
from inpaint.synth.truth import dark_damage
from inpaint.eval.metrics import f1_counts, scores
from inpaint.synth.damage import DAMAGE_KINDS
from inpaint.train.machine import machine_summary
from inpaint.io.weights import WeightsError
from inpaint.nn.unet import save_model
from inpaint.nn.unet import PConvUNet, PConvUNetConfig

ROOT = Path(__file__).resolve().parents[2]


def tiny_net(seed: int = 0) -> DamageNet:
    torch.manual_seed(seed)
    net = DamageNet(DamageNetConfig(width=4, depth=3))
    # non-trivial BatchNorm statistics, so eval mode is not an identity
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def smooth_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with gentle noise: no edges a detector should flag."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([90 + 60 * xx / w, 110 + 40 * yy / h, 130 - 30 * (xx + yy) / (h + w)], axis=2)
    return np.clip(base + rng.normal(0, 1.5, base.shape), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the network


def test_shapes_on_any_size():
    net = tiny_net()
    for h, w in [(37, 53), (64, 64), (8, 100)]:
        out = net(torch.rand(2, 3, h, w))
        assert out.shape == (2, 1, h, w) and torch.isfinite(out).all()


def test_padding_never_reaches_the_prediction():
    """Invalid pixels (padding) carry no information: garbage there changes nothing."""
    net = tiny_net()
    x = torch.rand(1, 3, 37, 45)
    alone = net(x)
    padded = torch.rand(1, 3, 60, 60) * 100  # garbage around the photo
    padded[:, :, :37, :45] = x
    valid = torch.zeros(1, 1, 60, 60)
    valid[:, :, :37, :45] = 1
    torch.testing.assert_close(net(padded, valid)[:, :, :37, :45], alone, atol=1e-5, rtol=1e-5)


def headed_net(kernel: int = 3, seed: int = 0) -> DamageNet:
    """tiny_net's weights plus a refinement head whose output layer is no longer zero."""
    torch.manual_seed(seed + 1)
    net = DamageNet(DamageNetConfig(width=4, depth=3, refine_channels=3, refine_kernel=kernel))
    missing, unexpected = net.load_state_dict(tiny_net(seed).state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("refine.") for k in missing)
    torch.nn.init.normal_(net.refine.out.weight, std=0.5)
    return net.eval()


@pytest.mark.parametrize("kernel", [3, 5])
def test_refinement_head_keeps_padding_invisible(kernel):
    net = headed_net(kernel)
    x = torch.rand(1, 3, 37, 45)
    padded = torch.rand(1, 3, 60, 60) * 100
    padded[:, :, :37, :45] = x
    valid = torch.zeros(1, 1, 60, 60)
    valid[:, :, :37, :45] = 1
    torch.testing.assert_close(net(padded, valid)[:, :, :37, :45], net(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("k", [3, 7])
def test_line_features_against_skimage_and_invisible_padding(k):
    from skimage.morphology import black_tophat, white_tophat

    from inpaint.nn.lines import LINE_FEATURE_SCALE, line_features

    rng = np.random.default_rng(k)
    image = torch.from_numpy(rng.random((1, 3, 40, 48), dtype=np.float32))
    valid = torch.ones(1, 1, 40, 48)
    white, black = line_features(image, valid, (k,))[0].numpy() / LINE_FEATURE_SCALE
    luma = (image[0] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).numpy()
    square = np.ones((k, k), bool)
    inner = (slice(k, -k), slice(k, -k))  # away from the border, where the two may pad differently
    np.testing.assert_allclose(white[inner], white_tophat(luma, square)[inner], atol=1e-5)
    np.testing.assert_allclose(black[inner], black_tophat(luma, square)[inner], atol=1e-5)
    # padded with invalid pixels (of any value), the photo's features are unchanged, border included
    padded = torch.full((1, 3, 56, 64), 0.9)
    padded[:, :, :40, :48] = image
    pvalid = torch.zeros(1, 1, 56, 64)
    pvalid[:, :, :40, :48] = 1
    out = line_features(padded, pvalid, (k,))
    torch.testing.assert_close(out[:, :, :40, :48], line_features(image, valid, (k,)))
    assert float(out[:, :, 40:].abs().sum()) == 0.0
    # a bright one-pixel line stands out in the top-hat, a dark one in the black-hat
    flat = torch.full((1, 3, 20, 20), 0.5)
    flat[:, :, 10, :] = 0.9
    flat[:, :, :, 4] = 0.1
    w, b = line_features(flat, torch.ones(1, 1, 20, 20), (k,))[0] / LINE_FEATURE_SCALE
    assert w[10, 12] == pytest.approx(0.4, abs=1e-6) and b[3, 4] == pytest.approx(0.4, abs=1e-6)
    assert float(w[3, 12]) == 0.0 and float(b[3, 12]) == 0.0


def test_line_features_opencv_and_torch_paths_agree_with_holes_anywhere():
    from inpaint.nn.lines import _cv2_morphology, _torch_morphology

    torch.manual_seed(5)
    y = torch.rand(3, 1, 33, 41)
    inside = torch.rand(3, 1, 33, 41) > 0.3  # scattered invalid pixels, not only a padded band
    inside[0] = True
    inside[1, :, 20:] = False
    for sizes in [(3,), (3, 7), (5, 9)]:
        cv, th = _cv2_morphology(y, inside, sizes), _torch_morphology(y, inside, sizes)
        assert cv.shape == th.shape == (3, 2 * len(sizes), 33, 41)
        # the same numbers wherever a pixel is valid (invalid ones are zeroed by line_features)
        torch.testing.assert_close(cv * inside, th * inside, atol=0, rtol=0)
    # no mask (a photo's interior tile): what an all-true mask gives
    everywhere = torch.ones_like(inside)
    assert torch.equal(_cv2_morphology(y, None, (3, 7)), _cv2_morphology(y, everywhere, (3, 7)))


def test_line_features_reach_the_logit_at_full_resolution_and_padding_stays_invisible():
    from inpaint.nn.lines import line_features

    torch.manual_seed(3)
    net = DamageNet(DamageNetConfig(width=4, depth=3, line_sizes=(3, 5))).eval()
    assert float(net.line_skip.weight.detach().abs().sum()) == 0.0  # a new line term starts as nothing
    x = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        before = net(x)
        torch.nn.init.normal_(net.line_skip.weight, std=0.5)
        after = net(x)
        # the difference is exactly one 3x3 convolution of the features, zero-padded (direct loop)
        # (of the network's input, the photo scaled to [-1, 1])
        feats = torch.nn.functional.pad(line_features(2 * x - 1, torch.ones(1, 1, 37, 45), (3, 5)), (1, 1, 1, 1))
        direct = torch.zeros(37, 45)
        for dy in range(3):
            for dx in range(3):
                direct += (feats[0, :, dy : dy + 37, dx : dx + 45] * net.line_skip.weight[0, :, dy, dx].view(-1, 1, 1)).sum(0)
        torch.testing.assert_close((after - before)[0, 0], direct, atol=1e-5, rtol=1e-5)
        padded = torch.rand(1, 3, 60, 60) * 100
        padded[:, :, :37, :45] = x
        valid = torch.zeros(1, 1, 60, 60)
        valid[:, :, :37, :45] = 1
        torch.testing.assert_close(net(padded, valid)[:, :, :37, :45], after, atol=1e-5, rtol=1e-5)


def test_widening_keeps_the_detector_s_function_and_lets_the_copies_grow_apart():
    torch.manual_seed(5)
    net = DamageNet(DamageNetConfig(width=4, depth=3, line_sizes=(3, 5)))
    for m in net.modules():  # trained-looking BatchNorm statistics and affine terms
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            torch.nn.init.normal_(m.weight)
            torch.nn.init.normal_(m.bias)
    torch.nn.init.normal_(net.line_skip.weight, std=0.5)
    net.eval()
    wide = widen_detector(net, 6, noise=0.0)
    assert wide.config.channels == [6, 12, 24] and wide.config.line_sizes == (3, 5)
    assert wide.encoder[1].conv.weight.shape == (12, 6, 3, 3) and wide.decoder[2].conv.weight.shape == (1, 6 + 3, 3, 3)
    x = torch.rand(2, 3, 32, 40)  # a multiple of 2**depth: no padding, the same function
    with torch.no_grad():
        narrow_out = net(x)
        torch.testing.assert_close(wide(x), narrow_out, atol=1e-5, rtol=1e-5)
        assert narrow_out.abs().max() > 0.5  # not a trivially small output
    # the first new channel of level 0 repeats an old one, so its incoming weights equal that one's
    rows = wide.encoder[0].conv.weight[4:]
    assert any(torch.equal(rows[0], net.encoder[0].conv.weight[k]) for k in range(4))
    noisy = widen_detector(net, 6, noise=0.01)
    assert not any(torch.equal(noisy.encoder[0].conv.weight[4], net.encoder[0].conv.weight[k]) for k in range(4))
    with torch.no_grad():
        diff = (noisy(x) - narrow_out).abs().max()
    assert 0 < diff < 0.1
    with pytest.raises(ValueError, match="only be widened"):
        widen_detector(net, 3)


def test_refinement_head_against_a_direct_computation_and_starts_as_no_head():
    plain = tiny_net()
    x = torch.rand(2, 3, 24, 40)
    fresh = DamageNet(DamageNetConfig(width=4, depth=3, refine_channels=3))
    fresh.load_state_dict(plain.state_dict(), strict=False)
    assert torch.equal(fresh.eval()(x), plain(x))  # a new head adds exactly nothing

    net = headed_net()
    base = plain(x)  # the decoder's logit (the whole photo is valid)
    r, xs = net.refine, (x - 0.5) * 2  # the network sees the photo in [-1, 1]
    direct = torch.zeros_like(base)
    for i in range(24):
        for j in range(40):
            window = torch.zeros(2, 4, 3, 3)  # [photo, 1 - footprint] around (i, j); outside = not photo
            window[:, 3] = 1.0
            for di in range(-1, 2):
                for dj in range(-1, 2):
                    if 0 <= i + di < 24 and 0 <= j + dj < 40:
                        window[:, :3, di + 1, dj + 1] = xs[:, :, i + di, j + dj]
                        window[:, 3, di + 1, dj + 1] = 0.0
            hidden = (window[:, None] * r.local.weight[None]).sum((2, 3, 4)) + r.local.bias \
                + r.point.weight[None, :, 0, 0, 0] * base[:, 0, i, j, None]
            hidden = torch.where(hidden > 0, hidden, 0.2 * hidden)
            direct[:, 0, i, j] = base[:, 0, i, j] + hidden @ r.out.weight[0, :, 0, 0] + r.out.bias[0]
    torch.testing.assert_close(net(x), direct, atol=1e-4, rtol=1e-4)


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
        shifted[y0:y1, x0:x1] = p[y0 - iy0:y1 - iy0, x0 - ix0:x1 - ix0]
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


# ----------------------------------------------------------------------------- detect_damage


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


# ----------------------------------------------------------------------------- classical baseline


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


def test_scores_against_a_direct_computation():
    pred = np.array([[1, 1, 0, 0], [1, 0, 0, 1]], bool)
    truth = np.array([[1, 0, 0, 0], [1, 1, 0, 0]], bool)
    tp, fp, fn = f1_counts(pred, truth)
    assert (tp, fp, fn) == (2, 2, 1)
    s = scores(tp, fp, fn)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) and s["iou"] == pytest.approx(2 / 5)
    assert scores(0, 0, 0)["f1"] is None and scores(0, 3, 0)["recall"] is None


# ----------------------------------------------------------------------------- weights


def test_detector_weights_round_trip_and_refusals(tmp_path):
    net = tiny_net()
    save_detector(net, tmp_path / "d", metadata={"steps": 5})
    loaded = load_detector(tmp_path / "d", device="cpu")
    assert loaded.config == net.config and not loaded.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert "Damage detector" in (tmp_path / "d" / "README.md").read_text()

    save_detector(net, tmp_path / "untrained")
    with pytest.raises(WeightsError, match="never trained.*damage detector"):
        load_detector(tmp_path / "untrained")

    save_model(PConvUNet(PConvUNetConfig(width=4, depth=3)), tmp_path / "restorer", metadata={"steps": 1})
    with pytest.raises(WeightsError, match="restorer, not a damage detector"):
        load_detector(tmp_path / "restorer")

    data = (tmp_path / "d" / "model.safetensors").read_bytes()
    (tmp_path / "d" / "model.safetensors").write_bytes(data[:100])
    with pytest.raises(WeightsError, match="corrupt"):
        load_detector(tmp_path / "d")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="no trained weights.*train-detector.*INPAINT_DETECTOR_WEIGHTS"):
        load_detector(tmp_path / "empty")
    with pytest.raises(WeightsError, match="not found"):
        load_detector(tmp_path / "no/such/folder")


# ----------------------------------------------------------------------------- training


def test_damaged_sample_is_deterministic_and_truthful():
    photo = smooth_photo(64, 64)
    a = damaged_sample(photo, np.random.default_rng(3), severity="severe")
    b = damaged_sample(photo, np.random.default_rng(3), severity="severe")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[1].any() and a[0].shape == (64, 64, 3) and a[1].dtype == bool
    seen, damage = damaged_sample(photo, np.random.default_rng(3), clean_fraction=1.0)
    assert not damage.any() and seen.shape == photo.shape


def test_the_reference_scan_is_the_same_scan_without_the_damage():
    photo = smooth_photo(160, 160, seed=2)
    for seed in range(6):  # several seeds: blur, noise, paper and JPEG each drawn in some of them
        plain_rng, ref_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        seen, damage = damaged_sample(photo, plain_rng, severity="minor")
        seen2, damage2, reference = damaged_sample(photo, ref_rng, severity="minor", reference=True)
        assert np.array_equal(seen, seen2) and np.array_equal(damage, damage2)
        assert plain_rng.random() == ref_rng.random()  # the generator goes on as without the reference
        # away from the damage (beyond the blur and JPEG's 16x16 colour blocks), the scans agree exactly
        far = ~cv2.dilate(damage.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
        assert far.any() and np.array_equal(seen[far], reference[far])
        assert not np.array_equal(seen[damage], reference[damage])
        clean, _, clean_ref = damaged_sample(photo, np.random.default_rng(seed), clean_fraction=1.0, reference=True)
        assert np.array_equal(clean, clean_ref)


@pytest.fixture()
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_photo(80, 96, seed=i)).save(folder / f"p{i}.png")
    return folder


def detector_loop(cfg: DetectTrainConfig) -> TrainingLoop:
    return TrainingLoop(DetectorTask(cfg))


def test_dataset_gives_images_and_binary_targets(photo_folder):
    from inpaint.train.data import build_dataset

    torch.manual_seed(0)
    ds = DamageDataset(build_dataset(f"folder:{photo_folder}", crop=48, length=6), clean_fraction=0.0)
    x, y = ds[0]
    assert x.shape == (3, 48, 48) and y.shape == (1, 48, 48)
    assert 0 <= x.min() and x.max() <= 1 and set(torch.unique(y).tolist()) <= {0.0, 1.0} and y.sum() > 0


def test_training_checkpoints_resumes_and_exports_a_loadable_detector(photo_folder, tmp_path):
    out = tmp_path / "run"
    cfg = DetectTrainConfig(data=f"folder:{photo_folder}", out=str(out), val_data=str(photo_folder), width=4, depth=3,
                            max_width_mult=2, crop=48, batch_size=2, steps=2, workers=0, val_every=1, val_images=3,
                            thin_weight=4.0, dark_weight=2.0, single_kind_fraction=0.5)
    folder = detector_loop(cfg).fit()
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    assert first["step"] == 2
    det = load_detector(folder, device="cpu")
    assert det.config.channels == [4, 8, 8]  # the widest level is width * max_width_mult
    assert [v.shape[0] for k, v in det.state_dict().items() if k.startswith("encoder.") and v.ndim == 4] == [4, 8, 8]
    with pytest.raises(ValueError, match="another detector config"):
        detector_loop(dataclasses.replace(cfg, max_width_mult=4))
    assert det.metadata["steps"] == 2 and 0 < det.config.threshold < 1 and det.config.version == "damage-w4-d3-s2"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_best_f1" in r for r in log)
    last = [r for r in log if "val_clean_fpr" in r][-1]
    assert 0 <= last["val_clean_fpr"] <= 1 and det.config.threshold == last["val_best_threshold"]

    cfg.steps = 3
    trainer = detector_loop(cfg)
    assert trainer.progress.step == 2  # resumed
    trainer.fit()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 3
    assert load_detector(out / "model", device="cpu").metadata["steps"] == 3


def test_a_resumed_run_adds_a_refinement_head_and_keeps_it(photo_folder, tmp_path):
    out = tmp_path / "run"
    cfg = DetectTrainConfig(data=f"folder:{photo_folder}", out=str(out), width=4, depth=3, crop=48, batch_size=2,
                            steps=2, workers=0, val_every=0)
    detector_loop(cfg).fit()
    before = load_detector(out / "model", device="cpu")
    headed = dataclasses.replace(cfg, steps=4, refine_channels=3, refine_lr=1e-2)
    trainer = detector_loop(headed)
    assert trainer.progress.step == 2 and trainer.model.config.refine_channels == 3
    assert {g["name"]: g["lr"] for g in trainer.opt.param_groups} == {"net": cfg.lr, "refine": 1e-2}
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():  # the head starts as nothing: the resumed model is the one it continues
        # (not bit-equal: the loaded detector computes in channels-last order)
        torch.testing.assert_close(trainer.model.eval()(x), before(x), atol=1e-6, rtol=1e-6)
    trainer.fit()
    after = load_detector(out / "model", device="cpu")
    assert after.config.refine_channels == 3 and after.metadata["steps"] == 4
    assert float(after.refine.out.weight.abs().sum()) > 0  # it trained
    # resumed without the flag, the run keeps its head; another head does not fit
    assert detector_loop(dataclasses.replace(cfg, steps=5)).model.config.refine_channels == 3
    with pytest.raises(ValueError, match="refinement head of 3"):
        detector_loop(dataclasses.replace(cfg, steps=5, refine_channels=5))
    with pytest.raises(ValueError, match="does not fit"):
        detector_loop(dataclasses.replace(cfg, steps=5, refine_kernel=5))


def test_init_goes_on_from_an_exported_detector_and_continues_its_record(photo_folder, tmp_path):
    base = DetectTrainConfig(data=f"folder:{photo_folder}", out=str(tmp_path / "first"), width=4, depth=3, crop=48,
                             batch_size=2, steps=2, workers=0, val_every=0, amp="off")
    first = load_detector(detector_loop(base).fit(), device="cpu")
    assert [(p["steps"], p["crop"], p["batch_size"]) for p in first.metadata["phases"]] == [(2, 48, 2)]

    more = dataclasses.replace(base, out=str(tmp_path / "more"), init=str(tmp_path / "first" / "model"), crop=40,
                               batch_size=3, steps=5, lr=3e-4, thin_weight=4.0)
    trainer = detector_loop(more)
    assert (trainer.progress.step, trainer.progress.images_seen) == (2, 4)
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():  # it starts as the exported model (which computes in channels-last order)
        torch.testing.assert_close(trainer.model.eval()(x), first(x), atol=1e-6, rtol=1e-6)
    after = load_detector(trainer.fit(), device="cpu")
    assert after.metadata["steps"] == 5 and after.metadata["images_seen"] == 4 + 3 * 3
    assert after.config.version == "damage-w4-d3-s5" and after.config.working_size == 40
    r = _cli("card", "--model", str(tmp_path / "more" / "model"), "--train-command", "INIT=first scripts/train_detector.sh more")
    assert r.returncode == 0, r.stderr
    card = (tmp_path / "more" / "model" / "README.md").read_text()
    assert "5 Adam steps (the last run at lr 0.0003), batch 3, 13 crops of 40 and 48 px" in card
    assert f"crops/s) on a {machine_summary()}\n" in card and "- 2 phase(s)" in card  # both phases ran here
    # every phase is in the training record beside the card, numbered, as the weights recorded it
    record = json.loads((tmp_path / "more" / "model" / "training_record.json").read_text())
    assert [(p["phase"], p["steps"], p["images_seen"], p["crop"], p["scale"], p["batch_size"], p["lr"], p["thin_weight"])
            for p in record["phases"]] == [(1, 2, 4, 48, [0.15, 1.0], 2, 0.001, 0.0), (2, 3, 9, 40, [0.15, 1.0], 3, 0.0003, 4.0)]
    assert [{k: v for k, v in p.items() if k not in ("phase", "crops_per_second")} for p in record["phases"]] == after.metadata["phases"]
    phases = after.metadata["phases"]
    assert [(p["steps"], p["images_seen"], p["crop"], p["batch_size"], p["lr"]) for p in phases] == [
        (2, 4, 48, 2, base.lr), (3, 9, 40, 3, 3e-4)]
    assert phases[1]["thin_weight"] == 4.0 and after.metadata["train_seconds"] >= first.metadata["train_seconds"]
    # with a checkpoint in the run, --init is ignored: the run resumes
    assert detector_loop(dataclasses.replace(more, steps=6)).progress.step == 5
    # another architecture does not fit; a refinement head may be added, starting as nothing
    with pytest.raises(ValueError, match="another detector config"):
        detector_loop(dataclasses.replace(more, out=str(tmp_path / "deep"), depth=4))
    # a wider run widens the detector (Net2Net), starting close to it: its copies carry 1% noise
    wide = detector_loop(dataclasses.replace(more, out=str(tmp_path / "wide"), width=6, dark_weight=1.5))
    assert wide.model.encoder[0].conv.weight.shape[0] == 6 and wide.progress.step == 2
    with torch.no_grad():
        torch.testing.assert_close(wide.model.eval()(x), first(x), atol=0.05, rtol=0)
    wide_after = load_detector(wide.fit(), device="cpu")
    assert wide_after.config.width == 6 and wide_after.metadata["phases"][-1]["widened"] == [4, 6]
    assert wide_after.metadata["phases"][-1]["dark_weight"] == 1.5
    assert _cli("card", "--model", str(tmp_path / "wide" / "model"), "--train-command", "t").returncode == 0
    assert "thin damage, the pixels a 3x3 erosion removes, 5 times more; damage that made a pixel visibly darker (by 8 grey levels or more) 1.5 more" in (tmp_path / "wide" / "model" / "README.md").read_text()
    last = json.loads((tmp_path / "wide" / "model" / "training_record.json").read_text())["phases"][-1]
    assert (last["widened"], last["thin_weight"], last["dark_weight"]) == ([4, 6], 4.0, 1.5)
    # bf16 steps (on any CPU: slow without native bf16, but a tiny model) are recorded as such
    half = detector_loop(dataclasses.replace(more, out=str(tmp_path / "half"), amp="bf16"))
    assert half.task.precision == "bfloat16" and more.amp == "off"
    half_after = load_detector(half.fit(), device="cpu")
    assert half_after.metadata["phases"][-1]["precision"] == "bfloat16" and half_after.metadata["steps"] == 5
    assert all(v.dtype == torch.float32 for v in half_after.state_dict().values() if v.is_floating_point())
    assert _cli("card", "--model", str(tmp_path / "half" / "model"), "--train-command", "t").returncode == 0
    assert f"crops/s) on a {machine_summary()}; phase 2 in bfloat16 steps\n" in (tmp_path / "half" / "model" / "README.md").read_text()
    last = json.loads((tmp_path / "half" / "model" / "training_record.json").read_text())["phases"][-1]
    assert (last["steps"], last["images_seen"], last["crop"], last["batch_size"], last["lr"], last["thin_weight"],
            last["precision"]) == (3, 9, 40, 3, 0.0003, 4.0, "bfloat16")
    with pytest.raises(ValueError, match="only be widened"):
        detector_loop(dataclasses.replace(more, out=str(tmp_path / "narrow"), width=3))
    headed = detector_loop(dataclasses.replace(more, out=str(tmp_path / "headed"), refine_channels=3))
    assert headed.model.config.refine_channels == 3 and headed.progress.step == 2
    with torch.no_grad():
        torch.testing.assert_close(headed.model.eval()(x), first(x), atol=1e-6, rtol=1e-6)
    # line features may join too: the first layer's new inputs start at zero
    lined = detector_loop(dataclasses.replace(more, out=str(tmp_path / "lined"), line_sizes=[3, 5]))
    assert lined.model.config.line_sizes == (3, 5) and lined.model.encoder[0].conv.weight.shape[1] == 3 + 4
    with torch.no_grad():
        torch.testing.assert_close(lined.model.eval()(x), first(x), atol=1e-6, rtol=1e-6)
    after_lines = load_detector(lined.fit(), device="cpu")
    assert after_lines.config.line_sizes == (3, 5) and float(after_lines.encoder[0].conv.weight[:, 3:].abs().sum()) > 0
    assert float(after_lines.line_skip.weight.abs().sum()) > 0  # the full-resolution line term trained too
    assert _cli("card", "--model", str(tmp_path / "lined" / "model"), "--train-command", "t").returncode == 0
    card = (tmp_path / "lined" / "model" / "README.md").read_text()
    assert "with 3x3, 5x5 squares" in card
    last = json.loads((tmp_path / "lined" / "model" / "training_record.json").read_text())["phases"][-1]
    assert (last["steps"], last["crop"], last["lr"], last["thin_weight"], last["line_sizes"]) == (3, 40, 0.0003, 4.0, [3, 5])
    with pytest.raises(ValueError, match="line features"):  # other line sizes do not fit
        detector_loop(dataclasses.replace(more, out=str(tmp_path / "lined"), line_sizes=[3]))


def test_ema_exports_the_average_of_the_weights_and_buffers(photo_folder, tmp_path):
    cfg = DetectTrainConfig(data=f"folder:{photo_folder}", out=str(tmp_path / "run"), val_data=str(photo_folder),
                            width=4, depth=3, crop=48, batch_size=2, steps=2, workers=0, val_every=0, val_images=2,
                            ema_decay=0.75)
    trainer = detector_loop(cfg)
    seen = []  # the live weights after each step, as the average sees them
    update = trainer.ema.update_parameters
    trainer.ema.update_parameters = lambda m: (seen.append({k: v.clone() for k, v in m.state_dict().items()}), update(m))
    exported = load_detector(trainer.fit(), device="cpu").state_dict()
    assert len(seen) == 2
    floats = [k for k, v in seen[1].items() if v.is_floating_point()]
    assert any("running_mean" in k for k in floats)  # BatchNorm statistics are averaged too
    for k in floats:  # the first update copies, the second moves a quarter of the way
        torch.testing.assert_close(exported[k], 0.75 * seen[0][k] + 0.25 * seen[1][k])
    assert not torch.equal(exported[floats[0]], seen[1][floats[0]])
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert torch.equal(ck["model"][floats[0]], seen[1][floats[0]])  # training goes on from the live weights
    assert detector_loop(dataclasses.replace(cfg, steps=3)).ema.n_averaged.item() == 2  # and so does the average
    with pytest.raises(ValueError, match="ema-decay"):
        detector_loop(dataclasses.replace(cfg, out=str(tmp_path / "bad"), ema_decay=1.0))


def test_init_from_a_detector_exported_before_phases_were_recorded(photo_folder, tmp_path):
    from inpaint.nn.damagenet import save_detector

    old = tiny_net()
    save_detector(old, tmp_path / "old", metadata={"steps": 7, "images_seen": 56, "train_seconds": 12.5, "crop": 64,
                                                     "train_config": {"batch_size": 8}})
    cfg = DetectTrainConfig(data=f"folder:{photo_folder}", out=str(tmp_path / "run"), init=str(tmp_path / "old"),
                            width=old.config.width, depth=old.config.depth, max_width_mult=old.config.max_width_mult,
                            crop=48, batch_size=2, steps=8, workers=0, val_every=0)
    assert [(r["steps"], r["crop"], r["batch_size"]) for r in
            load_detector(detector_loop(cfg).fit(), device="cpu").metadata["phases"]] == [(7, 64, 8), (1, 48, 2)]


def test_card_command_writes_the_detector_card_from_its_run_and_evaluation(photo_folder, tmp_path):
    from inpaint.eval.detector import run

    cfg = DetectTrainConfig(data=f"folder:{photo_folder}", out=str(tmp_path / "run"), val_data=str(photo_folder),
                            width=4, depth=3, crop=48, batch_size=2, steps=2, workers=0, val_every=1, val_images=3,
                            thin_weight=4.0, dark_weight=2.0, single_kind_fraction=0.5)
    folder = detector_loop(cfg).fit()
    run(str(photo_folder), str(tmp_path / "ev"), ["learned", "classical"], size=64, repeats=1, limit=2,
        model=load_detector(folder, device="cpu"))
    r = _cli("card", "--model", str(folder), "--eval", str(tmp_path / "ev"), "--train-command", "scripts/train_detector.sh run")
    assert r.returncode == 0, r.stderr
    card = (folder / "README.md").read_text()
    assert "# Damage detector for old photos (`damage-w4-d3-s2`)" in card
    assert "2 Adam steps" in card and "4 crops of 48 px" in card
    assert "thin damage, the pixels a 3x3 erosion removes, 5 times more" in card and "50% of the damaged samples" in card
    assert "visibly darker (by 8 grey levels or more) 2 more" in card
    assert "`scripts/train_detector.sh run`" in card and "of their pixels flagged" in card
    # the Hub's form: YAML metadata, then one results table, the F1 table of the evaluation's results.md
    assert card.startswith("---\nlicense: other\nlibrary_name: pytorch\npipeline_tag: image-segmentation\n")
    assert "\nmetrics: [f1]\n---\n\n# Damage detector" in card
    assert [h for h in card.splitlines() if h.startswith("## ")] == [
        "## How to use", "## Results", "## Limitations", "## Training", "## License"]
    evaluated = (tmp_path / "ev" / "results.md").read_text()
    scratch_row = next(line for line in evaluated.splitlines() if line.startswith("| scratch |"))
    assert scratch_row in card and sum(line.startswith("| kind |") for line in card.splitlines()) == 1
    # the trainer records the commit it ran from (git rev-parse HEAD), and no recipe without --recipe
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or None
    assert "- recipe: not recorded" in card
    assert (f"- training commit: `{commit}`" if commit else "- training commit: not recorded") in card
    assert "- training record: [training_record.json](training_record.json)" in card
    # the full record beside the card: the phases, the run's configuration and validation, the evaluation
    detector = load_detector(folder, device="cpu")
    record = json.loads((folder / "training_record.json").read_text())
    assert record["model"] == "damage-w4-d3-s2" and record["command"] == "scripts/train_detector.sh run"
    assert (record["recipe"], record["commit"]) == (None, commit)
    assert [{k: v for k, v in p.items() if k not in ("phase", "crops_per_second")} for p in record["phases"]] == detector.metadata["phases"]
    assert record["validation"] == detector.metadata["validation"]
    assert record["last_phase_config"] == detector.metadata["train_config"] and record["last_phase_config"]["thin_weight"] == 4.0
    assert record["totals"]["steps"] == 2 and record["totals"]["images_seen"] == 4 and record["totals"]["crops"] == [48]
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert record["evaluation"][0]["folder"] == "ev" and record["evaluation"][0]["false_positive_rate"] == results["false_positive_rate"]
    assert detector.config.version == "damage-w4-d3-s2"  # the weights are untouched


# ----------------------------------------------------------------------------- evaluation and CLI


def test_evaluate_detection_writes_tables_and_sheets(photo_folder, tmp_path):
    from inpaint.eval.detector import ROWS, run
    from inpaint.synth.damage import SEVERITIES

    demo = photo_folder / "p0.png"
    results = run(str(photo_folder), str(tmp_path / "ev"), ["learned", "classical"], size=64, repeats=1,
                  limit=2, demo=str(demo), model=tiny_net())
    assert len(results["table"]) == 2 * len(SEVERITIES) * len(ROWS)
    for row in results["table"]:
        assert row["tp"] + row["fn"] > 0  # every cell had damage to find
        assert row["f1"] == pytest.approx(scores(row["tp"], row["fp"], row["fn"])["f1"])
        # the visibility split covers every true pixel once, and the found ones are the true positives
        assert sum(row["truth_by_visibility"]) == row["tp"] + row["fn"]
        assert sum(row["found_by_visibility"]) == row["tp"]
        assert all(f <= t for f, t in zip(row["found_by_visibility"], row["truth_by_visibility"]))
        # the visible-truth scores drop exactly the faint bin from the truth; false positives are unchanged
        vis = row["visible"]
        assert vis["tp"] == sum(row["found_by_visibility"][1:]) and vis["fp"] == row["fp"]
        assert vis["tp"] + vis["fn"] == sum(row["truth_by_visibility"][1:])
        assert vis["f1"] == pytest.approx(scores(vis["tp"], vis["fp"], vis["fn"])["f1"])
        # the polarity split covers the plainly visible bins (changed by 20 levels or more) once
        assert sum(row["plain_truth_brighter_darker"]) == sum(row["truth_by_visibility"][2:])
        assert sum(row["plain_found_brighter_darker"]) == sum(row["found_by_visibility"][2:])
    assert set(results["false_positive_rate"]) == {"learned", "classical"}
    md = (tmp_path / "ev" / "results.md").read_text()
    assert "| scratch |" in md and "pixels flagged" in md and "Recall by how visible the damage is" in md
    assert "with the faint truth ignored" in md and sum(line.startswith("| scratch |") for line in md.splitlines()) == 5
    assert "brighter or darker" in md
    assert json.loads((tmp_path / "ev" / "results.json").read_text())["size"] == 64
    for name in ("contact-sheet.png", "demo.png"):
        with Image.open(tmp_path / "ev" / name) as im:
            assert im.width > 100


def test_darker_against_the_channel_sums():
    from inpaint.synth.truth import darker, truth_changes

    reference = np.full((2, 3, 3), 100, np.uint8)
    seen = reference.copy()
    seen[0, 0] = (60, 60, 60)  # a dark scratch
    seen[0, 1] = (250, 240, 230)  # paper showing through
    seen[0, 2] = (130, 90, 70)  # a yellow-brown cast: -10 in sum, darker
    truth = np.zeros((2, 3), bool)
    truth[0] = True
    assert darker(truth_changes(seen, reference, truth)).tolist() == [True, False, True]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "inpaint", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


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

    for args in (["detect", str(photo_folder / "broken.png"), "--method", "classical", "--out", str(out)],
                 ["detect", str(photo_folder / "p1.png"), "--out", str(tmp_path / "x.jpg")],
                 ["detect", str(photo_folder / "p1.png"), "--weights", str(tmp_path / "nothing"), "--out", str(out)],
                 ["detect", str(photo_folder / "p1.png"), "--sensitivity", "3", "--out", str(out)]):
        r = _cli(*args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_thin_damage_weighting_of_the_loss():
    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 5, 1:11] = 1  # a 1 px scratch
    target[0, 0, 0:5, 0:5] = 1  # a block: only its rim is thin
    thin = thin_damage(target)
    assert thin[0, 0, 5, 1:11].eq(1).all()
    assert thin[0, 0, 2, 2] == 0 and thin[0, 0, 0, 4] == 1 and thin.sum() < target.sum()
    logits = torch.randn(1, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    plain, _ = detection_loss(logits, target, pos_weight=3.0)
    weighted, _ = detection_loss(logits, target, pos_weight=3.0, thin_weight=4.0)
    # direct computation of the weighted BCE
    p = torch.sigmoid(logits)
    w = 1 + 4.0 * thin
    bce = -(3.0 * target * torch.log(p) + (1 - target) * torch.log(1 - p)) * w
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    torch.testing.assert_close(weighted, bce.mean() + dice, atol=1e-5, rtol=1e-5)
    assert weighted > plain


def test_the_card_says_where_each_phase_ran():
    from inpaint.eval.card import UNRECORDED_MACHINE, _where_trained

    here = machine_summary()
    assert here.startswith(f"{os.cpu_count()}-core ") and ("no GPU" in here or "GPU " in here)
    assert _where_trained([{"steps": 5}]) == f" on {UNRECORDED_MACHINE}" == " on an unrecorded machine"
    assert _where_trained([]) == f" on {UNRECORDED_MACHINE}"
    mixed = [{}, {}, {"machine": "M1"}, {"machine": "M1"}, {"machine": "M2"}]
    assert _where_trained(mixed) == ": phases 1-2 on an unrecorded machine; phases 3-4 on a M1; phase 5 on a M2"


def test_dark_damage_weighting_of_the_loss():
    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 5, 1:11] = 1  # a 1 px scratch
    target[0, 0, 0:5, 0:5] = 1  # a block: only its rim is thin
    dark = torch.zeros_like(target)
    dark[0, 0, 5, 1:6] = 1  # half the scratch made the photo darker
    logits = torch.randn(1, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    weighted, _ = detection_loss(logits, target, pos_weight=3.0, thin_weight=4.0, dark=dark, dark_weight=2.0)
    p = torch.sigmoid(logits)
    w = 1 + 4.0 * thin_damage(target) + 2.0 * dark  # the weights add up
    bce = -(3.0 * target * torch.log(p) + (1 - target) * torch.log(1 - p)) * w
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    torch.testing.assert_close(weighted, bce.mean() + dice, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="dark damage map"):
        detection_loss(logits, target, dark_weight=2.0)


def test_dark_damage_is_the_visibly_darkened_damage():
    reference = np.full((4, 6, 3), 120, np.uint8)
    seen = reference.copy()
    seen[0, :2] = 60  # darker by 60: dark damage
    seen[1, :2] = 200  # brighter: not dark
    seen[2, :2] = 115  # darker by 5: hardly visible
    seen[3, 0] = (100, 130, 128)  # one channel down 20, two up 18: summed change -2, darker
    damage = np.zeros((4, 6), bool)
    damage[:, :2] = True
    damage[0, 1] = False  # changed, but not in the truth
    expected = np.zeros((4, 6), bool)
    expected[0, 0] = expected[3, 0] = True
    np.testing.assert_array_equal(dark_damage(seen, reference, damage), expected)
    np.testing.assert_array_equal(dark_damage(seen, reference, damage, min_change=4), expected | (damage & (np.arange(4)[:, None] == 2)))


def test_dataset_with_the_dark_damage_channel(photo_folder):
    from inpaint.train.data import build_dataset

    torch.manual_seed(3)
    ds = DamageDataset(build_dataset(f"folder:{photo_folder}", crop=48, length=8), clean_fraction=0.0, dark=True)
    targets = torch.stack([ds[i][1] for i in range(8)])
    assert targets.shape == (8, 2, 48, 48) and set(torch.unique(targets).tolist()) <= {0.0, 1.0}
    assert (targets[:, 1] <= targets[:, 0]).all()  # dark damage is damage
    assert targets[:, 1].sum() > 0 and targets[:, 1].sum() < targets[:, 0].sum()


def test_single_kind_samples():
    rng = np.random.default_rng(0)
    draws = [sample_kinds(rng, 0.3) for _ in range(2000)]
    singles = [d for d in draws if d is not None]
    assert 0.25 < len(singles) / len(draws) < 0.35
    assert all(len(d) == 1 for d in singles) and {d[0] for d in singles} == set(DAMAGE_KINDS)
    assert all(sample_kinds(rng, 0.0) is None for _ in range(100))


def test_kind_weights_steer_the_single_kind_draws():
    rng = np.random.default_rng(0)
    weights = parse_kind_weights("scratch=3, crease=2,stain=0")
    assert weights == {"scratch": 3.0, "crease": 2.0, "stain": 0.0}
    draws = [sample_kinds(rng, 1.0, weights)[0] for _ in range(4000)]
    share = {k: draws.count(k) / len(draws) for k in DAMAGE_KINDS}
    assert share["stain"] == 0
    for kind, weight in [("scratch", 3), ("crease", 2), ("tear", 1), ("spot", 1), ("missing_corner", 1)]:
        assert abs(share[kind] - weight / 8) < 0.025, (kind, share[kind])
    for bad, message in [("scratches=2", "not KIND=WEIGHT"), ("scratch=x", "not a number"), ("scratch=-1", "zero or positive"),
                         (",".join(f"{k}=0" for k in DAMAGE_KINDS), "positive weight")]:
        with pytest.raises(ValueError, match=message):
            parse_kind_weights(bad)
    out = _cli("train-detector", "--data", "folder:/nowhere", "--out", "/tmp/x", "--kind-weights", "scratches=2")
    assert out.returncode == 2 and "not KIND=WEIGHT" in out.stderr and "Traceback" not in out.stderr


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


def test_threshold_pick_respects_the_undamaged_budget():
    f1 = {0.3: 0.70, 0.5: 0.72, 0.7: 0.69, 0.9: 0.50}
    fpr = {0.3: 0.03, 0.5: 0.012, 0.7: 0.004, 0.9: 0.001}
    assert pick_threshold(f1, None, 0.005) == 0.5  # no undamaged crops: best F1
    assert pick_threshold(f1, fpr, 0.005) == 0.7  # best F1 within the budget
    assert pick_threshold(f1, fpr, 0.02) == 0.5
    assert pick_threshold(f1, fpr, 0.0001) == 0.9  # nothing within: the one that flags least
