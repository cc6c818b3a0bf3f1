"""The grain finish: measuring a photo's own grain and adding it to the fill of a candidate."""

import numpy as np
import pytest
import torch

from inpaint import PConvUNet, PConvUNetConfig, restore
from inpaint.restoration import CandidateSpec, plan_candidates
from inpaint.restoration.grain import NO_GRAIN, correlated_noise, measure_grain


def grainy(h=160, w=160, std=6.0, sigma=1.0, seed=0, base=None) -> np.ndarray:
    """A gently shaded grey photo with Gaussian grain of ``std`` grey levels and correlation
    ``sigma`` px, (H, W) uint8."""
    rng = np.random.default_rng(seed)
    if base is None:
        y, x = np.mgrid[0:h, 0:w]
        base = 110.0 + 30.0 * x / w + 10.0 * y / h
    return np.clip(np.rint(base + std * correlated_noise(rng, (h, w), sigma)), 0, 255).astype(np.uint8)


def rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def square_hole(h=160, w=160, y=48, x=48, side=64) -> np.ndarray:
    known = np.ones((h, w), bool)
    known[y : y + side, x : x + side] = False
    return known


def lag1(a: np.ndarray) -> float:
    a = a - a.mean()
    return float(((a[:, 1:] * a[:, :-1]).mean() + (a[1:] * a[:-1]).mean()) / 2 / a.var())


def pair(img, known, method="smooth", seed=3, model=None):
    """The plain and the grain candidate of the same dilation (0) and seed."""
    specs = [CandidateSpec(method, 0, 0.0, seed), CandidateSpec(method, 0, 0.0, seed, finish="grain")]
    plain, grain = restore(img, known, method=method, model=model, specs=specs)
    return np.asarray(plain.image).astype(float), np.asarray(grain.image).astype(float)


@pytest.mark.parametrize(("std", "sigma"), [(6.0, 0.0), (6.0, 1.0), (4.0, 1.5)])
def test_the_measured_strength_and_grain_size_match_the_known_grain(std, sigma):
    img = grainy(std=std, sigma=sigma)
    g = measure_grain(rgb(img), square_hole(), monochrome=True)
    assert np.all(np.abs(g.strength / std - 1) < 0.2), g.strength
    assert abs(g.sigma - sigma) < 0.3
    assert not g.chroma.any()


def test_the_noise_in_a_large_hole_has_the_photos_strength_and_correlation():
    std, sigma = 6.0, 1.0
    img, known = grainy(std=std, sigma=sigma, seed=1), square_hole()
    plain, grain = pair(rgb(img), known)
    added = (grain - plain)[~known][:, 0].reshape(64, 64)
    assert abs(added.std() / std - 1) < 0.2
    original = (img.astype(float) - plain[..., 0])[~known].reshape(64, 64)  # the true grain there
    assert abs(lag1(added) - lag1(original)) < 0.1
    assert lag1(added) > 0.4  # correlated, not white


def test_a_photo_without_grain_gets_no_noise():
    y, x = np.mgrid[0:128, 0:128]
    clean = np.clip(np.rint(np.stack([x * 2.0, y * 1.5, 60 + 0 * x], -1)), 0, 255).astype(np.uint8)
    known = square_hole(128, 128, 32, 32, 48)
    assert measure_grain(clean, known, monochrome=False) is NO_GRAIN
    plain, grain = pair(clean, known)
    assert np.array_equal(plain, grain)
    flat = np.full((96, 96), 140, np.uint8)
    plain, grain = pair(flat, square_hole(96, 96, 30, 30, 30))
    assert np.array_equal(plain, grain)


def test_grain_is_stronger_where_the_photo_is_and_follows_the_fills_brightness():
    """Shadows with grain 2 and mid-tones with grain 8: measured per brightness, and each half of
    a hole straddling both gets its own strength."""
    h, w = 160, 192
    base = np.where(np.arange(w)[None, :] < w // 2, 40.0, 140.0) * np.ones((h, 1))
    rng = np.random.default_rng(2)
    std = np.where(base < 100, 2.0, 8.0)
    img = np.clip(np.rint(base + std * correlated_noise(rng, (h, w), 0.8)), 0, 255).astype(np.uint8)
    known = square_hole(h, w, 40, 56, 80)
    g = measure_grain(rgb(img), known, monochrome=True)
    assert abs(g.std_at(np.float32(40)) - 2.0) < 0.5 and abs(g.std_at(np.float32(140)) - 8.0) < 1.6
    plain, grain = pair(img, known)
    added = grain - plain
    dark, mid = added[44:116, 60:86], added[44:116, 110:132]
    assert dark.std() < 3.0 < 6.0 < mid.std()


def test_the_noise_comes_from_the_seed():
    img, known = rgb(grainy(seed=4)), square_hole()
    a = restore(img, known, method="smooth", specs=[CandidateSpec("smooth", 0, 0.0, 7, finish="grain")])[0]
    b = restore(img, known, method="smooth", specs=[CandidateSpec("smooth", 0, 0.0, 7, finish="grain")])[0]
    c = restore(img, known, method="smooth", specs=[CandidateSpec("smooth", 0, 0.0, 8, finish="grain")])[0]
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    assert a.params["finish"] == "grain"


def test_a_black_and_white_photo_stored_as_rgb_gets_the_same_noise_in_every_channel():
    img, known = rgb(grainy(seed=5)), square_hole()
    _, grain = pair(img, known)
    hole = grain[~known]
    assert np.array_equal(hole[:, 0], hole[:, 1]) and np.array_equal(hole[:, 0], hole[:, 2])
    assert hole[:, 0].std() > 3  # and there is grain in it


def test_a_colour_photo_gets_its_measured_chroma_grain():
    rng = np.random.default_rng(6)
    x = np.arange(160)[None, :, None] / 160
    base = np.array([150.0, 110.0, 80.0]) * (1 - x) + np.array([80.0, 120.0, 160.0]) * x  # a colour photo
    luma = 6.0 * correlated_noise(rng, (160, 160), 0.8)[..., None]
    chroma = 4.0 * np.stack([correlated_noise(rng, (160, 160), 0.8) for _ in range(3)], -1)
    img = np.clip(np.rint(base + luma + chroma), 0, 255).astype(np.uint8)
    known = square_hole()
    g = measure_grain(img, known, monochrome=False)
    assert (g.chroma > 0.2).all()
    plain, grain = pair(img, known)
    added = (grain - plain)[~known]
    assert (added.std(axis=0) > 4).all()
    assert np.abs(added[:, 0] - added[:, 2]).mean() > 1.0  # the channels' noise differs


def test_plan_spans_both_finishes_with_the_plain_answer_first():
    specs = plan_candidates(8, seed=0, variation=0.5)
    assert [s.finish for s in specs] == ["plain", "grain", "grain", "plain", "grain", "plain", "plain", "grain"]
    assert [s.dilation for s in specs[:4]] == [2, 4, 0, 6] and specs[0].dropout == 0
    # every dilation of the cycle occurs with both finishes over eight candidates
    assert {(s.dilation, s.finish) for s in specs} == {(d, f) for d in (0, 2, 4, 6) for f in ("plain", "grain")}
    assert plan_candidates(1, 0, 0.5)[0].finish == "plain"
    assert {s.finish for s in plan_candidates(4, 0, 0.5, finishes=["grain"])} == {"grain"}
    assert plan_candidates(2, 0, 0.5, method="telea")[1].as_dict()["finish"] == "grain"
    with pytest.raises(ValueError, match="finishes"):
        plan_candidates(2, 0, 0.5, finishes=["blur"])
    with pytest.raises(ValueError, match="finishes"):
        restore(rgb(grainy()), square_hole(), method="smooth", specs=[CandidateSpec("smooth", 0, 0.0, 0, finish="x")])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PConvUNet(PConvUNetConfig(width=4, depth=3, working_size=64, dropout=0.1)).eval()


def _modes(gray: np.ndarray) -> dict[str, np.ndarray]:
    colour = np.stack([gray, np.roll(gray, 7, axis=1), 255 - gray], -1)
    alpha = np.dstack([colour, np.full(gray.shape, 200, np.uint8)])
    return {
        "gray": gray,
        "rgb": colour,
        "rgb-monochrome": rgb(gray),
        "rgba": alpha,
        "gray16": gray.astype(np.uint16) * 257 + 3,
        "rgb16": colour.astype(np.uint16) * 257 + 5,
    }


@pytest.mark.parametrize("mode", ["gray", "rgb", "rgb-monochrome", "rgba", "gray16", "rgb16"])
@pytest.mark.parametrize("method", ["pconv", "smooth", "telea"])
def test_known_pixels_stay_bit_identical_and_hole_values_do_not_matter(model, method, mode):
    img = _modes(grainy(96, 112, seed=8))[mode]
    known = square_hole(96, 112, 30, 30, 36)
    known[70:74, 5:100] = False  # and a crease
    outs = []
    for garbage in (0, 1):
        damaged = img.copy()
        rng = np.random.default_rng(garbage)
        damaged[~known] = rng.integers(0, np.iinfo(img.dtype).max, damaged[~known].shape, dtype=img.dtype)
        if mode == "rgba":
            damaged[..., 3] = img[..., 3]  # the alpha is the upload's everywhere (compose keeps it)
        cands = restore(damaged, known, n=4, seed=2, method=method, model=model)
        assert {c.spec.finish for c in cands} == {"plain", "grain"}
        for c in cands:
            out = np.asarray(c.image)
            assert out.dtype == img.dtype and out.shape == img.shape
            assert np.array_equal(out[~c.replaced], damaged[~c.replaced])
        outs.append([np.asarray(c.image)[c.replaced] for c in cands])
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
