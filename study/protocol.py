"""Controlled studies: a fixed set of photo + mask items with precomputed candidates, and a
balanced, randomised plan of trials for each participant.

How a plan is drawn (when a participant asks for their first trial):
- Items: the `trials_per_participant` items seen least often so far in this study, ties broken at
  random, then shuffled. Across participants every item is thus shown equally often (within one),
  and each participant sees an item at most once.
- Candidates: when an item has more candidates than `candidates_per_trial`, the least-shown ones
  are taken, preferring distinct conditions (two samples of one condition compare nothing).
- On-screen order: shuffled per trial and stored (trial_candidates.position), so position bias
  averages out and can be measured.
The plan is stored at enrolment, so a reload resumes at the first unanswered trial and shows it
exactly as before. Enrolment runs under the study's write lock (BEGIN IMMEDIATE on SQLite, a row
lock on PostgreSQL), so concurrent participants see each other's exposure counts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Engine, Row, bindparam, func, select, update
from sqlalchemy.orm import Session

from study.db import read_session, retry_on_conflict, write_session
from study.errors import StudyError
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, StudyItemInfo, as_int
from study.models import (
    MODES,
    Candidate,
    Enrollment,
    Mask,
    Photo,
    Response,
    Study,
    StudyItem,
    StudyItemCandidate,
    Trial,
    TrialCandidate,
    utcnow,
)
from study.record import (
    SHOWN_CANDIDATES,
    _add_candidates,
    _add_mask,
    _add_photo,
    _get_participant,
    insert_trial,
)

ItemLike = StudyItemInfo | tuple[PhotoInfo, MaskInfo, Sequence[CandidateInfo]]


@dataclass(frozen=True)
class NextTrial:
    """The trial to show now. `number` of `total` is the participant's progress (1-based)."""

    trial_id: int
    study_id: int
    mask_id: int
    photo_id: int
    candidate_ids: tuple[int, ...]
    """In on-screen order: show candidate_ids[0] first (leftmost / top)."""
    mode: str
    number: int
    total: int


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    """0 before the participant has been enrolled (their plan is drawn on the first next_trial)."""

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done >= self.total


@dataclass(frozen=True)
class TrialImages:
    """Stored images of a trial (None where only the hash was kept)."""

    photo: bytes | None
    mask: bytes | None
    candidates: tuple[tuple[int, bytes | None], ...]
    """(candidate id, image) in on-screen order."""


@dataclass(frozen=True)
class StudyInfo:
    """What a participant is told about a study and how its trials are answered."""

    study_id: int
    name: str
    description: str
    mode: str
    """"pick" or "rank" (see study.models.MODES)."""
    candidates_per_trial: int
    trials_per_participant: int


def _as_item(item: ItemLike, index: int) -> StudyItemInfo:
    if isinstance(item, StudyItemInfo):
        return item
    try:
        photo, mask, candidates = item
    except (TypeError, ValueError):
        raise StudyError(
            f"item {index}: expected StudyItemInfo or (PhotoInfo, MaskInfo, [CandidateInfo, ...])"
        ) from None
    if not isinstance(photo, PhotoInfo) or not isinstance(mask, MaskInfo):
        raise StudyError(f"item {index}: expected (PhotoInfo, MaskInfo, [CandidateInfo, ...])")
    return StudyItemInfo(photo=photo, mask=mask, candidates=tuple(candidates), label=f"item {index}")


def create_study(
    engine: Engine,
    name: str,
    items: Sequence[ItemLike],
    *,
    mode: str = "pick",
    candidates_per_trial: int | None = None,
    trials_per_participant: int | None = None,
    description: str = "",
    keep_images: bool = True,
) -> int:
    """Create a study from photo + mask items and their precomputed candidates; returns its id.

    `mode` is "pick" (choose the best) or "rank" (order all shown). `candidates_per_trial`
    defaults to the smallest number of candidates of any item; `trials_per_participant` to the
    number of items (everyone sees everything once). Images given in the infos are stored unless
    `keep_images=False` (then only hashes and sizes are). All in one transaction: a study is
    created whole or not at all.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise StudyError("study name must be a non-empty string of at most 200 characters")
    if mode not in MODES:
        raise StudyError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    study_items = [_as_item(item, i) for i, item in enumerate(items)]
    if not study_items:
        raise StudyError("a study needs at least one photo + mask item")
    for item in study_items:
        if len(item.candidates) < 2:
            raise StudyError(f"{item.label or 'an item'} has fewer than 2 candidates")
    smallest = min(len(item.candidates) for item in study_items)
    k = smallest if candidates_per_trial is None else candidates_per_trial
    if not isinstance(k, int) or not 2 <= k <= smallest:
        raise StudyError(
            f"candidates_per_trial must be between 2 and {smallest} (the fewest candidates of an item), got {k!r}"
        )
    n = len(study_items) if trials_per_participant is None else trials_per_participant
    if not isinstance(n, int) or not 1 <= n <= len(study_items):
        raise StudyError(
            f"trials_per_participant must be between 1 and {len(study_items)} (the number of items), got {n!r}"
        )

    name = name.strip()
    return retry_on_conflict(lambda: _store_study(engine, name, study_items, mode, k, n, description, keep_images))


def _store_study(
    engine: Engine,
    name: str,
    study_items: list[StudyItemInfo],
    mode: str,
    k: int,
    n: int,
    description: str,
    keep_images: bool,
) -> int:
    """The single transaction of create_study (validated arguments)."""
    with write_session(engine) as session:
        if session.scalar(select(Study.id).where(Study.name == name)) is not None:
            raise StudyError(f"a study named {name!r} already exists")
        study = Study(
            name=name,
            description=description,
            mode=mode,
            candidates_per_trial=k,
            trials_per_participant=n,
            conditions=[],
            created_at=utcnow(),
        )
        session.add(study)
        session.flush()
        conditions: dict[str, dict[str, object]] = {}
        seen_masks: set[int] = set()
        for item in study_items:
            photo = _add_photo(session, item.photo, keep_image=keep_images)
            mask = _add_mask(session, photo.id, item.mask, keep_image=keep_images)
            if mask.id in seen_masks:
                raise StudyError(f"{item.label or 'an item'} repeats a photo + mask already listed")
            seen_masks.add(mask.id)
            infos = item.candidates
            if not keep_images:
                infos = tuple(replace(c, image_sha256=c.checked().image_sha256, image_bytes=None) for c in infos)
            candidates = _add_candidates(session, mask.id, infos)
            if len({c.id for c in candidates}) != len(candidates):
                raise StudyError(f"{item.label or 'an item'} lists the same candidate twice")
            row = StudyItem(study_id=study.id, mask_id=mask.id)
            session.add(row)
            session.flush()
            session.add_all(StudyItemCandidate(item_id=row.id, candidate_id=c.id) for c in candidates)
            for c in candidates:
                conditions[c.condition] = {
                    "condition": c.condition,
                    "method": c.method,
                    "dilation": c.dilation,
                    "dropout": c.dropout,
                    "finish": c.finish,
                }
        study.conditions = [conditions[key] for key in sorted(conditions)]
        return study.id


def find_study(engine: Engine, name: str) -> int:
    """The id of the study called `name`."""
    with read_session(engine) as session:
        study_id = session.scalar(select(Study.id).where(Study.name == name))
    if study_id is None:
        raise StudyError(f"no study named {name!r}")
    return study_id


_STUDY_INFO = select(
    Study.id,
    Study.name,
    Study.description,
    Study.mode,
    Study.candidates_per_trial,
    Study.trials_per_participant,
)


def _study_info(row: Row) -> StudyInfo:
    return StudyInfo(
        study_id=row.id,
        name=row.name,
        description=row.description or "",
        mode=row.mode,
        candidates_per_trial=row.candidates_per_trial,
        trials_per_participant=row.trials_per_participant,
    )


def resolve_study(engine: Engine, ref: str | int) -> StudyInfo:
    """A study by its id (an int, or a string of digits) or else by its name (surrounding spaces
    ignored), as a study link gives it. Raises StudyError when there is no such study."""
    text = str(ref).strip()
    if isinstance(ref, int) or text.isdigit():
        clause = Study.id == int(text)
    else:
        clause = Study.name == text
    with read_session(engine) as session:
        row = session.execute(_STUDY_INFO.where(clause)).one_or_none()
    if row is None:
        raise StudyError(f"there is no study {text!r}")
    return _study_info(row)


def list_studies(engine: Engine) -> list[StudyInfo]:
    """Every study, oldest (lowest id) first."""
    with read_session(engine) as session:
        rows = session.execute(_STUDY_INFO.order_by(Study.id)).all()
    return [_study_info(row) for row in rows]


_ENROLMENT = (
    select(Study.id, Study.mode, Enrollment.n_trials)
    .outerjoin(
        Enrollment,
        (Enrollment.study_id == Study.id) & (Enrollment.participant_id == bindparam("participant_id")),
    )
    .where(Study.id == bindparam("study_id"))
)
_PENDING = (
    select(Trial.id, Trial.mask_id, Trial.sequence, Trial.shown_at, Mask.photo_id)
    .join(Mask, Mask.id == Trial.mask_id)
    .outerjoin(Response, Response.trial_id == Trial.id)
    .where(
        Trial.study_id == bindparam("study_id"),
        Trial.participant_id == bindparam("participant_id"),
        Response.id.is_(None),
    )
    .order_by(Trial.sequence)
    .limit(1)
)
_MARK_SHOWN = update(Trial).where(Trial.id == bindparam("trial_id")).values(shown_at=bindparam("now"))
"""Statements of next_trial's steady state (one call per vote), built once: see record.py."""


def _draw_plan(session: Session, study: Study, rng: random.Random) -> list[tuple[int, list[int]]]:
    """(mask id, candidate ids in on-screen order) of each trial of a new participant's plan."""
    candidates_of: dict[int, list[tuple[int, str]]] = {}
    for mask_id, candidate in session.execute(
        select(StudyItem.mask_id, Candidate)
        .join(StudyItemCandidate, StudyItemCandidate.item_id == StudyItem.id)
        .join(Candidate, Candidate.id == StudyItemCandidate.candidate_id)
        .where(StudyItem.study_id == study.id)
        .order_by(StudyItem.id, Candidate.id)
    ).tuples():
        candidates_of.setdefault(mask_id, []).append((candidate.id, candidate.condition))
    item_seen = Counter(
        dict(
            session.execute(
                select(Trial.mask_id, func.count()).where(Trial.study_id == study.id).group_by(Trial.mask_id)
            )
            .tuples()
            .all()
        )
    )
    candidate_seen = Counter(
        dict(
            session.execute(
                select(TrialCandidate.candidate_id, func.count())
                .join(Trial, Trial.id == TrialCandidate.trial_id)
                .where(Trial.study_id == study.id)
                .group_by(TrialCandidate.candidate_id)
            )
            .tuples()
            .all()
        )
    )
    items = list(candidates_of)
    rng.shuffle(items)  # random tie-break for the stable sort below
    items.sort(key=lambda mask_id: item_seen[mask_id])
    chosen = items[: study.trials_per_participant]
    rng.shuffle(chosen)

    plan: list[tuple[int, list[int]]] = []
    for mask_id in chosen:
        pool = list(candidates_of[mask_id])
        rng.shuffle(pool)
        pool.sort(key=lambda candidate: candidate_seen[candidate[0]])
        picked: list[int] = []
        used_conditions: set[str] = set()
        for candidate_id, condition in pool:  # least shown first, one per condition
            if len(picked) < study.candidates_per_trial and condition not in used_conditions:
                picked.append(candidate_id)
                used_conditions.add(condition)
        for candidate_id, _ in pool:  # fill up when there are fewer conditions than slots
            if len(picked) < study.candidates_per_trial and candidate_id not in picked:
                picked.append(candidate_id)
        rng.shuffle(picked)
        plan.append((mask_id, picked))
    return plan


def _enrol(session: Session, study_id: int, participant_id: str, rng: random.Random) -> int:
    """Draw and store a new participant's plan; returns its number of trials."""
    _get_participant(session, participant_id)
    # Lock the study row (PostgreSQL; SQLite already holds its write lock) so that concurrent
    # enrolments count each other's exposures, then look again: a second tab of the same
    # participant may have enrolled while this one waited for the lock.
    study = session.scalars(select(Study).where(Study.id == study_id).with_for_update()).one()
    enrolled = session.scalar(
        select(Enrollment.n_trials).where(Enrollment.study_id == study_id, Enrollment.participant_id == participant_id)
    )
    if enrolled is not None:
        return enrolled
    plan = _draw_plan(session, study, rng)
    session.add(
        Enrollment(
            study_id=study.id,
            participant_id=participant_id,
            n_trials=len(plan),
            created_at=utcnow(),
        )
    )
    connection = session.connection()
    for sequence, (mask_id, candidate_ids) in enumerate(plan):
        insert_trial(
            connection,
            participant_id,
            mask_id,
            candidate_ids,
            study_id=study.id,
            sequence=sequence,
            shown=False,
        )
    session.flush()
    return len(plan)


def next_trial(
    engine: Engine,
    study_id: int,
    participant_id: str,
    *,
    rng: random.Random | None = None,
) -> NextTrial | None:
    """The trial `participant_id` should see next in the study, or None when they are done.

    The first call enrols the participant and draws their whole plan; later calls (including
    after a page reload) return the first unanswered trial, unchanged. `rng` makes the draw
    reproducible in tests.
    """
    checked_id = as_int(study_id)
    if checked_id is None:
        raise StudyError(f"unknown study id {study_id!r}")
    if not isinstance(participant_id, str):
        raise StudyError(f"unknown participant {participant_id!r}")
    return retry_on_conflict(lambda: _serve(engine, checked_id, participant_id, rng or random.Random()))


def _serve(engine: Engine, study_id: int, participant_id: str, rng: random.Random) -> NextTrial | None:
    """The single transaction of next_trial: enrol if needed, then serve the first open trial."""
    keys = {"study_id": study_id, "participant_id": participant_id}
    with write_session(engine) as session:
        connection = session.connection()
        state = connection.execute(_ENROLMENT, keys).first()
        if state is None:
            raise StudyError(f"unknown study id {study_id!r}")
        total = state.n_trials
        if total is None:
            total = _enrol(session, study_id, participant_id, rng)
        pending = connection.execute(_PENDING, keys).first()
        if pending is None:
            return None
        if pending.shown_at is None:
            connection.execute(_MARK_SHOWN, {"trial_id": pending.id, "now": utcnow()})
        shown = connection.scalars(SHOWN_CANDIDATES, {"trial_id": pending.id}).all()
        return NextTrial(
            trial_id=pending.id,
            study_id=study_id,
            mask_id=pending.mask_id,
            photo_id=pending.photo_id,
            candidate_ids=tuple(shown),
            mode=state.mode,
            number=pending.sequence + 1,
            total=total,
        )


def study_progress(engine: Engine, study_id: int, participant_id: str) -> Progress:
    """How many of their planned trials a participant has answered."""
    with read_session(engine) as session:
        total = session.scalar(
            select(Enrollment.n_trials).where(
                Enrollment.study_id == study_id, Enrollment.participant_id == participant_id
            )
        )
        done = session.scalar(
            select(func.count())
            .select_from(Response)
            .join(Trial, Trial.id == Response.trial_id)
            .where(Trial.study_id == study_id, Trial.participant_id == participant_id)
        )
    return Progress(done=done or 0, total=total or 0)


def trial_images(engine: Engine, trial_id: int) -> TrialImages:
    """The stored photo, mask and candidate images of a trial, for displaying it."""
    with read_session(engine) as session:
        trial = session.get(Trial, trial_id)
        if trial is None:
            raise StudyError(f"unknown trial id {trial_id!r}")
        mask = session.execute(select(Mask.image, Mask.photo_id).where(Mask.id == trial.mask_id)).one()
        photo = session.scalar(select(Photo.image).where(Photo.id == mask.photo_id))
        images = dict(
            session.execute(
                select(Candidate.id, Candidate.image).where(
                    Candidate.id.in_([link.candidate_id for link in trial.shown])
                )
            )
            .tuples()
            .all()
        )
        return TrialImages(
            photo=photo,
            mask=mask.image,
            candidates=tuple((link.candidate_id, images[link.candidate_id]) for link in trial.shown),
        )


def study_conditions(engine: Engine, study_id: int) -> list[str]:
    """The condition keys compared in a study."""
    with read_session(engine) as session:
        conditions = session.scalar(select(Study.conditions).where(Study.id == study_id))
    if conditions is None:
        raise StudyError(f"unknown study id {study_id!r}")
    return [str(c["condition"]) for c in conditions]
