"""The read-only look-ups the app needs: whether a participant id is known, a study by the id or
name a link gives, and the list of studies. Against a real SQLite file; every answer is checked
against the rows written through sqlite3 or through the recording functions."""

from __future__ import annotations

import sqlite3

import pytest

import study
from study import StudyInfo, list_studies, participant_exists, resolve_study
from study.errors import StudyError
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, StudyItemInfo
from study.protocol import create_study
from study.record import new_participant


def _items(n: int, tag: str) -> list[StudyItemInfo]:
    return [
        StudyItemInfo(
            photo=PhotoInfo(width=8, height=8, image_bytes=f"photo-{tag}-{i}".encode()),
            mask=MaskInfo(width=8, height=8, hole_ratio=0.25, image_bytes=f"mask-{tag}-{i}".encode()),
            candidates=tuple(
                CandidateInfo(m, dilation=2, image_bytes=f"{tag}-{i}-{m}".encode()) for m in ("pconv", "telea", "ns")
            ),
        )
        for i in range(n)
    ]


def _sqlite(db_url: str, query: str, *args) -> list[tuple]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        return db.execute(query, args).fetchall()


def test_the_lookups_are_exported_from_the_package():
    assert study.participant_exists is participant_exists
    assert study.resolve_study is resolve_study and study.list_studies is list_studies
    assert study.StudyInfo is StudyInfo
    from sqlalchemy import Engine

    assert study.Engine is Engine


def test_participant_exists_reads_the_participants_table(engine, db_url):
    pid = new_participant(engine, consent=True)
    assert _sqlite(db_url, "SELECT id FROM participants") == [(pid,)]
    assert participant_exists(engine, pid) is True
    assert participant_exists(engine, "f" * 32) is False  # an id kept from another database
    assert participant_exists(engine, pid.upper()) is False  # ids are compared exactly
    assert participant_exists(engine, None) is False
    assert participant_exists(engine, 42) is False  # type: ignore[arg-type]

    # a row written by someone else (another process) is seen at once
    _sqlite(db_url, "INSERT INTO participants (id, created_at) VALUES ('x' , '2024-01-01 00:00:00')")
    assert participant_exists(engine, "x") is True


def test_resolve_study_by_id_or_by_name(engine, db_url):
    items = _items(3, "a")
    first = create_study(engine, "Dilation pilot", items, trials_per_participant=2, description="Which looks best?")
    second = create_study(engine, "Ranking 2", _items(2, "b"), mode="rank")
    columns = "name, description, mode, candidates_per_trial, trials_per_participant"
    ((name, description, mode, k, n),) = _sqlite(db_url, f"SELECT {columns} FROM studies WHERE id = ?", first)

    info = resolve_study(engine, str(first))
    assert info == StudyInfo(first, name, description, mode, k, n)
    assert info == StudyInfo(first, "Dilation pilot", "Which looks best?", "pick", 3, 2)
    assert resolve_study(engine, first) == info  # an int id
    assert resolve_study(engine, f"  {first} ") == info  # a link's query parameter, with spaces
    assert resolve_study(engine, "Dilation pilot") == info
    assert resolve_study(engine, " Ranking 2\n") == StudyInfo(second, "Ranking 2", "", "rank", 3, 2)

    with pytest.raises(StudyError, match="there is no study 'nope'"):
        resolve_study(engine, "nope")
    with pytest.raises(StudyError, match="there is no study '99'"):
        resolve_study(engine, "99")  # digits are an id, never a name
    with pytest.raises(StudyError, match="there is no study 'dilation pilot'"):
        resolve_study(engine, "dilation pilot")  # names are compared exactly


def test_list_studies_gives_every_study_lowest_id_first(engine, db_url):
    assert list_studies(engine) == []
    ids = [create_study(engine, name, _items(2, name), description=f"about {name}") for name in ("B", "A", "C")]
    listed = list_studies(engine)
    assert [(s.study_id, s.name) for s in listed] == _sqlite(db_url, "SELECT id, name FROM studies ORDER BY id")
    assert [s.name for s in listed] == ["B", "A", "C"] and [s.study_id for s in listed] == ids
    assert all(s.description == f"about {s.name}" and s.mode == "pick" for s in listed)
    assert listed[1] == resolve_study(engine, "A")
