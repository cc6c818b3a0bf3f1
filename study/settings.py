"""Deployment settings of the study layer, read from environment variables in one place.

Nothing here runs at import time: `load_settings()` reads the environment when it is called, so
tests and the app can pass their own mapping, and importing `study` never depends on (or changes)
the process environment.

Variables (each has a working default, so a plain `python app.py` records somewhere sensible):

- `STUDY_DB_URL`: any SQLAlchemy URL. Default: a SQLite file `study.sqlite` in `/data` when that
  directory exists and is writable (a Hugging Face Space's persistent disk), otherwise in
  `./data` under the current working directory.
- `STUDY_HF_DATASET`: a Hugging Face dataset repo id (`user/name`) to which periodic snapshots are
  pushed; unset means no sync.
- `STUDY_SYNC_MINUTES`: minutes between two snapshot pushes (default 10).
- `STUDY_ADMIN_TOKEN`: secret that unlocks the researcher dashboard in the app; unset means the
  dashboard is off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from study.errors import StudyError

PERSISTENT_DIR = Path("/data")
"""Where a Hugging Face Space mounts its persistent storage when the owner enables it."""

DB_FILENAME = "study.sqlite"
DEFAULT_SYNC_MINUTES = 10.0


@dataclass(frozen=True)
class Settings:
    """The study layer's deployment settings; see the module docstring for the variables."""

    db_url: str
    uses_default_db: bool = False
    """True when STUDY_DB_URL is unset and db_url is the default file (whose folder may be made)."""
    hf_dataset: str | None = None
    sync_every_minutes: float = DEFAULT_SYNC_MINUTES
    admin_token: str | None = None


def default_db_path(persistent_dir: Path | None = None, cwd: Path | None = None) -> Path:
    """The SQLite file used when no URL is configured.

    `/data` wins when it is a writable directory, because on a Space everything else is wiped on
    restart; elsewhere a `data/` folder beside the working directory keeps the file out of the
    source tree (it is git-ignored).
    """
    persistent_dir = PERSISTENT_DIR if persistent_dir is None else persistent_dir
    if persistent_dir.is_dir() and os.access(persistent_dir, os.W_OK | os.X_OK):
        return persistent_dir / DB_FILENAME
    return (cwd or Path.cwd()) / "data" / DB_FILENAME


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file (absolute, so a later chdir does not move the database)."""
    return f"sqlite:///{path.resolve()}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: `os.environ`). Empty values count as unset."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    minutes_text = get("STUDY_SYNC_MINUTES")
    minutes = DEFAULT_SYNC_MINUTES
    if minutes_text is not None:
        try:
            minutes = float(minutes_text)
        except ValueError:
            raise StudyError(f"STUDY_SYNC_MINUTES must be a number of minutes, got {minutes_text!r}") from None
        if minutes <= 0:
            raise StudyError(f"STUDY_SYNC_MINUTES must be positive, got {minutes_text!r}")

    configured_url = get("STUDY_DB_URL")
    return Settings(
        db_url=configured_url or sqlite_url(default_db_path()),
        uses_default_db=configured_url is None,
        hf_dataset=get("STUDY_HF_DATASET"),
        sync_every_minutes=minutes,
        admin_token=get("STUDY_ADMIN_TOKEN"),
    )
