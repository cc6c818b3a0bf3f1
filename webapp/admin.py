"""The researchers' tab, behind STUDY_ADMIN_TOKEN: live counts, the analysis (win rates with
intervals and the chart of `study analyze`) and downloads of the exports.

Every handler checks the token it is given, so the data stay closed to a client that calls the
endpoints directly; with no token configured the tab is disabled and every handler refuses.
"""

from __future__ import annotations

import hmac
import math
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from sqlalchemy import select

import study
from study.models import Study
from webapp import texts
from webapp.errors import user_errors
from webapp.startup import Services, prune_outputs

ALL = "All recorded answers"
TABLE_COLUMNS = ["condition", "shown", "chosen", "first choice [CI]", "pairwise wins [CI]", "strength [CI]", "none acceptable"]


def _ci(value: float, low: float, high: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    fmt = "+.3f" if signed else ".3f"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return format(value, fmt)
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


class Dashboard:
    def __init__(self, services: Services) -> None:
        self.engine = services.engine
        self.token = services.settings.admin_token
        self.workdir = services.settings.output_dir / "admin"

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def _check(self, token: str | None) -> None:
        if not self.token:
            raise ValueError(texts.ADMIN_DISABLED)
        if not token or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise ValueError("Wrong researcher token")

    def _study_id(self, choice: str | None) -> int | None:
        if not choice or choice == ALL:
            return None
        return int(choice.split(":", 1)[0])

    def _folder(self) -> Path:
        prune_outputs(self.workdir, max_age_seconds=3600)
        folder = self.workdir / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder

    @user_errors
    def unlock(self, token: str | None) -> tuple[Any, ...]:
        """Open the dashboard. Returns (dashboard visibility, message, timer, counts, study choice)."""
        self._check(token)
        with study.read_session(self.engine) as session:
            studies = [f"{sid}: {name}" for sid, name in session.execute(select(Study.id, Study.name).order_by(Study.id))]
        return (
            gr.Group(visible=True),
            "Unlocked. Counts refresh every 15 seconds.",
            gr.Timer(active=True),
            self._counts(),
            gr.Dropdown(choices=[ALL, *studies], value=ALL),
        )

    def _counts(self) -> str:
        c = study.summary_counts(self.engine)
        return (
            f"**{c['participants']}** participants, **{c['studies']}** studies, **{c['trials']}** trials shown, "
            f"**{c['responses']}** answers ({c['none_acceptable']} \"none acceptable\")."
        )

    @user_errors
    def counts(self, token: str | None) -> str:
        self._check(token)
        return self._counts()

    @user_errors
    def analyze(self, token: str | None, choice: str | None) -> tuple[pd.DataFrame, str, str]:
        """Win rates with intervals per condition, the chart, and the position-bias summary."""
        self._check(token)
        folder = self._folder()
        report = study.analyze(self.engine, folder, study_id=self._study_id(choice))
        rows = [
            [r.condition, int(r.shown), int(r.chosen), _ci(r.win_rate, r.win_ci_low, r.win_ci_high),
             _ci(r.pair_win_rate, r.pair_ci_low, r.pair_ci_high),
             _ci(r.strength, r.strength_ci_low, r.strength_ci_high, signed=True), f"{r.none_rate:.3f}"]
            for r in report.conditions.itertuples()
        ]
        notes = [f"{report.counts['responses']} answers from {report.counts['participants']} participants; "
                 f"{int(report.confidence * 100)} % intervals."]
        for test in report.position_tests:
            notes.append(
                f"Position bias, {test['n_shown']} shown: the first was chosen {test['first_rate']:.3f} of the time "
                f"(chance {test['expected_rate']:.3f}, p = {test['first_p_value']:.3g})."
            )
        if report.best_condition:
            notes.append(f"Strongest condition: `{report.best_condition}`.")
        return pd.DataFrame(rows, columns=TABLE_COLUMNS), str(folder / "chart.png"), "\n\n".join(notes)

    @user_errors
    def export(self, token: str | None, fmt: str, choice: str | None) -> list[str]:
        """The long and pairwise tables as CSV or Parquet files to download."""
        self._check(token)
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"Unknown export format {fmt!r}: choose csv or parquet")
        from study.export import export

        return [str(p) for p in export(self.engine, fmt, self._folder(), study_id=self._study_id(choice))]
