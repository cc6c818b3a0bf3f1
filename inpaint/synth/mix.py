"""The restorer's training masks: a mix of random strokes and synthetic old-print damage."""

from __future__ import annotations

import numpy as np

from .damage import SEVERITIES, synthesize_damage_mask
from .holes import HOLE_BINS, random_irregular_mask


def random_training_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The mask mix used for training (bool (H, W), True = known).

    - 60 %: irregular strokes in a hole bin chosen uniformly from ``HOLE_BINS`` (0.01 to 0.6), so
      every bin is trained as often as the paper evaluates it;
    - 20 %: thin scratch and crease lines (hole ratio 0.2-5 %), the damage old photos mostly have;
    - 20 %: masks of ``synthesize_damage`` at a random severity (creases, tears, stains, spots,
      missing corners), so the network sees the shapes it will be asked to fill.
    Border contact is left to chance.
    """
    pick = rng.random()
    if pick < 0.6:
        hole_range = HOLE_BINS[rng.integers(len(HOLE_BINS))]
        return random_irregular_mask(height, width, rng, hole_range=hole_range, style="strokes")
    if pick < 0.8:
        return random_irregular_mask(height, width, rng, style="thin")
    severity = SEVERITIES[rng.integers(len(SEVERITIES))]
    return synthesize_damage_mask(height, width, severity, seed=rng)
