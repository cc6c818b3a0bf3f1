"""`python -m study`: each command on a real SQLite file; bad input exits 2 with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from study.cli import main
from study.db import get_engine
from study.export import LONG_COLUMNS, PAIRWISE_COLUMNS
from study.migrations import SCHEMA_VERSION
from study.protocol import find_study, next_trial
from study.record import new_participant, record_response

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study_with_votes(tmp_path_factory, make_study_folder):
    """`init` and `create` through the command line, then a few votes through the API (made
    once: the tests below only read it)."""
    tmp_path = tmp_path_factory.mktemp("cli")
    db_url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    assert main(["init", "--db", db_url]) == 0
    folder = make_study_folder(tmp_path / "study")
    assert main(["create", "--db", db_url, "--name", "pilot", "--folder", str(folder)]) == 0
    engine = get_engine(db_url)
    study_id = find_study(engine, "pilot")
    for _ in range(3):
        participant = new_participant(engine)
        while (trial := next_trial(engine, study_id, participant)) is not None:
            record_response(
                engine,
                trial.trial_id,
                participant,
                f"{participant}{trial.number}",
                choice=trial.candidate_ids[0],
            )
    engine.dispose()
    return db_url


def test_init_and_create_report_what_they_did(db_url, tmp_path, capsys, make_study_folder):
    assert main(["init", "--db", db_url]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["init", "--db", db_url]) == 0  # idempotent
    folder = make_study_folder(tmp_path / "study")
    assert main(["create", "--db", db_url, "--name", "pilot", "--folder", str(folder), "--mode", "rank"]) == 0
    assert "created study 'pilot' (id 1): 2 items, 4 candidates" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_writes_tables_that_open_in_pandas(study_with_votes, tmp_path, capsys, fmt):
    out = tmp_path / "export"
    assert (
        main(
            [
                "export",
                "--db",
                study_with_votes,
                "--format",
                fmt,
                "--out",
                str(out),
                "--study",
                "pilot",
            ]
        )
        == 0
    )
    assert f"long.{fmt}" in capsys.readouterr().out
    read = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt]
    long, pairs = read(out / f"long.{fmt}"), read(out / f"pairwise.{fmt}")
    assert list(long.columns) == list(LONG_COLUMNS) and len(long) == 3 * 2 * 2
    assert list(pairs.columns) == list(PAIRWISE_COLUMNS) and len(pairs) == 3 * 2


def test_analyze_prints_a_summary_and_writes_files(study_with_votes, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["analyze", "--db", study_with_votes, "--out", str(out), "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "participants 3, trials 6, responses 6" in text and "pconv/d2/p0.1" in text
    assert {p.name for p in out.iterdir()} == {
        "conditions.csv",
        "position_bias.csv",
        "chart.png",
        "report.json",
    }
    assert main(["analyze", "--db", study_with_votes, "--json", "--bootstrap", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["responses"] == 6


def test_summary_and_snapshot(study_with_votes, tmp_path, capsys):
    assert main(["summary", "--db", study_with_votes]) == 0
    assert "participants 3, studies 1, trials 6, responses 6" in capsys.readouterr().out
    assert main(["snapshot", "--db", study_with_votes, "--out", str(tmp_path / "snap")]) == 0
    assert (tmp_path / "snap" / "study.sqlite").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--format", "csv", "--out", "{tmp}/x"], "no SQLite database at"),
        (["analyze", "--out", "{tmp}/x"], "no SQLite database at"),
        (["summary", "--db", "sqlite:///{tmp}/missing/dir/db.sqlite"], "does not exist"),
        (["create", "--name", "x", "--folder", "{tmp}/nope"], "study folder"),
        (
            ["export", "--format", "csv", "--out", "{tmp}/x", "--study", "nope", "--db", "{db}"],
            "no study named 'nope'",
        ),
        (["analyze", "--confidence", "2", "--db", "{db}"], "--confidence must be between 0 and 1"),
        (["summary", "--db", "{empty}"], "has no study tables"),
        (["init", "--db", "mysql+nosuchdriver://x"], "cannot use database URL"),
    ],
)
def test_bad_input_exits_2_with_one_line(study_with_votes, tmp_path, capsys, argv, message):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    values = {"tmp": str(tmp_path), "db": study_with_votes, "empty": f"sqlite:///{empty}"}
    argv = [a.format(**values) for a in argv]
    if "--db" not in argv:
        argv += ["--db", f"sqlite:///{tmp_path / 'absent.sqlite'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_python_dash_m_study_exits_2_without_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "study",
            "export",
            "--db",
            f"sqlite:///{tmp_path / 'none.sqlite'}",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().count("\n") == 0 and "no SQLite database" in missing.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "study", "export", "--format", "xml"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert usage.returncode == 2 and "invalid choice" in usage.stderr and "Traceback" not in usage.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "study", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert helped.returncode == 0 and "analyze" in helped.stdout
