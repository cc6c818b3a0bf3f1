"""The bundled restorer (weights/): present, small, described by its card, and better than Telea on
photos it never saw, changing nothing outside the hole."""

import json

import numpy as np
import pytest
from skimage import data, transform
from skimage.metrics import peak_signal_noise_ratio

from inpaint.io.weights import DEFAULT_WEIGHTS
from inpaint.nn.unet import load_model
from inpaint.restoration import restore
from inpaint.synth.holes import random_irregular_mask


@pytest.fixture(scope="module")
def bundled():
    return load_model(DEFAULT_WEIGHTS, device="cpu")


def test_bundled_weights_are_small_and_their_card_names_them(bundled):
    assert (DEFAULT_WEIGHTS / "model.safetensors").stat().st_size < 30 * 2**20
    version = json.loads((DEFAULT_WEIGHTS / "config.json").read_text())["version"]
    card = (DEFAULT_WEIGHTS / "README.md").read_text()
    assert bundled.config.version == version and f"old-photo restoration (`{version}`)\n" in card
    assert f"{int(bundled.metadata['steps']):,} optimiser steps" in card  # the card was written for these weights
    assert sum(s["steps"] for s in bundled.metadata["stages"]) == bundled.metadata["steps"]


@pytest.mark.parametrize("name", ["camera", "chelsea"])
def test_bundled_model_beats_telea_on_held_out_photos_and_keeps_every_known_pixel(bundled, name):
    """scikit-image's camera man and cat (evaluation photos, never trained on), 256 px, holes of
    20-30%: measured with pconv-w32-d7-s32437, pconv 25.85 / 25.99 dB against Telea 24.84 / 24.67
    (camera), 30.74 / 30.33 against 28.91 / 28.60 (chelsea)."""
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    side = min(img.shape[:2])
    img = (transform.resize(img[:side, :side], (256, 256), anti_aliasing=True) * 255).round().astype(np.uint8)
    for seed in range(2):
        known = random_irregular_mask(256, 256, np.random.default_rng(seed), hole_range=(0.2, 0.3), border=False)
        seen = img.copy()
        seen[~known] = 255
        ours = restore(seen, known, n=1, seed=0, model=bundled, dilations=[0])[0]
        telea = restore(seen, known, n=1, seed=0, method="telea", dilations=[0])[0]
        out = np.asarray(ours.image)
        assert np.array_equal(out[~ours.replaced], seen[~ours.replaced])
        assert np.array_equal(ours.replaced, ~known)
        assert peak_signal_noise_ratio(img, out) > peak_signal_noise_ratio(img, np.asarray(telea.image)) + 0.5
