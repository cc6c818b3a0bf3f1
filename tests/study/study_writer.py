"""A writer process for the reliability tests: records responses and reports each committed one.

As a script (for the SIGKILL test), it prints every response id on its own line once
record_response has returned, i.e. after the commit: the parent then knows exactly which
responses the database promised to keep.

    python study_writer.py URL PARTICIPANT CANDIDATE_IDS COUNT TOKEN_PREFIX

`answer_trials` (answers trials created beforehand) is the target of the multiprocessing test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def write_responses(
    url: str,
    participant_id: str,
    candidate_ids: Sequence[int],
    count: int,
    token_prefix: str,
    on_commit: Callable[[int], None] | None = None,
) -> list[int]:
    """Show a trial and record a pick, `count` times; returns the response ids."""
    from study.db import get_engine
    from study.record import record_response, start_trial

    engine = get_engine(url)
    ids = []
    try:
        for i in range(count):
            shown = list(candidate_ids[i % len(candidate_ids) :]) + list(candidate_ids[: i % len(candidate_ids)])
            trial = start_trial(engine, participant_id, shown)
            response = record_response(
                engine, trial, participant_id, f"{token_prefix}-{i}", choice=shown[0], seconds=0.5
            )
            ids.append(response)
            if on_commit is not None:
                on_commit(response)
    finally:
        engine.dispose()
    return ids


def answer_trials(
    url: str,
    participant_id: str,
    trial_ids: Sequence[int],
    choices: Sequence[int],
    token_prefix: str,
    synchronous: str = "FULL",
) -> list[int]:
    """Record a pick for each trial (choice i for trial i); returns the response ids."""
    from study.db import get_engine
    from study.record import record_response

    engine = get_engine(url, synchronous=synchronous)
    try:
        return [
            record_response(engine, trial, participant_id, f"{token_prefix}-{trial}", choice=choice)
            for trial, choice in zip(trial_ids, choices, strict=True)
        ]
    finally:
        engine.dispose()


def _print_id(response_id: int) -> None:
    print(response_id, flush=True)


if __name__ == "__main__":
    url, participant, candidates, count, prefix = sys.argv[1:6]
    write_responses(url, participant, [int(c) for c in candidates.split(",")], int(count), prefix, _print_id)
