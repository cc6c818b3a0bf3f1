"""Engines and sessions from a URL, with SQLite set up for many concurrent writers.

SQLite is the embedded default; any SQLAlchemy URL works through the same code (PostgreSQL with
the psycopg 3 driver is tested). What this module adds to a plain `create_engine`:

- SQLite in WAL mode, so readers (an export, the admin dashboard) never block the writers, with a
  busy timeout so that concurrent writers wait for the lock instead of failing.
- Write transactions start with `BEGIN IMMEDIATE` on SQLite. Recording reads (validation) and then
  writes; with SQLite's default deferred transactions two such writers can deadlock on the lock
  upgrade and one fails at once with "database is locked", busy timeout or not. Taking the write
  lock at BEGIN makes writers queue instead. Reads keep plain deferred transactions.
- Within one process, writers to the same SQLite file also queue on a Python lock before BEGIN.
  SQLite admits one writer at a time anyway, and its busy handler waits by sleeping with a
  growing back-off, so with many threads a waiting writer often sleeps through the moment the
  lock is free; queueing on the Python lock cuts the longest waits to about the queue itself
  (bench/bench_study.py measures both). Other processes still coordinate through SQLite's lock
  and busy timeout.
- `synchronous=FULL` by default: each commit is on disk before `record_response` returns, which a
  study that promises "every choice is kept" needs even across a power cut (NORMAL would survive a
  killed process, not an operating-system crash).
- Database failures come out as `StorageError` with one line that says what to do, instead of a
  driver traceback.

Typical use::

    engine = get_engine()          # STUDY_DB_URL or the default SQLite file
    init_db(engine)                # create or migrate the schema (idempotent)
    with write_session(engine) as session:
        ...                        # committed on exit, rolled back on error
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from study.errors import StorageError
from study.migrations import SCHEMA_VERSION, current_version, upgrade
from study.settings import load_settings

DEFAULT_BUSY_TIMEOUT = 30.0
"""Seconds a SQLite writer waits for the lock before giving up with a StorageError."""

_WRITE_OPTION = "study_write"
_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_PG_INIT_LOCK = 7_301_455_112
"""Arbitrary advisory-lock key that serialises schema creation between PostgreSQL clients."""


@dataclass(frozen=True)
class _WriteGate:
    """The in-process queue of writers to one SQLite file (see the module docstring)."""

    lock: threading.Lock
    timeout: float


_FILE_LOCKS: dict[Path, threading.Lock] = {}
_GATES: weakref.WeakKeyDictionary[Engine, _WriteGate] = weakref.WeakKeyDictionary()
_GATES_GUARD = threading.Lock()


def get_engine(
    url: str | None = None,
    *,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    synchronous: str = "FULL",
    must_exist: bool = False,
    create_folder: bool = False,
) -> Engine:
    """An engine for `url`, or for `STUDY_DB_URL` / the default SQLite file when `url` is None.

    The default file's folder is created if needed (also for a `url` given with
    `create_folder=True`: pass `Settings.uses_default_db`); an explicit SQLite URL whose folder does
    not exist is an error (a typo should not silently start an empty study elsewhere). With
    `must_exist=True` a missing SQLite file is an error too: readers (export, analyze) use it so
    that a wrong path is reported instead of creating an empty database.

    `postgresql://` and `postgres://` URLs are given the psycopg 3 driver.
    """
    if url is None:
        settings = load_settings()
        url, create_folder = settings.db_url, settings.uses_default_db
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise StorageError(f"not a database URL: {url!r}") from None
    parsed = _with_default_driver(parsed)

    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except (exc.NoSuchModuleError, exc.ArgumentError, ImportError) as error:
            shown = parsed.render_as_string(hide_password=True)
            raise StorageError(f"cannot use database URL {shown}: {_first_line(error)}") from error

    if synchronous.upper() not in _SYNCHRONOUS_MODES:
        raise StorageError(f"synchronous must be one of {', '.join(_SYNCHRONOUS_MODES)}")
    path = sqlite_file(parsed)
    options: dict[str, Any] = {"connect_args": {"timeout": busy_timeout}}
    if path is not None:
        if create_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        if not path.parent.is_dir():
            raise StorageError(f"cannot open SQLite database {path}: folder {path.parent} does not exist")
        if must_exist and not path.is_file():
            raise StorageError(f"no SQLite database at {path}")
        # One connection per concurrent writer; SQLite connections are cheap, and waiting for a
        # pooled connection would add a second queue in front of the database's own lock.
        options.update(pool_size=8, max_overflow=56)
    engine = create_engine(parsed, **options)
    _configure_sqlite(engine, wal=path is not None, synchronous=synchronous.upper())
    if path is not None:
        with _GATES_GUARD:  # engines on the same file in this process share one queue
            lock = _FILE_LOCKS.setdefault(path, threading.Lock())
            _GATES[engine] = _WriteGate(lock=lock, timeout=busy_timeout)
    return engine


def _with_default_driver(url: URL) -> URL:
    """Use psycopg 3 for bare PostgreSQL URLs (SQLAlchemy would otherwise pick psycopg2)."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def sqlite_file(url: URL | str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and `file:` URI databases."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).resolve()


def _configure_sqlite(engine: Engine, *, wal: bool, synchronous: str) -> None:
    """Per-connection PRAGMAs and explicit BEGINs (see the module docstring for why)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the sqlite3 module, decide when a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def describe(engine: Engine) -> str:
    """The engine's URL for messages, password hidden."""
    return engine.url.render_as_string(hide_password=True)


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def _storage_message(error: BaseException, where: str) -> str:
    """One line that names the problem and the fix, for the usual ways a database fails."""
    detail = _first_line(error)
    low = detail.lower()
    if "locked" in low or "busy" in low:
        return (
            f"database {where} is locked: another connection held the write lock longer than "
            "the busy timeout; retry, or find the process keeping a transaction open"
        )
    if "no such table" in low or ("relation" in low and "does not exist" in low):
        return (
            f"database {where} has no study tables: run `python -m study init --db URL` "
            "(or study.db.init_db(engine)) first"
        )
    if "unable to open database" in low:
        return f"cannot open database {where}: the file or its folder is missing or not accessible"
    if "readonly" in low or "read-only" in low:
        return f"database {where} is read-only: check the file's permissions or the disk mount"
    if "not a database" in low:
        return f"{where} is not a SQLite database file"
    if "connection" in low and ("refused" in low or "failed" in low or "could not" in low):
        return f"cannot connect to database {where}: {detail}"
    if isinstance(error, exc.TimeoutError):
        return f"no free connection to {where}: too many concurrent requests ({detail})"
    return f"database error at {where}: {detail}"


@contextmanager
def storage_errors(engine: Engine) -> Iterator[None]:
    """Turn driver failures into StorageError; integrity errors pass through unchanged because
    callers use them (a duplicate client token is not a storage failure)."""
    try:
        yield
    except exc.IntegrityError:
        raise
    except (exc.DBAPIError, exc.TimeoutError, sqlite3.Error) as error:
        raise StorageError(_storage_message(error, describe(engine))) from error


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`. Objects stay readable after commit (`expire_on_commit=False`)
    because callers return plain values computed from them after the transaction ends."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """Wait for this process's turn to write to the engine's SQLite file (no-op elsewhere)."""
    gate = _GATES.get(engine)
    if gate is None:
        yield
        return
    if not gate.lock.acquire(timeout=gate.timeout):
        raise StorageError(
            f"database {describe(engine)} is locked: other writers in this process held it "
            f"longer than the busy timeout ({gate.timeout:g} s)"
        )
    try:
        yield
    finally:
        gate.lock.release()


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction: committed on success, rolled back on any error.

    On SQLite the transaction starts with BEGIN IMMEDIATE after this process's other writers
    are done, so concurrent writers queue instead of failing on a lock upgrade. Do not nest
    write sessions on one engine: the inner one would wait for the outer one.
    """
    writer = engine.execution_options(**{_WRITE_OPTION: True})
    with (
        _writer_turn(engine),
        storage_errors(engine),
        Session(writer, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session in one read transaction (a consistent snapshot; never blocks writers in WAL)."""
    with (
        storage_errors(engine),
        Session(engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


T = TypeVar("T")
_CONFLICT_RETRIES = 3


def retry_on_conflict(operation: Callable[[], T]) -> T:
    """Run a write transaction again when a concurrent writer inserted the same unique row first.

    SQLite serialises writers (BEGIN IMMEDIATE), so this matters on PostgreSQL, where two
    requests (a double click) can both see "absent" and both insert: the loser's retry finds
    the winner's row and answers as if it had come second.
    """
    for attempt in range(_CONFLICT_RETRIES):
        try:
            return operation()
        except exc.IntegrityError:
            if attempt == _CONFLICT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def init_db(engine: Engine) -> int:
    """Create the schema on first use, or migrate an older one; returns the schema version.

    Safe to call from every process at start-up: the check-and-create runs under the database's
    write lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL).
    """
    writer = engine.execution_options(**{_WRITE_OPTION: True})
    with _writer_turn(engine), storage_errors(engine), writer.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_INIT_LOCK})
        return upgrade(connection)


def schema_version(engine: Engine) -> int | None:
    """The database's schema version, or None when it has no study schema yet."""
    with storage_errors(engine), engine.connect() as connection:
        return current_version(connection)


def check_schema(engine: Engine) -> None:
    """Raise StorageError unless the database holds this code's schema version."""
    version = schema_version(engine)
    if version is None:
        raise StorageError(
            f"database {describe(engine)} has no study tables: run `python -m study init --db URL`"
            " (or study.db.init_db(engine)) first"
        )
    if version != SCHEMA_VERSION:
        raise StorageError(
            f"database {describe(engine)} is at schema version {version}, this code expects "
            f"{SCHEMA_VERSION}: run `python -m study init --db URL` to migrate"
        )
