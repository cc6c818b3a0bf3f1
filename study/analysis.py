"""The standard analysis of a preference study, from the long table.

What it reports, per condition (method/dilation/dropout/finish):
- first-choice rate: how often a shown candidate of the condition was picked (or ranked first),
  with a Wilson interval, next to the chance rate 1/k of the trials it appeared in;
- pairwise win rate (from the pairwise table, same-condition pairs left out), Wilson interval;
- Plackett-Luce strength (Bradley-Terry for two candidates per trial; a ranking enters as its
  successive choices), with a percentile interval from a bootstrap that resamples participants;
- how often a trial showing it was answered "none is acceptable".
And for the study as a whole:
- position bias: does the candidate shown first win more than 1/k? (exact binomial test per k,
  plus a chi-square test of all positions against uniform);
- agreement between participants over trials showing the same candidates of the same photo +
  mask to several people: Fleiss' kappa (agreement on what is best for a given photo, beyond
  the study-wide preference) and Randolph's free-marginal kappa (agreement beyond random
  picking), the category being the condition chosen (or none);
- a PNG chart of the above.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from study.db import read_session
from study.export import long_table, pairs_from_long
from study.models import Participant, Response, Study, Trial
from study.stats import (
    Choice,
    binomial_p_value,
    bootstrap_by_group,
    fleiss_kappa,
    free_marginal_kappa,
    plackett_luce,
    uniform_test,
    wilson_interval,
)

CONDITION_COLUMNS = (
    "condition",
    "method",
    "dilation",
    "dropout",
    "finish",
    "shown",
    "chosen",
    "win_rate",
    "win_ci_low",
    "win_ci_high",
    "chance_rate",
    "pair_wins",
    "pair_losses",
    "pair_win_rate",
    "pair_ci_low",
    "pair_ci_high",
    "strength",
    "strength_ci_low",
    "strength_ci_high",
    "none_rate",
)


@dataclass
class AnalysisReport:
    """Results of `analyze`. Tables are DataFrames; `to_dict()` gives a JSON-ready summary."""

    counts: dict[str, int]
    conditions: pd.DataFrame
    """One row per condition (columns CONDITION_COLUMNS), strongest first."""
    position_bias: pd.DataFrame
    """One row per (n_shown, position): how often the candidate there was chosen."""
    position_tests: list[dict[str, Any]]
    """Per number of shown candidates k: first-position rate vs 1/k and a uniformity test."""
    agreement: dict[str, Any]
    confidence: float
    n_bootstrap: int
    files: list[Path] = field(default_factory=list)

    @property
    def best_condition(self) -> str | None:
        """The condition with the highest strength (None without data)."""
        if self.conditions.empty:
            return None
        return str(self.conditions.iloc[0]["condition"])

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "counts": self.counts,
                "best_condition": self.best_condition,
                "confidence": self.confidence,
                "n_bootstrap": self.n_bootstrap,
                "conditions": self.conditions.to_dict(orient="records"),
                "position_bias": self.position_bias.to_dict(orient="records"),
                "position_tests": self.position_tests,
                "agreement": self.agreement,
                "files": [str(p) for p in self.files],
            }
        )

    def format_text(self) -> str:
        """A plain-text summary for the command line."""
        pct = int(round(self.confidence * 100))
        lines = [
            "participants {participants}, trials {trials}, responses {responses}".format(**self.counts),
            "",
            f"{'condition':<28}{'shown':>7}  {'first choice [' + str(pct) + '% CI]':<26}"
            f"{'strength [' + str(pct) + '% CI]':<26}{'none':>6}",
        ]
        for row in self.conditions.itertuples():
            win = _fmt_ci(row.win_rate, row.win_ci_low, row.win_ci_high)
            strength = _fmt_ci(row.strength, row.strength_ci_low, row.strength_ci_high, signed=True)
            lines.append(f"{row.condition:<28}{row.shown:>7}  {win:<26}{strength:<26}{row.none_rate:>6.2f}")
        lines.append("")
        for test in self.position_tests:
            lines.append(
                f"position bias, {test['n_shown']} shown: first chosen {test['first_rate']:.3f} "
                f"vs chance {test['expected_rate']:.3f} (p = {test['first_p_value']:.3g}); "
                f"all positions uniform: p = {test['uniform_p_value']:.3g}"
            )
        if not self.agreement.get("subjects"):
            lines.append(f"agreement: {self.agreement.get('note', 'not enough overlap')}")
        else:
            fleiss = _fmt_ci(self.agreement["fleiss_kappa"], math.nan, math.nan)
            free = _fmt_ci(self.agreement["free_marginal_kappa"], math.nan, math.nan)
            lines.append(
                f"agreement over {self.agreement['subjects']} candidate sets seen by several "
                f"people ({self.agreement['mean_raters']:.1f} each): Fleiss' kappa {fleiss}, "
                f"free-marginal kappa {free}"
            )
        lines.extend(f"wrote {path}" for path in self.files)
        return "\n".join(lines)


def _fmt_ci(value: float, low: float, high: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    sign = "+" if signed else ""
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return f"{value:{sign}.3f}"
    return f"{value:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"


def _json_safe(value: Any) -> Any:
    """NaN/NA -> None and numpy scalars -> Python, so json.dumps writes valid JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# --- counts for a live dashboard -------------------------------------------------------------


def summary_counts(engine: Engine) -> dict[str, int]:
    """Participants, studies, shown trials, responses and "none acceptable" answers.

    Cheap COUNT queries (no pandas), for the app's researcher dashboard to poll.
    """
    count = select(func.count())
    queries = {
        "participants": count.select_from(Participant),
        "studies": count.select_from(Study),
        "trials": count.select_from(Trial).where(Trial.shown_at.is_not(None)),
        "responses": count.select_from(Response),
        "none_acceptable": count.select_from(Response).where(Response.kind == "none"),
    }
    with read_session(engine) as session:
        return {name: int(session.scalar(query) or 0) for name, query in queries.items()}


# --- the analysis ----------------------------------------------------------------------------


def choice_sets(long: pd.DataFrame) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """Top-1 choices between conditions, and the participant behind each.

    A pick is one choice among the shown conditions; a ranking is decomposed into successive
    choices (Plackett-Luce): the first over all the others, the second over the rest... Both are
    "a candidate beats every candidate ordered after it", with picks ordered chosen = 1, others
    = 2, which one self-join computes for all trials at once. Candidates of the winner's own
    condition are dropped from its alternatives: choosing one sample of a condition over another
    says nothing about conditions.
    """
    answered = long[long["answered"] & long["response_kind"].isin(["pick", "rank"]).fillna(False)]
    order = np.where(
        answered["response_kind"] == "rank",
        answered["rank"].astype(float),
        np.where(answered["chosen"].astype(bool), 1.0, 2.0),
    )
    rows = answered[["trial_id", "participant_id", "candidate_id", "condition"]].assign(order=order)
    beaten = rows.merge(rows[["trial_id", "condition", "order"]], on="trial_id", suffixes=("", "_l"))
    beaten = beaten[(beaten["order_l"] > beaten["order"]) & (beaten["condition_l"] != beaten["condition"])]
    steps = beaten.groupby(["trial_id", "order", "candidate_id"], sort=True).agg(
        winner=("condition", "first"),
        participant=("participant_id", "first"),
        losers=("condition_l", list),
    )
    choices = list(zip(steps["winner"], steps["losers"], strict=True))
    return choices, steps["participant"].astype(str).tolist()


def _condition_table(
    long: pd.DataFrame, pairs: pd.DataFrame, confidence: float, n_bootstrap: int, seed: int
) -> pd.DataFrame:
    answered = long[long["answered"]]
    if answered.empty:
        return pd.DataFrame(columns=list(CONDITION_COLUMNS))
    grouped = answered.assign(
        chosen_int=answered["chosen"].astype(int),
        none_int=answered["none_acceptable"].astype(int),
        chance=1.0 / answered["n_shown"],
    ).groupby("condition", sort=True)
    table = grouped.agg(
        method=("method", "first"),
        dilation=("dilation", "first"),
        dropout=("dropout", "first"),
        finish=("finish", "first"),
        shown=("candidate_id", "size"),
        chosen=("chosen_int", "sum"),
        none=("none_int", "sum"),
        chance_rate=("chance", "mean"),
    ).reset_index()
    table["win_rate"] = table["chosen"] / table["shown"]
    table["win_ci_low"], table["win_ci_high"] = wilson_interval(
        table["chosen"].to_numpy(), table["shown"].to_numpy(), confidence
    )
    table["none_rate"] = table["none"] / table["shown"]

    informative = pairs[~pairs["same_condition"]]
    wins = informative["winner_condition"].value_counts()
    losses = informative["loser_condition"].value_counts()
    table["pair_wins"] = table["condition"].map(wins).fillna(0).astype(int)
    table["pair_losses"] = table["condition"].map(losses).fillna(0).astype(int)
    played = table["pair_wins"] + table["pair_losses"]
    table["pair_win_rate"] = np.where(played > 0, table["pair_wins"] / played.where(played > 0), np.nan)
    table["pair_ci_low"], table["pair_ci_high"] = wilson_interval(
        table["pair_wins"].to_numpy(), played.to_numpy(), confidence
    )

    names = table["condition"].tolist()
    index = {name: i for i, name in enumerate(names)}
    raw, participants = choice_sets(long)
    choices: list[Choice] = [(index[w], [index[x] for x in losers]) for w, losers in raw]
    table["strength"] = plackett_luce(choices, len(names))
    table["strength_ci_low"] = np.nan
    table["strength_ci_high"] = np.nan
    if choices and n_bootstrap > 0 and len(names) > 1:
        fits = bootstrap_by_group(
            choices, participants, len(names), n_boot=n_bootstrap, rng=np.random.default_rng(seed)
        )
        if len(fits):
            tail = (1 - confidence) / 2 * 100
            table["strength_ci_low"] = np.percentile(fits, tail, axis=0)
            table["strength_ci_high"] = np.percentile(fits, 100 - tail, axis=0)
    table = table.sort_values(["strength", "win_rate"], ascending=False, kind="stable")
    return table[list(CONDITION_COLUMNS)].reset_index(drop=True)


def _position_bias(long: pd.DataFrame, confidence: float) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    chosen = long[long["answered"] & long["chosen"].fillna(False).astype(bool)]
    rows, tests = [], []
    for k, group in chosen.groupby("n_shown", sort=True):
        k = int(k)
        counts = group["position"].value_counts().reindex(range(1, k + 1), fill_value=0)
        total = int(counts.sum())
        low, high = wilson_interval(counts.to_numpy(), np.full(k, total), confidence)
        for position, (count, lo, hi) in enumerate(zip(counts.to_numpy(), low, high, strict=True), start=1):
            rows.append(
                {
                    "n_shown": k,
                    "position": position,
                    "chosen": int(count),
                    "trials": total,
                    "rate": count / total,
                    "ci_low": lo,
                    "ci_high": hi,
                    "expected_rate": 1 / k,
                }
            )
        chi2, uniform_p = uniform_test(counts.to_numpy())
        tests.append(
            {
                "n_shown": k,
                "trials": total,
                "first_chosen": int(counts.iloc[0]),
                "first_rate": counts.iloc[0] / total,
                "expected_rate": 1 / k,
                "first_p_value": binomial_p_value(int(counts.iloc[0]), total, 1 / k),
                "chi2": chi2,
                "uniform_p_value": uniform_p,
            }
        )
    columns = [
        "n_shown",
        "position",
        "chosen",
        "trials",
        "rate",
        "ci_low",
        "ci_high",
        "expected_rate",
    ]
    return pd.DataFrame(rows, columns=columns), tests


def _agreement(long: pd.DataFrame) -> dict[str, Any]:
    """Agreement between participants over subjects = (photo + mask, set of shown candidates)
    judged by two or more people; the categories are the conditions chosen, plus "none".

    Two kappas, because they answer different questions:
    - fleiss_kappa: do people agree on what is best *for this photo*, beyond the study-wide
      preference? Chance comes from the pooled choices, restricted to the conditions each
      subject showed (showing a subset of conditions would otherwise read as agreement).
      Near 0 when everyone prefers the same method everywhere.
    - free_marginal_kappa (Randolph): do people agree beyond picking at random among the shown
      conditions? Positive for any shared preference, photo-specific or not.
    """
    answered = long[long["answered"]]
    if answered.empty:
        return {
            "fleiss_kappa": None,
            "free_marginal_kappa": None,
            "subjects": 0,
            "note": "no answered trials",
        }
    per_trial = answered.groupby("trial_id", sort=True).agg(
        participant_id=("participant_id", "first"),
        mask_id=("mask_id", "first"),
        shown=("candidate_id", lambda ids: tuple(sorted(ids))),
        conditions=("condition", lambda c: tuple(sorted(set(c)))),
    )
    winners = answered[answered["chosen"].fillna(False).astype(bool)].set_index("trial_id")["condition"]
    per_trial["category"] = winners.reindex(per_trial.index).fillna("none")
    # One vote per participant and subject (the public app may show someone the same set twice).
    votes = per_trial.drop_duplicates(["participant_id", "mask_id", "shown"])
    table = pd.crosstab([votes["mask_id"], votes["shown"]], votes["category"])
    table = table[table.sum(axis=1) >= 2]
    if table.empty:
        return {
            "fleiss_kappa": None,
            "free_marginal_kappa": None,
            "subjects": 0,
            "note": "no set of candidates was judged by two or more participants",
        }
    offered_conditions = (
        votes.drop_duplicates(["mask_id", "shown"]).set_index(["mask_id", "shown"])["conditions"].reindex(table.index)
    )
    available = np.array([[c == "none" or c in offered for c in table.columns] for offered in offered_conditions])
    options = np.array([len(offered) for offered in offered_conditions])
    return {
        "fleiss_kappa": fleiss_kappa(table.to_numpy(), available),
        "free_marginal_kappa": free_marginal_kappa(table.to_numpy(), options),
        "subjects": int(len(table)),
        "mean_raters": float(table.sum(axis=1).mean()),
        "categories": [str(c) for c in table.columns],
    }


def _spread(value: Any, low: Any, high: Any) -> np.ndarray:
    """Error-bar lengths below and above `value`, never negative: rounding can put a rate a hair
    outside its clipped Wilson interval, and a bootstrap percentile interval need not contain
    the point estimate."""
    value = np.asarray(value, dtype=float)
    below = value - np.asarray(low, dtype=float)
    above = np.asarray(high, dtype=float) - value
    return np.clip(np.nan_to_num(np.vstack([below, above])), 0.0, None)


def _chart(report: AnalysisReport, path: Path) -> None:
    """Three panels: first-choice rates, strengths, and choice rate by on-screen position."""
    # Figure without pyplot: no global state, so charts can be drawn inside a server thread.
    from matplotlib.figure import Figure

    conditions = report.conditions.iloc[::-1]  # strongest at the top of horizontal bars
    figure = Figure(figsize=(13, max(3.0, 0.45 * len(conditions) + 1.5)), layout="constrained")
    ax_win, ax_strength, ax_position = figure.subplots(1, 3)
    y = np.arange(len(conditions))
    labels = conditions["condition"].tolist()

    rate = conditions["win_rate"].to_numpy(dtype=float)
    err = _spread(rate, conditions["win_ci_low"], conditions["win_ci_high"])
    ax_win.barh(y, rate, xerr=err, color="#4c72b0", capsize=3)
    ax_win.scatter(conditions["chance_rate"], y, marker="|", s=200, color="black", label="chance")
    ax_win.set(yticks=y, yticklabels=labels, xlabel="first-choice rate", xlim=(0, 1))
    ax_win.legend(loc="lower right")

    strength = conditions["strength"].to_numpy(dtype=float)
    low = conditions["strength_ci_low"].to_numpy(dtype=float)
    high = conditions["strength_ci_high"].to_numpy(dtype=float)
    ax_strength.errorbar(
        strength,
        y,
        xerr=_spread(strength, low, high),
        fmt="o",
        color="#dd8452",
        capsize=3,
    )
    ax_strength.axvline(0, color="grey", linewidth=0.8)
    ax_strength.set(yticks=y, yticklabels=[], xlabel="Plackett-Luce log-strength")

    bias = report.position_bias
    for k, group in bias.groupby("n_shown"):
        rate = group["rate"].to_numpy(dtype=float)
        spread = _spread(rate, group["ci_low"], group["ci_high"])
        ax_position.errorbar(group["position"], rate, yerr=spread, marker="o", capsize=3, label=f"{k} shown")
        ax_position.axhline(1 / k, linestyle=":", color="grey", linewidth=0.8)
    ax_position.set(xlabel="on-screen position (1 = first)", ylabel="chosen rate", ylim=(0, 1))
    if not bias.empty:
        ax_position.set_xticks(range(1, int(bias["n_shown"].max()) + 1))
        ax_position.legend()
    pct = int(round(report.confidence * 100))
    figure.suptitle(f"Preference study: {report.counts['responses']} responses, {pct}% intervals")
    figure.savefig(path, dpi=110)


def analyze_long(
    long: pd.DataFrame,
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> AnalysisReport:
    """The analysis of a long table (as returned by export.long_table or read from an export)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    pairs = pairs_from_long(long)
    position_bias, position_tests = _position_bias(long, confidence)
    counts = {
        "participants": int(long["participant_id"].nunique()),
        "trials": int(long["trial_id"].nunique()),
        "responses": int(long.loc[long["answered"], "response_id"].nunique()),
    }
    return AnalysisReport(
        counts=counts,
        conditions=_condition_table(long, pairs, confidence, n_bootstrap, seed),
        position_bias=position_bias,
        position_tests=position_tests,
        agreement=_agreement(long),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
    )


def analyze(
    engine: Engine,
    out_dir: str | Path | None = None,
    *,
    study_id: int | None = None,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> AnalysisReport:
    """Analyse the responses in the database (optionally of one study).

    With `out_dir`, also writes conditions.csv, position_bias.csv, report.json and chart.png
    there. `seed` fixes the bootstrap, so the same data give the same intervals.
    """
    report = analyze_long(long_table(engine, study_id), confidence=confidence, n_bootstrap=n_bootstrap, seed=seed)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report.conditions.to_csv(out / "conditions.csv", index=False)
        report.position_bias.to_csv(out / "position_bias.csv", index=False)
        _chart(report, out / "chart.png")
        report.files = [
            out / "conditions.csv",
            out / "position_bias.csv",
            out / "chart.png",
            out / "report.json",
        ]
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report
