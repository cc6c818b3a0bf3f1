"""Study mode: `?study=<id or name>` shows a consent page, then the participant's trials one after
another ("Trial 7 of 20"), then a thank-you page. The plan and the on-screen order come from
`study.next_trial`; a reload continues at the first unanswered trial because the participant id
is kept in the browser (gr.BrowserState).

Every handler returns the same page tuple, in the order of ``STUDY_PAGE`` in app.py:
(state, intro, consent visible, trial visible, thanks visible, progress, photo, gallery, choice,
ranking).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
from sqlalchemy import select

import study
from study.models import Study
from webapp import display, texts
from webapp.errors import user_errors
from webapp.preference import participant_exists, stored_participant
from webapp.restore import LABELS
from webapp.startup import Services


STUDY_QUEUE = "study"  # the concurrency group of the events that read or change a participant's answer


@dataclass(frozen=True)
class StudyInfo:
    study_id: int
    name: str
    description: str
    mode: str
    trials_per_participant: int


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
    The study's events run one at a time in the order they were sent (``STUDY_QUEUE`` in app.py), so a
    Submit sent right after a click in the gallery sees that click, whether or not its answer has
    reached the page yet: the radio and the dropdown only show ``picked``."""

    info: StudyInfo
    trial: TrialView | None = None
    picked: tuple[str, ...] = ()


def find_study_info(engine: Any, ref: str) -> StudyInfo:
    """A study by id (digits) or by name. (Reads the Study table directly: `study` has no public
    "describe a study" function yet.)"""
    ref = ref.strip()
    with study.read_session(engine) as session:
        clause = Study.id == int(ref) if ref.isdigit() else Study.name == ref
        row = session.scalar(select(Study).where(clause))
        if row is None:
            raise ValueError(f"There is no study {ref!r}: check the link you were given")
        return StudyInfo(row.id, row.name, row.description or "", row.mode, row.trials_per_participant)


class StudyMode:
    def __init__(self, services: Services) -> None:
        self.engine = services.engine
        self.side = min(services.settings.preview_side, 1024)

    # --- pages ------------------------------------------------------------------------------

    @staticmethod
    def _empty_page(state: StudyState | None, intro: str, consent: bool, thanks: bool) -> tuple[Any, ...]:
        return (state, intro, gr.Group(visible=consent), gr.Group(visible=False), gr.Group(visible=thanks),
                "", None, [], gr.Radio(choices=[], value=None), gr.Dropdown(choices=[], value=[], multiselect=True))

    def _consent_page(self, info: StudyInfo) -> tuple[Any, ...]:
        intro = texts.STUDY_CONSENT.format(
            name=info.name, description=info.description, total=info.trials_per_participant,
            task=texts.STUDY_TASK.get(info.mode, ""), minutes=max(1, round(info.trials_per_participant * 0.5)),
        )
        return self._empty_page(StudyState(info), intro, consent=True, thanks=False)

    def _thanks_page(self, info: StudyInfo) -> tuple[Any, ...]:
        return self._empty_page(StudyState(info), f"### {info.name}", consent=False, thanks=True)

    def _trial_page(self, info: StudyInfo, participant: str) -> tuple[Any, ...]:
        nxt = study.next_trial(self.engine, info.study_id, participant)
        if nxt is None:
            return self._thanks_page(info)
        images = study.trial_images(self.engine, nxt.trial_id)
        if images.photo is None or any(image is None for _, image in images.candidates):
            raise ValueError("This study's images were not stored, so its trials cannot be shown: tell the researcher")
        view = TrialView(nxt.trial_id, tuple(nxt.candidate_ids), nxt.number, nxt.total)
        gallery = [(display.preview(image, self.side), label) for (_, image), label in zip(images.candidates, view.labels)]
        rank = info.mode == "rank"
        return (
            StudyState(info, view),
            f"### {info.name}\n" + texts.STUDY_TASK.get(info.mode, ""),
            gr.Group(visible=False),
            gr.Group(visible=True),
            gr.Group(visible=False),
            f"**Trial {view.number} of {view.total}**",
            display.preview(images.photo, self.side),
            gallery,
            gr.Radio(choices=view.labels, value=None, visible=not rank),
            gr.Dropdown(choices=view.labels, value=[], multiselect=True, visible=rank),
        )

    def _resume_or_consent(self, info: StudyInfo, participant: str | None) -> tuple[Any, ...]:
        if participant is not None:
            progress = study.study_progress(self.engine, info.study_id, participant)
            if progress.finished:
                return self._thanks_page(info)
            if progress.total > 0:  # enrolled: continue where they were
                return self._trial_page(info, participant)
        return self._consent_page(info)

    # --- handlers ---------------------------------------------------------------------------

    @user_errors
    def on_load(self, stored: Any, request: gr.Request) -> tuple[Any, ...]:
        """Page load: restore the participant id from the browser; with ``?study=`` open the
        Study tab at the consent page, or at the participant's next trial after a reload.
        Returns (participant, tabs, *page)."""
        participant = stored_participant(stored)
        ref = (request.query_params.get("study") or "").strip() if request is not None else ""
        if not ref:
            return (participant, gr.Tabs(), *self._empty_page(None, texts.STUDY_NONE, False, False))
        info = find_study_info(self.engine, ref)
        return (participant, gr.Tabs(selected="study"), *self._resume_or_consent(info, participant))

    @user_errors
    def start(self, state: StudyState | None, participant: str | None) -> tuple[Any, ...]:
        """'I agree, start': enrol (a new anonymous participant if this browser has none) and
        show the first trial. Returns (participant, browser state, *page)."""
        if state is None:
            raise ValueError("Open the study link you were given (it ends in ?study=...)")
        if participant is None or not participant_exists(self.engine, participant):
            # none yet, or one the browser remembered from a database since replaced
            participant = study.new_participant(self.engine, consent=True)
        page = self._trial_page(state.info, participant)
        return (participant, {"participant": participant}, *page)

    @user_errors
    def submit(self, state: StudyState | None, participant: str | None, choice: str | None,
               ranking: list[str] | None) -> tuple[Any, ...]:
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
    def none_acceptable(self, state: StudyState | None, participant: str | None) -> tuple[Any, ...]:
        view, participant = self._current(state, participant)
        return self._record(state, view, participant, {"none_acceptable": True})  # type: ignore[arg-type]

    def select(self, state: StudyState | None, evt: gr.SelectData) -> tuple[Any, Any, Any]:
        """A click in the gallery: the choice (pick), or the next place in the ranking (rank).
        Returns (state, choice, ranking)."""
        if state is None or state.trial is None or not isinstance(evt.index, int):
            return state, gr.Radio(), gr.Dropdown()
        labels = state.trial.labels
        if not 0 <= evt.index < len(labels):
            return state, gr.Radio(), gr.Dropdown()
        label = labels[evt.index]
        if state.info.mode == "rank":
            return self._picked(state, [x for x in state.picked if x != label] + [label])
        return self._picked(state, [label])

    def choose(self, state: StudyState | None, choice: str | None) -> tuple[Any, Any, Any]:
        """The participant set the radio (pick) themselves."""
        return self._picked(state, [choice] if choice else [])

    def reorder(self, state: StudyState | None, ranking: list[str] | None) -> tuple[Any, Any, Any]:
        """The participant edited the ranking (rank) themselves, e.g. removed a place."""
        return self._picked(state, list(ranking or []))

    @staticmethod
    def _picked(state: StudyState | None, labels: list[str]) -> tuple[Any, Any, Any]:
        """(state with ``labels`` picked, the radio and the dropdown showing them)."""
        if state is None or state.trial is None:
            return state, gr.Radio(), gr.Dropdown()
        shown = state.trial.labels
        picked = tuple(dict.fromkeys(x for x in labels if x in shown))  # known labels, each once, in order
        state = dataclasses.replace(state, picked=picked)
        if state.info.mode == "rank":
            return state, gr.Radio(), gr.Dropdown(choices=shown, value=list(picked), multiselect=True)
        return state, gr.Radio(value=picked[-1] if picked else None), gr.Dropdown()

    @staticmethod
    def _current(state: StudyState | None, participant: str | None) -> tuple[TrialView, str]:
        if state is None or state.trial is None or participant is None:
            raise ValueError("There is no trial to answer: reload the study link")
        return state.trial, participant

    def _record(self, state: StudyState, view: TrialView, participant: str, answer: dict[str, Any]) -> tuple[Any, ...]:
        seconds = round(max(0.0, time.monotonic() - view.shown_at), 3)
        study.record_response(self.engine, view.trial_id, participant, view.token, seconds=seconds, **answer)
        return self._trial_page(state.info, participant)
