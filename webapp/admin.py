"""The researchers' tab, behind STUDY_ADMIN_TOKEN: live counts, the analysis (win rates with
intervals and the chart of `study analyze`) and downloads of the exports.

Every handler checks the token it is given, so the data stay closed to a client that calls the
endpoints directly; with no token configured the tab is disabled and every handler refuses. Each
returns a dict keyed by the tab's components (webapp/researchers_tab.py).
"""

from __future__ import annotations

import hmac
import math
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import pandas as pd

import study
from webapp import texts
from webapp.errors import user_errors
from webapp.page import Page, Updates
from webapp.startup import prune_outputs

if TYPE_CHECKING:
    from webapp.researchers_tab import ResearchersUI

ALL = "All recorded answers"
TABLE_COLUMNS = [
    "condition",
    "shown",
    "chosen",
    "first choice [CI]",
    "pairwise wins [CI]",
    "strength [CI]",
    "none acceptable",
]


def _ci(value: float, low: float, high: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    fmt = "+.3f" if signed else ".3f"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return format(value, fmt)
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


class Dashboard:
    """The researchers' handlers, for the components in ``ui`` (None: the tab is disabled)."""

    def __init__(self, page: Page, ui: ResearchersUI | None) -> None:
        settings = page.services.settings
        self.engine = page.services.engine
        self.token = settings.admin_token
        self.workdir = settings.output_dir / "admin"
        self.ui = ui

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    @property
    def _ui(self) -> ResearchersUI:
        assert self.ui is not None, "an enabled dashboard has its components"
        return self.ui

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
    def unlock(self, token: str | None) -> Updates:
        """Open the dashboard: show it, say so, start the timer, fill in the counts and the choice
        of data (all answers, or one study)."""
        self._check(token)
        studies = [f"{s.study_id}: {s.name}" for s in study.list_studies(self.engine)]
        ui = self._ui
        return {
            ui.dashboard: gr.Group(visible=True),
            ui.note: "Unlocked. Counts refresh every 15 seconds.",
            ui.timer: gr.Timer(active=True),
            ui.counts: self._counts(),
            ui.scope: gr.Dropdown(choices=[ALL, *studies], value=ALL),
        }

    def _counts(self) -> str:
        c = study.summary_counts(self.engine)
        return (
            f"**{c['participants']}** participants, **{c['studies']}** studies, **{c['trials']}** trials shown, "
            f'**{c["responses"]}** answers ({c["none_acceptable"]} "none acceptable").'
        )

    @user_errors
    def counts(self, token: str | None) -> Updates:
        self._check(token)
        return {self._ui.counts: self._counts()}

    @user_errors
    def analyze(self, token: str | None, choice: str | None) -> Updates:
        """Win rates with intervals per condition (the table), the chart, and the position-bias
        summary (the analysis note)."""
        self._check(token)
        folder = self._folder()
        report = study.analyze(self.engine, folder, study_id=self._study_id(choice))
        rows = [
            [
                r.condition,
                int(r.shown),
                int(r.chosen),
                _ci(r.win_rate, r.win_ci_low, r.win_ci_high),
                _ci(r.pair_win_rate, r.pair_ci_low, r.pair_ci_high),
                _ci(r.strength, r.strength_ci_low, r.strength_ci_high, signed=True),
                f"{r.none_rate:.3f}",
            ]
            for r in report.conditions.itertuples()
        ]
        notes = [
            f"{report.counts['responses']} answers from {report.counts['participants']} participants; "
            f"{int(report.confidence * 100)} % intervals."
        ]
        for test in report.position_tests:
            notes.append(
                f"Position bias, {test['n_shown']} shown: the first was chosen {test['first_rate']:.3f} of the time "
                f"(chance {test['expected_rate']:.3f}, p = {test['first_p_value']:.3g})."
            )
        if report.best_condition:
            notes.append(f"Strongest condition: `{report.best_condition}`.")
        ui = self._ui
        return {
            ui.table: pd.DataFrame(rows, columns=TABLE_COLUMNS),
            ui.chart: str(folder / "chart.png"),
            ui.analysis_note: "\n\n".join(notes),
        }

    @user_errors
    def export(self, token: str | None, fmt: str, choice: str | None) -> Updates:
        """The long and pairwise tables as CSV or Parquet files to download."""
        self._check(token)
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"Unknown export format {fmt!r}: choose csv or parquet")
        from study.export import export

        files = export(self.engine, fmt, self._folder(), study_id=self._study_id(choice))
        return {self._ui.exports: [str(p) for p in files]}

    def export_csv(self, token: str | None, choice: str | None) -> Updates:
        return self.export(token, "csv", choice)

    def export_parquet(self, token: str | None, choice: str | None) -> Updates:
        return self.export(token, "parquet", choice)
