"""The sharp finish: candidates filled by the sharpened network (an overlay of the restorer's
high-resolution layers), beside plain and grain-matched ones, in one restore call."""

import dataclasses

import numpy as np
import pytest
import torch

from inpaint import CandidateSpec, PConvUNet, PConvUNetConfig, restore
from inpaint.restoration import plan_candidates
from tests.inpaint.restoration.test_restore import damage, photo, stroke_mask


def tiny(seed: int, version: str) -> PConvUNet:
    torch.manual_seed(seed)
    return PConvUNet(PConvUNetConfig(width=4, depth=3, working_size=64, dropout=0.1, version=version)).eval()


@pytest.fixture(scope="module")
def models():
    base = tiny(0, "pconv-base")
    sharp = tiny(0, "pconv-sharp")
    with torch.no_grad():  # the same network but for its last decoder layer, as an overlay makes it
        sharp.decoder[-1].conv.weight.mul_(1.5)
    return base, sharp


def test_with_a_sharp_model_the_plan_spans_three_finishes_and_each_comes_from_its_network(models):
    base, sharp = models
    img, known = photo(), stroke_mask()
    seen = damage(img, known)
    cands = restore(seen, known, n=4, seed=3, model=base, sharp_model=sharp)
    assert [c.spec.finish for c in cands] == ["plain", "grain", "grain", "sharp"]
    assert [c.spec.model_version for c in cands] == ["pconv-base"] * 3 + ["pconv-sharp"]
    for c in cands:  # every pixel outside what a candidate replaced is the upload's
        out = np.asarray(c.image)
        assert np.array_equal(out[~c.replaced], seen[~c.replaced])
    # each candidate equals the same spec restored alone by the network its finish names
    plain_alone = restore(seen, known, model=base, specs=[cands[0].spec])[0]
    sharp_alone = restore(seen, known, model=base, sharp_model=sharp, specs=[cands[3].spec])[0]
    as_plain = restore(seen, known, model=base, specs=[dataclasses.replace(cands[3].spec, finish="plain")])[0]
    assert np.array_equal(np.asarray(plain_alone.image), np.asarray(cands[0].image))
    assert np.array_equal(np.asarray(sharp_alone.image), np.asarray(cands[3].image))
    assert not np.array_equal(np.asarray(as_plain.image), np.asarray(cands[3].image))  # not the plain network's


def test_without_a_sharp_model_the_plan_is_plain_and_grain_and_sharp_is_refused(models):
    base, sharp = models
    img, known = photo(), stroke_mask()
    assert {c.spec.finish for c in restore(img, known, n=4, model=base)} == {"plain", "grain"}
    spec = CandidateSpec("pconv", 0, 0.0, 0, finish="sharp")
    with pytest.raises(ValueError, match="sharp finish needs the sharpened network"):
        restore(img, known, model=base, specs=[spec])
    with pytest.raises(ValueError, match="method 'pconv', not 'telea'"):
        restore(img, known, method="telea", sharp_model=sharp)
    three = plan_candidates(8, 0, 0.5, finishes=["plain", "grain", "sharp"])
    assert [s.finish for s in three] == ["plain", "grain", "grain", "sharp", "grain", "sharp", "sharp", "plain"]
