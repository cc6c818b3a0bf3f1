"""PartialConv2d against a direct loop-over-windows reference of the paper's formula."""

import itertools

import pytest
import torch

from inpaint.nn.pconv import PartialConv2d


def reference_pconv(layer: PartialConv2d, x: torch.Tensor, mask: torch.Tensor):
    """out[b,o,i,j] = sum(W * X*M) * sum(1)/sum(M) + bias if sum(M) > 0 else 0, window by window."""
    x, mask = x.double(), mask.double()
    w = layer.weight.double()
    bias = layer.bias.double() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    kh, kw = layer.kernel_size
    b, c, h, wd = x.shape
    m = mask.expand(b, c, h, wd)
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    mp = torch.nn.functional.pad(m, (pw, pw, ph, ph))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = torch.zeros(b, w.shape[0], oh, ow, dtype=torch.float64)
    new_mask = torch.zeros(b, 1, oh, ow, dtype=torch.float64)
    for n, i, j in itertools.product(range(b), range(oh), range(ow)):
        rows = [i * sh + a * dh for a in range(kh)]
        cols = [j * sw + q * dw for q in range(kw)]
        xw = xp[n][:, rows][:, :, cols]
        mw = mp[n][:, rows][:, :, cols]
        valid = mw.sum()
        if valid > 0:
            total = float(c * kh * kw)
            out[n, :, i, j] = (w * (xw * mw)).sum(dim=(1, 2, 3)) * total / valid + bias
            new_mask[n, 0, i, j] = 1.0
    return out, new_mask


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,per_channel",
    [(3, 1, 1, 1, False), (7, 2, 3, 1, False), (5, 2, 2, 1, True), (3, 1, 2, 2, False), (3, 2, 0, 1, True)],
)
def test_matches_reference(kernel, stride, padding, dilation, per_channel):
    torch.manual_seed(kernel * 10 + stride)
    layer = PartialConv2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation)
    x = torch.randn(2, 3, 11, 9)
    mask = (torch.rand(2, 3 if per_channel else 1, 11, 9) > 0.5).float()
    mask[0, :, 1:, 2:] = 0  # a hole big enough to contain all-hole windows, for every kernel
    out, new_mask = layer(x, mask)
    ref_out, ref_mask = reference_pconv(layer, x, mask)
    assert out.shape == ref_out.shape and new_mask.shape == ref_mask.shape
    torch.testing.assert_close(out.double(), ref_out, rtol=1e-5, atol=1e-5)
    assert torch.equal(new_mask.double(), ref_mask)
    assert (ref_mask == 0).any(), "the test must exercise all-hole windows"


def test_border_windows_are_renormalised():
    """Zero padding counts as hole: a constant image stays constant up to the border."""
    layer = PartialConv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0 / 9)
    x = torch.full((1, 1, 6, 6), 0.7)
    out, m = layer(x, torch.ones(1, 1, 6, 6))
    torch.testing.assert_close(out, torch.full_like(out, 0.7))
    assert torch.equal(m, torch.ones_like(m))


def test_hole_values_do_not_matter():
    torch.manual_seed(0)
    layer = PartialConv2d(3, 5, 3, padding=1)
    x = torch.randn(1, 3, 16, 16)
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 0
    y = x.clone()
    y[..., 4:12, 4:12] = torch.randn(1, 3, 8, 8) * 100
    assert torch.equal(layer(x, mask)[0], layer(y, mask)[0])


def test_all_hole_windows_output_zero_including_bias():
    layer = PartialConv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        layer.bias.fill_(5.0)
    out, m = layer(torch.randn(1, 2, 8, 8), torch.zeros(1, 1, 8, 8))
    assert torch.equal(out, torch.zeros_like(out)) and torch.equal(m, torch.zeros_like(m))


def test_no_state_between_calls():
    """Calls with different masks in any order give the same answers (no cached mask)."""
    torch.manual_seed(1)
    layer = PartialConv2d(3, 4, 3, padding=1)
    x = torch.randn(1, 3, 10, 10)
    m1 = (torch.rand(1, 1, 10, 10) > 0.3).float()
    m2 = (torch.rand(1, 1, 10, 10) > 0.7).float()
    a1, _ = layer(x, m1)
    layer(x, m2)
    a2, _ = layer(x, m1)
    assert torch.equal(a1, a2)
    assert set(dict(layer.named_buffers())) == {"ones_kernel"} and "ones_kernel" not in layer.state_dict()


def test_bf16_autocast_is_close_and_mask_exact():
    torch.manual_seed(2)
    layer = PartialConv2d(64, 8, 3, padding=1)
    x = torch.randn(1, 64, 12, 12)
    mask = (torch.rand(1, 64, 12, 12) > 0.5).float()  # per-channel: sums up to 576, beyond bf16's exact range
    ref, ref_m = layer(x, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, m = layer(x, mask)
    assert torch.equal(m.float(), ref_m)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)


def test_rejects_mask_of_wrong_shape():
    layer = PartialConv2d(3, 4, 3, padding=1)
    with pytest.raises(ValueError, match="mask"):
        layer(torch.randn(1, 3, 8, 8), torch.ones(1, 2, 8, 8))


def test_grouped_masks_equal_per_channel_masks():
    """mask_channels=(c1, c2) with a 2-channel mask is the per-channel mask in compact form."""
    torch.manual_seed(4)
    layer = PartialConv2d(5, 3, 3, padding=1)
    x = torch.randn(2, 5, 9, 9)
    m = (torch.rand(2, 2, 9, 9) > 0.6).float()
    per_channel = torch.cat([m[:, :1].expand(-1, 2, -1, -1), m[:, 1:].expand(-1, 3, -1, -1)], 1)
    a, am = layer(x, m, mask_channels=(2, 3))
    b, bm = layer(x, per_channel)
    ref, ref_m = reference_pconv(layer, x, per_channel)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.double(), ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(am, bm) and torch.equal(am.double(), ref_m)
    with pytest.raises(ValueError, match="mask_channels"):
        layer(x, m, mask_channels=(1, 3))


def test_masked_skips_the_multiply_only_for_an_all_ones_mask():
    from inpaint.nn.pconv import masked

    x = torch.randn(2, 5, 7, 9)
    ones = torch.ones(2, 1, 7, 9)
    assert masked(x, ones) is x  # nothing to do: x * 1 is x
    holes = ones.clone()
    holes[1, 0, 3, 4] = 0.0
    out = masked(x, holes)
    assert torch.equal(out, x * holes) and out[1, :, 3, 4].abs().sum() == 0
    # a partial convolution with a full mask gives what the explicit multiply gave
    conv = PartialConv2d(5, 4, 3, padding=1)
    y, m = conv(x, ones)
    raw = torch.nn.functional.conv2d(x * ones, conv.weight, None, 1, 1)
    scale, new_mask = conv.mask_terms(ones)
    assert torch.equal(y, conv.finish(raw, scale, new_mask)) and torch.equal(m, ones)


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,bias",
    [(3, 1, 1, 1, True), (5, 2, 2, 1, False), (7, 2, 3, 1, True), (3, 1, 2, 2, True), (3, 2, 0, 1, False)],
)
def test_a_full_mask_renormalises_only_the_border_frame_with_the_same_numbers(kernel, stride, padding, dilation, bias):
    """Without autograd, a mask that is 1 everywhere takes the in-place path (scale applied on the
    frame of windows over the border only): bit for bit what the general path gives, and the
    paper's formula."""
    torch.manual_seed(kernel + stride)
    layer = PartialConv2d(3, 4, kernel, stride=stride, padding=padding, dilation=dilation, bias=bias)
    x = torch.randn(2, 3, 13, 10)
    ones = torch.ones(2, 1, 13, 10)
    general, m_general = layer(x, ones)  # autograd on: the general path
    with torch.no_grad():
        fast, m_fast = layer(x, ones)
    assert torch.equal(fast, general) and torch.equal(m_fast, m_general)
    torch.testing.assert_close(fast.double(), reference_pconv(layer, x, ones)[0], rtol=1e-5, atol=1e-5)


def test_the_border_frame_of_a_scale():
    from inpaint.nn.pconv import _frame

    layer = PartialConv2d(1, 1, 5, stride=1, padding=2, bias=False)
    scale, _ = layer.mask_terms(torch.ones(1, 1, 9, 12))
    assert _frame(scale) == (2, 2, 2, 2)
    assert _frame(torch.ones(1, 1, 4, 4)) == (0, 0, 0, 0)  # no padding: no frame
    inside = scale.clone()
    inside[0, 0, 4, 3] = 0.5  # a hole inside: not a frame
    assert _frame(inside) is None
    assert _frame(torch.full((1, 1, 3, 3), 2.0)) is None  # nothing is 1


def test_a_decoder_block_with_full_masks_gives_the_same_numbers_without_autograd():
    from inpaint.nn.blocks import DecoderBlock

    torch.manual_seed(0)
    for renorm in ("joint", "per_group"):
        block = DecoderBlock(6, 4, 5, last=False, renorm=renorm).eval()
        h, skip = torch.randn(1, 6, 5, 7), torch.randn(1, 4, 10, 14)
        m, skip_m = torch.ones(1, 1, 5, 7), torch.ones(1, 1, 10, 14)
        general = block(h, m, skip, skip_m)
        with torch.no_grad():
            fast = block(h, m, skip, skip_m)
        assert torch.equal(fast[0], general[0]) and torch.equal(fast[1], general[1])
