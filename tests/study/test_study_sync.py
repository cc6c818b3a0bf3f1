"""Snapshots for a Space: real snapshot files, the Hub upload faked at the HfApi boundary."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from study.db import get_engine
from study.export import LONG_COLUMNS
from study.record import record_response, start_trial
from study.settings import Settings
from study.sync import SNAPSHOT_DB, maybe_start_sync, snapshot, start_sync


def _responses_in(sqlite_bytes: bytes, folder: Path) -> int:
    path = folder / "downloaded.sqlite"
    path.write_bytes(sqlite_bytes)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return connection.execute("SELECT count(*) FROM responses").fetchone()[0]
    finally:
        connection.close()


def _vote(engine, participant, candidates, token) -> int:
    trial = start_trial(engine, participant, candidates)
    return record_response(engine, trial, participant, token, choice=candidates[0])


def test_snapshot_is_a_consistent_standalone_copy(engine, make_task, tmp_path):
    participant, _, candidates = make_task(engine)
    for i in range(5):
        _vote(engine, participant, candidates, f"v{i}")
    files = snapshot(engine, tmp_path / "snap")
    assert sorted(p.name for p in files) == ["long.parquet", "pairwise.parquet", SNAPSHOT_DB]
    copy = tmp_path / "snap" / SNAPSHOT_DB
    assert _responses_in(copy.read_bytes(), tmp_path) == 5
    assert not (tmp_path / "snap" / f"{SNAPSHOT_DB}-wal").exists()  # one self-contained file
    assert list((tmp_path / "snap").glob(".*")) == []  # no temporary files left
    long = pd.read_parquet(tmp_path / "snap" / "long.parquet")
    assert list(long.columns) == list(LONG_COLUMNS) and long["response_id"].nunique() == 5
    # The copy is not the live file: later votes do not change it.
    _vote(engine, participant, candidates, "later")
    assert _responses_in(copy.read_bytes(), tmp_path) == 5


def test_snapshot_while_another_thread_writes(engine, make_task, tmp_path):
    participant, _, candidates = make_task(engine)
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_voting() -> None:
        i = 0
        try:
            while not stop.is_set():
                _vote(engine, participant, candidates, f"bg{i}")
                i += 1
        except BaseException as error:  # reported to the test below
            errors.append(error)

    writer = threading.Thread(target=keep_voting)
    writer.start()
    try:
        counts = [
            _responses_in((snapshot(engine, tmp_path / f"s{i}", exports=False)[0]).read_bytes(), tmp_path)
            for i in range(3)
        ]
    finally:
        stop.set()
        writer.join(timeout=30)
    assert not errors
    assert counts == sorted(counts)  # each copy is a consistent point in time, never behind


class FakeHub:
    """The HfApi methods CommitScheduler calls, recording each commit instead of uploading."""

    def __init__(self) -> None:
        self.commits: list[dict[str, bytes]] = []
        self.repos: list[dict[str, Any]] = []
        self.committed = threading.Event()
        self._lock = threading.Lock()

    def create_repo(self, repo_id: str, **kwargs: Any) -> SimpleNamespace:
        self.repos.append({"repo_id": repo_id, **kwargs})
        return SimpleNamespace(repo_id=repo_id)

    def run_as_future(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # delivered through the future, as HfApi does
            future.set_exception(error)
        return future

    def create_commit(self, *, repo_id: str, repo_type: str | None, operations: list, **kwargs: Any) -> SimpleNamespace:
        assert repo_type == "dataset"
        files = {op.path_in_repo: op.path_or_fileobj.read() for op in operations}
        with self._lock:
            self.commits.append(files)
        self.committed.set()
        return SimpleNamespace(oid=f"commit-{len(self.commits)}")


def test_start_sync_pushes_snapshots_of_new_data_only(engine, make_task, tmp_path):
    participant, _, candidates = make_task(engine)
    _vote(engine, participant, candidates, "first")
    hub = FakeHub()
    scheduler = start_sync(engine, "lab/restoration-votes", every_minutes=60, folder=tmp_path / "staging", hf_api=hub)
    try:
        assert hub.committed.wait(timeout=60), "the scheduler's first push did not happen"
        assert hub.repos == [
            {
                "repo_id": "lab/restoration-votes",
                "private": True,
                "repo_type": "dataset",
                "exist_ok": True,
            }
        ]
        first = hub.commits[0]
        assert sorted(first) == ["long.parquet", "pairwise.parquet", SNAPSHOT_DB]
        assert _responses_in(first[SNAPSHOT_DB], tmp_path) == 1

        for i in range(3):
            _vote(engine, participant, candidates, f"more{i}")
        scheduler.trigger().result(timeout=60)
        assert len(hub.commits) == 2
        assert _responses_in(hub.commits[1][SNAPSHOT_DB], tmp_path) == 4

        assert scheduler.trigger().result(timeout=60) is None  # nothing new: no commit
        assert len(hub.commits) == 2
    finally:
        scheduler.stop()


def test_a_failed_upload_is_retried_at_the_next_push(engine, make_task, tmp_path):
    participant, _, candidates = make_task(engine)
    _vote(engine, participant, candidates, "only")
    hub = FakeHub()
    failing = {"left": 1}
    original = hub.create_commit

    def flaky_commit(**kwargs: Any) -> SimpleNamespace:
        if failing["left"]:
            failing["left"] -= 1
            hub.committed.set()
            raise ConnectionError("hub unreachable")
        return original(**kwargs)

    hub.create_commit = flaky_commit  # type: ignore[method-assign]
    scheduler = start_sync(engine, "lab/votes", every_minutes=60, folder=tmp_path / "staging", hf_api=hub)
    try:
        assert hub.committed.wait(timeout=60)
        hub.committed.clear()
        scheduler.trigger().result(timeout=60)  # same data, but the first upload failed
        assert len(hub.commits) == 1 and _responses_in(hub.commits[0][SNAPSHOT_DB], tmp_path) == 1
    finally:
        scheduler.stop()


def test_sync_starts_only_when_a_dataset_is_configured(engine):
    assert maybe_start_sync(engine, Settings(db_url=str(engine.url))) is None


def test_snapshot_of_postgresql_is_the_exports(pg_engine, make_task, tmp_path):
    participant, _, candidates = make_task(pg_engine)
    _vote(pg_engine, participant, candidates, "pg")
    files = snapshot(pg_engine, tmp_path / "pg")
    assert sorted(p.name for p in files) == ["long.parquet", "pairwise.parquet"]
    assert pd.read_parquet(files[0])["response_id"].nunique() == 1


def test_snapshot_reports_an_unusable_database(tmp_path):
    from study.errors import StorageError

    engine = get_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(StorageError, match="no study tables"):
        snapshot(engine, tmp_path / "out")
