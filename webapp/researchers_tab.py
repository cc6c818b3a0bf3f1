"""The Researchers tab, behind STUDY_ADMIN_TOKEN: the token, then live counts, the analysis and the
exports. Without a configured token the tab is shown disabled, with no components and no events.
The handlers are in webapp/admin.py; each returns a dict keyed by the components in
``ResearchersUI``.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webapp import texts
from webapp.admin import Dashboard
from webapp.page import Page

COUNTS_SECONDS = 15  # how often the open dashboard refreshes its counts


@dataclass(frozen=True, eq=False)
class ResearchersUI:
    """The Researchers tab's components (when a token is configured)."""

    token: gr.Textbox
    unlock_btn: gr.Button
    note: gr.Markdown
    timer: gr.Timer
    dashboard: gr.Group
    counts: gr.Markdown
    scope: gr.Dropdown
    analyze_btn: gr.Button
    table: gr.Dataframe
    analysis_note: gr.Markdown
    chart: gr.Image
    csv_btn: gr.Button
    parquet_btn: gr.Button
    exports: gr.File


def layout() -> ResearchersUI:
    """The components inside the tab."""
    with gr.Row():
        token = gr.Textbox(label="Researcher token", type="password", scale=3, elem_id="admin-token")
        unlock_btn = gr.Button("Open the dashboard", scale=1, elem_id="admin-unlock")
    note = gr.Markdown()
    timer = gr.Timer(COUNTS_SECONDS, active=False)
    with gr.Group(visible=False) as dashboard:
        counts = gr.Markdown(elem_id="admin-counts")
        with gr.Row():
            scope = gr.Dropdown([], label="Data", scale=3)
            analyze_btn = gr.Button("Analyse", variant="primary", scale=1, elem_id="admin-analyze")
        table = gr.Dataframe(label="Per condition (95 % intervals)", interactive=False, wrap=True)
        analysis_note = gr.Markdown()
        chart = gr.Image(label="Chart", type="filepath", interactive=False)
        with gr.Row():
            csv_btn = gr.Button("Export CSV", elem_id="admin-csv")
            parquet_btn = gr.Button("Export Parquet", elem_id="admin-parquet")
        exports = gr.File(label="Exports", file_count="multiple", interactive=False)
    return ResearchersUI(
        token,
        unlock_btn,
        note,
        timer,
        dashboard,
        counts,
        scope,
        analyze_btn,
        table,
        analysis_note,
        chart,
        csv_btn,
        parquet_btn,
        exports,
    )


def _wire(ui: ResearchersUI, on: Dashboard) -> None:
    unlock = dict(fn=on.unlock, inputs=ui.token, outputs=[ui.dashboard, ui.note, ui.timer, ui.counts, ui.scope])
    ui.unlock_btn.click(**unlock, api_name="admin_unlock")
    ui.token.submit(**unlock, api_name="admin_unlock_enter", api_visibility="private")
    ui.timer.tick(on.counts, ui.token, ui.counts, api_name="admin_counts", show_progress="hidden")
    ui.analyze_btn.click(
        on.analyze, [ui.token, ui.scope], [ui.table, ui.chart, ui.analysis_note], api_name="admin_analyze"
    )
    ui.csv_btn.click(on.export_csv, [ui.token, ui.scope], ui.exports, api_name="admin_export")
    ui.parquet_btn.click(on.export_parquet, [ui.token, ui.scope], ui.exports, api_name="admin_export_parquet")


def build(page: Page) -> Dashboard:
    """The Researchers tab: interactive, with its events, only when a researcher token is configured."""
    enabled = bool(page.services.settings.admin_token)
    with gr.Tab("Researchers", id="researchers", interactive=enabled):
        if not enabled:
            gr.Markdown(texts.ADMIN_DISABLED)
            return Dashboard(page, None)
        ui = layout()
    handlers = Dashboard(page, ui)
    _wire(ui, handlers)
    return handlers
