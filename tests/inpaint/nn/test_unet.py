import pytest
import torch
import torch.nn.functional as F

from inpaint.nn.blocks import DecoderBlock
from inpaint.nn.smooth import smooth_fill
from inpaint.nn.unet import PConvUNet, PConvUNetConfig
from tests.helpers import reference_refine_head


def tiny(**kw) -> PConvUNet:
    return PConvUNet(PConvUNetConfig(width=4, depth=3, **kw)).eval()


def test_paper_architecture():
    cfg = PConvUNetConfig.paper(512)
    assert cfg.depth == 8 and cfg.channels == [64, 128, 256, 512, 512, 512, 512, 512]
    assert cfg.kernel_sizes == (7, 5, 5, 3, 3, 3, 3, 3)
    assert PConvUNetConfig.paper(256).depth == 7
    assert cfg.decoder_renorm == "joint" and PConvUNetConfig.compact().decoder_renorm == "per_group"
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


def with_trained_head(net: PConvUNet) -> PConvUNet:
    """A refinement head whose last convolution (and prior weights) are no longer zero (as after
    training)."""
    torch.nn.init.normal_(net.refine.out.weight, std=0.5)
    torch.nn.init.normal_(net.refine.out.bias, std=0.1)
    if net.refine.prior is not None:
        torch.nn.init.normal_(net.refine.prior.weight, std=0.3)
    if net.refine.gate is not None:
        torch.nn.init.normal_(net.refine.gate.weight, std=0.3)
        torch.nn.init.normal_(net.refine.gate.bias, std=0.1)
    return net


@pytest.mark.parametrize(
    "renorm,refine,kernel,prior",
    [
        ("joint", 0, 3, "none"),
        ("per_group", 0, 3, "none"),
        ("per_group", 4, 3, "none"),
        ("per_group", 4, 5, "none"),
        ("per_group", 4, 5, "smooth"),
        ("per_group", 4, 3, "smooth_gated"),
    ],
)
def test_output_does_not_depend_on_hole_values(renorm, refine, kernel, prior):
    torch.manual_seed(0)
    net = tiny(decoder_renorm=renorm, refine_channels=refine, refine_kernel=kernel, prior=prior)
    if refine:
        with_trained_head(net)
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


@pytest.mark.parametrize(
    "renorm,refine,kernel", [("joint", 0, 3), ("per_group", 0, 3), ("per_group", 4, 3), ("per_group", 4, 5)]
)
def test_padding_is_invisible(renorm, refine, kernel):
    """A 13x13 input is padded with holes to 16x16: the padded area cannot change the result."""
    torch.manual_seed(3)
    net = tiny(decoder_renorm=renorm, refine_channels=refine, refine_kernel=kernel)
    if refine:
        with_trained_head(net)
    x = torch.rand(1, 3, 16, 16)
    m = torch.ones(1, 1, 16, 16)
    m[..., 13:, :] = 0
    m[..., :, 13:] = 0
    full = net(x, m)[..., :13, :13]
    cropped = net(x[..., :13, :13], m[..., :13, :13])
    torch.testing.assert_close(full, cropped, rtol=0, atol=1e-6)


def test_padding_with_sizes_is_invisible_to_a_model_with_a_prior():
    """Two photos of different sizes padded with holes into one batch, their sizes given: each
    comes out as it does alone (the prior is computed over the photo, not the padding). Both pad
    to the same multiple of 2**depth (16 x 24), within which the U-Net itself ignores padding."""
    torch.manual_seed(4)
    net = with_trained_head(tiny(decoder_renorm="per_group", refine_channels=4, refine_kernel=5, prior="smooth"))
    a, b = torch.rand(1, 3, 13, 21), torch.rand(1, 3, 16, 17)
    ma, mb = torch.ones(1, 1, 13, 21), torch.ones(1, 1, 16, 17)
    ma[..., 4:13, 15:21] = 0  # holes reaching the padded edge
    mb[..., 2:5, :] = 0
    x, m = torch.zeros(2, 3, 16, 21), torch.zeros(2, 1, 16, 21)
    x[0, :, :13, :21], m[0, :, :13, :21] = a[0], ma[0]
    x[1, :, :16, :17], m[1, :, :16, :17] = b[0], mb[0]
    out = net(x, m, sizes=[(13, 21), (16, 17)])
    torch.testing.assert_close(out[:1, :, :13, :21], net(a, ma), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[1:, :, :16, :17], net(b, mb), rtol=0, atol=1e-6)
    # without the sizes, the padding is part of the hole the prior fills, and that shows
    assert (net(x, m)[:1, :, :13, :21] - net(a, ma)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="one \\(h, w\\) per sample"):
        net(x, m, sizes=[(13, 21)])


def test_the_prior_starts_at_zero_and_enters_the_head_as_a_convolution_of_the_smooth_fill():
    """A head given the prior computes exactly the documented formula with the prior term added
    (checked with separate convolutions and explicit padding), and before training its prior
    weights are zero: a model continued with a prior starts as the model it continues."""
    torch.manual_seed(6)
    headed = with_trained_head(tiny(decoder_renorm="per_group", refine_channels=3, refine_kernel=3))
    prior = tiny(decoder_renorm="per_group", refine_channels=3, refine_kernel=3, prior="smooth")
    missing, unexpected = prior.load_state_dict(headed.state_dict(), strict=False)
    assert missing == ["refine.prior.weight"] and not unexpected
    x = torch.rand(2, 3, 16, 16)
    m = torch.ones(2, 1, 16, 16)
    m[:, :, 3:6, 2:14] = 0
    m[1, :, 9:12, 9] = 0
    torch.testing.assert_close(headed(x, m), prior(x, m), rtol=0, atol=1e-6)
    torch.nn.init.normal_(prior.refine.prior.weight, std=0.3)
    out = prior(x, m)
    assert (out - headed(x, m)).abs().max() > 1e-3
    # by hand: the decoder's output y (the same network without its head), then the head as
    # separate convolutions
    y, p = _decoder_output_and_prior(headed, x, m)
    r = prior.refine
    hidden = _head_hidden(r, y, x, m) + F.conv2d(p, r.prior.weight, padding=1)
    ref = y + r.out(F.leaky_relu(hidden, 0.2))
    torch.testing.assert_close(out, ref / 2 + 0.5, rtol=1e-5, atol=1e-5)


def test_the_gate_starts_at_zero_and_blends_the_output_towards_the_smooth_fill():
    """A gated head computes out = y + conv1x1(hidden) + gate1x1(hidden) * (prior - y), checked
    against separate convolutions; it loads a smooth prior's weights with only the gate missing
    and then computes exactly what that model computes."""
    torch.manual_seed(7)
    smooth = with_trained_head(tiny(decoder_renorm="per_group", refine_channels=3, refine_kernel=3, prior="smooth"))
    gated = tiny(decoder_renorm="per_group", refine_channels=3, refine_kernel=3, prior="smooth_gated")
    missing, unexpected = gated.load_state_dict(smooth.state_dict(), strict=False)
    assert sorted(missing) == ["refine.gate.bias", "refine.gate.weight"] and not unexpected
    x = torch.rand(2, 3, 16, 16)
    m = torch.ones(2, 1, 16, 16)
    m[:, :, 4:9, 3:12] = 0
    m[0, :, 12, :] = 0
    torch.testing.assert_close(gated(x, m), smooth(x, m), rtol=0, atol=0)
    torch.nn.init.normal_(gated.refine.gate.weight, std=0.3)
    torch.nn.init.normal_(gated.refine.gate.bias, std=0.1)
    out = gated(x, m)
    assert (out - smooth(x, m)).abs().max() > 1e-3
    y, p = _decoder_output_and_prior(smooth, x, m)
    r = gated.refine
    hidden = F.leaky_relu(_head_hidden(r, y, x, m) + F.conv2d(p, r.prior.weight, padding=1), 0.2)
    ref = y + r.out(hidden) + r.gate(hidden) * (p - y)
    torch.testing.assert_close(out, ref / 2 + 0.5, rtol=1e-5, atol=1e-5)
    # a gate of exactly one where the hole is gives the smooth fill there (the head's own
    # correction set to zero): the blend is what the formula says, not an approximation
    with torch.no_grad():
        r.out.weight.zero_()
        r.out.bias.zero_()
        r.gate.weight.zero_()
        r.gate.bias.fill_(1.0)
    torch.testing.assert_close(gated(x, m), smooth_fill(x, m), rtol=0, atol=1e-5)


def _decoder_output_and_prior(net, x, m):
    """The last decoder layer's output y of ``net`` (the same network without its head) and the
    smooth prior, both scaled to [-1, 1] as the head sees them."""
    plain = tiny(decoder_renorm="per_group")
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("refine.")})
    return (plain(x, m) - 0.5) * 2, (smooth_fill(x, m) - 0.5) * 2


def _head_hidden(r, y, x, m):
    """The head's hidden layer without the prior, from its formula: a KxK convolution over the
    known image (zero outside) and the hole indicator (one outside), plus a 1x1 over y."""
    known = F.pad((x - 0.5) * 2 * m, (1, 1, 1, 1))
    indicator = F.pad(1 - m, (1, 1, 1, 1), value=1.0)
    return F.conv2d(torch.cat([known, indicator], 1), r.local.weight, r.local.bias) + F.conv2d(y, r.point.weight)


def test_a_prior_needs_a_head_and_a_known_name():
    with pytest.raises(ValueError, match="refine_channels"):
        PConvUNetConfig(prior="smooth")
    with pytest.raises(ValueError, match="prior must be one of"):
        PConvUNetConfig(refine_channels=4, prior="biharmonic")
    for name in ("smooth", "smooth_gated"):
        cfg = PConvUNetConfig(refine_channels=4, prior=name)
        assert PConvUNetConfig.from_dict(cfg.to_dict()) == cfg
    assert (
        PConvUNetConfig.from_dict({k: v for k, v in PConvUNetConfig().to_dict().items() if k != "prior"}).prior
        == "none"
    )


def test_refinement_head_against_a_direct_computation_and_starts_as_no_head():
    torch.manual_seed(5)
    plain, headed = tiny(decoder_renorm="per_group"), tiny(decoder_renorm="per_group", refine_channels=3)
    missing, unexpected = headed.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("refine.") for k in missing)
    x = torch.rand(2, 3, 16, 16)
    m = torch.ones(2, 1, 16, 16)
    m[:, :, 3:5, 2:14] = 0
    m[1, :, 9, 9] = 0
    assert torch.equal(plain(x, m), headed(x, m))  # a new head adds exactly nothing
    with_trained_head(headed)
    out = headed(x, m)
    # the decoder's output in [-1, 1], then the head, pixel by pixel
    y = (plain(x, m) - 0.5) * 2
    ref = reference_refine_head(headed.refine, y, (x - 0.5) * 2 * m, m)
    torch.testing.assert_close(out, ref / 2 + 0.5, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out, plain(x, m))


def test_monte_carlo_dropout_per_sample_and_seeded():
    torch.manual_seed(0)
    net = tiny(dropout_layers=2)
    x = torch.rand(1, 3, 16, 16).expand(3, -1, -1, -1)
    m = torch.ones(3, 1, 16, 16)
    m[..., 4:12, 4:12] = 0

    def gens() -> list[torch.Generator]:
        return [torch.Generator().manual_seed(s) for s in (1, 2, 1)]

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


def test_train_only_trains_its_layers_and_keeps_other_batchnorm_statistics():
    net = PConvUNet(PConvUNetConfig(width=4, depth=3, refine_channels=4))
    net.train_only(["decoder.1", "refine"])
    net.train()
    trained = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("decoder.1", "refine")) for n in trained)
    assert net.decoder[1].bn.training and not net.decoder[0].bn.training
    assert not any(b.bn.training for b in net.encoder[1:])
    with pytest.raises(ValueError, match="no parameters under decoder.7"):
        net.train_only(["decoder.7"])


def test_a_frozen_decoder_block_under_autocast_keeps_no_low_precision_kernel_for_later():
    """A layer that does not train derives its kernels once; derived under bf16 autocast (a
    fine-tune of other layers), they must not serve a float32 pass afterwards."""
    torch.manual_seed(5)
    block = DecoderBlock(3, 2, 2, last=True).requires_grad_(False)
    h, skip = torch.randn(1, 3, 4, 4), torch.randn(1, 2, 8, 8)
    m, skip_m = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 8, 8)
    with torch.no_grad():
        want, _ = block(h, m, skip, skip_m)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low, _ = block(h, m, skip, skip_m)
        again, _ = block(h, m, skip, skip_m)
    assert low.dtype == torch.bfloat16 and again.dtype == torch.float32
    torch.testing.assert_close(again, want, rtol=0, atol=0)


def test_config_round_trip():
    cfg = PConvUNetConfig(width=8, depth=4, dropout=0.2, version="x")
    assert PConvUNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        PConvUNetConfig.from_dict({**cfg.to_dict(), "colour": 1})
    # weights saved before the option existed were trained with the paper's joint renormalisation
    old = {k: v for k, v in cfg.to_dict().items() if k != "decoder_renorm"}
    assert PConvUNetConfig.from_dict(old).decoder_renorm == "joint"
    with pytest.raises(ValueError, match="decoder_renorm"):
        PConvUNetConfig(decoder_renorm="average")
    assert PConvUNetConfig.from_dict(old).refine_channels == 0  # and had no refinement head
    assert PConvUNetConfig.from_dict({**cfg.to_dict(), "refine_channels": 8}).refine_channels == 8
    with pytest.raises(ValueError, match="refine_channels"):
        PConvUNetConfig(refine_channels=-1)
    with pytest.raises(ValueError, match="refine_kernel"):
        PConvUNetConfig(refine_kernel=4)


def test_decoder_block_equals_the_papers_concatenate_upsample_partial_conv():
    """The decoder computes PartialConv2d(cat(upsample(h), skip), per-group masks) as a transposed
    convolution plus a convolution; compare with that direct form on random features and holes."""
    torch.manual_seed(3)
    block = DecoderBlock(6, 4, 5, last=False).eval()
    with torch.no_grad():
        block.bn.running_mean.normal_()
        block.bn.running_var.uniform_(0.5, 2.0)
    h, skip = torch.randn(2, 6, 5, 7), torch.randn(2, 4, 10, 14)
    m = (torch.rand(2, 1, 5, 7) > 0.4).float()
    skip_m = (torch.rand(2, 1, 10, 14) > 0.5).float()
    m[0] = 0  # a sample whose coarse features are all hole
    with torch.no_grad():
        y, m_out = block(h, m, skip, skip_m)
        up, up_m = F.interpolate(h, scale_factor=2.0), F.interpolate(m, scale_factor=2.0)
        ref, ref_m = block.conv(torch.cat([up, skip], 1), torch.cat([up_m, skip_m], 1), mask_channels=(6, 4))
        ref = F.leaky_relu(block.bn(ref), 0.2)
    assert torch.equal(m_out, ref_m)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_decoder_block_follows_in_place_weight_updates():
    """Without autograd the derived kernels are kept; an in-place update (EMA, load_state_dict)
    must not leave them stale."""
    torch.manual_seed(4)
    block = DecoderBlock(3, 2, 2, last=True).eval()
    h, skip = torch.randn(1, 3, 4, 4), torch.randn(1, 2, 8, 8)
    m, skip_m = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 8, 8)
    with torch.inference_mode():
        before, _ = block(h, m, skip, skip_m)
    with torch.no_grad():
        block.conv.weight.mul_(2.0)
        block.conv.bias.zero_()
    with torch.inference_mode():
        after, _ = block(h, m, skip, skip_m)
        expected, _ = block.conv(
            torch.cat([F.interpolate(h, scale_factor=2.0), skip], 1),
            torch.cat([F.interpolate(m, scale_factor=2.0), skip_m], 1),
            mask_channels=(3, 2),
        )
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-5)


def test_per_group_decoder_block_against_a_direct_computation():
    """per_group: each input group (upsampled coarse features, skip) is a partial convolution with
    its own sum(1)/sum(M); the output is their sum plus the bias, 0 where no group saw anything."""
    torch.manual_seed(5)
    block = DecoderBlock(6, 4, 5, last=True, renorm="per_group").eval()
    h, skip = torch.randn(2, 6, 5, 7), torch.randn(2, 4, 10, 14)
    m = (torch.rand(2, 1, 5, 7) > 0.4).float()
    skip_m = (torch.rand(2, 1, 10, 14) > 0.5).float()
    m[0] = 0
    skip_m[0, :, :3, :4] = 0  # with m[0] = 0 a corner where neither group has a valid pixel
    with torch.no_grad():
        y, m_out = block(h, m, skip, skip_m)
        w, b = block.conv.weight, block.conv.bias
        ones = torch.ones(1, 1, 3, 3)
        total = torch.zeros(2, 5, 10, 14)
        seen = torch.zeros(2, 1, 10, 14)
        for x, mk, wg in (
            (F.interpolate(h, scale_factor=2.0), F.interpolate(m, scale_factor=2.0), w[:, :6]),
            (skip, skip_m, w[:, 6:]),
        ):
            count = F.conv2d(mk, ones, padding=1)
            part = F.conv2d(x * mk, wg, padding=1) * 9.0 / count.clamp(min=1)
            total += torch.where(count > 0, part, torch.zeros_like(part))
            seen += count
        ref = torch.where(seen > 0, total + b.view(1, -1, 1, 1), torch.zeros_like(total))
    assert torch.equal(m_out, (seen > 0).float()) and (m_out[0, 0, :2, :3] == 0).all()
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_per_group_renormalisation_makes_up_a_small_hole_from_its_own_group():
    """Why per_group exists. A last layer that averages the skip image (a 3x3 box filter) and has
    many feature channels: with the paper's joint renormalisation a one-pixel hole in a flat grey
    photo is filled darker (the missing centre is averaged over all channels, so the box filter
    loses a ninth of its input); per group, the image's own eight neighbours make it up exactly."""
    out = {}
    for renorm in ("joint", "per_group"):
        block = DecoderBlock(32, 3, 3, last=True, renorm=renorm).eval()
        with torch.no_grad():
            block.conv.weight.zero_()
            block.conv.bias.zero_()
            for c in range(3):
                block.conv.weight[c, 32 + c] = 1.0 / 9.0
        h, m = torch.randn(1, 32, 4, 4), torch.ones(1, 1, 4, 4)
        skip, skip_m = torch.full((1, 3, 8, 8), 0.6), torch.ones(1, 1, 8, 8)
        skip_m[..., 4, 4] = 0
        with torch.no_grad():
            out[renorm] = block(h, m, skip, skip_m)[0][0, :, 4, 4]
    torch.testing.assert_close(out["per_group"], torch.full((3,), 0.6))
    assert (out["joint"] < 0.6 * 0.92).all()  # 8/9 of the value, times the joint scale 315/312
