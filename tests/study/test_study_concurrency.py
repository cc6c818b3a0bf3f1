"""Reliability under load on one real SQLite file: many threads, many processes, a killed writer.

The 2,000-response tests check that concurrency loses and duplicates nothing; they run with
synchronous=NORMAL so that their time does not depend on the disk's fsync latency. What fsync
adds, durability of each commit, is what the SIGKILL test checks, with the default
synchronous=FULL.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from study.db import get_engine, read_session
from study.models import Response, Trial
from study.record import new_participant, record_response, start_trial

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TOTAL = 2000


@pytest.fixture
def load_engine(db_url):
    """The test's SQLite file, WAL with synchronous=NORMAL (see the module docstring)."""
    from study.db import init_db

    engine = get_engine(db_url, synchronous="NORMAL")
    init_db(engine)
    yield engine
    engine.dispose()


def _stored(engine) -> tuple[list[int], int, int]:
    """Response ids, distinct client tokens, and trials answered more than once."""
    with read_session(engine) as session:
        ids = list(session.scalars(select(Response.id)))
        tokens = session.scalar(select(func.count(func.distinct(Response.client_token))))
        doubly = session.scalar(
            select(func.count()).select_from(
                select(Response.trial_id).group_by(Response.trial_id).having(func.count() > 1).subquery()
            )
        )
    return ids, int(tokens or 0), int(doubly or 0)


def test_16_threads_record_2000_responses_none_lost_none_duplicated(load_engine, make_task, bulk_trials):
    engine = load_engine
    threads = 16
    per_thread = TOTAL // threads
    _, _, candidates = make_task(engine)
    participants = [new_participant(engine) for _ in range(threads)]
    trials = [bulk_trials(engine, p, candidates, per_thread) for p in participants]
    barrier = threading.Barrier(threads)

    def work(index: int) -> list[int]:
        participant = participants[index]
        barrier.wait(timeout=30)  # all threads hit the database together
        ids = []
        for j, trial in enumerate(trials[index]):
            token = f"t{index}-{j}"
            choice = candidates[j % 3]
            response = record_response(engine, trial, participant, token, choice=choice, seconds=1.0)
            if j % 4 == 0:  # a double click / retry with the same token records nothing new
                assert record_response(engine, trial, participant, token, choice=choice) == response
            ids.append(response)
        return ids

    with ThreadPoolExecutor(threads) as pool:
        returned = [i for ids in pool.map(work, range(threads)) for i in ids]

    stored, tokens, doubly = _stored(engine)
    assert len(returned) == TOTAL
    assert sorted(stored) == sorted(returned)  # none lost, none extra
    assert len(set(stored)) == TOTAL and tokens == TOTAL and doubly == 0


def test_threads_showing_and_answering_trials_concurrently(load_engine, make_task):
    """The app's whole path (start_trial then record_response) from 8 threads at once."""
    engine = load_engine
    _, _, candidates = make_task(engine)
    participants = [new_participant(engine) for _ in range(8)]

    def work(participant: str) -> list[int]:
        ids = []
        for j in range(25):
            shown = candidates[j % 3 :] + candidates[: j % 3]
            trial = start_trial(engine, participant, shown)
            ids.append(record_response(engine, trial, participant, f"{participant}-{j}", choice=shown[1]))
        return ids

    with ThreadPoolExecutor(8) as pool:
        returned = [i for ids in pool.map(work, participants) for i in ids]
    stored, tokens, doubly = _stored(engine)
    assert sorted(stored) == sorted(returned) and len(stored) == 200 and doubly == 0


def test_several_processes_record_2000_responses(db_url, load_engine, make_task, bulk_trials, monkeypatch):
    engine = load_engine
    processes = 4
    per_process = TOTAL // processes
    _, _, candidates = make_task(engine)
    participants = [new_participant(engine) for _ in range(processes)]
    trials = [bulk_trials(engine, p, candidates, per_process) for p in participants]
    engine.dispose()  # no open connection in the parent while the children write
    monkeypatch.syspath_prepend(str(HERE))  # spawn children import study_writer from here
    monkeypatch.syspath_prepend(str(REPO))
    import study_writer

    jobs = [
        (
            db_url,
            participants[i],
            trials[i],
            [candidates[j % 3] for j in range(per_process)],
            f"p{i}",
            "NORMAL",
        )
        for i in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        returned = [i for ids in pool.starmap(study_writer.answer_trials, jobs) for i in ids]

    stored, tokens, doubly = _stored(get_engine(db_url))
    assert len(returned) == TOTAL
    assert sorted(stored) == sorted(returned)
    assert tokens == TOTAL and doubly == 0


def test_writer_killed_with_sigkill_keeps_every_committed_response(db_url, engine, make_task):
    participant, _, candidates = make_task(engine)
    engine.dispose()
    wanted = 150
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    writer = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "study_writer.py"),
            db_url,
            participant,
            ",".join(map(str, candidates)),
            "1000000",
            "kill",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stdout() -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            lines.put(line)
        lines.put(None)  # end of output

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    committed: list[int] = []
    try:
        while len(committed) < wanted:  # bounded: each wait times out, the loop ends or fails
            line = lines.get(timeout=60)
            if line is None:
                pytest.fail(f"writer exited early: {writer.stderr.read() if writer.stderr else ''}")
            committed.append(int(line))
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # mid-run: it is still writing
        writer.wait(timeout=30)
    reader.join(timeout=30)
    while (line := lines.get(timeout=5)) is not None:  # ids printed before the kill
        committed.append(int(line))
    assert writer.returncode == -signal.SIGKILL

    # The file opens, is consistent, and holds every response the writer saw committed.
    path = db_url.removeprefix("sqlite:///")
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        raw.close()
    stored, tokens, doubly = _stored(get_engine(db_url))
    assert set(committed) <= set(stored)
    # At most the one response committed between its commit and its print can be unreported.
    assert len(committed) <= len(stored) <= len(committed) + 1
    assert tokens == len(stored) and doubly == 0
    with read_session(get_engine(db_url)) as session:
        trials = session.scalar(select(func.count()).select_from(Trial))
    assert trials in (len(stored), len(stored) + 1)  # a trial may have been shown, not answered
