"""'I prefer this one': recording a choice, a ranking or 'none is acceptable' through `study`,
after a one-time consent notice.

Nothing reaches the database before the person agrees. The anonymous participant id lives in a
gr.State on the server and in the browser (gr.BrowserState), so the notice is shown once per browser.
A restoration becomes one trial when it is first answered: photo, mask and candidates are
registered then (images only if the person ticked that the photo may be kept), in on-screen
order. The answer's client token is drawn once per restoration, so a double click or a retried
request records once.

Each handler returns a dict keyed by the Restore tab's components (webapp/restore_tab.py) and the
page's participant id (webapp/page.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

import study
from webapp.errors import user_errors
from webapp.page import Page, Updates
from webapp.restore import Restoration

if TYPE_CHECKING:
    from webapp.restore_tab import RestoreUI

CONSENT_NEEDED = "Please read the notice below: your choice is recorded only if you agree."


@dataclass(frozen=True)
class Answer:
    kind: str  # "pick" | "rank" | "none"
    labels: tuple[str, ...] = ()  # the pick, or the ranking best first
    keep_photo: bool = False


def stored_participant(stored: Any) -> str | None:
    """The participant id kept in the browser (gr.BrowserState value), if any."""
    if isinstance(stored, dict) and isinstance(stored.get("participant"), str):
        return stored["participant"] or None
    return None


class Preferences:
    """The answers given on the Restore tab (components in ``ui``, the participant id on ``page``)."""

    def __init__(self, page: Page, ui: RestoreUI) -> None:
        self.engine = page.services.engine
        self.page = page
        self.ui = ui

    # --- the three answers ------------------------------------------------------------------
    # Each updates the status, the consent notice's visibility, the pending answer, the
    # restoration and the participant.

    @user_errors
    def prefer(
        self,
        result: Restoration | None,
        label: str | None,
        keep_photo: bool,
        participant: str | None,
        picked: str | None = None,
    ) -> Updates:
        """'I prefer this one': the restoration picked on the page (``picked``, kept on the server;
        see PICK_QUEUE in webapp/restore_tab.py) or, when none was, ``label`` (the radio's value,
        or an API client's answer)."""
        self._check(result)
        label = picked or label
        if not label:
            raise ValueError("Click the restoration you prefer first (in the gallery or the list of letters)")
        result.by_label(label)  # type: ignore[union-attr]
        return self._answer(result, Answer("pick", (label,), bool(keep_photo)), participant)

    @user_errors
    def rank(
        self, result: Restoration | None, ranking: list[str] | None, keep_photo: bool, participant: str | None
    ) -> Updates:
        self._check(result)
        assert result is not None
        ranking = list(ranking or [])
        if sorted(ranking) != sorted(result.labels):
            raise ValueError(
                f"Rank all {len(result.labels)} restorations, best first (you listed {len(ranking)}: "
                f"{', '.join(ranking) or 'none'})"
            )
        return self._answer(result, Answer("rank", tuple(ranking), bool(keep_photo)), participant)

    @user_errors
    def none_acceptable(self, result: Restoration | None, keep_photo: bool, participant: str | None) -> Updates:
        self._check(result)
        return self._answer(result, Answer("none", (), bool(keep_photo)), participant)

    # --- consent ----------------------------------------------------------------------------

    @user_errors
    def consent(self, result: Restoration | None, pending: Answer | None, participant: str | None) -> Updates:
        """'I agree': create the anonymous participant (once) and record the waiting answer.
        Updates the participant (on the server and in the browser), the status, the notice's
        visibility, the pending answer and the restoration."""
        if not study.participant_exists(self.engine, participant):
            participant = study.new_participant(self.engine, consent=True)
        status = "Thank you. Your choices will be recorded from now on."
        if pending is not None and result is not None:
            status = self._record(result, pending, participant)
        ui = self.ui
        return {
            self.page.participant: participant,
            self.page.remembered: {"participant": participant},
            ui.pref_status: status,
            ui.consent_box: gr.Group(visible=False),
            ui.pending: None,
            ui.result: result,
        }

    def decline(self) -> Updates:
        """'No thanks': forget the waiting answer; nothing is recorded."""
        return {
            self.ui.pref_status: "Nothing was recorded. You can still download the restorations.",
            self.ui.consent_box: gr.Group(visible=False),
            self.ui.pending: None,
        }

    # --- recording ----------------------------------------------------------------------------

    @staticmethod
    def _check(result: Restoration | None) -> None:
        if result is None:
            raise ValueError("Restore a photo first")
        if len(result.shown) < 2:
            raise ValueError("There is only one restoration: make at least two to compare them")

    def _answer(self, result: Restoration, answer: Answer, participant: str | None) -> Updates:
        # An id the database does not know (a browser keeps it across a change of database)
        # counts as no consent: nothing is registered under it.
        known = study.participant_exists(self.engine, participant)
        status = self._record(result, answer, participant) if known else CONSENT_NEEDED  # type: ignore[arg-type]
        return {
            self.ui.pref_status: status,
            self.ui.consent_box: gr.Group(visible=not known),
            self.ui.pending: None if known else answer,
            self.ui.result: result,
            self.page.participant: participant if known else None,
        }

    def _record(self, result: Restoration, answer: Answer, participant: str) -> str:
        if result.response_id is not None:
            return "Your answer for these restorations is already recorded. Restore again to compare new ones."
        if result.trial_id is None:
            result.trial_id = self._start_trial(result, participant, answer.keep_photo)
        ids = {s.label: cid for s, cid in zip(result.shown, result.candidate_ids)}
        seconds = max(0.0, time.monotonic() - result.shown_at)
        kwargs: dict[str, Any]
        if answer.kind == "pick":
            kwargs = {"choice": ids[answer.labels[0]]}
        elif answer.kind == "rank":
            kwargs = {"ranking": [ids[label] for label in answer.labels]}
        else:
            kwargs = {"none_acceptable": True}
        result.response_id = study.record_response(
            self.engine, result.trial_id, participant, result.token, seconds=round(seconds, 3), **kwargs
        )
        what = {
            "pick": f"your choice ({answer.labels[0]})" if answer.labels else "your choice",
            "rank": "your ranking (" + " > ".join(answer.labels) + ")",
            "none": "that none is acceptable",
        }[answer.kind]
        kept = " The photo is kept for the study, as you allowed." if answer.keep_photo else ""
        return f"Recorded {what}. Thank you!{kept}"

    def _start_trial(self, result: Restoration, participant: str, keep: bool) -> int:
        """Register photo, mask and candidates (images only with permission) and the trial."""
        w, h = result.size
        photo_id = study.register_photo(
            self.engine,
            result.photo_path.read_bytes() if keep else None,
            width=w,
            height=h,
            sha256=result.photo_sha256,
            keep_image=keep,
        )
        mask_id = study.register_mask(
            self.engine,
            photo_id,
            result.mask_png,
            width=w,
            height=h,
            hole_ratio=result.hole_ratio,
            keep_image=keep,
        )
        infos = [
            study.CandidateInfo(
                method=s.params["method"],
                dilation=int(s.params["dilation"]),
                dropout=float(s.params["dropout"]),
                finish=str(s.params.get("finish") or "plain"),
                seed=int(s.params["seed"]),
                model_version=s.params.get("model_version") or "",
                image_sha256=s.sha256,
                image_bytes=s.path.read_bytes() if keep else None,
            )
            for s in result.shown
        ]
        result.candidate_ids = study.register_candidates(self.engine, mask_id, infos)
        return study.start_trial(self.engine, participant, result.candidate_ids)
