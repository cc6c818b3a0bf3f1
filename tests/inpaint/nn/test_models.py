"""One model base for both networks: versioned configs with migrations, save_pretrained /
from_pretrained round trips of the bundled weights, and the partial convolution in float64."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaint import detect_damage, restore
from inpaint.io.weights import DEFAULT_DETECTOR, DEFAULT_WEIGHTS, WeightsError
from inpaint.nn import DamageNet, DamageNetConfig, PartialConv2d, PConvUNet, PConvUNetConfig
from inpaint.nn.config import VERSION_KEY


def _photo(h: int = 120, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 1.5) % 256, (yy * 2.0) % 256, ((xx + yy) * 0.7) % 256], -1)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    known = np.ones((h, w), bool)
    known[50:58, 10:150] = False
    known[20:40, 100:115] = False
    return img, known


# ----------------------------------------------------------------------------- configs


def test_a_schema_1_restorer_config_means_the_papers_network():
    cfg = PConvUNetConfig.from_dict({"width": 8, "depth": 3, "kernel_sizes": [7, 5, 5]})
    assert (cfg.decoder_renorm, cfg.refine_channels, cfg.prior) == ("joint", 0, "none")
    written = json.loads(cfg.to_json())
    assert written[VERSION_KEY] == PConvUNetConfig.schema_version == 2
    assert PConvUNetConfig.from_dict(written) == cfg


def test_a_schema_1_detector_config_has_no_head_and_no_line_features():
    cfg = DamageNetConfig.from_dict({"architecture": "damage-unet", "width": 4, "depth": 2})
    assert cfg.refine_channels == 0 and cfg.line_sizes == ()
    assert DamageNetConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_a_config_from_a_newer_schema_or_with_unknown_keys_is_refused():
    with pytest.raises(ValueError, match="newer than this code"):
        PConvUNetConfig.from_dict({VERSION_KEY: 3, "width": 8})
    with pytest.raises(ValueError, match="positive integer"):
        PConvUNetConfig.from_dict({VERSION_KEY: "2"})
    with pytest.raises(ValueError, match="unknown model config keys: colour"):
        PConvUNetConfig.from_dict({VERSION_KEY: 2, "colour": 1})


def test_a_config_is_enough_to_rebuild_the_same_architecture():
    cfg = PConvUNetConfig(width=4, depth=3, refine_channels=4, prior="smooth_gated")
    a, b = PConvUNet(cfg), PConvUNet(PConvUNetConfig.from_dict(json.loads(cfg.to_json())))
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


def test_both_networks_are_built_by_one_backbone_builder():
    """The same encoder/decoder block types and channel plan from ``unet_backbone``."""
    net = PConvUNet(PConvUNetConfig(width=4, depth=3, kernel_sizes=(5, 3, 3)))
    det = DamageNet(DamageNetConfig(width=4, depth=3, kernel_sizes=(5, 3, 3)))
    for a, b in zip(net.encoder, det.encoder):
        assert type(a) is type(b) and a.conv.weight.shape == b.conv.weight.shape
    assert [type(b) for b in net.decoder] == [type(b) for b in det.decoder]
    assert net.decoder[-1].conv.out_channels == 3 and det.decoder[-1].conv.out_channels == 1


# ----------------------------------------------------------------------------- model folders


@pytest.fixture(scope="module")
def bundled():
    return PConvUNet.from_pretrained(DEFAULT_WEIGHTS, device="cpu"), DamageNet.from_pretrained(
        DEFAULT_DETECTOR, device="cpu"
    )


def test_the_bundled_restorer_restores_bit_identically_after_a_save_and_a_schema_1_config(bundled, tmp_path):
    model, _ = bundled
    img, known = _photo()
    before = [np.asarray(c.image) for c in restore(img, known, n=3, seed=2, model=model)]

    resaved = PConvUNet.from_pretrained(
        model.save_pretrained(tmp_path / "saved", metadata=model.metadata), device="cpu"
    )
    assert resaved.config == model.config and resaved.metadata["steps"] == model.metadata["steps"]

    old = tmp_path / "schema1"
    shutil.copytree(DEFAULT_WEIGHTS, old, ignore=shutil.ignore_patterns("damage-detector"))
    cfg = json.loads((old / "config.json").read_text())
    cfg.pop(VERSION_KEY)
    (old / "config.json").write_text(json.dumps(cfg))
    migrated = PConvUNet.from_pretrained(old, device="cpu")
    for other in (resaved, migrated):
        after = [np.asarray(c.image) for c in restore(img, known, n=3, seed=2, model=other)]
        assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_the_bundled_detector_detects_bit_identically_after_a_save(bundled, tmp_path):
    _, det = bundled
    img, _ = _photo()
    again = DamageNet.from_pretrained(det.save_pretrained(tmp_path / "det", metadata=det.metadata), device="cpu")
    a, b = detect_damage(img, model=det), detect_damage(img, model=again)
    assert np.array_equal(a.probability, b.probability) and a.model_version == b.model_version


def test_from_pretrained_refuses_the_other_network_and_untrained_weights(bundled, tmp_path):
    with pytest.raises(WeightsError, match="holds a restorer, not a damage detector"):
        DamageNet.from_pretrained(DEFAULT_WEIGHTS)
    folder = PConvUNet(PConvUNetConfig(width=4, depth=2)).save_pretrained(tmp_path / "untrained")
    with pytest.raises(WeightsError, match="never trained"):
        PConvUNet.from_pretrained(folder)
    assert PConvUNet.from_pretrained(folder, allow_untrained=True).config.width == 4


# ----------------------------------------------------------------------------- float64


def _reference_pconv(conv: PartialConv2d, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """W^T (X * M) * sum(1) / sum(M) + b where sum(M) > 0, else 0 (the paper's formula, direct)."""
    raw = F.conv2d(x * m, conv.weight, None, conv.stride, conv.padding)
    counts = F.conv2d(m.expand_as(x), torch.ones_like(conv.weight[:1]), None, conv.stride, conv.padding)
    total = conv.weight[0].numel()
    out = raw * total / counts.clamp(min=1) + conv.bias.view(1, -1, 1, 1)
    return out * (counts > 0)


def test_the_partial_convolution_works_and_gradchecks_in_float64():
    torch.manual_seed(0)
    conv = PartialConv2d(3, 4, 3, padding=1, stride=2).double()
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    m = (torch.rand(2, 1, 9, 8) > 0.5).double()
    y, new_mask = conv(x, m)
    assert y.dtype == torch.float64 and new_mask.dtype == torch.float64
    torch.testing.assert_close(y, _reference_pconv(conv, x, m), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: conv(t, m)[0], (x,))
    per_channel = (torch.rand(2, 3, 9, 8) > 0.5).double()
    assert torch.autograd.gradcheck(lambda t: conv(t, per_channel)[0], (x,))
    assert torch.autograd.gradcheck(lambda t: conv(t, per_channel[:, :2], mask_channels=(1, 2))[0], (x,))


def test_float32_masks_still_count_in_float32_under_bf16_autocast():
    conv = PartialConv2d(3, 4, 3, padding=1)
    m = torch.ones(1, 1, 8, 8)
    m[..., 2:5, 2:5] = 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scale, new_mask = conv.mask_terms(m)
    assert scale.dtype == torch.float32 and new_mask.dtype == torch.float32
    assert scale[0, 0, 3, 3] == 0 and scale[0, 0, 1, 1] == pytest.approx(9 / 8)


def test_both_networks_run_and_gradcheck_in_float64():
    torch.manual_seed(1)
    net = PConvUNet(PConvUNetConfig(width=2, depth=2, kernel_sizes=(3, 3), decoder_renorm="per_group")).double().eval()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    m = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    m[..., 3:6, 2:6] = 0
    assert net(x, m).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda t: net(t, m), (x,), atol=1e-6)
    det = DamageNet(DamageNetConfig(width=2, depth=2, kernel_sizes=(3, 3))).double().eval()
    assert torch.autograd.gradcheck(lambda t: det(t).double(), (x,), atol=1e-6)
