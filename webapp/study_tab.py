"""The Study tab: a consent page, the trials one after another and a thank-you page, opened by a
`?study=<id or name>` link. The handlers are in webapp/study_mode.py; each returns a dict keyed by
the components in ``StudyUI``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from webapp import texts
from webapp.page import Page
from webapp.study_mode import StudyMode

STUDY_QUEUE = "study"  # the events that read or change a participant's answer


@dataclass(frozen=True, eq=False)
class StudyUI:
    """The Study tab's components."""

    state: gr.State  # the participant's StudyState, on the server
    intro: gr.Markdown
    consent: gr.Group
    start_btn: gr.Button
    trial: gr.Group
    progress: gr.Markdown
    photo: gr.Image
    gallery: gr.Gallery
    choice: gr.Radio
    ranking: gr.Dropdown
    submit_btn: gr.Button
    none_btn: gr.Button
    thanks: gr.Group

    @property
    def page(self) -> list[Any]:
        """What every page of the study (consent, a trial, thanks) updates."""
        return [
            self.state,
            self.intro,
            self.consent,
            self.trial,
            self.thanks,
            self.progress,
            self.photo,
            self.gallery,
            self.choice,
            self.ranking,
        ]

    @property
    def picked(self) -> list[Any]:
        """What a click, a choice or a change of the ranking updates."""
        return [self.state, self.choice, self.ranking]


def layout() -> StudyUI:
    """The tab and its components (inside the page's gr.Tabs)."""
    with gr.Tab("Study", id="study"):
        state = gr.State(None)
        intro = gr.Markdown(texts.STUDY_NONE, elem_id="study-intro")
        with gr.Group(visible=False) as consent:
            start_btn = gr.Button("I agree, start", variant="primary", elem_id="study-start")
        with gr.Group(visible=False) as trial:
            progress = gr.Markdown(elem_id="study-progress")
            with gr.Row():
                photo = gr.Image(label="The damaged photo", interactive=False, scale=1, height=360)
                gallery = gr.Gallery(
                    label="Restorations",
                    columns=4,
                    scale=2,
                    height=360,
                    object_fit="contain",
                    allow_preview=False,
                    elem_id="study-gallery",
                )
            with gr.Row():
                choice = gr.Radio([], label="The best one", elem_id="study-choice")
                ranking = gr.Dropdown([], multiselect=True, label="Best first", visible=False)
            with gr.Row():
                submit_btn = gr.Button("Submit", variant="primary", elem_id="study-submit")
                none_btn = gr.Button("None is acceptable", size="sm")
        with gr.Group(visible=False) as thanks:
            gr.Markdown(texts.STUDY_THANKS, elem_id="study-thanks")
    return StudyUI(
        state, intro, consent, start_btn, trial, progress, photo, gallery, choice, ranking, submit_btn, none_btn, thanks
    )


def _wire(ui: StudyUI, on: StudyMode, page: Page) -> None:
    page.demo.load(
        on.on_load,
        page.remembered,
        [page.participant, page.tabs, *ui.page],
        api_name="on_load",
        api_visibility="private",
    )
    ui.start_btn.click(
        on.start, [ui.state, page.participant], [page.participant, page.remembered, *ui.page], api_name="study_start"
    )
    # The events that read or change the participant's answer run one at a time, in the order
    # they were sent (one queue, see StudyState), so a Submit right after a click sees it.
    study_queue = dict(concurrency_id=STUDY_QUEUE, concurrency_limit=1)
    ui.submit_btn.click(
        on.submit, [ui.state, page.participant, ui.choice, ui.ranking], ui.page, api_name="study_submit", **study_queue
    )
    ui.none_btn.click(on.none_acceptable, [ui.state, page.participant], ui.page, api_name="study_none", **study_queue)
    ui.gallery.select(on.select, ui.state, ui.picked, api_name="study_select", api_visibility="private", **study_queue)
    ui.choice.input(
        on.choose, [ui.state, ui.choice], ui.picked, api_name="study_choose", api_visibility="private", **study_queue
    )
    ui.ranking.input(
        on.reorder, [ui.state, ui.ranking], ui.picked, api_name="study_reorder", api_visibility="private", **study_queue
    )


def build(page: Page) -> StudyMode:
    """Lay out the Study tab and wire its events (the page's load event opens it from a link)."""
    ui = layout()
    handlers = StudyMode(page, ui)
    _wire(ui, handlers, page)
    return handlers
