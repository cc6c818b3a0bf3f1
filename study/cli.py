"""`python -m study ...`: the researcher's command line.

    python -m study init     [--db URL]
    python -m study create   [--db URL] --name NAME --folder DIR [--mode pick|rank] ...
    python -m study export   [--db URL] --format csv|parquet|json --out DIR [--study NAME]
    python -m study analyze  [--db URL] [--out DIR] [--study NAME] [--bootstrap N] [--json]
    python -m study summary  [--db URL]
    python -m study snapshot [--db URL] --out DIR

`--db` defaults to STUDY_DB_URL, then to the default SQLite file (see study.settings). Bad input
(a wrong path, a malformed manifest, an unknown study, an unusable database) ends with exit code
2 and one line on stderr, never a traceback. Heavy libraries (pandas, matplotlib, choix) are
imported by the commands that need them, so `--help` and `init` stay fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sqlalchemy import Engine

from study.errors import StorageError, StudyError

PROG = "python -m study"


def _engine(args: argparse.Namespace, *, must_exist: bool) -> Engine:
    from study.db import check_schema, get_engine

    engine = get_engine(args.db, must_exist=must_exist)
    if must_exist:
        check_schema(engine)
    return engine


def _study_id(engine: Engine, name: str | None) -> int | None:
    if name is None:
        return None
    from study.protocol import find_study

    return find_study(engine, name)


def cmd_init(args: argparse.Namespace) -> int:
    from study.db import describe, init_db

    engine = _engine(args, must_exist=False)
    version = init_db(engine)
    print(f"study database ready at {describe(engine)} (schema version {version})")
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    from study.db import init_db
    from study.folder import load_study_folder
    from study.protocol import create_study

    items = load_study_folder(args.folder, manifest=args.manifest, hole_is_white=args.holes == "white")
    engine = _engine(args, must_exist=False)
    init_db(engine)
    study_id = create_study(
        engine,
        args.name,
        items,
        mode=args.mode,
        candidates_per_trial=args.candidates_per_trial,
        trials_per_participant=args.trials_per_participant,
        description=args.description,
        keep_images=not args.no_keep_images,
    )
    n_candidates = sum(len(item.candidates) for item in items)
    print(f"created study {args.name!r} (id {study_id}): {len(items)} items, {n_candidates} candidates")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    engine = _engine(args, must_exist=True)
    study_id = _study_id(engine, args.study)
    from study.export import export  # pandas: only once the database is known to be usable

    for path in export(engine, args.format, args.out, study_id=study_id):
        print(f"wrote {path}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from study.analysis import analyze

    if not 0 < args.confidence < 1:
        raise StudyError("--confidence must be between 0 and 1, e.g. 0.95")
    if args.bootstrap < 0:
        raise StudyError("--bootstrap must be >= 0")
    engine = _engine(args, must_exist=True)
    report = analyze(
        engine,
        args.out,
        study_id=_study_id(engine, args.study),
        confidence=args.confidence,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_text())
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from study.analysis import summary_counts

    counts = summary_counts(_engine(args, must_exist=True))
    print(", ".join(f"{name} {value}" for name, value in counts.items()))
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from study.sync import snapshot

    for path in snapshot(_engine(args, must_exist=True), args.out):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Preference study: storage, protocols, export and analysis."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--db",
            metavar="URL",
            help="SQLAlchemy URL (default: STUDY_DB_URL or ./data/study.sqlite)",
        )
        return sub

    sub = command("init", "create or migrate the study database")
    sub.set_defaults(run=cmd_init)

    sub = command("create", "create a controlled study from a folder of images and a manifest")
    sub.add_argument("--name", required=True, help="unique study name")
    sub.add_argument("--folder", required=True, help="study folder (see study/README.md)")
    sub.add_argument("--manifest", help="manifest file (default: candidates.csv or candidates.json)")
    sub.add_argument("--mode", choices=("pick", "rank"), default="pick")
    sub.add_argument("--candidates-per-trial", type=int, metavar="K")
    sub.add_argument("--trials-per-participant", type=int, metavar="N")
    sub.add_argument("--description", default="")
    sub.add_argument(
        "--holes",
        choices=("white", "black"),
        default="white",
        help="colour of damage in mask files",
    )
    sub.add_argument("--no-keep-images", action="store_true", help="store hashes and sizes only")
    sub.set_defaults(run=cmd_create)

    sub = command("export", "write the long and pairwise tables")
    sub.add_argument("--format", required=True, choices=("csv", "parquet", "json"))
    sub.add_argument("--out", required=True, metavar="DIR", help="folder for long.* and pairwise.*")
    sub.add_argument("--study", metavar="NAME", help="only this study's trials")
    sub.set_defaults(run=cmd_export)

    sub = command("analyze", "win rates, strengths, position bias, agreement and a chart")
    sub.add_argument("--out", metavar="DIR", help="also write CSV tables, report.json and chart.png")
    sub.add_argument("--study", metavar="NAME", help="only this study's trials")
    sub.add_argument(
        "--bootstrap",
        type=int,
        default=200,
        metavar="N",
        help="participant resamples (default 200)",
    )
    sub.add_argument("--confidence", type=float, default=0.95)
    sub.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    sub.add_argument("--json", action="store_true", help="print the report as JSON")
    sub.set_defaults(run=cmd_analyze)

    sub = command("summary", "count participants, trials and responses")
    sub.set_defaults(run=cmd_summary)

    sub = command("snapshot", "write a consistent copy of the database and parquet exports")
    sub.add_argument("--out", required=True, metavar="DIR")
    sub.set_defaults(run=cmd_snapshot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with code 2 and a usage line on bad arguments
    try:
        return int(args.run(args))
    except (StudyError, StorageError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. an output folder that cannot be written
        where = f": {error.filename}" if error.filename else ""
        print(f"{PROG} {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
