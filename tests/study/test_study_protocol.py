"""Controlled studies: creation, balanced randomised plans, resuming, and study folders."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from study.db import read_session
from study.errors import StudyError
from study.folder import load_study_folder
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, StudyItemInfo
from study.models import Study, Trial, TrialCandidate
from study.protocol import (
    create_study,
    find_study,
    next_trial,
    study_conditions,
    study_progress,
    trial_images,
)
from study.record import new_participant, record_response, start_trial

METHODS = ("pconv", "telea", "ns", "biharmonic")


def _items(n: int, methods=METHODS[:3], tag: str = "") -> list[StudyItemInfo]:
    return [
        StudyItemInfo(
            photo=PhotoInfo(width=8, height=8, image_bytes=f"photo{tag}{i}".encode()),
            mask=MaskInfo(width=8, height=8, hole_ratio=0.2, image_bytes=f"mask{tag}{i}".encode()),
            candidates=tuple(CandidateInfo(m, dilation=1, image_bytes=f"{tag}{i}-{m}".encode()) for m in methods),
            label=f"item {i}",
        )
        for i in range(n)
    ]


def _answer_all(engine, study_id, participant, rng=None) -> list:
    seen = []
    while (trial := next_trial(engine, study_id, participant, rng=rng)) is not None:
        seen.append(trial)
        if trial.mode == "pick":
            record_response(
                engine,
                trial.trial_id,
                participant,
                f"{participant}-{trial.number}",
                choice=trial.candidate_ids[0],
            )
        else:
            record_response(
                engine,
                trial.trial_id,
                participant,
                f"{participant}-{trial.number}",
                ranking=list(trial.candidate_ids),
            )
    return seen


def test_create_study_stores_items_conditions_and_protocol(any_engine):
    study_id = create_study(any_engine, "dilation study", _items(3), trials_per_participant=2)
    assert find_study(any_engine, "dilation study") == study_id
    assert study_conditions(any_engine, study_id) == ["ns/d1/p0", "pconv/d1/p0", "telea/d1/p0"]
    with read_session(any_engine) as session:
        study = session.get(Study, study_id)
        assert (study.mode, study.candidates_per_trial, study.trials_per_participant) == (
            "pick",
            3,
            2,
        )
        assert len(study.items) == 3 and all(len(item.candidates) == 3 for item in study.items)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "vote"}, "mode must be one of"),
        ({"candidates_per_trial": 4}, "candidates_per_trial must be between 2 and 3"),
        ({"candidates_per_trial": 1}, "candidates_per_trial must be between 2 and 3"),
        ({"trials_per_participant": 5}, "trials_per_participant must be between 1 and 2"),
        ({"name": ""}, "study name"),
    ],
)
def test_create_study_validates_the_protocol(engine, kwargs, message):
    arguments = {"name": "s", "items": _items(2)} | kwargs
    with pytest.raises(StudyError, match=message):
        create_study(engine, arguments.pop("name"), arguments.pop("items"), **arguments)


def test_create_study_refuses_duplicates_and_thin_items_atomically(engine):
    create_study(engine, "first", _items(2))
    with pytest.raises(StudyError, match="already exists"):
        create_study(engine, "first", _items(2, tag="b"))
    with pytest.raises(StudyError, match="fewer than 2 candidates"):
        create_study(engine, "thin", _items(2, methods=("pconv",)))
    repeated = _items(1, tag="r") * 2
    with pytest.raises(StudyError, match="repeats a photo"):
        create_study(engine, "repeated", repeated)
    with read_session(engine) as session:
        assert session.scalars(select(Study.name)).all() == ["first"]  # nothing half-created


def test_next_trial_resumes_after_reload_and_ends_with_none(any_engine):
    study_id = create_study(any_engine, "s", _items(3))
    participant = new_participant(any_engine)
    assert study_progress(any_engine, study_id, participant).total == 0  # not enrolled yet
    first = next_trial(any_engine, study_id, participant)
    assert (first.number, first.total, first.mode) == (1, 3, "pick")
    assert next_trial(any_engine, study_id, participant) == first  # a reload shows the same trial
    record_response(any_engine, first.trial_id, participant, "a", choice=first.candidate_ids[1])
    second = next_trial(any_engine, study_id, participant)
    assert second.number == 2 and second.mask_id != first.mask_id
    assert study_progress(any_engine, study_id, participant).done == 1
    rest = _answer_all(any_engine, study_id, participant)
    assert [t.number for t in rest] == [2, 3]
    assert next_trial(any_engine, study_id, participant) is None
    progress = study_progress(any_engine, study_id, participant)
    assert (progress.done, progress.total, progress.finished) == (3, 3, True)
    assert len({t.mask_id for t in [first, *rest]}) == 3  # every item once


def test_two_tabs_of_one_participant_get_one_plan(any_engine):
    """Both tabs ask for the first trial at once: one enrolment, the same trial for both."""
    study_id = create_study(any_engine, "tabs", _items(3))
    participant = new_participant(any_engine)
    barrier = threading.Barrier(4)

    def open_tab(_: int):
        barrier.wait(timeout=30)
        return next_trial(any_engine, study_id, participant)

    with ThreadPoolExecutor(4) as pool:
        served = list(pool.map(open_tab, range(4)))
    assert len(set(served)) == 1
    with read_session(any_engine) as session:
        assert len(session.scalars(select(Trial.id).where(Trial.study_id == study_id)).all()) == 3


def test_plans_balance_items_and_candidates_across_participants(engine):
    # 6 items with 4 candidates; each participant sees 2 items, 2 candidates per trial.
    study_id = create_study(
        engine,
        "balanced",
        _items(6, methods=METHODS),
        candidates_per_trial=2,
        trials_per_participant=2,
    )
    rng = random.Random(1)
    participants = [new_participant(engine) for _ in range(12)]
    for participant in participants:
        next_trial(engine, study_id, participant, rng=rng)
    with read_session(engine) as session:
        item_counts = Counter(session.scalars(select(Trial.mask_id).where(Trial.study_id == study_id)))
        candidate_counts = Counter(
            session.scalars(
                select(TrialCandidate.candidate_id)
                .join(Trial, Trial.id == TrialCandidate.trial_id)
                .where(Trial.study_id == study_id)
            )
        )
        first_shown = Counter(
            session.scalars(
                select(TrialCandidate.candidate_id)
                .join(Trial, Trial.id == TrialCandidate.trial_id)
                .where(Trial.study_id == study_id, TrialCandidate.position == 1)
            )
        )
    assert sorted(item_counts.values()) == [4] * 6  # 12 participants x 2 trials / 6 items
    assert len(candidate_counts) == 24 and set(candidate_counts.values()) == {2}  # 4 per item, evenly
    # On-screen order is shuffled: many different candidates are shown first, not one per item.
    assert len(first_shown) > 6


def test_on_screen_order_is_randomised_and_logged(engine):
    study_id = create_study(engine, "order", _items(1, methods=METHODS))
    rng = random.Random(7)
    orders = set()
    for _ in range(10):
        participant = new_participant(engine)
        orders.add(next_trial(engine, study_id, participant, rng=rng).candidate_ids)
    assert len(orders) >= 5  # 24 possible orders of 4 candidates


def test_study_mode_decides_what_a_response_may_be(engine):
    ranked = create_study(engine, "ranked", _items(1), mode="rank")
    participant = new_participant(engine)
    trial = next_trial(engine, ranked, participant)
    assert trial.mode == "rank"
    with pytest.raises(StudyError, match="asks for a full ranking"):
        record_response(engine, trial.trial_id, participant, "a", choice=trial.candidate_ids[0])
    record_response(engine, trial.trial_id, participant, "b", ranking=list(trial.candidate_ids[::-1]))
    picked = create_study(engine, "picked", _items(1, tag="p"))
    trial = next_trial(engine, picked, participant)
    with pytest.raises(StudyError, match="asks for a single choice"):
        record_response(engine, trial.trial_id, participant, "c", ranking=list(trial.candidate_ids))
    record_response(engine, trial.trial_id, participant, "d", none_acceptable=True)


def test_trials_of_a_study_use_only_its_candidates(engine, make_task):
    study_id = create_study(engine, "s", _items(1))
    participant, _, outside = make_task(engine)
    with pytest.raises(StudyError, match="not part of study"):
        start_trial(engine, participant, outside, study_id=study_id)
    with pytest.raises(StudyError, match="unknown study"):
        next_trial(engine, 999, participant)
    with pytest.raises(StudyError, match="unknown participant"):
        next_trial(engine, study_id, "nobody")


def test_trial_images_come_back_in_on_screen_order(engine):
    study_id = create_study(engine, "images", _items(1))
    participant = new_participant(engine)
    trial = next_trial(engine, study_id, participant)
    images = trial_images(engine, trial.trial_id)
    assert images.photo == b"photo0" and images.mask == b"mask0"
    assert [cid for cid, _ in images.candidates] == list(trial.candidate_ids)
    assert all(data is not None and data.startswith(b"0-") for _, data in images.candidates)
    hashed = create_study(engine, "hashes only", _items(1, tag="h"), keep_images=False)
    trial = next_trial(engine, hashed, participant)
    images = trial_images(engine, trial.trial_id)
    assert images.photo is None and all(data is None for _, data in images.candidates)


# --- study folders ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_study_folder_is_read_into_items(tmp_path, fmt, make_study_folder):
    items = load_study_folder(make_study_folder(tmp_path / "study", fmt=fmt))
    assert len(items) == 2 and all(len(item.candidates) == 2 for item in items)
    first = items[0]
    assert (first.photo.width, first.photo.height) == (16, 12)
    assert first.mask.hole_ratio == pytest.approx(12 / 192)
    pconv = first.candidates[0]
    assert (pconv.method, pconv.dilation, pconv.dropout, pconv.seed, pconv.model_version) == (
        "pconv",
        2,
        0.1,
        3,
        "v1",
    )
    assert first.candidates[1].seed is None and first.candidates[1].condition == "telea/d0/p0"
    assert first.photo.image_bytes == (tmp_path / "study" / "photos" / "p1.png").read_bytes()


def test_study_folder_hole_colour_can_be_black(tmp_path, make_study_folder):
    items = load_study_folder(make_study_folder(tmp_path / "study"), hole_is_white=False)
    assert items[0].mask.hole_ratio == pytest.approx(180 / 192)


def test_study_folder_errors_name_the_row_and_the_problem(tmp_path, make_study_folder):
    root = make_study_folder(tmp_path / "study")
    with pytest.raises(StudyError, match="does not exist"):
        load_study_folder(tmp_path / "nope")
    with pytest.raises(StudyError, match="no candidates.csv or candidates.json"):
        load_study_folder(root / "photos")
    base = {
        "photo": "photos/p1.png",
        "mask": "masks/p1.png",
        "image": "candidates/p1-pconv.png",
        "method": "pconv",
    }
    cases = [
        (
            [base | {"image": "candidates/missing.png"}],
            "row 1: image file 'candidates/missing.png' not found",
        ),
        ([base | {"dilation": "two"}], "row 1: dilation must be int"),
        ([base | {"image": "../../etc/passwd"}], "outside the study folder"),
        ([base | {"image": "candidates.csv"}], "not a readable image"),
        ([{k: v for k, v in base.items() if k != "method"}], "missing column\\(s\\) method"),
        ([base | {"dropout": "1.5"}], "row 1: .*dropout"),
    ]
    for rows, message in cases:
        broken = make_study_folder(tmp_path / f"case{cases.index((rows, message))}", rows=rows)
        with pytest.raises(StudyError, match=message):
            load_study_folder(broken)
    small = make_study_folder(tmp_path / "small", rows=[base | {"image": "candidates/small.png"}])
    from PIL import Image

    Image.new("RGB", (8, 8)).save(small / "candidates" / "small.png")
    with pytest.raises(StudyError, match="is 8x8 but its photo is 16x12"):
        load_study_folder(small)


def test_study_from_folder_runs_end_to_end(engine, tmp_path, make_study_folder):
    items = load_study_folder(make_study_folder(tmp_path / "study"))
    study_id = create_study(engine, "folder study", items)
    participant = new_participant(engine)
    seen = _answer_all(engine, study_id, participant)
    assert len(seen) == 2 and {len(t.candidate_ids) for t in seen} == {2}
    assert study_conditions(engine, study_id) == ["pconv/d2/p0.1", "telea/d0/p0"]
