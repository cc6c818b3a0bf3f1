"""Exports: the long and pairwise tables, and the files written by `export`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from study.errors import StudyError
from study.export import (
    LONG_COLUMNS,
    PAIRWISE_COLUMNS,
    export,
    long_table,
    pairwise_table,
    read_export,
)
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo
from study.protocol import create_study, next_trial
from study.record import new_participant, record_response, start_trial


@pytest.fixture
def votes(make_task):
    """One pick, one ranking, one 'none', one unanswered trial; returns ids for checking."""

    def make(engine):
        participant, mask, (pconv, telea, bih) = make_task(engine)
        pick = start_trial(engine, participant, [telea, pconv, bih])
        record_response(engine, pick, participant, "pick", choice=pconv, seconds=2.0)
        rank = start_trial(engine, participant, [bih, telea, pconv])
        record_response(engine, rank, participant, "rank", ranking=[telea, pconv, bih], seconds=5.0)
        none = start_trial(engine, participant, [pconv, telea])
        record_response(engine, none, participant, "none", none_acceptable=True)
        open_trial = start_trial(engine, participant, [bih, pconv])
        return {
            "participant": participant,
            "pconv": pconv,
            "telea": telea,
            "bih": bih,
            "pick": pick,
            "rank": rank,
            "none": none,
            "open": open_trial,
        }

    return make


def test_long_table_has_one_row_per_trial_and_shown_candidate(any_engine, votes):
    ids = votes(any_engine)
    long = long_table(any_engine)
    assert list(long.columns) == list(LONG_COLUMNS)
    assert len(long) == 3 + 3 + 2 + 2
    pick = long[long["trial_id"] == ids["pick"]].set_index("candidate_id")
    assert pick.loc[ids["telea"], "position"] == 1 and pick.loc[ids["pconv"], "position"] == 2
    assert pick["chosen"].tolist() == [False, True, False]
    assert pick.loc[ids["pconv"], "condition"] == "pconv/d0/p0"
    assert pick["n_shown"].eq(3).all() and pick["seconds"].eq(2.0).all()
    assert pick["response_kind"].eq("pick").all() and pick["rank"].isna().all()

    rank = long[long["trial_id"] == ids["rank"]].set_index("candidate_id")
    assert rank.loc[[ids["telea"], ids["pconv"], ids["bih"]], "rank"].tolist() == [1, 2, 3]
    assert rank.loc[ids["telea"], "chosen"] and not rank.loc[ids["bih"], "chosen"]

    none = long[long["trial_id"] == ids["none"]]
    assert none["none_acceptable"].all() and not none["chosen"].any()

    unanswered = long[long["trial_id"] == ids["open"]]
    assert not unanswered["answered"].any()
    assert unanswered["chosen"].isna().all() and unanswered["response_id"].isna().all()
    assert str(long["trial_shown_at"].dtype).startswith("datetime64") and long["trial_shown_at"].dt.tz is not None
    assert long["participant_id"].eq(ids["participant"]).all()


def test_pairwise_table_turns_picks_and_rankings_into_pairs(any_engine, votes):
    ids = votes(any_engine)
    pairs = pairwise_table(any_engine)
    assert list(pairs.columns) == list(PAIRWISE_COLUMNS)
    got = {(r.trial_id, r.winner_candidate_id, r.loser_candidate_id) for r in pairs.itertuples()}
    p, t, b = ids["pconv"], ids["telea"], ids["bih"]
    assert got == {
        (ids["pick"], p, t),
        (ids["pick"], p, b),  # a pick beats every other shown candidate
        (ids["rank"], t, p),
        (ids["rank"], t, b),
        (ids["rank"], p, b),  # every ordered pair
    }  # "none" and the unanswered trial give no pair
    row = pairs[(pairs["trial_id"] == ids["pick"]) & (pairs["loser_candidate_id"] == t)].iloc[0]
    assert (row["winner_condition"], row["loser_condition"]) == ("pconv/d0/p0", "telea/d1/p0")
    assert (row["winner_position"], row["loser_position"]) == (2, 1)
    assert not pairs["same_condition"].any()


def test_same_condition_pairs_are_flagged(engine):
    participant = new_participant(engine)
    from study.record import register_candidates, register_mask, register_photo

    photo = register_photo(engine, b"p", width=2, height=2)
    mask = register_mask(engine, photo, b"m", width=2, height=2, hole_ratio=0.5)
    a, b = register_candidates(
        engine,
        mask,
        [CandidateInfo("pconv", dropout=0.2, seed=s, image_bytes=bytes([s])) for s in (1, 2)],
    )
    trial = start_trial(engine, participant, [a, b])
    record_response(engine, trial, participant, "x", choice=b)
    pairs = pairwise_table(engine)
    assert len(pairs) == 1 and pairs["same_condition"].iloc[0]


def test_tables_can_be_limited_to_one_study_and_skip_unserved_trials(engine, votes):
    votes(engine)
    items = [
        (
            PhotoInfo(4, 4, image_bytes=b"sp%d" % i),
            MaskInfo(4, 4, 0.1, image_bytes=b"sm%d" % i),
            [CandidateInfo(m, image_bytes=b"%d%s" % (i, m.encode())) for m in ("a", "b")],
        )
        for i in range(3)
    ]
    study_id = create_study(engine, "s", items)
    participant = new_participant(engine)
    served = next_trial(engine, study_id, participant)  # 3 planned, 1 served
    study_rows = long_table(engine, study_id)
    assert set(study_rows["trial_id"]) == {served.trial_id}
    assert study_rows["study_name"].eq("s").all() and study_rows["trial_sequence"].eq(0).all()
    assert long_table(engine)["study_id"].isna().sum() == 10


def test_empty_database_exports_empty_tables_with_the_columns(engine, tmp_path):
    assert list(long_table(engine).columns) == list(LONG_COLUMNS)
    assert list(pairwise_table(engine).columns) == list(PAIRWISE_COLUMNS)
    written = export(engine, "csv", tmp_path / "out")
    assert [p.name for p in written] == ["long.csv", "pairwise.csv"]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_files_open_in_pandas_with_the_documented_columns(engine, votes, tmp_path, fmt):
    votes(engine)
    long, pairs = long_table(engine), pairwise_table(engine)
    written = export(engine, fmt, tmp_path / "export")
    assert [p.name for p in written] == [f"long.{fmt}", f"pairwise.{fmt}"]
    reader = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt]
    for path, expected in zip(written, (long, pairs), strict=True):
        plain = reader(path)  # what a researcher would do
        assert list(plain.columns) == list(expected.columns)
        assert len(plain) == len(expected)
        back = read_export(path)
        assert back["trial_id"].tolist() == expected["trial_id"].tolist()
        assert back["responded_at"].dropna().dt.tz is not None
        shown = pd.to_datetime(back["responded_at"], utc=True).dropna().reset_index(drop=True)
        original = expected["responded_at"].dropna().reset_index(drop=True)
        assert (shown - original).abs().max() < pd.Timedelta(milliseconds=1)
    if fmt == "parquet":
        assert read_export(written[0])["rank"].dtype == "Int64"


def test_export_refuses_unknown_format_and_file_as_folder(engine, tmp_path):
    with pytest.raises(StudyError, match="format must be one of"):
        export(engine, "xlsx", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StudyError, match="must be a folder"):
        export(engine, "csv", tmp_path / "file")


def test_readme_documents_every_export_column():
    readme = (Path(__file__).resolve().parents[2] / "study" / "README.md").read_text()
    for name in LONG_COLUMNS | PAIRWISE_COLUMNS:
        assert f"| `{name}` |" in readme, name
    for meaning in list(LONG_COLUMNS.values()) + list(PAIRWISE_COLUMNS.values()):
        assert meaning in readme


def test_the_finish_is_a_factor_of_the_condition_in_exports_and_analysis(any_engine, make_task):
    """Two candidates differing only by finish are two conditions; plain keys are unchanged."""
    from study.analysis import analyze
    from study.record import register_candidates

    participant, mask, (pconv,) = make_task(any_engine, ("pconv",))
    (grain,) = register_candidates(
        any_engine,
        mask,
        [CandidateInfo("pconv", dilation=0, dropout=0.0, seed=0, finish="grain", image_bytes=b"grainy")],
    )
    assert grain != pconv
    trial = start_trial(any_engine, participant, [pconv, grain])
    record_response(any_engine, trial, participant, "pick", choice=grain)
    long = long_table(any_engine).set_index("candidate_id")
    assert long.loc[pconv, "condition"] == "pconv/d0/p0" and long.loc[pconv, "finish"] == "plain"
    assert long.loc[grain, "condition"] == "pconv/d0/p0/grain" and long.loc[grain, "finish"] == "grain"
    pairs = pairwise_table(any_engine)
    assert pairs[["winner_finish", "loser_finish"]].values.tolist() == [["grain", "plain"]]
    table = analyze(any_engine, n_bootstrap=0).conditions.set_index("condition")
    assert table.loc["pconv/d0/p0/grain", "finish"] == "grain" and table.loc["pconv/d0/p0/grain", "chosen"] == 1
    with pytest.raises(StudyError, match="finish"):
        register_candidates(any_engine, mask, [CandidateInfo("pconv", finish="Grain/x", image_bytes=b"x")])
