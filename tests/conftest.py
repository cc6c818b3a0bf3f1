"""Fixtures shared by every test package: a fresh SQLite file and an initialised study database
in it. The tiny networks and free ports the tests build are in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from study.db import get_engine, init_db


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh SQLite file in the test's own folder (not created yet)."""
    return f"sqlite:///{tmp_path / 'study.sqlite'}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """An initialised SQLite study database in the test's own folder."""
    engine = get_engine(sqlite_url)
    init_db(engine)
    yield engine
    engine.dispose()
