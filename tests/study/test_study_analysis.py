"""The analysis recovers planted preferences from synthetic votes recorded in a real database,
and each statistic matches hand-computed values."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import select

from study.analysis import CONDITION_COLUMNS, analyze, choice_sets, summary_counts
from study.db import get_engine, init_db, read_session
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, StudyItemInfo
from study.models import Candidate
from study.protocol import create_study, next_trial
from study.record import new_participant, record_response
from study.stats import (
    bootstrap_by_group,
    fleiss_kappa,
    free_marginal_kappa,
    plackett_luce,
    wilson_interval,
)

# Planted log-strengths (mean 0): what every participant's choices are drawn from.
TRUTH = {"pconv/d2/p0": 1.0, "pconv/d0/p0": 0.3, "telea/d0/p0": -0.3, "biharmonic/d0/p0": -1.0}
CONDITIONS = [("pconv", 2), ("pconv", 0), ("telea", 0), ("biharmonic", 0)]
STRONG = {condition: 2 * strength for condition, strength in TRUTH.items()}
# Tolerances below are about 3 standard errors of a log-strength estimated from 160-240 votes
# (the orders of the conditions, 4-5 standard errors apart, are checked exactly).
TOLERANCE = 0.5


# --- statistics against hand-computed values ---------------------------------------------------


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(np.array([5, 0, 10]), np.array([10, 10, 10]))
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    assert low[1] == pytest.approx(0.0) and high[1] == pytest.approx(0.2775, abs=1e-4)
    assert high[2] == pytest.approx(1.0) and low[2] == pytest.approx(0.7225, abs=1e-4)
    empty_low, empty_high = wilson_interval(0, 0)
    assert math.isnan(float(empty_low)) and math.isnan(float(empty_high))


def test_fleiss_kappa_matches_hand_computation():
    assert fleiss_kappa(np.array([[2, 0], [0, 2]])) == pytest.approx(1.0)  # full agreement
    assert fleiss_kappa(np.array([[1, 1], [1, 1]])) == pytest.approx(-1.0)  # every pair disagrees
    # P = (1 + 0) / 2 = 0.5, p = (3/4, 1/4), Pe = 0.625 -> (0.5 - 0.625) / 0.375
    assert fleiss_kappa(np.array([[2, 0], [1, 1]])) == pytest.approx(-1 / 3)
    # Subjects with one rater are ignored; differing rater counts are allowed.
    assert fleiss_kappa(np.array([[3, 0], [0, 2], [1, 0]])) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa(np.array([[1, 0], [0, 1]])))  # nobody rated twice
    assert math.isnan(fleiss_kappa(np.array([[2, 0], [3, 0]])))  # one category only
    # Subsets: subject 1 offers A, B; subject 2 offers B, C. Shares (1/2, 1/4, 1/4) give chance
    # 5/9 and 1/2 -> Pe = 19/36; P = (1 + 0) / 2 -> (1/2 - 19/36) / (17/36) = -1/17.
    counts = np.array([[2, 0, 0], [0, 1, 1]])
    offered = np.array([[True, True, False], [False, True, True]])
    assert fleiss_kappa(counts, offered) == pytest.approx(-1 / 17)


def test_free_marginal_kappa_matches_hand_computation():
    assert free_marginal_kappa(np.array([[2, 0], [1, 1]]), np.array([2, 2])) == pytest.approx(0.0)
    assert free_marginal_kappa(np.array([[3, 0, 0], [0, 3, 0]]), np.array([3, 3])) == pytest.approx(1.0)
    # P = (1/3 + 1) / 2 = 2/3 with 3 raters; chance 1/3 -> (2/3 - 1/3) / (2/3) = 1/2
    assert free_marginal_kappa(np.array([[2, 1, 0], [3, 0, 0]]), np.array([3, 3])) == pytest.approx(0.5)


def _pl_choice(rng: np.random.Generator, strengths: np.ndarray) -> int:
    weights = np.exp(strengths)
    return int(rng.choice(len(strengths), p=weights / weights.sum()))


def test_plackett_luce_and_participant_bootstrap_recover_strengths():
    rng = np.random.default_rng(3)
    truth = np.array(list(TRUTH.values()))
    choices, groups = [], []
    for participant in range(40):
        for _ in range(15):
            shown = rng.choice(4, size=3, replace=False)
            winner = shown[_pl_choice(rng, truth[shown])]
            choices.append((int(winner), [int(x) for x in shown if x != winner]))
            groups.append(participant)
    estimate = plackett_luce(choices, 4)
    assert estimate.mean() == pytest.approx(0.0, abs=1e-9)
    assert np.abs(estimate - truth).max() < 0.3
    fits = bootstrap_by_group(choices, groups, 4, n_boot=30, rng=np.random.default_rng(0))
    assert fits.shape == (30, 4)
    low, high = np.percentile(fits, 2.5, axis=0), np.percentile(fits, 97.5, axis=0)
    assert np.all((low < estimate) & (estimate < high))
    assert np.all((high - low > 0.1) & (high - low < 1.0))  # 600 choices: informative, not exact
    assert low[0] > high[3]  # the best and the worst are told apart


def test_choice_sets_decompose_picks_and_rankings():
    pd = pytest.importorskip("pandas")
    rows = [
        # trial, participant, kind, candidate, condition, chosen, rank
        (1, "p", "pick", 10, "A", True, None),
        (1, "p", "pick", 11, "B", False, None),
        (1, "p", "pick", 12, "A", False, None),  # same condition as the winner: no information
        (2, "q", "rank", 20, "C", False, 3),
        (2, "q", "rank", 21, "B", True, 1),
        (2, "q", "rank", 22, "A", False, 2),
        (3, "q", "none", 30, "A", False, None),
        (3, "q", "none", 31, "B", False, None),
    ]
    long = pd.DataFrame(
        rows,
        columns=[
            "trial_id",
            "participant_id",
            "response_kind",
            "candidate_id",
            "condition",
            "chosen",
            "rank",
        ],
    ).assign(answered=True, rank=lambda f: f["rank"].astype("Int64"))
    choices, participants = choice_sets(long)
    assert [(w, sorted(losers)) for w, losers in choices] == [
        ("A", ["B"]),
        ("B", ["A", "C"]),
        ("A", ["C"]),
    ]
    assert participants == ["p", "q", "q"]


# --- synthetic studies in a real SQLite file ---------------------------------------------------


def _study_items(n_items: int) -> list[StudyItemInfo]:
    return [
        StudyItemInfo(
            photo=PhotoInfo(32, 32, image_bytes=b"photo-%d" % i),
            mask=MaskInfo(32, 32, 0.1 + 0.01 * i, image_bytes=b"mask-%d" % i),
            candidates=tuple(
                CandidateInfo(
                    method,
                    dilation=dilation,
                    seed=i,
                    image_bytes=b"%d-%s-%d" % (i, method.encode(), dilation),
                )
                for method, dilation in CONDITIONS
            ),
        )
        for i in range(n_items)
    ]


Chooser = Callable[[np.random.Generator, list[str], int], list[int]]
"""Given the shown conditions in on-screen order and the item (mask id), the shown indexes
best first (only the first is used for a pick)."""


def _simulate(engine, name: str, choose: Chooser, *, mode="pick", participants=30, items=8, seed=0) -> int:
    study_id = create_study(engine, name, _study_items(items), mode=mode, candidates_per_trial=3)
    with read_session(engine) as session:
        condition = {c.id: c.condition for c in session.scalars(select(Candidate))}
    rng = np.random.default_rng(seed)
    plan_rng = random.Random(seed)
    for _ in range(participants):
        participant = new_participant(engine)
        while (trial := next_trial(engine, study_id, participant, rng=plan_rng)) is not None:
            order = choose(rng, [condition[c] for c in trial.candidate_ids], trial.mask_id)
            token = f"{participant}-{trial.number}"
            seconds = float(rng.uniform(1, 10))
            if mode == "pick":
                record_response(
                    engine,
                    trial.trial_id,
                    participant,
                    token,
                    choice=trial.candidate_ids[order[0]],
                    seconds=seconds,
                )
            else:
                record_response(
                    engine,
                    trial.trial_id,
                    participant,
                    token,
                    ranking=[trial.candidate_ids[i] for i in order],
                    seconds=seconds,
                )
    return study_id


def plackett_luce_chooser(
    position_bias: float = 0.0, strengths: dict[str, float] = TRUTH, per_photo: bool = False
) -> Chooser:
    """Participants who rank by Plackett-Luce on `strengths`; with `position_bias`, a pick of
    the first-shown candidate regardless of quality that often; with `per_photo`, the
    strengths are rotated from photo to photo (each photo has its own best method)."""
    values = list(strengths.values())

    def choose(rng: np.random.Generator, shown: list[str], mask_id: int) -> list[int]:
        table = strengths
        if per_photo:
            shift = mask_id % len(values)
            table = dict(zip(strengths, values[shift:] + values[:shift], strict=True))
        left = list(range(len(shown)))
        order = []
        if position_bias and rng.random() < position_bias:
            order.append(left.pop(0))
        while left:
            index = _pl_choice(rng, np.array([table[shown[i]] for i in left]))
            order.append(left.pop(index))
        return order

    return choose


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """One database with five synthetic studies (960 responses in all)."""
    path = tmp_path_factory.mktemp("analysis") / "study.sqlite"
    engine = get_engine(f"sqlite:///{path}", synchronous="NORMAL")  # test data: speed over fsync
    init_db(engine)
    flat = {condition: 0.0 for condition in TRUTH}
    ids = {
        "planted": _simulate(engine, "planted", plackett_luce_chooser(), seed=1),
        "ranked": _simulate(engine, "ranked", plackett_luce_chooser(), mode="rank", participants=20, seed=2),
        "first wins": _simulate(
            engine,
            "first wins",
            plackett_luce_chooser(position_bias=0.5, strengths=flat),
            participants=20,
            seed=3,
        ),
        "no preference": _simulate(engine, "no preference", plackett_luce_chooser(strengths=flat), seed=4),
        "photo taste": _simulate(
            engine,
            "photo taste",
            plackett_luce_chooser(per_photo=True, strengths=STRONG),
            participants=20,
            seed=5,
        ),
    }
    yield engine, ids
    engine.dispose()


def test_analysis_recovers_the_planted_preference_from_picks(study_db, tmp_path):
    engine, ids = study_db
    report = analyze(engine, tmp_path / "report", study_id=ids["planted"], n_bootstrap=60, seed=0)
    table = report.conditions.set_index("condition")
    assert list(report.conditions.columns) == list(CONDITION_COLUMNS)
    assert report.best_condition == "pconv/d2/p0"
    assert list(report.conditions["condition"]) == list(TRUTH)  # the whole order, strongest first
    for condition, strength in TRUTH.items():
        assert table.loc[condition, "strength"] == pytest.approx(strength, abs=TOLERANCE)
        assert (
            table.loc[condition, "strength_ci_low"]
            < table.loc[condition, "strength"]
            < table.loc[condition, "strength_ci_high"]
        )
    # Separated beyond their intervals: the best is credibly better than the worst.
    assert table.loc["pconv/d2/p0", "strength_ci_low"] > table.loc["biharmonic/d0/p0", "strength_ci_high"]
    best = table.loc["pconv/d2/p0"]
    assert best["win_ci_low"] > best["chance_rate"] == pytest.approx(1 / 3)
    assert table.loc["biharmonic/d0/p0", "win_ci_high"] < 1 / 3
    assert report.counts == {"participants": 30, "trials": 240, "responses": 240}
    assert all(test["first_p_value"] > 0.01 for test in report.position_tests)  # none planted
    # A preference shared everywhere: agreement beyond random picking, not photo-specific.
    assert report.agreement["free_marginal_kappa"] > 0.1
    assert abs(report.agreement["fleiss_kappa"]) < 0.1
    for name in ("conditions.csv", "position_bias.csv", "chart.png", "report.json"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert (tmp_path / "report" / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["best_condition"] == "pconv/d2/p0" and len(saved["conditions"]) == 4


def test_analysis_recovers_the_planted_preference_from_rankings(study_db):
    engine, ids = study_db
    report = analyze(engine, study_id=ids["ranked"], n_bootstrap=60, seed=0)
    assert list(report.conditions["condition"]) == list(TRUTH)
    table = report.conditions.set_index("condition")
    for condition, strength in TRUTH.items():
        assert table.loc[condition, "strength"] == pytest.approx(strength, abs=TOLERANCE)


def test_analysis_detects_position_bias(study_db):
    engine, ids = study_db
    report = analyze(engine, study_id=ids["first wins"], n_bootstrap=0)
    (test,) = report.position_tests
    assert test["n_shown"] == 3 and test["trials"] == 160
    assert test["first_rate"] > 0.55 and test["first_p_value"] < 1e-6 and test["uniform_p_value"] < 1e-6
    first = report.position_bias.query("position == 1").iloc[0]
    assert first["ci_low"] > first["expected_rate"]
    # Positions are randomised, so the bias does not leak into the conditions' strengths.
    assert report.conditions["strength"].abs().max() < TOLERANCE


def test_agreement_is_near_zero_without_a_shared_preference(study_db):
    engine, ids = study_db
    report = analyze(engine, study_id=ids["no preference"], n_bootstrap=0)
    assert report.agreement["subjects"] >= 8 and report.agreement["mean_raters"] >= 2
    assert abs(report.agreement["fleiss_kappa"]) < 0.1
    assert abs(report.agreement["free_marginal_kappa"]) < 0.1
    assert report.conditions["strength"].abs().max() < TOLERANCE


def test_fleiss_kappa_detects_photo_specific_agreement(study_db):
    """Each photo has its own best method: no condition wins overall, yet people agree."""
    engine, ids = study_db
    report = analyze(engine, study_id=ids["photo taste"], n_bootstrap=0)
    assert report.agreement["fleiss_kappa"] > 0.3
    assert report.agreement["free_marginal_kappa"] > 0.3
    assert report.conditions["strength"].abs().max() < TOLERANCE


def test_summary_counts_and_whole_database_analysis(study_db):
    engine, _ = study_db
    counts = summary_counts(engine)
    assert counts == {
        "participants": 120,
        "studies": 5,
        "trials": 960,
        "responses": 960,
        "none_acceptable": 0,
    }
    report = analyze(engine, n_bootstrap=0)
    assert report.counts["responses"] == 960


def test_analysis_of_an_empty_database_reports_nothing_without_failing(engine, tmp_path):
    report = analyze(engine, tmp_path, n_bootstrap=10)
    assert report.conditions.empty and report.best_condition is None
    assert report.agreement["fleiss_kappa"] is None
    assert "responses 0" in report.format_text()
    assert (tmp_path / "chart.png").exists()
