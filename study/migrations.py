"""Schema versions and the steps that move an existing database from one to the next.

A fresh database is created directly at the current version from the ORM classes. An existing one
records its version in `schema_version`; `upgrade()` runs each missing step in order, inside the
caller's transaction, so a failed step leaves the database at its old version (SQLite and
PostgreSQL both have transactional DDL).

To change the schema: edit models.py, add a function `_to_v2(connection)` below that performs the
same change on an existing database (`connection.exec_driver_sql("ALTER TABLE ...")`, or
`Base.metadata.tables[name].create(connection)` for a new table), register it in MIGRATIONS under
its target version, and bump SCHEMA_VERSION. A test should create a database at the old version
and check that `init_db` brings it forward. (Alembic would do the same with more machinery; a
handful of tables and a linear history do not need it yet.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Connection, insert, inspect, select, update

from study.errors import StorageError
from study.models import Base, SchemaVersion, utcnow

SCHEMA_VERSION = 2
"""The version that the ORM classes in models.py describe."""

Migration = Callable[[Connection], None]


def _to_v2(connection: Connection) -> None:
    """Candidates get a finish (plain, or the photo's grain added): every existing one is plain."""
    connection.exec_driver_sql("ALTER TABLE candidates ADD COLUMN finish VARCHAR(16) DEFAULT 'plain' NOT NULL")


MIGRATIONS: Mapping[int, Migration] = {2: _to_v2}
"""Step to reach version n from n - 1, keyed by n. Version 1 is the baseline: no step."""


def upgrade(
    connection: Connection,
    *,
    target: int = SCHEMA_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
) -> int:
    """Create the schema, or migrate it to `target`; returns the version reached.

    Must run inside a transaction that holds the write lock (db.init_db arranges that), so two
    processes starting at once do not both create tables.
    """
    inspector = inspect(connection)
    if not inspector.has_table(SchemaVersion.__tablename__):
        ours = set(Base.metadata.tables) - {SchemaVersion.__tablename__}
        found = sorted(ours & set(inspector.get_table_names()))
        if found:
            raise StorageError(
                f"database has study tables ({', '.join(found)}) but no schema_version table; "
                "it was not created by this package, so it will not be modified"
            )
        Base.metadata.create_all(connection)
        connection.execute(insert(SchemaVersion).values(id=1, version=target, updated_at=utcnow()))
        return target

    current = connection.execute(select(SchemaVersion.version)).scalar_one()
    if current > target:
        raise StorageError(
            f"database schema is version {current}, newer than this code's version {target}; "
            "upgrade the study package before using this database"
        )
    for version in range(current + 1, target + 1):
        step = migrations.get(version)
        if step is None:
            raise StorageError(f"no migration step to schema version {version}")
        step(connection)
    if current != target:
        connection.execute(
            update(SchemaVersion).where(SchemaVersion.id == 1).values(version=target, updated_at=utcnow())
        )
    return target


def current_version(connection: Connection) -> int | None:
    """The version recorded in the database, or None when it has no study schema."""
    if not inspect(connection).has_table(SchemaVersion.__tablename__):
        return None
    return connection.execute(select(SchemaVersion.version)).scalar_one_or_none()
