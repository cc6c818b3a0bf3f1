"""Fixtures for the study tests: real SQLite files in tmp_path, and a real PostgreSQL server
started from Debian's binaries when they are installed (skipped with a reason otherwise)."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from study.db import get_engine, init_db, write_session
from study.inputs import CandidateInfo
from study.models import Base, Candidate, SchemaVersion, Trial, TrialCandidate, utcnow
from study.record import (
    new_participant,
    register_candidates,
    register_mask,
    register_photo,
)
from tests.helpers import free_port

PG_SKIP_REASON = "PostgreSQL server binaries not found (apt-get install postgresql)"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """URL of a fresh SQLite file (not yet created); ``engine`` (tests/conftest.py) opens it."""
    return sqlite_url


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a throw-away PostgreSQL cluster on a free loopback port; yields an admin URL.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
    (created by Debian's package) and its commands run through runuser. Durability is switched
    off (fsync) because the cluster is deleted at the end of the session.
    """
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        pytest.skip(PG_SKIP_REASON)
    bindir = Path(initdbs[-1]).parent
    if not (bindir / "pg_ctl").exists():
        pytest.skip(PG_SKIP_REASON)
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'psycopg[binary]')")

    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="study-pg-"))  # under /tmp: traversable by postgres
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = None
        if runuser is None or account is None:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root without a postgres user and runuser to start PostgreSQL")
        os.chown(base, account.pw_uid, account.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]

    data = base / "data"
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run(prefix + list(args), check=True, capture_output=True, timeout=120)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
    except subprocess.CalledProcessError as error:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {error.stderr.decode(errors='replace')}\n{log}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_database(postgres_server: str) -> Iterator[Engine]:
    """One PostgreSQL database with the study schema for the whole session."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("CREATE DATABASE study_tests")
    engine = get_engine(postgres_server.rsplit("/", 1)[0] + "/study_tests")
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_database: Engine) -> Engine:
    """The test run's PostgreSQL database, emptied: each test starts from no data (TRUNCATE is
    much faster than creating a database per test)."""
    tables = ", ".join(f'"{name}"' for name in Base.metadata.tables if name != SchemaVersion.__tablename__)
    with pg_database.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on a SQLite file and on PostgreSQL (skipped where no server can start)."""
    return request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")


# --- data ------------------------------------------------------------------------------------

Task = tuple[str, int, list[int]]
"""(participant id, mask id, candidate ids)"""


@pytest.fixture
def make_task() -> Callable[..., Task]:
    """Factory: a participant and one photo + mask with candidates of the given methods."""

    def make(
        engine: Engine,
        methods: tuple[str, ...] = ("pconv", "telea", "biharmonic"),
        *,
        name: str = "photo",
    ) -> Task:
        participant = new_participant(engine)
        photo = register_photo(engine, name.encode(), width=64, height=48, keep_image=True)
        mask = register_mask(engine, photo, f"{name}-mask".encode(), width=64, height=48, hole_ratio=0.125)
        candidates = register_candidates(
            engine,
            mask,
            [
                CandidateInfo(
                    method,
                    dilation=i % 3,
                    dropout=0.0,
                    seed=i,
                    image_bytes=f"{name}-{method}-{i}".encode(),
                )
                for i, method in enumerate(methods)
            ],
        )
        return participant, mask, candidates

    return make


@pytest.fixture
def bulk_trials() -> Callable[[Engine, str, list[int], int], list[int]]:
    """Factory: insert `n` shown trials of `candidates` for a participant in one transaction.

    Test data only: a bulk insert keeps the set-up of the 2,000-response tests well under a
    second, so their time is spent in the code under test (record_response).
    """

    def make(engine: Engine, participant: str, candidates: list[int], n: int) -> list[int]:
        with write_session(engine) as session:
            connection = session.connection()
            mask = connection.scalar(select(Candidate.mask_id).where(Candidate.id == candidates[0]))
            now = utcnow()
            row = {
                "participant_id": participant,
                "mask_id": mask,
                "created_at": now,
                "shown_at": now,
            }
            trial_ids = list(
                connection.scalars(insert(Trial).returning(Trial.id, sort_by_parameter_order=True), [row] * n)
            )
            connection.execute(
                insert(TrialCandidate),
                [
                    {"trial_id": trial, "position": position, "candidate_id": candidate}
                    for trial in trial_ids
                    for position, candidate in enumerate(candidates, start=1)
                ],
            )
        return trial_ids

    return make


def _write_png(path: Path, size=(16, 12), colour=(120, 90, 60), hole: tuple[int, int, int, int] | None = None) -> None:
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    if hole is None:
        Image.new("RGB", size, colour).save(path)
        return
    image = Image.new("L", size, 0)
    ImageDraw.Draw(image).rectangle(hole, fill=255)  # white = damaged
    image.save(path)


@pytest.fixture(scope="session")
def make_study_folder() -> Callable[..., Path]:
    """Factory: a study folder (two 16x12 photos, masks with a 4x3 hole, two candidates each)
    and its manifest, as documented in study/folder.py; `rows` replaces the manifest rows."""

    def make(root: Path, rows: list[dict] | None = None, fmt: str = "csv") -> Path:
        for index, photo in enumerate(("p1", "p2")):
            _write_png(root / "photos" / f"{photo}.png", colour=(20 + 100 * index, 20, 30))
            _write_png(root / "masks" / f"{photo}.png", hole=(0, 0, 3, 2))  # 12 of 192 pixels
            for method in ("pconv", "telea"):
                _write_png(
                    root / "candidates" / f"{photo}-{method}.png",
                    colour=(len(method) * 20, index, 9),
                )
        rows = rows or [
            {
                "photo": f"photos/{p}.png",
                "mask": f"masks/{p}.png",
                "image": f"candidates/{p}-{m}.png",
                "method": m,
                "dilation": "2" if m == "pconv" else "",
                "dropout": "0.1" if m == "pconv" else "",
                "seed": "3" if m == "pconv" else "",
                "model_version": "v1" if m == "pconv" else "",
            }
            for p in ("p1", "p2")
            for m in ("pconv", "telea")
        ]
        if fmt == "json":
            (root / "candidates.json").write_text(json.dumps(rows))
        else:
            header = list(rows[0])
            lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header) for r in rows]
            (root / "candidates.csv").write_text("\n".join(lines) + "\n")
        return root

    return make
