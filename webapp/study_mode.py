"""Study mode: `?study=<id or name>` shows a consent page, then the participant's trials one after
another ("Trial 7 of 20"), then a thank-you page. The plan and the on-screen order come from
`study.next_trial`; a reload continues at the first unanswered trial because the participant id
is kept in the browser (gr.BrowserState).

Every handler returns a dict keyed by the Study tab's components (webapp/study_tab.py); the
pages update all of ``StudyUI.page``: the state, the intro, which of the consent, trial and
thank-you groups is visible, the progress, the photo, the gallery, the choice and the ranking.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

import study
from study import StudyInfo
from webapp import display, texts
from webapp.errors import user_errors
from webapp.page import Page, Updates
from webapp.preference import stored_participant
from webapp.restore import LABELS

if TYPE_CHECKING:
    from webapp.study_tab import StudyUI


@dataclass(frozen=True)
class TrialView:
    trial_id: int
    candidate_ids: tuple[int, ...]  # on-screen order
    number: int
    total: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    shown_at: float = field(default_factory=time.monotonic)

    @property
    def labels(self) -> list[str]:
        return list(LABELS[: len(self.candidate_ids)])


@dataclass(frozen=True)
class StudyState:
    """The participant's place in the study, kept on the server (gr.State). ``picked``: the labels
    chosen on the current trial so far, in order (pick: the last is the choice; rank: the ranking).
    The study's events run one at a time in the order they were sent (``STUDY_QUEUE`` in
    webapp/study_tab.py), so a Submit sent right after a click in the gallery sees that click,
    whether or not its answer has reached the page yet: the radio and the dropdown only show
    ``picked``."""

    info: StudyInfo
    trial: TrialView | None = None
    picked: tuple[str, ...] = ()


def find_study_info(engine: study.Engine, ref: str) -> StudyInfo:
    """A study by id (digits) or by name, as a study link gives it."""
    try:
        return study.resolve_study(engine, ref)
    except study.StudyError:
        raise ValueError(f"There is no study {ref.strip()!r}: check the link you were given") from None


class StudyMode:
    """The Study tab's handlers, for the components in ``ui`` and the page's participant id."""

    def __init__(self, page: Page, ui: StudyUI) -> None:
        self.engine = page.services.engine
        self.side = min(page.services.settings.preview_side, 1024)
        self.page = page
        self.ui = ui

    # --- pages ------------------------------------------------------------------------------

    def _empty_page(self, state: StudyState | None, intro: str, consent: bool, thanks: bool) -> Updates:
        ui = self.ui
        return {
            ui.state: state,
            ui.intro: intro,
            ui.consent: gr.Group(visible=consent),
            ui.trial: gr.Group(visible=False),
            ui.thanks: gr.Group(visible=thanks),
            ui.progress: "",
            ui.photo: None,
            ui.gallery: [],
            ui.choice: gr.Radio(choices=[], value=None),
            ui.ranking: gr.Dropdown(choices=[], value=[], multiselect=True),
        }

    def _consent_page(self, info: StudyInfo) -> Updates:
        intro = texts.STUDY_CONSENT.format(
            name=info.name,
            description=info.description,
            total=info.trials_per_participant,
            task=texts.STUDY_TASK.get(info.mode, ""),
            minutes=max(1, round(info.trials_per_participant * 0.5)),
        )
        return self._empty_page(StudyState(info), intro, consent=True, thanks=False)

    def _thanks_page(self, info: StudyInfo) -> Updates:
        return self._empty_page(StudyState(info), f"### {info.name}", consent=False, thanks=True)

    def _trial_page(self, info: StudyInfo, participant: str) -> Updates:
        nxt = study.next_trial(self.engine, info.study_id, participant)
        if nxt is None:
            return self._thanks_page(info)
        images = study.trial_images(self.engine, nxt.trial_id)
        if images.photo is None or any(image is None for _, image in images.candidates):
            raise ValueError("This study's images were not stored, so its trials cannot be shown: tell the researcher")
        view = TrialView(nxt.trial_id, tuple(nxt.candidate_ids), nxt.number, nxt.total)
        gallery = [
            (display.preview(image, self.side), label) for (_, image), label in zip(images.candidates, view.labels)
        ]
        rank = info.mode == "rank"
        ui = self.ui
        return {
            ui.state: StudyState(info, view),
            ui.intro: f"### {info.name}\n" + texts.STUDY_TASK.get(info.mode, ""),
            ui.consent: gr.Group(visible=False),
            ui.trial: gr.Group(visible=True),
            ui.thanks: gr.Group(visible=False),
            ui.progress: f"**Trial {view.number} of {view.total}**",
            ui.photo: display.preview(images.photo, self.side),
            ui.gallery: gallery,
            ui.choice: gr.Radio(choices=view.labels, value=None, visible=not rank),
            ui.ranking: gr.Dropdown(choices=view.labels, value=[], multiselect=True, visible=rank),
        }

    def _resume_or_consent(self, info: StudyInfo, participant: str | None) -> Updates:
        if participant is not None:
            progress = study.study_progress(self.engine, info.study_id, participant)
            if progress.finished:
                return self._thanks_page(info)
            if progress.total > 0:  # enrolled: continue where they were
                return self._trial_page(info, participant)
        return self._consent_page(info)

    # --- handlers ---------------------------------------------------------------------------

    @user_errors
    def on_load(self, stored: Any, request: gr.Request) -> Updates:
        """Page load: restore the participant id from the browser; with ``?study=`` open the
        Study tab at the consent page, or at the participant's next trial after a reload.
        Updates the participant, the tabs and the study page."""
        participant = stored_participant(stored)
        ref = (request.query_params.get("study") or "").strip() if request is not None else ""
        if not ref:
            page = self._empty_page(None, texts.STUDY_NONE, False, False)
            return {self.page.participant: participant, self.page.tabs: gr.Tabs(), **page}
        info = find_study_info(self.engine, ref)
        page = self._resume_or_consent(info, participant)
        return {self.page.participant: participant, self.page.tabs: gr.Tabs(selected="study"), **page}

    @user_errors
    def start(self, state: StudyState | None, participant: str | None) -> Updates:
        """'I agree, start': enrol (a new anonymous participant if this browser has none) and
        show the first trial. Updates the participant (on the server and in the browser) and the
        study page."""
        if state is None:
            raise ValueError("Open the study link you were given (it ends in ?study=...)")
        if not study.participant_exists(self.engine, participant):
            # none yet, or one the browser kept from another database
            participant = study.new_participant(self.engine, consent=True)
        page = self._trial_page(state.info, participant)  # type: ignore[arg-type]
        return {self.page.participant: participant, self.page.remembered: {"participant": participant}, **page}

    @user_errors
    def submit(
        self, state: StudyState | None, participant: str | None, choice: str | None, ranking: list[str] | None
    ) -> Updates:
        """Record the answer to the current trial and show the next one (or the thank-you page).
        The answer is what the participant picked on the page (``state.picked``); ``choice`` and
        ``ranking`` count only when nothing was (an API client that sends its answer directly)."""
        view, participant = self._current(state, participant)
        ids = dict(zip(view.labels, view.candidate_ids))
        if state.picked:  # type: ignore[union-attr]
            choice, ranking = state.picked[-1], list(state.picked)  # type: ignore[union-attr]
        if state.info.mode == "rank":  # type: ignore[union-attr]
            ranking = list(ranking or [])
            if sorted(ranking) != sorted(view.labels):
                raise ValueError(f"Rank all {len(view.labels)} restorations, best first: click them in order")
            answer: dict[str, Any] = {"ranking": [ids[label] for label in ranking]}
        else:
            if choice not in ids:
                raise ValueError("Click the restoration you find best first")
            answer = {"choice": ids[choice]}
        return self._record(state, view, participant, answer)  # type: ignore[arg-type]

    @user_errors
    def none_acceptable(self, state: StudyState | None, participant: str | None) -> Updates:
        view, participant = self._current(state, participant)
        return self._record(state, view, participant, {"none_acceptable": True})  # type: ignore[arg-type]

    def select(self, state: StudyState | None, evt: gr.SelectData) -> Updates:
        """A click in the gallery: the choice (pick), or the next place in the ranking (rank).
        Updates the state, the choice and the ranking."""
        if state is None or state.trial is None or not isinstance(evt.index, int):
            return self._unchanged(state)
        labels = state.trial.labels
        if not 0 <= evt.index < len(labels):
            return self._unchanged(state)
        label = labels[evt.index]
        if state.info.mode == "rank":
            return self._picked(state, [x for x in state.picked if x != label] + [label])
        return self._picked(state, [label])

    def choose(self, state: StudyState | None, choice: str | None) -> Updates:
        """The participant set the radio (pick) themselves."""
        return self._picked(state, [choice] if choice else [])

    def reorder(self, state: StudyState | None, ranking: list[str] | None) -> Updates:
        """The participant edited the ranking (rank) themselves, e.g. removed a place."""
        return self._picked(state, list(ranking or []))

    def _unchanged(self, state: StudyState | None) -> Updates:
        """The state as it is, the radio and the dropdown untouched."""
        return {self.ui.state: state, self.ui.choice: gr.Radio(), self.ui.ranking: gr.Dropdown()}

    def _picked(self, state: StudyState | None, labels: list[str]) -> Updates:
        """The state with ``labels`` picked, and the radio or the dropdown showing them."""
        if state is None or state.trial is None:
            return self._unchanged(state)
        shown = state.trial.labels
        picked = tuple(dict.fromkeys(x for x in labels if x in shown))  # known labels, each once, in order
        state = dataclasses.replace(state, picked=picked)
        ui = self.ui
        if state.info.mode == "rank":
            ranking = gr.Dropdown(choices=shown, value=list(picked), multiselect=True)
            return {ui.state: state, ui.choice: gr.Radio(), ui.ranking: ranking}
        return {ui.state: state, ui.choice: gr.Radio(value=picked[-1] if picked else None), ui.ranking: gr.Dropdown()}

    @staticmethod
    def _current(state: StudyState | None, participant: str | None) -> tuple[TrialView, str]:
        if state is None or state.trial is None or participant is None:
            raise ValueError("There is no trial to answer: reload the study link")
        return state.trial, participant

    def _record(self, state: StudyState, view: TrialView, participant: str, answer: dict[str, Any]) -> Updates:
        seconds = round(max(0.0, time.monotonic() - view.shown_at), 3)
        study.record_response(self.engine, view.trial_id, participant, view.token, seconds=seconds, **answer)
        return self._trial_page(state.info, participant)
