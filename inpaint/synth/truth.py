"""Where the damage visibly changed a print: how far the damage moved each true damage pixel from
the same print scanned without it (``damaged_sample``'s ``reference``), and in which direction.

The synthesiser's mask counts every pixel a damage layer touched at 5 % opacity or more; after the
scan's blur, noise and JPEG some of those are hard or impossible to see. ``truth_changes`` measures
each one, ``darker`` gives its polarity, and ``dark_damage`` selects the plainly darker ones, which
the detector's training can weight more (``--dark-weight``). ``DARK_MIN_CHANGE`` is also the first
visibility edge of ``evaluate-detection``, so training and evaluation share one definition.
"""

from __future__ import annotations

import numpy as np

DARK_MIN_CHANGE = 8  # grey levels: below this a change is hardly visible (evaluate-detection's first bin)


def truth_changes(seen: np.ndarray, reference: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, 3) int16: how the damage moved each of the N true damage pixels in each channel, from
    the same print scanned without the damage (``damaged_sample``'s ``reference``) to what the
    detector sees."""
    return seen[truth].astype(np.int16) - reference[truth].astype(np.int16)


def darker(changes: np.ndarray) -> np.ndarray:
    """For each true damage pixel (``truth_changes``), whether the damage made it darker (its
    channels' summed change is negative): a dark scratch or a stain's rim, not the paper showing
    through."""
    return changes.sum(axis=1) < 0


def dark_damage(
    seen: np.ndarray, reference: np.ndarray, damage: np.ndarray, min_change: int = DARK_MIN_CHANGE
) -> np.ndarray:
    """The damage pixels (bool (H, W)) that the damage made visibly darker in what the detector
    sees: ``darker``, with some channel moved by ``min_change`` grey levels or more. The detector
    misses these most (a dark scratch looks like the photo's own dark lines)."""
    changes = truth_changes(seen, reference, damage)
    out = np.zeros_like(damage)
    out[damage] = darker(changes) & (np.abs(changes).max(axis=1) >= min_change)
    return out
