"""The detector's network (inpaint.nn.damagenet, inpaint.nn.lines): shapes, invisible padding, the
refinement head, line features, its model folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaint.io.weights import WeightsError
from inpaint.nn.damagenet import DamageNet, DamageNetConfig, load_detector, save_detector
from inpaint.nn.unet import PConvUNet, PConvUNetConfig, save_model
from tests.helpers import reference_refine_head
from tests.inpaint.detect_helpers import tiny_net


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
                direct += (
                    feats[0, :, dy : dy + 37, dx : dx + 45] * net.line_skip.weight[0, :, dy, dx].view(-1, 1, 1)
                ).sum(0)
        torch.testing.assert_close((after - before)[0, 0], direct, atol=1e-5, rtol=1e-5)
        padded = torch.rand(1, 3, 60, 60) * 100
        padded[:, :, :37, :45] = x
        valid = torch.zeros(1, 1, 60, 60)
        valid[:, :, :37, :45] = 1
        torch.testing.assert_close(net(padded, valid)[:, :, :37, :45], after, atol=1e-5, rtol=1e-5)


def test_refinement_head_against_a_direct_computation_and_starts_as_no_head():
    plain = tiny_net()
    x = torch.rand(2, 3, 24, 40)
    fresh = DamageNet(DamageNetConfig(width=4, depth=3, refine_channels=3))
    fresh.load_state_dict(plain.state_dict(), strict=False)
    assert torch.equal(fresh.eval()(x), plain(x))  # a new head adds exactly nothing

    net = headed_net()
    base = plain(x)  # the decoder's logit (the whole photo is valid)
    inside = torch.ones(2, 1, 24, 40)
    direct = reference_refine_head(net.refine, base, (x - 0.5) * 2, inside)  # the photo in [-1, 1]
    torch.testing.assert_close(net(x), direct, atol=1e-4, rtol=1e-4)


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
