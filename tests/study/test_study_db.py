"""Settings, engines, schema creation and migration, and the storage errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from study.db import check_schema, get_engine, init_db, schema_version, write_session
from study.errors import StorageError, StudyError
from study.migrations import SCHEMA_VERSION, upgrade
from study.models import Candidate
from study.record import new_participant, record_response, start_trial
from study.settings import default_db_path, load_settings, sqlite_url

REPO = Path(__file__).resolve().parents[2]


# --- settings --------------------------------------------------------------------------------


def test_settings_come_from_the_given_environment(tmp_path):
    settings = load_settings(
        {
            "STUDY_DB_URL": "sqlite:////x/y.sqlite",
            "STUDY_HF_DATASET": "me/votes",
            "STUDY_SYNC_MINUTES": "2.5",
        }
    )
    assert settings.db_url == "sqlite:////x/y.sqlite" and not settings.uses_default_db
    assert settings.hf_dataset == "me/votes" and settings.sync_every_minutes == 2.5
    with pytest.raises(StudyError, match="STUDY_SYNC_MINUTES"):
        load_settings({"STUDY_SYNC_MINUTES": "soon"})


def test_default_database_is_on_the_persistent_disk_when_there_is_one(tmp_path):
    mount = tmp_path / "data-mount"
    assert default_db_path(mount, cwd=tmp_path) == tmp_path / "data" / "study.sqlite"
    mount.mkdir()
    assert default_db_path(mount, cwd=tmp_path) == mount / "study.sqlite"


def test_get_engine_without_url_uses_env_then_creates_the_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STUDY_DB_URL", raising=False)
    monkeypatch.setattr("study.settings.PERSISTENT_DIR", tmp_path / "no-such-mount")
    engine = get_engine()
    assert Path(engine.url.database) == tmp_path / "data" / "study.sqlite"
    assert (tmp_path / "data").is_dir()
    monkeypatch.setenv("STUDY_DB_URL", sqlite_url(tmp_path / "elsewhere.sqlite"))
    assert Path(get_engine().url.database) == tmp_path / "elsewhere.sqlite"


def test_imports_have_no_side_effects_and_never_pull_in_torch_inpaint_or_gradio():
    """One fresh interpreter: importing the recording path reads no environment variable (a
    broken STUDY_DB_URL does not matter until get_engine) and loads nothing heavy; importing
    every study module loads neither torch, nor inpaint, nor gradio."""
    code = (
        "import os, sys; os.environ['STUDY_DB_URL'] = 'not a url'\n"
        "import study, study.record, study.protocol, study.db\n"
        "heavy = ('pandas', 'matplotlib', 'choix', 'huggingface_hub')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "import study.analysis, study.export, study.sync, study.cli, study.folder, study.stats\n"
        "print([m for m in ('torch', 'inpaint', 'gradio') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "[]"]


# --- engine and schema -----------------------------------------------------------------------


def test_sqlite_engine_uses_wal_busy_timeout_and_foreign_keys(db_url):
    engine = get_engine(db_url, busy_timeout=7.5)
    init_db(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7500
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_init_db_creates_the_schema_once_and_is_idempotent(db_url):
    engine = get_engine(db_url)
    assert schema_version(engine) is None
    assert init_db(engine) == SCHEMA_VERSION
    assert init_db(engine) == SCHEMA_VERSION
    tables = set(inspect(engine).get_table_names())
    assert {
        "participants",
        "trials",
        "trial_candidates",
        "responses",
        "studies",
        "schema_version",
    } <= tables
    check_schema(engine)


def test_init_db_migrates_an_older_database_step_by_step(engine):
    """A database at this code's version is brought to the next by a registered step, once."""
    applied = []
    nxt = SCHEMA_VERSION + 1

    def step(connection):
        applied.append(nxt)
        connection.exec_driver_sql("ALTER TABLE participants ADD COLUMN cohort VARCHAR(20)")

    writer = engine.execution_options(study_write=True)
    with writer.begin() as connection:
        assert upgrade(connection, target=nxt, migrations={nxt: step}) == nxt
    with writer.begin() as connection:
        assert upgrade(connection, target=nxt, migrations={nxt: step}) == nxt
    assert applied == [nxt]
    assert "cohort" in {c["name"] for c in inspect(engine).get_columns("participants")}
    assert schema_version(engine) == nxt
    # A database from newer code is refused, not damaged.
    with pytest.raises(StorageError, match="newer than this code"):
        init_db(engine)
    with pytest.raises(StorageError, match=f"schema version {nxt}"):
        check_schema(engine)


def test_a_failed_migration_leaves_the_database_at_its_old_version(engine):
    def broken(connection):
        connection.exec_driver_sql("ALTER TABLE participants ADD COLUMN note TEXT")
        raise RuntimeError("step failed half-way")

    with pytest.raises(RuntimeError):
        with engine.execution_options(study_write=True).begin() as connection:
            upgrade(connection, target=SCHEMA_VERSION + 1, migrations={SCHEMA_VERSION + 1: broken})
    assert schema_version(engine) == SCHEMA_VERSION
    assert "note" not in {c["name"] for c in inspect(engine).get_columns("participants")}


def test_a_version_1_database_gets_the_finish_column_with_plain_candidates(db_url):
    """Version 2 added candidates.finish: existing candidates are plain, and keep their condition."""
    engine = get_engine(db_url)
    init_db(engine)
    with engine.begin() as connection:  # back to version 1: no finish column, one candidate
        connection.exec_driver_sql("ALTER TABLE candidates DROP COLUMN finish")
        connection.exec_driver_sql("UPDATE schema_version SET version = 1")
        connection.exec_driver_sql(
            "INSERT INTO photos (id, sha256, width, height, created_at) VALUES (1, 'a', 4, 4, '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO masks (id, photo_id, sha256, width, height, hole_ratio, created_at)"
            " VALUES (1, 1, 'b', 4, 4, 0.1, '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO candidates (id, mask_id, method, dilation, dropout, seed, model_version, image_sha256,"
            " created_at) VALUES (1, 1, 'pconv', 2, 0.25, 0, 'v', 'c', '2026-01-01')"
        )
    assert schema_version(engine) == 1
    assert init_db(engine) == SCHEMA_VERSION == 2
    check_schema(engine)
    with Session(engine) as session:
        candidate = session.get(Candidate, 1)
        assert candidate.finish == "plain" and candidate.condition == "pconv/d2/p0.25"
    engine.dispose()


def test_init_db_refuses_foreign_tables_without_version(db_url):
    engine = get_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE participants (id TEXT)"))
    with pytest.raises(StorageError, match="no schema_version"):
        init_db(engine)


# --- storage errors --------------------------------------------------------------------------


def test_missing_folder_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        get_engine(f"sqlite:///{tmp_path / 'nowhere' / 'study.sqlite'}")
    with pytest.raises(StorageError, match="no SQLite database"):
        get_engine(f"sqlite:///{tmp_path / 'absent.sqlite'}", must_exist=True)
    assert not (tmp_path / "absent.sqlite").exists()
    with pytest.raises(StorageError, match="not a database URL"):
        get_engine("definitely not a url")


def test_database_without_schema_says_to_run_init(db_url):
    engine = get_engine(db_url)
    with pytest.raises(StorageError, match="python -m study init"):
        new_participant(engine)
    with pytest.raises(StorageError, match="no study tables"):
        check_schema(engine)


def test_locked_database_gives_a_storage_error_after_the_busy_timeout(db_url, engine, make_task):
    participant, _, candidates = make_task(engine)
    trial = start_trial(engine, participant, candidates)
    impatient = get_engine(db_url, busy_timeout=0.2)
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process keeps the write lock
        with pytest.raises(StorageError, match="is locked") as caught:
            record_response(impatient, trial, participant, "tok", choice=candidates[0])
        assert "\n" not in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert record_response(impatient, trial, participant, "tok", choice=candidates[0]) > 0


def test_read_only_database_gives_a_storage_error(db_url, engine):
    path = db_url.removeprefix("sqlite:///")
    read_only = get_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(StorageError, match="read-only"):
        new_participant(read_only)


def test_file_that_is_not_a_database_gives_a_storage_error(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(StorageError, match="not a SQLite database|database error"):
        init_db(get_engine(sqlite_url(path)))


def test_write_session_rolls_back_everything_on_error(engine):
    with pytest.raises(StudyError):
        with write_session(engine) as session:
            session.execute(text("INSERT INTO participants (id, created_at) VALUES ('abc', '2026-01-01')"))
            raise StudyError("validation failed after a write")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM participants").scalar() == 0


def test_postgresql_urls_get_the_psycopg_driver():
    engine = get_engine("postgresql://user:secret@localhost:1/db")
    assert engine.url.drivername == "postgresql+psycopg"
    assert "secret" not in engine.url.render_as_string(hide_password=True)


def test_postgresql_schema_and_unreachable_server(pg_engine, postgres_server):
    assert schema_version(pg_engine) == SCHEMA_VERSION
    assert init_db(pg_engine) == SCHEMA_VERSION
    port = postgres_server.rsplit(":", 1)[1].split("/")[0]
    closed = postgres_server.replace(f":{port}/", ":1/")
    with pytest.raises(StorageError, match="cannot connect"):
        init_db(get_engine(closed))
