"""Benchmark: how fast the study layer records votes into one SQLite file under concurrency.

    python bench/bench_study.py [--responses 2000] [--threads 16] [--processes 4]
                                [--synchronous FULL|NORMAL] [--db-dir DIR]

A vote is what the app does per choice: `start_trial` (log what was shown) then
`record_response`. Prints, for 16 threads in one process and then for several processes:
responses per second (wall clock, all writers together) and p50/p99/max latency of each call.
Each run writes a new database in a temporary folder (or --db-dir) and checks afterwards that
exactly the expected number of responses is stored.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    trial_latencies: list[float]
    response_latencies: list[float]
    started: float
    finished: float


def _votes(
    url: str,
    participant: str,
    candidates: list[int],
    count: int,
    tag: str,
    synchronous: str,
    barrier=None,
) -> Run:
    """Record `count` votes; the barrier lines all writers up before the clock starts."""
    from study.db import get_engine
    from study.record import record_response, start_trial

    engine = get_engine(url, synchronous=synchronous)
    trial_ms, response_ms = [], []
    if barrier is not None:
        barrier.wait()
    started = time.time()
    for i in range(count):
        shown = candidates[i % 3 :] + candidates[: i % 3]
        t0 = time.perf_counter()
        trial = start_trial(engine, participant, shown)
        t1 = time.perf_counter()
        record_response(engine, trial, participant, f"{tag}-{i}", choice=shown[0], seconds=1.0)
        t2 = time.perf_counter()
        trial_ms.append((t1 - t0) * 1000)
        response_ms.append((t2 - t1) * 1000)
    finished = time.time()
    engine.dispose()
    return Run(trial_ms, response_ms, started, finished)


def _setup(url: str, writers: int, synchronous: str) -> tuple[list[str], list[int]]:
    from study.db import get_engine, init_db
    from study.inputs import CandidateInfo
    from study.record import (
        new_participant,
        register_candidates,
        register_mask,
        register_photo,
    )

    engine = get_engine(url, synchronous=synchronous)
    init_db(engine)
    photo = register_photo(engine, b"bench photo", width=512, height=512)
    mask = register_mask(engine, photo, b"bench mask", width=512, height=512, hole_ratio=0.1)
    candidates = register_candidates(
        engine,
        mask,
        [CandidateInfo(m, image_sha256=None, image_bytes=m.encode()) for m in ("pconv", "telea", "ns")],
    )
    participants = [new_participant(engine) for _ in range(writers)]
    engine.dispose()
    return participants, candidates


def _stored(url: str) -> int:
    from sqlalchemy import func, select

    from study.db import get_engine, read_session
    from study.models import Response

    engine = get_engine(url)
    with read_session(engine) as session:
        count = int(session.scalar(select(func.count()).select_from(Response)) or 0)
    engine.dispose()
    return count


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _report(label: str, runs: list[Run], expected: int, stored: int) -> None:
    responses = sum(len(r.response_latencies) for r in runs)
    wall = max(r.finished for r in runs) - min(r.started for r in runs)
    print(
        f"{label}: {responses} responses in {wall:.2f} s = {responses / wall:.0f} responses/s"
        f" (stored {stored}/{expected}{'' if stored == expected else '  MISMATCH'})"
    )
    for name, values in (
        ("start_trial", [v for r in runs for v in r.trial_latencies]),
        ("record_response", [v for r in runs for v in r.response_latencies]),
    ):
        print(
            f"  {name:<16} p50 {statistics.median(values):6.2f} ms"
            f"   p99 {_percentile(values, 99):7.2f} ms"
            f"   max {max(values):7.2f} ms"
        )


def bench_threads(folder: Path, threads: int, total: int, synchronous: str) -> None:
    url = f"sqlite:///{folder / 'threads.sqlite'}"
    participants, candidates = _setup(url, threads, synchronous)
    barrier = threading.Barrier(threads)
    per = total // threads
    with ThreadPoolExecutor(threads) as pool:
        runs = list(
            pool.map(
                lambda i: _votes(url, participants[i], candidates, per, f"t{i}", synchronous, barrier),
                range(threads),
            )
        )
    _report(f"{threads} threads, 1 process", runs, per * threads, _stored(url))


def bench_processes(folder: Path, processes: int, total: int, synchronous: str) -> None:
    url = f"sqlite:///{folder / 'processes.sqlite'}"
    participants, candidates = _setup(url, processes, synchronous)
    context = multiprocessing.get_context("spawn")
    per = total // processes
    with context.Manager() as manager:
        barrier = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            runs = pool.starmap(
                _votes,
                [(url, participants[i], candidates, per, f"p{i}", synchronous, barrier) for i in range(processes)],
            )
    _report(f"{processes} processes", runs, per * processes, _stored(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--synchronous", default="FULL", choices=("NORMAL", "FULL"))
    parser.add_argument("--db-dir", type=Path, help="where to write the databases (default: a temp folder)")
    args = parser.parse_args()
    print(
        f"SQLite, WAL, synchronous={args.synchronous}; {args.responses} responses per run "
        "(one vote = start_trial + record_response)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        folder = args.db_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        bench_threads(folder, args.threads, args.responses, args.synchronous)
        bench_processes(folder, args.processes, args.responses, args.synchronous)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: find study/
    main()
