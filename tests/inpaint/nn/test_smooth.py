"""The smooth fill (the restorer's prior): exact known pixels, blind to hole values, exact on
linear ramps, and between the harmonic and the biharmonic fills (checked against direct sparse
solves of both), much nearer the biharmonic one."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from inpaint.nn.smooth import smooth_fill


def _grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return yy, xx


def _reference_fills(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct sparse solves, holes well inside the image (no border rule needed): the harmonic fill
    (each hole pixel the mean of its 4 neighbours) and the biharmonic one (the hole pixels minimise
    the sum of squared 5-point Laplacians over every stencil that touches the hole)."""
    h, w = hole.shape
    idx = -np.ones((h, w), int)
    ys, xs = np.nonzero(hole)
    idx[ys, xs] = np.arange(len(ys))
    rows, cols, vals, rhs = [], [], [], []
    hrows, hcols, hvals, hrhs = [], [], [], []
    r = 0
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            taps = [(i, j, -4.0), (i - 1, j, 1.0), (i + 1, j, 1.0), (i, j - 1, 1.0), (i, j + 1, 1.0)]
            if not any(hole[a, b] for a, b, _ in taps):
                continue
            known = 0.0
            for a, b, c in taps:
                if hole[a, b]:
                    rows.append(r), cols.append(idx[a, b]), vals.append(c)
                else:
                    known += c * image[a, b]
            rhs.append(-known)
            if hole[i, j]:  # the harmonic equation lives on the hole pixels
                hrows += [idx[i, j]] * sum(hole[a, b] for a, b, _ in taps)
                hcols += [idx[a, b] for a, b, _ in taps if hole[a, b]]
                hvals += [c for a, b, c in taps if hole[a, b]]
                hrhs.append((idx[i, j], -known))
            r += 1
    A = sp.csr_matrix((vals, (rows, cols)), shape=(r, len(ys)))
    biharmonic = spla.spsolve((A.T @ A).tocsc(), A.T @ np.array(rhs))
    L = sp.csr_matrix((hvals, (hrows, hcols)), shape=(len(ys), len(ys)))
    b = np.zeros(len(ys))
    for k, v in hrhs:
        b[k] = v
    harmonic = spla.spsolve(L.tocsc(), b)
    out = [image.copy(), image.copy()]
    out[0][ys, xs], out[1][ys, xs] = harmonic, biharmonic
    return out[0], out[1]


def _fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    return smooth_fill(torch.from_numpy(img).float()[None, None], torch.from_numpy(~hole).float()[None, None])[
        0, 0
    ].numpy()


def test_known_pixels_exact_and_hole_values_never_matter():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 37, 50)
    m = (torch.rand(2, 1, 37, 50) > 0.3).float()
    y = x * m + (1 - m) * (torch.rand_like(x) * 100 - 50)
    a, b = smooth_fill(x, m), smooth_fill(y, m)
    assert a.shape == x.shape and a.dtype == torch.float32
    assert torch.equal(a, b)
    known = m.expand_as(x) > 0
    assert torch.equal(a[known], x[known])


def test_linear_ramps_come_back():
    """Both the harmonic and the biharmonic fill of a ramp are the ramp; the pyramid's odd-sized
    levels shift their block centres a little, so it comes back within a grey level or two."""
    yy, xx = _grid(40, 52)
    f = (0.5 + 0.3 * xx - 0.2 * yy)[None, None]
    m = torch.ones(1, 1, 40, 52)
    m[..., 10:30, 12:40] = 0
    m[..., 33, 2:50] = 0
    assert (smooth_fill(f, m) - f).abs().max() < 2 / 255


def _photo_like(seed: int, h: int = 48, w: int = 56) -> tuple[np.ndarray, np.ndarray]:
    """Smooth shading plus texture, with thin strokes and a blob as holes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / 48.0
    img = 0.5 + 0.3 * np.sin(3 * xx + 2 * yy + seed) + 0.2 * (xx - 0.5) ** 2 + 0.05 * rng.standard_normal((h, w))
    hole = np.zeros((h, w), bool)
    hole[10:13, 5:50] = True
    hole[20:44, 30:33] = True
    hole[25:33, 8:18] = True
    return img, hole


@pytest.mark.parametrize("seed", [0, 1])
def test_between_the_harmonic_and_the_biharmonic_fill(seed):
    """Not solved to convergence (a few sweeps per level): on a photo-like image the fill is much
    nearer the exact biharmonic fill than the harmonic fill is, and nowhere wild."""
    img, hole = _photo_like(seed)
    harmonic, biharmonic = _reference_fills(img, hole)
    out = _fill(img, hole)
    err = np.abs(out - biharmonic)[hole]
    gap = np.abs(harmonic - biharmonic)[hole]
    assert err.mean() < 0.75 * gap.mean(), (err.mean() * 255, gap.mean() * 255)
    assert err.max() < 20 / 255
    assert out[hole].min() > img.min() - 0.05 and out[hole].max() < img.max() + 0.05


def test_a_quadratic_bowl_beyond_what_a_harmonic_fill_reaches():
    """x^2 + y^2 has a constant Laplacian and a zero bilaplacian: the exact biharmonic fill gives it
    back, the harmonic one flattens it; the smooth fill is on the biharmonic side."""
    yy, xx = np.mgrid[0:40, 0:40] / 20.0 - 1.0
    f = (xx**2 + yy**2) / 2
    hole = np.zeros((40, 40), bool)
    hole[12:28, 14:26] = True
    harmonic, biharmonic = _reference_fills(f, hole)
    assert np.abs(biharmonic - f)[hole].max() < 1e-6
    out = _fill(f, hole)
    assert np.abs(out - f)[hole].mean() < 0.8 * np.abs(harmonic - f)[hole].mean()


def test_batch_samples_and_channels_are_independent():
    torch.manual_seed(1)
    x = torch.rand(3, 2, 20, 31)
    m = (torch.rand(3, 1, 20, 31) > 0.4).float()
    whole = smooth_fill(x, m)
    for i in range(3):
        for c in range(2):
            torch.testing.assert_close(
                whole[i : i + 1, c : c + 1], smooth_fill(x[i : i + 1, c : c + 1], m[i : i + 1]), rtol=0, atol=1e-6
            )


def test_no_hole_and_no_known_pixel():
    x = torch.rand(1, 3, 9, 9)
    assert torch.equal(smooth_fill(x, torch.ones(1, 1, 9, 9)), x)
    assert torch.equal(smooth_fill(x, torch.zeros(1, 1, 9, 9)), torch.zeros_like(x))


def test_smooth_is_a_classical_method_with_the_library_conventions():
    """As a classical filler (uint8 image, True = known): the same numbers as the tensor function,
    known pixels untouched."""
    from inpaint.restoration.classical import classical_fill

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)
    known = np.ones((30, 41), bool)
    known[5:9, 3:38] = False
    known[15:28, 20:24] = False
    out = classical_fill("smooth", img, known)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out[known], img[known])
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    ref = smooth_fill(x, torch.from_numpy(known)[None, None].float())[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(out.astype(float) - ref)[~known].max() <= 0.5 + 1e-4
