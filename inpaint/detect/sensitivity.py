"""The sensitivity slider: one number in [0, 1] for both detectors (higher flags more), and how
it moves the learned detector's probability threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..nn.damagenet import DamageNet

DEFAULT_SENSITIVITY = 0.5


def check_sensitivity(sensitivity: float) -> float:
    try:
        s = float(sensitivity)
    except (TypeError, ValueError):
        raise ValueError(f"sensitivity must be a number in [0, 1], got {sensitivity!r}") from None
    if not 0.0 <= s <= 1.0 or s != s:
        raise ValueError(f"sensitivity must be in [0, 1], got {sensitivity}")
    return s


def learned_threshold(model: DamageNet, sensitivity: float) -> float:
    """Probability threshold for a sensitivity: the model's calibrated threshold at 0.5, moving
    linearly to 0.98 at sensitivity 0 and 0.02 at sensitivity 1."""
    t0 = model.config.threshold
    s = check_sensitivity(sensitivity)
    return t0 + (0.98 - t0) * (0.5 - s) / 0.5 if s <= 0.5 else t0 - (t0 - 0.02) * (s - 0.5) / 0.5
