import pytest
import torch

from inpaint.unet import PConvUNet, PConvUNetConfig


def tiny(**kw) -> PConvUNet:
    return PConvUNet(PConvUNetConfig(width=4, depth=3, **kw)).eval()


def test_paper_architecture():
    cfg = PConvUNetConfig.paper(512)
    assert cfg.depth == 8 and cfg.channels == [64, 128, 256, 512, 512, 512, 512, 512]
    assert cfg.kernel_sizes == (7, 5, 5, 3, 3, 3, 3, 3)
    assert PConvUNetConfig.paper(256).depth == 7
    net = PConvUNet(cfg)
    # encoder: BatchNorm on every layer but the first; decoder: on every layer but the last
    assert isinstance(net.encoder[0].bn, torch.nn.Identity)
    assert all(isinstance(b.bn, torch.nn.BatchNorm2d) for b in net.encoder[1:])
    assert all(isinstance(b.bn, torch.nn.BatchNorm2d) for b in net.decoder[:-1])
    assert net.decoder[-1].last and net.decoder[-1].conv.in_channels == 64 + 3  # gets the input image
    assert 30e6 < net.num_parameters() < 40e6  # the paper's model is about 33M parameters


@pytest.mark.parametrize("h,w", [(8, 8), (13, 29), (40, 17)])
def test_any_size_and_shapes(h, w):
    net = tiny()
    x = torch.rand(2, 3, h, w)
    m = torch.ones(2, 1, h, w)
    m[:, :, h // 4 : h // 2, w // 4 : w // 2] = 0
    out = net(x, m)
    assert out.shape == (2, 3, h, w) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_output_does_not_depend_on_hole_values():
    torch.manual_seed(0)
    net = tiny()
    x = torch.rand(1, 3, 24, 24)
    m = torch.ones(1, 1, 24, 24)
    m[..., 5:15, 6:18] = 0
    y = x.clone()
    y[..., 5:15, 6:18] = torch.rand(1, 3, 10, 12) * 50 - 25
    torch.testing.assert_close(net(x, m), net(y, m), rtol=0, atol=1e-6)


def test_known_pixels_reach_the_last_layer():
    """The last layer sees the input image through its skip, so perturbing one known pixel
    changes the output there (and the composite keeps it exactly)."""
    torch.manual_seed(0)
    net = tiny()
    x = torch.rand(1, 3, 16, 16)
    m = torch.ones(1, 1, 16, 16)
    m[..., 4:8, 4:8] = 0
    y = x.clone()
    y[0, :, 12, 12] += 0.5
    a, b = net(x, m), net(y, m)
    assert (a[0, :, 12, 12] - b[0, :, 12, 12]).abs().max() > 0
    comp = m * y + (1 - m) * b
    assert torch.equal(comp[m.expand_as(comp) > 0], y[m.expand_as(y) > 0])


def test_padding_is_invisible():
    """A 13x13 input is padded with holes to 16x16: the padded area cannot change the result."""
    torch.manual_seed(3)
    net = tiny()
    x = torch.rand(1, 3, 16, 16)
    m = torch.ones(1, 1, 16, 16)
    m[..., 13:, :] = 0
    m[..., :, 13:] = 0
    full = net(x, m)[..., :13, :13]
    cropped = net(x[..., :13, :13], m[..., :13, :13])
    torch.testing.assert_close(full, cropped, rtol=0, atol=1e-6)


def test_monte_carlo_dropout_per_sample_and_seeded():
    torch.manual_seed(0)
    net = tiny(dropout_layers=2)
    x = torch.rand(1, 3, 16, 16).expand(3, -1, -1, -1)
    m = torch.ones(3, 1, 16, 16)
    m[..., 4:12, 4:12] = 0
    gens = lambda: [torch.Generator().manual_seed(s) for s in (1, 2, 1)]
    a = net(x, m, dropout=torch.tensor([0.3, 0.3, 0.3]), generators=gens())
    b = net(x, m, dropout=torch.tensor([0.3, 0.3, 0.3]), generators=gens())
    assert torch.equal(a, b)  # same seeds, same pixels
    assert torch.equal(a[0], a[2]) and not torch.equal(a[0], a[1])  # per-sample generators
    plain = net(x, m)
    c = net(x, m, dropout=torch.tensor([0.0, 0.3, 0.0]), generators=gens())
    torch.testing.assert_close(c[0], plain[0])  # rate 0 = deterministic
    assert not torch.equal(c[1], plain[1])
    with pytest.raises(ValueError):
        net(x, m, dropout=1.5)


def test_freeze_encoder_bn_survives_train():
    net = PConvUNet(PConvUNetConfig(width=4, depth=3))
    net.freeze_encoder_bn()
    net.train()
    assert all(not b.bn.training for b in net.encoder[1:])
    assert all(b.bn.training for b in net.decoder[:-1])
    assert not any(p.requires_grad for b in net.encoder[1:] for p in b.bn.parameters())


def test_config_round_trip():
    cfg = PConvUNetConfig(width=8, depth=4, dropout=0.2, version="x")
    assert PConvUNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        PConvUNetConfig.from_dict({**cfg.to_dict(), "colour": 1})
