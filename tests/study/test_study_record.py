"""Recording: participants, photos, candidates, trials and responses, with validation and
idempotency, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from study.db import read_session
from study.errors import StudyError
from study.inputs import CandidateInfo, sha256_hex
from study.models import (
    Candidate,
    Participant,
    Photo,
    Response,
    ResponseRank,
    Trial,
    TrialCandidate,
)
from study.record import (
    new_participant,
    record_response,
    register_candidates,
    register_mask,
    register_photo,
    start_trial,
)


def _count(engine, model) -> int:
    with read_session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def test_participant_is_anonymous_random_and_records_consent(any_engine):
    first, second = new_participant(any_engine), new_participant(any_engine, consent=False)
    assert len(first) == 32 and int(first, 16) >= 0 and first != second
    with read_session(any_engine) as session:
        assert session.get(Participant, first).consented_at is not None
        assert session.get(Participant, second).consented_at is None


def test_photo_image_is_kept_only_with_consent_and_registration_is_idempotent(any_engine):
    kept = register_photo(any_engine, b"agreed", width=10, height=8, keep_image=True)
    hashed = register_photo(any_engine, b"not agreed", width=10, height=8)
    by_hash = register_photo(any_engine, None, sha256=sha256_hex(b"not agreed"), width=10, height=8)
    assert by_hash == hashed != kept
    with read_session(any_engine) as session:
        assert session.get(Photo, kept).image == b"agreed"
        photo = session.get(Photo, hashed)
        assert photo.image is None and photo.sha256 == sha256_hex(b"not agreed")


def test_registration_validates_its_input(any_engine):
    with pytest.raises(StudyError, match="sha256 does not match"):
        register_photo(any_engine, b"x", sha256="0" * 64, width=1, height=1)
    with pytest.raises(StudyError, match="give the image bytes or their sha256"):
        register_photo(any_engine, None, width=1, height=1)
    with pytest.raises(StudyError, match="width and height"):
        register_photo(any_engine, b"x", width=0, height=1)
    photo = register_photo(any_engine, b"x", width=1, height=1)
    with pytest.raises(StudyError, match="hole_ratio"):
        register_mask(any_engine, photo, b"m", width=1, height=1, hole_ratio=1.5)
    with pytest.raises(StudyError, match="unknown photo"):
        register_mask(any_engine, 999, b"m", width=1, height=1, hole_ratio=0.5)
    mask = register_mask(any_engine, photo, b"m", width=1, height=1, hole_ratio=0.5)
    with pytest.raises(StudyError, match="dropout"):
        register_candidates(any_engine, mask, [CandidateInfo("pconv", dropout=1.5, image_sha256="a" * 64)])
    with pytest.raises(StudyError, match="dilation"):
        register_candidates(any_engine, mask, [CandidateInfo("pconv", dilation=-1, image_sha256="a" * 64)])
    with pytest.raises(StudyError, match="unknown mask"):
        register_candidates(any_engine, 999, [CandidateInfo("pconv", image_sha256="a" * 64)])
    assert _count(any_engine, Candidate) == 0


def test_candidates_keep_their_parameters_and_are_registered_once(any_engine):
    photo = register_photo(any_engine, b"p", width=4, height=4)
    mask = register_mask(any_engine, photo, b"m", width=4, height=4, hole_ratio=0.25)
    infos = [
        CandidateInfo("pconv", dilation=2, dropout=0.1, seed=7, model_version="v1", image_bytes=b"a"),
        CandidateInfo("telea", image_sha256=sha256_hex(b"b")),
    ]
    ids = register_candidates(any_engine, mask, infos)
    assert register_candidates(any_engine, mask, infos[::-1]) == ids[::-1]
    with read_session(any_engine) as session:
        pconv = session.get(Candidate, ids[0])
        assert (pconv.method, pconv.dilation, pconv.dropout, pconv.seed, pconv.model_version) == (
            "pconv",
            2,
            0.1,
            7,
            "v1",
        )
        assert pconv.condition == "pconv/d2/p0.1" and pconv.image == b"a"
        assert session.get(Candidate, ids[1]).image is None


def test_trial_logs_the_on_screen_order(any_engine, make_task):
    participant, _, candidates = make_task(any_engine)
    shown = [candidates[2], candidates[0], candidates[1]]
    trial = start_trial(any_engine, participant, shown)
    with read_session(any_engine) as session:
        rows = session.execute(
            select(TrialCandidate.position, TrialCandidate.candidate_id)
            .where(TrialCandidate.trial_id == trial)
            .order_by(TrialCandidate.position)
        ).all()
        assert [tuple(r) for r in rows] == [(1, shown[0]), (2, shown[1]), (3, shown[2])]
        assert session.get(Trial, trial).shown_at is not None


def test_trial_validation(any_engine, make_task):
    participant, _, candidates = make_task(any_engine)
    _, _, other_photo = make_task(any_engine, name="other")
    with pytest.raises(StudyError, match="unknown candidate id\\(s\\): 9999"):
        start_trial(any_engine, participant, [candidates[0], 9999])
    with pytest.raises(StudyError, match="unknown participant"):
        start_trial(any_engine, "nobody", candidates)
    with pytest.raises(StudyError, match="at least 2"):
        start_trial(any_engine, participant, candidates[:1])
    with pytest.raises(StudyError, match="same candidate twice"):
        start_trial(any_engine, participant, [candidates[0], candidates[0]])
    with pytest.raises(StudyError, match="same photo and mask"):
        start_trial(any_engine, participant, [candidates[0], other_photo[0]])
    assert _count(any_engine, Trial) == 0


def test_pick_is_recorded_once_per_client_token(any_engine, make_task):
    participant, _, candidates = make_task(any_engine)
    trial = start_trial(any_engine, participant, candidates)
    first = record_response(any_engine, trial, participant, "tok-1", choice=candidates[1], seconds=3.2)
    again = record_response(any_engine, trial, participant, "tok-1", choice=candidates[1], seconds=3.2)
    assert first == again
    with read_session(any_engine) as session:
        response = session.get(Response, first)
        assert (response.kind, response.chosen_candidate_id, response.seconds) == (
            "pick",
            candidates[1],
            3.2,
        )
    assert _count(any_engine, Response) == 1
    with pytest.raises(StudyError, match="already answered"):
        record_response(any_engine, trial, participant, "tok-2", choice=candidates[0])


def test_ranking_and_none_acceptable(any_engine, make_task):
    participant, _, candidates = make_task(any_engine)
    ranked = start_trial(any_engine, participant, candidates)
    ranking = [candidates[2], candidates[0], candidates[1]]
    response = record_response(any_engine, ranked, participant, "r", ranking=ranking)
    with read_session(any_engine) as session:
        ranks = session.execute(
            select(ResponseRank.candidate_id, ResponseRank.rank).where(ResponseRank.response_id == response)
        ).all()
        assert sorted((rank, cid) for cid, rank in ranks) == [
            (1, ranking[0]),
            (2, ranking[1]),
            (3, ranking[2]),
        ]
        assert session.get(Response, response).chosen_candidate_id == ranking[0]
    refused = start_trial(any_engine, participant, candidates)
    none = record_response(any_engine, refused, participant, "n", none_acceptable=True, seconds=9)
    with read_session(any_engine) as session:
        answer = session.get(Response, none)
        assert answer.kind == "none" and answer.chosen_candidate_id is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"choice": -1}, "was not shown in trial"),
        ({"ranking": "short"}, "ranking must list each shown candidate exactly once"),
        ({"ranking": "duplicate"}, "ranking must list each shown candidate exactly once"),
        ({"ranking": "foreign"}, "ranking must list each shown candidate exactly once"),
        ({}, "exactly one of"),
        ({"choice": "first", "none_acceptable": True}, "exactly one of"),
        ({"choice": "first", "seconds": -1.0}, "seconds"),
        ({"choice": "first", "seconds": float("nan")}, "seconds"),
    ],
)
def test_invalid_responses_are_refused_with_a_clear_message(engine, make_task, kwargs, message):
    participant, _, candidates = make_task(engine)
    trial = start_trial(engine, participant, candidates)
    rankings = {
        "short": candidates[:2],
        "duplicate": [candidates[0], candidates[0], candidates[1]],
        "foreign": [candidates[0], candidates[1], 12345],
    }
    if "ranking" in kwargs:
        kwargs = {"ranking": rankings[kwargs["ranking"]]}
    if kwargs.get("choice") == "first":
        kwargs["choice"] = candidates[0]
    with pytest.raises(StudyError, match=message) as caught:
        record_response(engine, trial, participant, "tok", **kwargs)
    assert "\n" not in str(caught.value)
    assert _count(engine, Response) == 0


def test_responses_to_unknown_or_someone_elses_trial_are_refused(any_engine, make_task):
    owner, _, candidates = make_task(any_engine)
    intruder = new_participant(any_engine)
    trial = start_trial(any_engine, owner, candidates)
    with pytest.raises(StudyError, match="belongs to another participant"):
        record_response(any_engine, trial, intruder, "x", choice=candidates[0])
    with pytest.raises(StudyError, match="unknown trial"):
        record_response(any_engine, 424242, owner, "y", choice=candidates[0])
    answered = record_response(any_engine, trial, owner, "z", choice=candidates[0])
    other_trial = start_trial(any_engine, owner, candidates)
    with pytest.raises(StudyError, match="already used for another trial"):
        record_response(any_engine, other_trial, owner, "z", choice=candidates[0])
    with pytest.raises(StudyError, match="client_token"):
        record_response(any_engine, other_trial, owner, "", choice=candidates[0])
    with pytest.raises(StudyError, match="client_token"):
        record_response(any_engine, other_trial, owner, "t" * 65, choice=candidates[0])
    assert _count(any_engine, Response) == 1 and answered > 0


def test_simultaneous_retries_of_one_answer_record_it_once(any_engine, make_task):
    """8 threads send the same answer at the same moment (a frantic double click, retries):
    one response, and every caller gets its id. On PostgreSQL the losers of the race hit the
    unique token and are answered by the retry."""
    participant, _, candidates = make_task(any_engine)
    trial = start_trial(any_engine, participant, candidates)
    barrier = threading.Barrier(8)

    def send(_: int) -> int:
        barrier.wait(timeout=30)
        return record_response(any_engine, trial, participant, "same-token", choice=candidates[2])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(send, range(8)))
    assert len(ids) == 1 and _count(any_engine, Response) == 1


def test_numpy_integers_from_the_app_are_accepted(engine):
    """Ids, sizes and seeds often come out of numpy arrays; they must be stored as ints."""
    np = pytest.importorskip("numpy")
    photo = register_photo(engine, b"np", width=np.int64(8), height=np.int32(6))
    mask = register_mask(
        engine,
        np.int64(photo),
        b"m",
        width=np.int64(8),
        height=np.int64(6),
        hole_ratio=np.float32(0.25),
    )
    a, b = register_candidates(
        engine,
        np.int64(mask),
        [
            CandidateInfo(
                "pconv",
                dilation=np.int64(2),
                dropout=np.float64(0.1),
                seed=np.int64(5),
                image_sha256=sha256_hex(b"a"),
            ),
            CandidateInfo("telea", image_sha256=sha256_hex(b"b")),
        ],
    )
    participant = new_participant(engine)
    trial = start_trial(engine, participant, np.array([a, b]))
    response = record_response(engine, np.int64(trial), participant, "np", choice=np.int64(b))
    with read_session(engine) as session:
        stored = session.get(Candidate, a)
        assert (stored.dilation, stored.seed) == (2, 5) and type(stored.seed) is int
        assert session.get(Response, response).chosen_candidate_id == b
