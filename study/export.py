"""Researcher exports: the long table and the pairwise table, as pandas DataFrames or files.

The long table has one row per (trial, shown candidate): everything needed to redo any analysis,
including trials that were shown but never answered (answered = False). The pairwise table turns
each answer into winner/loser pairs for Bradley-Terry style models: a pick beats every other shown
candidate; a ranking yields every ordered pair; "none is acceptable" yields no pair.

`LONG_COLUMNS` and `PAIRWISE_COLUMNS` below are the column documentation (also in
study/README.md); the DataFrames have exactly these columns, in this order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy import Engine, Select, and_, exc, select

from study.db import storage_errors
from study.errors import StudyError
from study.models import (
    Candidate,
    Mask,
    Response,
    ResponseRank,
    Study,
    Trial,
    TrialCandidate,
    condition_key,
)

LONG_COLUMNS: dict[str, str] = {
    "study_id": "study id; <NA> for trials from the public app (no controlled study)",
    "study_name": "study name; <NA> for public-app trials",
    "participant_id": "anonymous participant id (32 hex characters)",
    "trial_id": "trial id",
    "trial_sequence": "0-based index of the trial in the participant's study plan; <NA> in the app",
    "trial_shown_at": "when the trial was first shown (UTC)",
    "photo_id": "photo id",
    "mask_id": "mask id (photo + mask = the restoration task)",
    "hole_ratio": "damaged fraction of the image (0..1)",
    "n_shown": "number of candidates shown in the trial",
    "position": "on-screen position of this candidate, 1 = shown first (leftmost / top)",
    "candidate_id": "candidate id",
    "condition": "condition key method/d<dilation>/p<dropout>[/<finish>], e.g. pconv/d2/p0.1 or pconv/d4/p0.25/grain",
    "method": "restoration method",
    "dilation": "mask dilation in pixels",
    "dropout": "test-time dropout rate",
    "finish": "how the fill was made beyond its method: plain, grain (the photo's own grain added) or sharp (the sharpened network)",
    "seed": "random seed of the candidate (<NA> if none)",
    "model_version": "model version string ('' for classical methods)",
    "candidate_sha256": "SHA-256 of the candidate image",
    "response_id": "response id (<NA> if the trial was not answered)",
    "response_kind": "pick, rank or none (none = 'none is acceptable'); <NA> if unanswered",
    "answered": "whether the trial has a response",
    "chosen": "this candidate was picked or ranked first; False for 'none'; <NA> if unanswered",
    "rank": "rank in a full ranking, 1 = best; <NA> for picks",
    "none_acceptable": "the participant answered that no candidate was acceptable",
    "seconds": "time the participant took to answer",
    "responded_at": "when the response was recorded (UTC)",
}

PAIRWISE_COLUMNS: dict[str, str] = {
    "study_id": "study id (<NA> for the public app)",
    "participant_id": "anonymous participant id",
    "trial_id": "trial id",
    "response_id": "response id",
    "response_kind": "pick or rank",
    "photo_id": "photo id",
    "mask_id": "mask id",
    "n_shown": "number of candidates shown in the trial",
    "winner_candidate_id": "preferred candidate",
    "loser_candidate_id": "the other candidate of the pair",
    "winner_condition": "condition key of the winner",
    "loser_condition": "condition key of the loser",
    "winner_method": "method of the winner",
    "winner_dilation": "dilation of the winner",
    "winner_dropout": "dropout of the winner",
    "winner_finish": "finish of the winner",
    "loser_method": "method of the loser",
    "loser_dilation": "dilation of the loser",
    "loser_dropout": "dropout of the loser",
    "loser_finish": "finish of the loser",
    "winner_position": "on-screen position of the winner (1 = first)",
    "loser_position": "on-screen position of the loser",
    "winner_rank": "rank of the winner in a ranking (<NA> for picks)",
    "loser_rank": "rank of the loser in a ranking (<NA> for picks)",
    "same_condition": "both candidates share a condition (no information about conditions)",
    "responded_at": "when the response was recorded (UTC)",
}

FORMATS = ("csv", "parquet", "json")
Format = Literal["csv", "parquet", "json"]

_TIME_COLUMNS = ("trial_shown_at", "responded_at")
_NULLABLE_INTS = ("study_id", "trial_sequence", "seed", "response_id", "rank")


def _long_query(study_id: int | None) -> Select:
    query = (
        select(
            Trial.study_id,
            Study.name.label("study_name"),
            Trial.participant_id,
            Trial.id.label("trial_id"),
            Trial.sequence.label("trial_sequence"),
            Trial.shown_at.label("trial_shown_at"),
            Mask.photo_id,
            Trial.mask_id,
            Mask.hole_ratio,
            TrialCandidate.position,
            TrialCandidate.candidate_id,
            Candidate.method,
            Candidate.dilation,
            Candidate.dropout,
            Candidate.finish,
            Candidate.seed,
            Candidate.model_version,
            Candidate.image_sha256.label("candidate_sha256"),
            Response.id.label("response_id"),
            Response.kind.label("response_kind"),
            Response.chosen_candidate_id,
            ResponseRank.rank,
            Response.seconds,
            Response.created_at.label("responded_at"),
        )
        .select_from(Trial)
        .join(TrialCandidate, TrialCandidate.trial_id == Trial.id)
        .join(Candidate, Candidate.id == TrialCandidate.candidate_id)
        .join(Mask, Mask.id == Trial.mask_id)
        .outerjoin(Study, Study.id == Trial.study_id)
        .outerjoin(Response, Response.trial_id == Trial.id)
        .outerjoin(
            ResponseRank,
            and_(
                ResponseRank.response_id == Response.id,
                ResponseRank.candidate_id == TrialCandidate.candidate_id,
            ),
        )
        .where(Trial.shown_at.is_not(None))  # planned study trials not yet served are not data
        .order_by(Trial.id, TrialCandidate.position)
    )
    if study_id is not None:
        query = query.where(Trial.study_id == study_id)
    return query


def long_table(engine: Engine, study_id: int | None = None) -> pd.DataFrame:
    """One row per shown candidate of every shown trial (optionally of one study only).

    Columns: see LONG_COLUMNS. Read in one query, i.e. one consistent snapshot of the database.
    """
    with storage_errors(engine), engine.connect() as connection:
        try:
            frame = pd.read_sql(_long_query(study_id), connection)
        except pd.errors.DatabaseError as error:
            # pandas wraps the driver's error; unwrap it so storage_errors can name the problem.
            if isinstance(error.__cause__, exc.SQLAlchemyError):
                raise error.__cause__ from None
            raise

    for column in _TIME_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    for column in _NULLABLE_INTS:
        frame[column] = frame[column].astype("Int64")
    frame["study_name"] = frame["study_name"].astype("string")
    frame["response_kind"] = frame["response_kind"].astype("string")
    frame["dropout"] = frame["dropout"].astype(float)
    frame["n_shown"] = frame.groupby("trial_id")["candidate_id"].transform("size").astype(int)
    frame["condition"] = [
        condition_key(m, d, p, f)
        for m, d, p, f in zip(frame["method"], frame["dilation"], frame["dropout"], frame["finish"], strict=True)
    ]

    answered = frame["response_id"].notna()
    chosen = (frame["candidate_id"] == frame["chosen_candidate_id"]) & frame["response_kind"].isin(
        ["pick", "rank"]
    ).fillna(False)
    frame["answered"] = answered
    frame["chosen"] = pd.array(chosen, dtype="boolean")
    frame.loc[~answered, "chosen"] = pd.NA
    frame["none_acceptable"] = pd.array(frame["response_kind"] == "none", dtype="boolean")
    frame.loc[~answered, "none_acceptable"] = pd.NA
    return frame[list(LONG_COLUMNS)].reset_index(drop=True)


def pairwise_table(engine: Engine, study_id: int | None = None, *, long: pd.DataFrame | None = None) -> pd.DataFrame:
    """Winner/loser pairs of every pick and ranking (columns: see PAIRWISE_COLUMNS).

    Pass `long` (a long_table already read) to derive the pairs from the same snapshot.
    """
    frame = long_table(engine, study_id) if long is None else long
    return pairs_from_long(frame)


def pairs_from_long(frame: pd.DataFrame) -> pd.DataFrame:
    """The pairwise table of a long table (pure pandas; used by the analysis too)."""
    answered = frame[frame["answered"] & frame["response_kind"].isin(["pick", "rank"]).fillna(False)]
    keep = [
        "study_id",
        "participant_id",
        "trial_id",
        "response_id",
        "response_kind",
        "photo_id",
        "mask_id",
        "n_shown",
        "responded_at",
    ]
    per_candidate = [
        "candidate_id",
        "condition",
        "method",
        "dilation",
        "dropout",
        "finish",
        "position",
        "rank",
        "chosen",
    ]
    left = answered[keep + per_candidate]
    right = answered[["trial_id"] + per_candidate]
    pairs = left.merge(right, on="trial_id", suffixes=("_w", "_l"))
    is_pick = pairs["response_kind"] == "pick"
    pick_pair = is_pick & pairs["chosen_w"].fillna(False) & ~pairs["chosen_l"].fillna(False)
    rank_pair = ~is_pick & (pairs["rank_w"] < pairs["rank_l"]).fillna(False)
    pairs = pairs[(pick_pair | rank_pair).astype(bool)]

    renamed = {f"{name}_w": f"winner_{name}" for name in per_candidate}
    renamed |= {f"{name}_l": f"loser_{name}" for name in per_candidate}
    renamed |= {"candidate_id_w": "winner_candidate_id", "candidate_id_l": "loser_candidate_id"}
    pairs = pairs.rename(columns=renamed)
    pairs["same_condition"] = pairs["winner_condition"] == pairs["loser_condition"]
    return (
        pairs[list(PAIRWISE_COLUMNS)]
        .sort_values(["trial_id", "winner_position", "loser_position"], kind="stable")
        .reset_index(drop=True)
    )


def _write(frame: pd.DataFrame, fmt: str, path: Path) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", date_format="iso", indent=None)


def export(engine: Engine, fmt: Format | str, out_path: str | Path, *, study_id: int | None = None) -> list[Path]:
    """Write `long.<fmt>` and `pairwise.<fmt>` into the folder `out_path` (created if needed).

    Both tables come from one read, so they agree with each other. Returns the written paths.
    """
    if fmt not in FORMATS:
        raise StudyError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out_path)
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out must be a folder, and {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    long = long_table(engine, study_id)
    tables = {"long": long, "pairwise": pairs_from_long(long)}
    written = []
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        _write(frame, fmt, path)
        written.append(path)
    return written


def read_export(path: str | Path) -> pd.DataFrame:
    """Read one exported file back with the documented dtypes (timestamps as UTC datetimes)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        frame = pd.read_csv(path)
    elif path.suffix == ".json":
        frame = pd.read_json(path, orient="records")
    else:
        raise StudyError(f"unknown export file type {path.suffix!r}")
    for column in ("trial_shown_at", "responded_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
