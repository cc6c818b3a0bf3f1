"""Keeping a Space's study data: periodic snapshots pushed to a Hugging Face dataset repo.

A Space's disk is wiped on restart unless persistent storage is enabled, and even then a copy
elsewhere is the backup. huggingface_hub's CommitScheduler uploads a folder every few minutes
but expects files that only grow; a live SQLite database is rewritten in place (and its WAL
holds the latest commits), so uploading it directly could send a torn, inconsistent file.
Instead each push first writes a *snapshot* into a staging folder:

- `study.sqlite`: a consistent copy made with SQLite's online backup API (SQLite databases only),
  converted to a single self-contained file (no -wal beside it);
- `long.parquet` and `pairwise.parquet`: the exports, readable without this package.

Files are written under temporary names and renamed into place, and a push runs only one at a
time, so the scheduler never reads a half-written file. Nothing is uploaded when no new data
arrived since the last push. The repo is created private by default: votes are research data.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from huggingface_hub import CommitScheduler, HfApi
from sqlalchemy import Engine, func, select

from study.db import get_engine, read_session, storage_errors
from study.export import long_table, pairs_from_long
from study.models import Participant, Response, Trial
from study.settings import Settings, load_settings

SNAPSHOT_DB = "study.sqlite"


def data_fingerprint(engine: Engine) -> tuple[int, ...]:
    """Counts and the newest ids: changes whenever anything is recorded (rows are never
    deleted), so an unchanged fingerprint means there is nothing new to push."""
    with read_session(engine) as session:
        return tuple(
            int(session.scalar(query) or 0)
            for query in (
                select(func.count()).select_from(Participant),
                select(func.max(Trial.id)),
                select(func.count()).select_from(Trial).where(Trial.shown_at.is_not(None)),
                select(func.max(Response.id)),
            )
        )


def _backup_sqlite(engine: Engine, target: Path) -> None:
    """Copy the live database into `target` with the online backup API (a consistent snapshot
    even while other connections write), then make the copy a single rollback-journal file."""
    with storage_errors(engine), engine.connect() as connection:
        source = connection.connection.dbapi_connection
        assert isinstance(source, sqlite3.Connection)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()


def snapshot(engine: Engine, out_dir: str | Path, *, exports: bool = True) -> list[Path]:
    """Write a consistent snapshot of the study data into `out_dir`; returns the files written.

    SQLite databases are copied as `study.sqlite`; with `exports`, `long.parquet` and
    `pairwise.parquet` are written too (for PostgreSQL they are the snapshot).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        if engine.dialect.name == "sqlite":
            handle, name = tempfile.mkstemp(dir=out, prefix=".study-", suffix=".tmp")
            os.close(handle)
            _backup_sqlite(engine, Path(name))  # an empty file is an empty SQLite database
            staged.append((Path(name), out / SNAPSHOT_DB))
        if exports:
            long = long_table(engine)
            for table, frame in (("long", long), ("pairwise", pairs_from_long(long))):
                handle, name = tempfile.mkstemp(dir=out, prefix=f".{table}-", suffix=".tmp")
                os.close(handle)
                frame.to_parquet(name, index=False)
                staged.append((Path(name), out / f"{table}.parquet"))
        for temporary, final in staged:
            os.replace(temporary, final)  # atomic: readers see the old file or the new one
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    return [final for _, final in staged]


class SnapshotScheduler(CommitScheduler):
    """A CommitScheduler that snapshots the database into its folder before each push."""

    def __init__(self, *, engine: Engine, **kwargs: Any) -> None:
        # Set before CommitScheduler.__init__, which starts the thread that pushes at once.
        self.engine = engine
        self._push_lock = threading.Lock()
        self._pushed_fingerprint: tuple[int, ...] | None = None
        super().__init__(**kwargs)

    def push_to_hub(self) -> Any:
        """Snapshot, then let CommitScheduler upload the changed files; skipped when no new data.

        Runs one push at a time so a snapshot is never replaced while it is being uploaded.
        """
        with self._push_lock:
            fingerprint = data_fingerprint(self.engine)
            if fingerprint == self._pushed_fingerprint:
                return None
            snapshot(self.engine, self.folder_path)
            info = super().push_to_hub()
            self._pushed_fingerprint = fingerprint  # only after a successful upload
            return info


def start_sync(
    engine_or_url: Engine | str,
    repo_id: str,
    *,
    token: str | None = None,
    every_minutes: float = 10.0,
    folder: str | Path | None = None,
    private: bool = True,
    hf_api: HfApi | None = None,
) -> SnapshotScheduler:
    """Start pushing snapshots to the dataset repo `repo_id` every `every_minutes` (first push
    now). Returns the scheduler: `.trigger()` pushes at once, `.stop()` stops it.

    `token` defaults to huggingface_hub's own (HF_TOKEN or the saved login); `folder` is the
    staging folder (default: a new temporary folder); `hf_api` replaces the Hub client (tests).
    """
    engine = get_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    staging = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="study-sync-"))
    return SnapshotScheduler(
        engine=engine,
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=staging,
        every=every_minutes,
        private=private,
        token=token,
        allow_patterns=[SNAPSHOT_DB, "*.parquet"],
        hf_api=hf_api,
    )


def maybe_start_sync(engine: Engine, settings: Settings | None = None) -> SnapshotScheduler | None:
    """Start the sync when STUDY_HF_DATASET is set (what the app calls at start-up)."""
    settings = settings or load_settings()
    if settings.hf_dataset is None:
        return None
    return start_sync(engine, settings.hf_dataset, every_minutes=settings.sync_every_minutes)
