"""The study's tables, as typed SQLAlchemy 2.0 ORM classes.

Read top-down: what was shown (photos, masks, candidates), who looked (participants), the study
protocol (studies, their items, enrollments), and what happened (trials, the candidates shown in
each trial in on-screen order, responses and rankings).

Choices made here, with their reasons:
- Images are stored only when someone agreed to it (`image` is nullable); hashes and sizes are
  always kept so that a result can be traced back to an image held elsewhere.
- A candidate's *condition* is the part of its generating parameters a study compares: method,
  dilation, dropout and finish (plain, or the photo's grain added). The seed and the model version are recorded but are not part of the
  condition (several seeds of one condition are samples of the same treatment).
- Positions and ranks are 1-based (position 1 = shown first; rank 1 = best), as researchers read
  them in exported tables.
- Times are timezone-aware UTC in Python and naive UTC in the database, so SQLite (which has no
  timezone type) and PostgreSQL store the same values.
- Participants carry a random id and a consent time, nothing personal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

MODES = ("pick", "rank")
"""pick: the participant chooses the best candidate; rank: they order all shown candidates."""

RESPONSE_KINDS = ("pick", "rank", "none")
"""What a response holds: one chosen candidate, a full ranking, or "none is acceptable"."""


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (the only kind of datetime the tables accept)."""
    return datetime.now(UTC)


DEFAULT_FINISH = "plain"
"""The finish of a fill left as the restorer made it (every candidate recorded before finishes)."""


def condition_key(method: str, dilation: int, dropout: float, finish: str = DEFAULT_FINISH) -> str:
    """Readable, unique key of a condition, e.g. `pconv/d2/p0.1`, `telea/d0/p0` or, with the
    grain finish, `pconv/d4/p0.25/grain`.

    Exports and analysis group by this string, so it must be stable: `:g` prints 0.1 as `0.1`
    and 0.0 as `0` whatever float noise the value carries from its source. The plain finish
    adds nothing, so keys of plain candidates are those recorded before finishes existed.
    """
    key = f"{method}/d{int(dilation)}/p{float(dropout):g}"
    return key if finish == DEFAULT_FINISH else f"{key}/{finish}"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and gives them back as aware UTC.

    Refusing naive datetimes on the way in catches local-time bugs at the first write instead of
    in a researcher's plot months later.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use study.models.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so a later migration can drop or alter them by name."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class SchemaVersion(Base):
    """One row: the schema version this database was last migrated to (see migrations.py)."""

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- what was shown --------------------------------------------------------------------------


class Photo(Base):
    """An original (damaged) photograph, identified by the SHA-256 of its file bytes."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int]
    height: Mapped[int]
    image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    masks: Mapped[list[Mask]] = relationship(back_populates="photo")


class Mask(Base):
    """A damage mask drawn on (or supplied for) a photo: photo + mask is one restoration task."""

    __tablename__ = "masks"
    __table_args__ = (UniqueConstraint("photo_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int]
    height: Mapped[int]
    hole_ratio: Mapped[float]
    image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    photo: Mapped[Photo] = relationship(back_populates="masks")


class Candidate(Base):
    """One restoration of a photo + mask, with the parameters that produced it."""

    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    mask_id: Mapped[int] = mapped_column(ForeignKey("masks.id"), index=True)
    method: Mapped[str] = mapped_column(String(64))
    dilation: Mapped[int] = mapped_column(default=0)
    dropout: Mapped[float] = mapped_column(Float, default=0.0)
    finish: Mapped[str] = mapped_column(String(16), default=DEFAULT_FINISH, server_default=DEFAULT_FINISH)
    seed: Mapped[int | None]
    model_version: Mapped[str] = mapped_column(String(128), default="")
    image_sha256: Mapped[str] = mapped_column(String(64))
    image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    mask: Mapped[Mask] = relationship()

    @property
    def condition(self) -> str:
        return condition_key(self.method, self.dilation, self.dropout, self.finish)


# --- who looked ------------------------------------------------------------------------------


class Participant(Base):
    """An anonymous participant: a random id and when they consented (None: not asked)."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consented_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the protocol of a controlled study --------------------------------------------------------


class Study(Base):
    """A named protocol: which photo + mask items, which candidates, how trials are built."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(8))
    candidates_per_trial: Mapped[int]
    trials_per_participant: Mapped[int]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[StudyItem]] = relationship(back_populates="study", order_by="StudyItem.id")


class StudyItem(Base):
    """One photo + mask of a study and the candidates among which its trials are drawn."""

    __tablename__ = "study_items"
    __table_args__ = (UniqueConstraint("study_id", "mask_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    mask_id: Mapped[int] = mapped_column(ForeignKey("masks.id"))

    study: Mapped[Study] = relationship(back_populates="items")
    candidates: Mapped[list[StudyItemCandidate]] = relationship(order_by="StudyItemCandidate.candidate_id")


class StudyItemCandidate(Base):
    __tablename__ = "study_item_candidates"

    item_id: Mapped[int] = mapped_column(ForeignKey("study_items.id"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), primary_key=True)


class Enrollment(Base):
    """A participant's place in a study; their whole trial plan is drawn when they enrol."""

    __tablename__ = "enrollments"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    n_trials: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- what happened ---------------------------------------------------------------------------


class Trial(Base):
    """Candidates shown together to one participant. `sequence` orders a study plan (0-based);
    `shown_at` is when the trial was first served (None: planned, not yet shown)."""

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), index=True)
    mask_id: Mapped[int] = mapped_column(ForeignKey("masks.id"))
    sequence: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shown_at: Mapped[datetime | None]

    shown: Mapped[list[TrialCandidate]] = relationship(order_by="TrialCandidate.position")


class TrialCandidate(Base):
    """Which candidate was at which on-screen position (1 = first) in a trial."""

    __tablename__ = "trial_candidates"
    __table_args__ = (UniqueConstraint("trial_id", "candidate_id"),)

    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)


class Response(Base):
    """A participant's answer to a trial: at most one per trial, recorded once per client token."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), unique=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    client_token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    chosen_candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id"))
    seconds: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ranks: Mapped[list[ResponseRank]] = relationship(order_by="ResponseRank.rank")


class ResponseRank(Base):
    """One candidate's rank (1 = best) in a full-ranking response."""

    __tablename__ = "response_ranks"
    __table_args__ = (UniqueConstraint("response_id", "rank"),)

    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), primary_key=True)
    rank: Mapped[int]
