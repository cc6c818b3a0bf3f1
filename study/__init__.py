"""The preference study: records which restoration people prefer, and analyses it.

`study` never imports torch, inpaint or gradio: the app passes candidates in as plain data
(image bytes + parameters). SQLite is the embedded default; any SQLAlchemy URL works
(PostgreSQL through psycopg 3). Importing `study` loads SQLAlchemy only; pandas, matplotlib,
choix and huggingface_hub load when export, analysis or sync is first used.

Typical use in the app::

    engine = study.get_engine()                 # once, at start-up
    study.init_db(engine)
    pid = study.new_participant(engine, consent=True)               # once per visitor
    photo = study.register_photo(engine, png, width=w, height=h, keep_image=agreed)
    mask = study.register_mask(engine, photo, mask_png, width=w, height=h, hole_ratio=r)
    ids = study.register_candidates(engine, mask, [study.CandidateInfo("pconv", dilation=2,
                                    dropout=0.1, seed=0, model_version=v, image_sha256=h), ...])
    random.shuffle(ids)                         # the on-screen order is logged as given
    trial = study.start_trial(engine, pid, ids)
    study.record_response(engine, trial, pid, token, choice=ids[k], seconds=elapsed)

Storage (study.db)
    get_engine(url: str | None = None, *, busy_timeout=30.0, synchronous="FULL",
               must_exist=False) -> Engine
        None -> STUDY_DB_URL, else /data/study.sqlite when /data is a writable directory (a
        Space's persistent disk), else ./data/study.sqlite. SQLite runs in WAL mode with a busy
        timeout; writers take the lock at BEGIN so concurrent writers queue instead of failing.
    init_db(engine) -> int
        Create the schema on first use or migrate an older one; returns the schema version.
        Idempotent, safe to call from every process at start-up.
    session_factory(engine) -> sessionmaker[Session];  write_session(engine) / read_session(engine)
        context managers for one transaction.  Engine: the type get_engine returns (SQLAlchemy's).
    load_settings(environ=None) -> Settings   (study.settings: the only place env vars are read:
        STUDY_DB_URL, STUDY_HF_DATASET, STUDY_SYNC_MINUTES, STUDY_ADMIN_TOKEN)

Recording (study.record), each call one transaction
    new_participant(engine, consent: bool = True) -> str            random 32-hex id
    participant_exists(engine, participant_id) -> bool              (read only)
    register_photo(engine, image: bytes | None, *, width, height, sha256=None,
                   keep_image=False) -> photo_id
    register_mask(engine, photo_id, mask: bytes | None, *, width, height, hole_ratio,
                  sha256=None, keep_image=False) -> mask_id
        A photo + mask is one restoration task; bytes are stored only with keep_image=True.
    register_candidates(engine, mask_id, [CandidateInfo(method, dilation=0, dropout=0.0,
                        seed=None, model_version="", image_sha256=None, image_bytes=None)])
                        -> list[candidate_id]   (idempotent; image stored when bytes given)
    start_trial(engine, participant_id, candidate_ids_in_shown_order, study_id=None) -> trial_id
    record_response(engine, trial_id, participant_id, client_token, *, choice=candidate_id
                    | ranking=[ids, best first] | none_acceptable=True, seconds=None)
                    -> response_id
        Idempotent on client_token (a double click or a retry records once).

Controlled studies (study.protocol)
    create_study(engine, name, items=[StudyItemInfo(photo, mask, candidates) or
                 (PhotoInfo, MaskInfo, [CandidateInfo, ...])], *, mode="pick" | "rank",
                 candidates_per_trial=None, trials_per_participant=None, description="",
                 keep_images=True) -> study_id
    load_study_folder(folder, *, manifest=None, hole_is_white=True) -> list[StudyItemInfo]
        (study.folder, uses Pillow; the folder layout is in study/README.md)
    next_trial(engine, study_id, participant_id) -> NextTrial | None
        NextTrial(trial_id, study_id, mask_id, photo_id, candidate_ids (on-screen order),
        mode, number, total): trial `number` of `total`; the same trial again after a reload;
        None when the participant is done.
    study_progress(engine, study_id, participant_id) -> Progress(done, total, finished)
    trial_images(engine, trial_id) -> TrialImages(photo, mask, candidates=((id, bytes), ...))
    find_study(engine, name) -> study_id
    resolve_study(engine, id_or_name) -> StudyInfo(study_id, name, description, mode,
        candidates_per_trial, trials_per_participant): by id (digits) or by name, as a link gives it
    list_studies(engine) -> list[StudyInfo]                          lowest id first

Export (study.export), analysis (study.analysis), sync (study.sync)
    long_table(engine, study_id=None) -> DataFrame      one row per trial x shown candidate
    pairwise_table(engine, study_id=None) -> DataFrame  winner/loser pairs
    study.export.export(engine, "csv" | "parquet" | "json", out_dir) -> [long.*, pairwise.*]
    analyze(engine, out_dir=None, *, study_id=None, confidence=0.95, n_bootstrap=200, seed=0)
        -> AnalysisReport(conditions, position_bias, position_tests, agreement, counts)
    summary_counts(engine) -> {"participants", "studies", "trials", "responses",
                               "none_acceptable"}   (cheap, for a live dashboard)
    start_sync(engine_or_url, repo_id, *, token=None, every_minutes=10.0, private=True)
        -> scheduler (.trigger(), .stop());  maybe_start_sync(engine) when STUDY_HF_DATASET set
    snapshot(engine, out_dir) -> [study.sqlite, long.parquet, pairwise.parquet]

Errors
    StudyError(ValueError): invalid input (unknown candidate, ranking that is not a permutation
        of the shown candidates, someone else's trial, bad folder...), one-line message.
    StorageError(RuntimeError): database locked past the busy timeout, missing, read-only,
        unreachable, without schema, or of a newer schema version.

A *condition* is a candidate's method, dilation, dropout and finish; its key, e.g. "pconv/d2/p0.1"
or "pconv/d4/p0.25/grain", is the `condition` column of the exports (study.models.condition_key).

Command line: python -m study {init,create,export,analyze,summary,snapshot} (see study.cli).
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import Engine

from study.db import get_engine, init_db, read_session, session_factory, write_session
from study.errors import StorageError, StudyError
from study.folder import load_study_folder
from study.inputs import CandidateInfo, MaskInfo, PhotoInfo, StudyItemInfo, sha256_hex
from study.models import condition_key
from study.protocol import (
    NextTrial,
    Progress,
    StudyInfo,
    TrialImages,
    create_study,
    find_study,
    list_studies,
    next_trial,
    resolve_study,
    study_progress,
    trial_images,
)
from study.record import (
    new_participant,
    participant_exists,
    record_response,
    register_candidates,
    register_mask,
    register_photo,
    start_trial,
)
from study.settings import Settings, load_settings

# Loaded on first use (PEP 562): the recording path, and every worker process that records,
# should not pay for importing pandas, matplotlib and choix.
_LAZY = {
    "long_table": "study.export",
    "pairwise_table": "study.export",
    "analyze": "study.analysis",
    "AnalysisReport": "study.analysis",
    "summary_counts": "study.analysis",
    "start_sync": "study.sync",
    "maybe_start_sync": "study.sync",
    "snapshot": "study.sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'study' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AnalysisReport",
    "CandidateInfo",
    "Engine",
    "MaskInfo",
    "NextTrial",
    "PhotoInfo",
    "Progress",
    "Settings",
    "StorageError",
    "StudyError",
    "StudyInfo",
    "StudyItemInfo",
    "TrialImages",
    "analyze",
    "condition_key",
    "create_study",
    "find_study",
    "get_engine",
    "init_db",
    "list_studies",
    "load_settings",
    "load_study_folder",
    "long_table",
    "maybe_start_sync",
    "new_participant",
    "next_trial",
    "pairwise_table",
    "participant_exists",
    "read_session",
    "record_response",
    "register_candidates",
    "register_mask",
    "register_photo",
    "resolve_study",
    "session_factory",
    "sha256_hex",
    "snapshot",
    "start_sync",
    "start_trial",
    "study_progress",
    "summary_counts",
    "trial_images",
    "write_session",
]
