"""Recording: the functions the app calls while people use it.

Every public function runs in one write transaction (all or nothing) and validates its input,
raising `StudyError` with one line that names the problem. `record_response` is idempotent on
the client token: a double click, a retried request or a reconnecting browser that sends the same
token gets the same response id back and nothing is recorded twice.

The `_add_*` helpers take an open session so that `protocol.create_study` can register a whole
study in a single transaction with the same rules.
"""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.orm import Session

from study.db import read_session, retry_on_conflict, write_session
from study.errors import StudyError
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, as_int
from study.models import (
    Candidate,
    Mask,
    Participant,
    Photo,
    Response,
    ResponseRank,
    Study,
    StudyItem,
    StudyItemCandidate,
    Trial,
    TrialCandidate,
    utcnow,
)

MAX_TOKEN_LENGTH = 64

# Statements of the hot path (one trial + one response per vote), built once with bind
# parameters: building a select() costs about five times as much as running it on SQLite, and
# under 16 concurrent writers that construction time is most of the latency.
_EARLIER_RESPONSE = select(Response.id, Response.trial_id, Response.participant_id).where(
    Response.client_token == bindparam("token")
)
_TRIAL_STATE = (
    select(
        Trial.participant_id,
        Trial.study_id,
        Study.mode,
        Response.id.label("answered"),
        Response.client_token.label("answered_token"),
    )
    .outerjoin(Study, Study.id == Trial.study_id)
    .outerjoin(Response, Response.trial_id == Trial.id)
    .where(Trial.id == bindparam("trial_id"))
)
SHOWN_CANDIDATES = (
    select(TrialCandidate.candidate_id)
    .where(TrialCandidate.trial_id == bindparam("trial_id"))
    .order_by(TrialCandidate.position)
)
_INSERT_RESPONSE = insert(Response).returning(Response.id)
_PARTICIPANT_EXISTS = select(Participant.id).where(Participant.id == bindparam("participant_id"))
_CANDIDATE_MASKS = select(Candidate.id, Candidate.mask_id).where(Candidate.id.in_(bindparam("ids", expanding=True)))
_INSERT_TRIAL = insert(Trial).returning(Trial.id)

# --- participants ----------------------------------------------------------------------------


def new_participant(engine: Engine, consent: bool = True) -> str:
    """Create an anonymous participant and return their id (32 random hex characters).

    `consent` records when they agreed to take part (None when the app did not ask). The id is
    random rather than sequential so it reveals nothing about who or how many came before.
    """
    participant_id = uuid.uuid4().hex
    with write_session(engine) as session:
        session.add(Participant(id=participant_id, consented_at=utcnow() if consent else None))
    return participant_id


def participant_exists(engine: Engine, participant_id: str | None) -> bool:
    """Whether the database knows this participant id (False for None or a non-string, such as
    an id a browser kept from another database)."""
    if not isinstance(participant_id, str):
        return False
    with read_session(engine) as session:
        return session.scalar(_PARTICIPANT_EXISTS, {"participant_id": participant_id}) is not None


def _get_participant(session: Session, participant_id: str) -> Participant:
    participant = session.get(Participant, participant_id) if isinstance(participant_id, str) else None
    if participant is None:
        raise StudyError(f"unknown participant {participant_id!r}")
    return participant


# --- photos, masks, candidates ---------------------------------------------------------------


def _add_photo(session: Session, info: PhotoInfo, *, keep_image: bool) -> Photo:
    info = info.checked()
    photo = session.scalar(select(Photo).where(Photo.sha256 == info.sha256))
    if photo is None:
        photo = Photo(sha256=info.sha256, width=info.width, height=info.height)
        session.add(photo)
    if keep_image and info.image_bytes is not None and photo.image is None:
        photo.image = info.image_bytes
    session.flush()
    return photo


def _add_mask(session: Session, photo_id: int, info: MaskInfo, *, keep_image: bool) -> Mask:
    info = info.checked()
    photo = as_int(photo_id)
    if photo is None or session.get(Photo, photo) is None:
        raise StudyError(f"unknown photo id {photo_id!r}")
    mask = session.scalar(select(Mask).where(Mask.photo_id == photo, Mask.sha256 == info.sha256))
    if mask is None:
        mask = Mask(
            photo_id=photo,
            sha256=info.sha256,
            width=info.width,
            height=info.height,
            hole_ratio=info.hole_ratio,
        )
        session.add(mask)
    if keep_image and info.image_bytes is not None and mask.image is None:
        mask.image = info.image_bytes
    session.flush()
    return mask


def _add_candidates(session: Session, mask_id: int, infos: Sequence[CandidateInfo]) -> list[Candidate]:
    mask = as_int(mask_id)
    if mask is None or session.get(Mask, mask) is None:
        raise StudyError(f"unknown mask id {mask_id!r}")
    if not infos:
        raise StudyError("no candidates given")
    rows: list[Candidate] = []
    for raw in infos:
        if not isinstance(raw, CandidateInfo):
            raise StudyError(f"candidates must be CandidateInfo objects, got {type(raw).__name__}")
        info = raw.checked()
        seed_clause = Candidate.seed.is_(None) if info.seed is None else Candidate.seed == info.seed
        candidate = session.scalar(
            select(Candidate).where(
                Candidate.mask_id == mask,
                Candidate.method == info.method,
                Candidate.dilation == info.dilation,
                Candidate.dropout == info.dropout,
                Candidate.finish == info.finish,
                seed_clause,
                Candidate.model_version == info.model_version,
                Candidate.image_sha256 == info.image_sha256,
            )
        )
        if candidate is None:
            candidate = Candidate(
                mask_id=mask,
                method=info.method,
                dilation=info.dilation,
                dropout=info.dropout,
                finish=info.finish,
                seed=info.seed,
                model_version=info.model_version,
                image_sha256=info.image_sha256,
                image=info.image_bytes,
            )
            session.add(candidate)
        elif info.image_bytes is not None and candidate.image is None:
            candidate.image = info.image_bytes
        rows.append(candidate)
    session.flush()
    return rows


def register_photo(
    engine: Engine,
    image: bytes | None,
    *,
    width: int,
    height: int,
    sha256: str | None = None,
    keep_image: bool = False,
) -> int:
    """Register a photo (idempotent on its SHA-256) and return its id.

    The bytes are stored only with `keep_image=True` (the person agreed); otherwise they are used
    just to compute the hash, and may be None when `sha256` is given.
    """
    info = PhotoInfo(width=width, height=height, sha256=sha256, image_bytes=image)

    def run() -> int:
        with write_session(engine) as session:
            return _add_photo(session, info, keep_image=keep_image).id

    return retry_on_conflict(run)


def register_mask(
    engine: Engine,
    photo_id: int,
    mask: bytes | None,
    *,
    width: int,
    height: int,
    hole_ratio: float,
    sha256: str | None = None,
    keep_image: bool = False,
) -> int:
    """Register the damage mask drawn on a photo (idempotent per photo and mask hash).

    A photo + mask pair is one restoration task; candidates and trials refer to the mask id.
    `hole_ratio` is the damaged fraction of the image (0..1).
    """
    info = MaskInfo(width=width, height=height, hole_ratio=hole_ratio, sha256=sha256, image_bytes=mask)

    def run() -> int:
        with write_session(engine) as session:
            return _add_mask(session, photo_id, info, keep_image=keep_image).id

    return retry_on_conflict(run)


def register_candidates(engine: Engine, mask_id: int, candidates: Sequence[CandidateInfo]) -> list[int]:
    """Register restorations of one photo + mask; returns their ids in the order given.

    Registering the same candidate (same parameters and image hash) again returns its existing id.
    An image is stored when its `image_bytes` is given.
    """

    def run() -> list[int]:
        with write_session(engine) as session:
            return [c.id for c in _add_candidates(session, mask_id, candidates)]

    return retry_on_conflict(run)


# --- trials ----------------------------------------------------------------------------------


def _check_ids(name: str, ids: Sequence[int]) -> list[int]:
    """The ids as Python ints (numpy integers accepted), or a StudyError."""
    if isinstance(ids, (str, bytes)):
        raise StudyError(f"{name} must be a list of integer candidate ids")
    checked = [as_int(i) for i in ids]
    if any(i is None for i in checked):
        raise StudyError(f"{name} must be a list of integer candidate ids")
    return [i for i in checked if i is not None]


def _add_trial(
    session: Session,
    participant_id: str,
    candidate_ids: Sequence[int],
    *,
    study_id: int | None = None,
    sequence: int | None = None,
    shown: bool = True,
) -> int:
    """Insert a trial showing `candidate_ids` in that on-screen order (position 1 = first)."""
    ids = _check_ids("candidate_ids", candidate_ids)
    if len(ids) < 2:
        raise StudyError("a trial shows at least 2 candidates")
    if len(set(ids)) != len(ids):
        raise StudyError(f"a trial cannot show the same candidate twice: {ids}")
    connection = session.connection()  # Core statements, as in _add_response
    if (
        not isinstance(participant_id, str)
        or connection.scalar(_PARTICIPANT_EXISTS, {"participant_id": participant_id}) is None
    ):
        raise StudyError(f"unknown participant {participant_id!r}")
    found = dict(connection.execute(_CANDIDATE_MASKS, {"ids": ids}).tuples().all())
    missing = [i for i in ids if i not in found]
    if missing:
        raise StudyError(f"unknown candidate id(s): {', '.join(map(str, missing))}")
    if len(set(found.values())) != 1:
        raise StudyError("the candidates of one trial must restore the same photo and mask")
    if study_id is not None:
        given_id, study_id = study_id, as_int(study_id)
        if study_id is None or session.get(Study, study_id) is None:
            raise StudyError(f"unknown study id {given_id!r}")
        in_study = set(
            session.scalars(
                select(StudyItemCandidate.candidate_id)
                .join(StudyItem, StudyItem.id == StudyItemCandidate.item_id)
                .where(StudyItem.study_id == study_id, StudyItemCandidate.candidate_id.in_(ids))
            )
        )
        outside = [i for i in ids if i not in in_study]
        if outside:
            raise StudyError(f"candidate(s) {', '.join(map(str, outside))} are not part of study {study_id}")
    return insert_trial(
        connection,
        participant_id,
        found[ids[0]],
        ids,
        study_id=study_id,
        sequence=sequence,
        shown=shown,
    )


def insert_trial(
    connection: Connection,
    participant_id: str,
    mask_id: int,
    candidate_ids: Sequence[int],
    *,
    study_id: int | None = None,
    sequence: int | None = None,
    shown: bool = True,
) -> int:
    """Insert a trial and its on-screen order without validation (callers validate: the app's
    input in _add_trial, a study's own items in protocol.next_trial)."""
    now = utcnow()
    trial_id = connection.execute(
        _INSERT_TRIAL,
        {
            "participant_id": participant_id,
            "study_id": study_id,
            "mask_id": mask_id,
            "sequence": sequence,
            "created_at": now,
            "shown_at": now if shown else None,
        },
    ).scalar_one()
    connection.execute(
        insert(TrialCandidate),
        [
            {"trial_id": trial_id, "position": position, "candidate_id": candidate_id}
            for position, candidate_id in enumerate(candidate_ids, start=1)
        ],
    )
    return int(trial_id)


def start_trial(
    engine: Engine,
    participant_id: str,
    candidate_ids: Sequence[int],
    study_id: int | None = None,
) -> int:
    """Log that `participant_id` is being shown `candidate_ids`, in that on-screen order.

    The app calls this when it displays the gallery (after shuffling it: the order given here is
    what the analysis uses to measure position bias). Returns the trial id to answer.
    """
    with write_session(engine) as session:
        return _add_trial(session, participant_id, candidate_ids, study_id=study_id)


# --- responses -------------------------------------------------------------------------------


def _check_token(client_token: str) -> None:
    if not isinstance(client_token, str) or not 0 < len(client_token) <= MAX_TOKEN_LENGTH:
        raise StudyError(f"client_token must be a non-empty string of at most {MAX_TOKEN_LENGTH} characters")


def _response_kind(
    choice: int | None, ranking: Sequence[int] | None, none_acceptable: bool
) -> tuple[str, int | None, list[int] | None]:
    """The kind of answer, with the choice or ranking as Python ints."""
    given = [choice is not None, ranking is not None, bool(none_acceptable)]
    if sum(given) != 1:
        raise StudyError("give exactly one of choice=, ranking= or none_acceptable=True")
    if choice is not None:
        chosen = as_int(choice)
        if chosen is None:
            raise StudyError(f"choice must be a candidate id, got {choice!r}")
        return "pick", chosen, None
    if ranking is not None:
        return "rank", None, _check_ids("ranking", ranking)
    return "none", None, None


def record_response(
    engine: Engine,
    trial_id: int,
    participant_id: str,
    client_token: str,
    *,
    choice: int | None = None,
    ranking: Sequence[int] | None = None,
    none_acceptable: bool = False,
    seconds: float | None = None,
) -> int:
    """Record the answer to a trial and return the response id.

    Exactly one of: `choice` (the preferred candidate's id), `ranking` (every shown candidate's
    id, best first) or `none_acceptable=True`. `seconds` is the time the person took.
    `client_token` is generated by the client once per answer (e.g. uuid4 hex): sending it again
    returns the first response's id without recording anything. A different token for a trial
    that was already answered is an error, as is answering someone else's trial, choosing a
    candidate that was not shown, or a ranking that is not a permutation of the shown candidates.
    """
    _check_token(client_token)
    kind, choice, ranking = _response_kind(choice, ranking, none_acceptable)
    checked_trial_id = as_int(trial_id)
    if checked_trial_id is None:
        raise StudyError(f"unknown trial id {trial_id!r}")
    if seconds is not None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, numbers.Real)
            or not (math.isfinite(seconds) and seconds >= 0)
        ):
            raise StudyError(f"seconds must be a finite number >= 0, got {seconds!r}")
        seconds = float(seconds)

    def run() -> int:
        with write_session(engine) as session:
            return _add_response(
                session,
                checked_trial_id,
                participant_id,
                client_token,
                kind,
                choice,
                ranking,
                seconds,
            )

    return retry_on_conflict(run)


def _add_response(
    session: Session,
    trial_id: int,
    participant_id: str,
    client_token: str,
    kind: str,
    choice: int | None,
    ranking: Sequence[int] | None,
    seconds: float | None,
) -> int:
    # Core execution on the session's connection: the same transaction, without the ORM's
    # per-statement bookkeeping (none of these statements loads objects).
    connection = session.connection()
    earlier = connection.execute(_EARLIER_RESPONSE, {"token": client_token}).first()
    if earlier is not None:
        if earlier.trial_id != trial_id or earlier.participant_id != participant_id:
            raise StudyError(
                f"client token {client_token!r} was already used for another trial; "
                "generate a new token for each answer"
            )
        return earlier.id

    # One query for the trial, its study's mode and any earlier answer: this function is the
    # hot path under load, so it stays at three reads and two inserts.
    trial = connection.execute(_TRIAL_STATE, {"trial_id": trial_id}).first()
    if trial is None:
        raise StudyError(f"unknown trial id {trial_id!r}")
    if trial.participant_id != participant_id:
        raise StudyError(f"trial {trial_id} belongs to another participant")
    if trial.answered is not None:
        if trial.answered_token == client_token:
            # The same answer committed by a concurrent request after the token lookup above
            # (PostgreSQL reads each statement afresh): it is this response, recorded once.
            return int(trial.answered)
        raise StudyError(f"trial {trial_id} was already answered (response {trial.answered})")
    if trial.mode == "pick" and kind == "rank":
        raise StudyError(f"study {trial.study_id} asks for a single choice, not a ranking")
    if trial.mode == "rank" and kind == "pick":
        raise StudyError(f"study {trial.study_id} asks for a full ranking, not a single choice")

    shown = list(connection.scalars(SHOWN_CANDIDATES, {"trial_id": trial_id}))
    if kind == "pick" and choice not in shown:
        raise StudyError(f"candidate {choice} was not shown in trial {trial_id} (shown: {shown})")
    if kind == "rank":
        assert ranking is not None
        if len(ranking) != len(shown) or set(ranking) != set(shown):
            raise StudyError(
                f"ranking must list each shown candidate exactly once, best first: shown {shown}, got {list(ranking)}"
            )

    response_id = connection.execute(
        _INSERT_RESPONSE,
        {
            "trial_id": trial_id,
            "participant_id": participant_id,
            "client_token": client_token,
            "kind": kind,
            # The pick, or the top of a ranking: "the chosen one" in both modes.
            "chosen_candidate_id": choice if kind == "pick" else (ranking[0] if ranking else None),
            "seconds": seconds,
            "created_at": utcnow(),
        },
    ).scalar_one()
    if kind == "rank":
        assert ranking is not None
        connection.execute(
            insert(ResponseRank),
            [
                {"response_id": response_id, "candidate_id": candidate_id, "rank": rank}
                for rank, candidate_id in enumerate(ranking, start=1)
            ],
        )
    return response_id
