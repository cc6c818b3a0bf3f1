"""Statistics used by the analysis, as pure functions of arrays (no database, no pandas).

Kept apart from analysis.py so each formula can be tested against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

Choice = tuple[int, Sequence[int]]
"""One observed choice: (chosen item, the other items it was chosen over)."""


def wilson_interval(
    successes: np.ndarray | int, trials: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (NaN where trials == 0).

    Preferred over the normal (Wald) interval because it stays inside [0, 1] and keeps its
    coverage for small samples and rates near 0 or 1, which per-condition win rates often are.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def _rater_agreement(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with 2+ ratings, and each row's share of agreeing rater pairs."""
    raters = table.sum(axis=1)
    keep = raters >= 2
    rows, raters = table[keep], raters[keep]
    return keep, (rows * (rows - 1)).sum(axis=1) / (raters * (raters - 1))


def fleiss_kappa(counts: np.ndarray, available: np.ndarray | None = None) -> float:
    """Fleiss' kappa of a subjects x categories matrix of rating counts.

    Subjects rated by fewer than two raters carry no agreement information and are dropped. The
    number of raters may differ between subjects (each subject's agreement is its share of
    agreeing rater pairs). `available` (same shape, boolean) marks the categories a subject
    offered, for designs that show a subset of the categories: its chance agreement is then
    computed from the pooled category shares renormalised over what it offered. With every
    category offered and a constant number of raters this is exactly Fleiss' (1971) kappa.
    NaN when no subject has two raters or chance agreement is 1.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2:
        raise ValueError("counts must be a 2-D subjects x categories matrix")
    offered = np.ones_like(table, dtype=bool) if available is None else np.asarray(available, dtype=bool)
    keep, agreement = _rater_agreement(table)
    if not keep.any():
        return float("nan")
    table, offered = table[keep], offered[keep]
    shares = table.sum(axis=0) / table.sum()
    local = np.where(offered, shares, 0.0)
    totals = local.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        chance = ((local / totals) ** 2).sum(axis=1)
    expected = float(np.nanmean(chance))
    if not expected < 1.0:
        return float("nan")
    return float((agreement.mean() - expected) / (1 - expected))


def free_marginal_kappa(counts: np.ndarray, options: np.ndarray) -> float:
    """Randolph's free-marginal multirater kappa: agreement beyond raters choosing uniformly at
    random among each subject's `options` (a count per subject).

    Unlike Fleiss' kappa, whose chance level comes from the pooled choices, this one is positive
    when people share a preference that holds across subjects (e.g. everyone prefers one
    method everywhere). NaN when no subject has two raters.
    """
    table = np.asarray(counts, dtype=float)
    keep, agreement = _rater_agreement(table)
    if not keep.any():
        return float("nan")
    chance = float(np.mean(1.0 / np.asarray(options, dtype=float)[keep]))
    return float((agreement.mean() - chance) / (1 - chance))


def plackett_luce(choices: Sequence[Choice], n_items: int, *, alpha: float = 0.01) -> np.ndarray:
    """Log-strengths (mean 0) of items under the Plackett-Luce / Bradley-Terry model.

    Each choice is a top-1 choice from a set; a full ranking enters as its successive top-1
    choices (best of all, then best of the rest...), which is exactly the Plackett-Luce
    likelihood, and a pair is Bradley-Terry. Fitted by choix's iterative Luce spectral ranking;
    `alpha` is a small regularisation that keeps an item that never won at a finite strength.
    """
    import choix  # imported here: it pulls in scipy.sparse machinery the recorder never needs

    data = [(int(winner), tuple(int(x) for x in losers)) for winner, losers in choices if len(losers)]
    if n_items < 2 or not data:
        return np.zeros(n_items)
    params = choix.ilsr_top1(n_items, data, alpha=alpha, max_iter=1000, tol=1e-8)
    return np.asarray(params, dtype=float) - float(np.mean(params))


def bootstrap_by_group(
    choices: Sequence[Choice],
    groups: Sequence[object],
    n_items: int,
    *,
    n_boot: int,
    rng: np.random.Generator,
    alpha: float = 0.01,
) -> np.ndarray:
    """Plackett-Luce strengths refitted on `n_boot` resamples of whole groups (participants).

    Resampling participants rather than single choices respects that one person's choices are
    correlated (taste, attention), so the intervals do not pretend to more certainty than the
    number of people supports. Returns an (n_boot, n_items) array; a resample whose fit fails
    to converge is left out.
    """
    by_group: dict[object, list[Choice]] = {}
    for choice, group in zip(choices, groups, strict=True):
        by_group.setdefault(group, []).append(choice)
    pools = list(by_group.values())
    fits = []
    for _ in range(n_boot):
        drawn = rng.integers(0, len(pools), size=len(pools))
        sample = [choice for index in drawn for choice in pools[index]]
        try:
            fits.append(plackett_luce(sample, n_items, alpha=alpha))
        except RuntimeError:  # choix: "did not converge" on a degenerate resample
            continue
    return np.array(fits).reshape(-1, n_items)


def uniform_test(counts: Sequence[int]) -> tuple[float, float]:
    """Chi-square statistic and p-value of `counts` against equal expected counts."""
    observed = np.asarray(counts, dtype=float)
    if observed.sum() == 0 or len(observed) < 2:
        return float("nan"), float("nan")
    result = scipy_stats.chisquare(observed)
    return float(result.statistic), float(result.pvalue)


def binomial_p_value(successes: int, trials: int, p: float) -> float:
    """Two-sided exact binomial test of `successes` out of `trials` against rate `p`."""
    if trials == 0:
        return float("nan")
    return float(scipy_stats.binomtest(int(successes), int(trials), p).pvalue)
