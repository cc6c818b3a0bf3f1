"""The Restore tab: its components, laid out top-down as the page shows them, and its events.

The handlers are in webapp/restore.py (photo, damage, restorations) and webapp/preference.py (the
answers and the consent notice); each returns a dict keyed by the components in ``RestoreUI``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

import inpaint
from webapp import texts
from webapp.page import Page
from webapp.preference import Preferences
from webapp.restore import BRUSH_HEX, CLASSICAL, CONVENTIONS, MAX_MODEL_CANDIDATES, PHOTO_TYPES, RestoreHandlers
from webapp.startup import gpu

RESTORE_QUEUE = "restore"  # restorations and detections: both keep the CPU/GPU busy
PICK_QUEUE = "pick"  # the events that read or change the restoration picked on the page


@dataclass(frozen=True, eq=False)
class RestoreUI:
    """The Restore tab's components."""

    # on the server, per visitor
    result: gr.State  # the latest Restoration
    pending: gr.State  # the answer waiting for consent
    suggested: gr.State  # the latest Suggestion's pixels, replaced by the next one
    favourite: gr.State  # the restoration picked on the page (see PICK_QUEUE)
    # 1. the photo and the options
    photo: gr.File
    photo_note: gr.Markdown
    mask: gr.Image
    convention: gr.Radio
    count: gr.Slider
    variation: gr.Slider
    classical: gr.CheckboxGroup
    seed: gr.Number
    restore_btn: gr.Button
    # 2. the damage
    editor: gr.ImageEditor
    sensitivity: gr.Slider
    suggest_btn: gr.Button
    check_btn: gr.Button
    mask_note: gr.Markdown
    overlay_box: gr.Accordion
    overlay: gr.Image
    # 3. the restorations and the answers
    status: gr.Markdown
    gallery: gr.Gallery
    slider: gr.ImageSlider
    choice: gr.Radio
    keep_photo: gr.Checkbox
    prefer_btn: gr.Button
    none_btn: gr.Button
    ranking: gr.Dropdown
    rank_btn: gr.Button
    download: gr.DownloadButton
    provenance: gr.DownloadButton  # the record beside a download that cannot carry it
    details: gr.Markdown
    pref_status: gr.Markdown
    consent_box: gr.Group
    agree_btn: gr.Button
    decline_btn: gr.Button

    @property
    def compare(self) -> list[Any]:
        """The chosen restoration against the original: before/after, download, settings, and the
        provenance download (last, so the API's outputs keep their places)."""
        return [self.slider, self.download, self.details, self.provenance]

    @property
    def restored(self) -> list[Any]:
        """What a restoration updates (in the API's order: the provenance download comes last)."""
        return [
            self.result,
            self.gallery,
            self.choice,
            self.ranking,
            self.slider,
            self.download,
            self.details,
            self.status,
            self.overlay,
            self.provenance,
        ]

    @property
    def forget(self) -> list[Any]:
        """What a new photo clears."""
        return [
            self.result,
            self.gallery,
            self.choice,
            self.ranking,
            *self.compare,
            self.status,
            self.pref_status,
            self.pending,
            self.suggested,
            self.mask_note,
            self.favourite,
        ]


@dataclass(frozen=True, eq=False)
class RestoreTab:
    """The built tab: its components and the handlers wired to them."""

    ui: RestoreUI
    handlers: RestoreHandlers
    preferences: Preferences


# --- layout ------------------------------------------------------------------------------------


def _photo_and_options(has_model: bool) -> dict[str, Any]:
    photo = gr.File(
        label="1. Upload a photo (PNG, JPEG, TIFF, WebP, BMP)",
        file_types=PHOTO_TYPES,
        type="filepath",
        elem_id="photo-upload",
    )
    photo_note = gr.Markdown()
    with gr.Accordion("Or upload a mask image", open=False):
        mask = gr.Image(
            label="Mask (same shape as the photo)",
            type="pil",
            image_mode=None,
            sources=["upload"],
            elem_id="mask-upload",
        )
        convention = gr.Radio(CONVENTIONS, value="auto", label="In the mask, damage is")
    # without weights these stay hidden: the banner says why
    count = gr.Slider(1, MAX_MODEL_CANDIDATES, value=4, step=1, visible=has_model, label="Restorations by the model")
    variation = gr.Slider(0, 1, value=0.5, step=0.05, visible=has_model, label="How much they may vary")
    classical = gr.CheckboxGroup(
        [(texts.CLASSICAL_LABELS[m], m) for m in CLASSICAL],
        value=[] if has_model else ["telea", "ns", "biharmonic"],
        label="Also add classical methods" if has_model else "Classical methods",
    )
    with gr.Accordion("More options", open=False):
        seed = gr.Number(0, precision=0, minimum=0, label="Seed (0 = a new random one)")
    restore_btn = gr.Button("Restore", variant="primary", elem_id="restore-button")
    return dict(
        photo=photo,
        photo_note=photo_note,
        mask=mask,
        convention=convention,
        count=count,
        variation=variation,
        classical=classical,
        seed=seed,
        restore_btn=restore_btn,
    )


# The editor (Gradio 6's ImageEditor) draws a layer it receives into a texture as large as everything
# on its canvas, centred: a layer smaller than that texture shows shifted right and down, off the
# photo it belongs to. Its brush keeps a texture on the canvas as large as the canvas was when the
# brush was set up, and that texture never shrinks: on the default 800 x 800 canvas a 384 x 384
# layer lands 208 pixels right of and below its place. So the empty canvas is 1 x 1, and a photo
# is always loaded into an empty editor (the page starts empty; removing the photo, which comes
# before uploading another, empties it and sets the brush up again): the canvas is then exactly
# the photo, and a layer of the photo's size is drawn over it pixel for pixel.
EMPTY_CANVAS = (1, 1)


def _damage() -> dict[str, Any]:
    editor = gr.ImageEditor(
        label="2. Paint over the damage, or let Suggest damage mark it (brush, eraser and size in the toolbar)",
        type="numpy",
        image_mode="RGBA",
        sources=[],
        transforms=[],
        layers=False,
        canvas_size=EMPTY_CANVAS,
        brush=gr.Brush(colors=[BRUSH_HEX], color_mode="fixed", default_size=6),
        eraser=gr.Eraser(default_size=10),
        height=560,
        elem_id="damage-editor",
        placeholder="Upload a photo on the left, then paint over the damage here",
    )
    with gr.Row(equal_height=True):
        sensitivity = gr.Slider(
            0,
            1,
            value=inpaint.DEFAULT_SENSITIVITY,
            step=0.05,
            scale=3,
            label="Sensitivity (higher marks more as damage)",
            elem_id="sensitivity-slider",
        )
        suggest_btn = gr.Button("Suggest damage", scale=1, elem_id="suggest-button")
    with gr.Row():
        check_btn = gr.Button("Show the damage to restore", size="sm")
    mask_note = gr.Markdown(elem_id="mask-note")
    with gr.Accordion("Damage to restore (red)", open=False) as overlay_box:
        overlay = gr.Image(label="Damage over the photo", interactive=False, height=360)
    return dict(
        editor=editor,
        sensitivity=sensitivity,
        suggest_btn=suggest_btn,
        check_btn=check_btn,
        mask_note=mask_note,
        overlay_box=overlay_box,
        overlay=overlay,
    )


def _restorations() -> dict[str, Any]:
    status = gr.Markdown(elem_id="restore-status")
    gallery = gr.Gallery(
        label="3. Restorations: click the one you prefer",
        columns=4,
        height="auto",
        object_fit="contain",
        allow_preview=False,
        elem_id="candidates",
    )
    with gr.Row():
        with gr.Column(scale=2):
            slider = gr.ImageSlider(label="Before / after", type="pil", max_height=520, elem_id="before-after")
        with gr.Column(scale=1):
            choice = gr.Radio([], label="Your favourite", elem_id="favourite")
            keep_photo = gr.Checkbox(False, label="You may keep my photo for the study")
            prefer_btn = gr.Button("I prefer this one", variant="primary", elem_id="prefer-button")
            none_btn = gr.Button("None is acceptable", size="sm")
            with gr.Accordion("Or rank them all", open=False):
                ranking = gr.Dropdown([], multiselect=True, label="Best first")
                rank_btn = gr.Button("Record my ranking", size="sm")
            download = gr.DownloadButton("Download", visible=False, elem_id="download-button")
            provenance = gr.DownloadButton(
                "Download its provenance", visible=False, size="sm", elem_id="provenance-button"
            )
            with gr.Accordion("Settings of the chosen restoration", open=False):
                details = gr.Markdown()
            pref_status = gr.Markdown(elem_id="preference-status")
    with gr.Group(visible=False, elem_id="consent") as consent_box:
        gr.Markdown(texts.CONSENT)
        with gr.Row():
            agree_btn = gr.Button("I agree, record my choice", variant="primary", elem_id="consent-agree")
            decline_btn = gr.Button("No thanks", elem_id="consent-decline")
    return dict(
        status=status,
        gallery=gallery,
        slider=slider,
        choice=choice,
        keep_photo=keep_photo,
        prefer_btn=prefer_btn,
        none_btn=none_btn,
        ranking=ranking,
        rank_btn=rank_btn,
        download=download,
        provenance=provenance,
        details=details,
        pref_status=pref_status,
        consent_box=consent_box,
        agree_btn=agree_btn,
        decline_btn=decline_btn,
    )


def layout(has_model: bool) -> RestoreUI:
    """The tab and its components (inside the page's gr.Tabs)."""
    with gr.Tab("Restore", id="restore"):
        states = dict(result=gr.State(None), pending=gr.State(None), suggested=gr.State(None), favourite=gr.State(None))
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                options = _photo_and_options(has_model)
            with gr.Column(scale=2):
                damage = _damage()
        restorations = _restorations()
    return RestoreUI(**states, **options, **damage, **restorations)


# --- events ------------------------------------------------------------------------------------


# The events that update the editor show their progress elsewhere: the page hands an output its
# progress through the component's state, which for the editor means exporting its canvas first,
# and an export for "in progress" that ends after the one for "done" leaves the editor covered by
# a progress box that never goes (after Suggest damage, when the detection is quick, its progress
# report and its result arrive together).


def _wire_photo(ui: RestoreUI, on: RestoreHandlers) -> None:
    """A new photo, or none: the editor shows it, and everything about its predecessor goes. The
    file is removed before another is uploaded, and that empties the editor (see EMPTY_CANVAS)."""
    shown = [ui.editor, ui.photo_note, ui.overlay]
    quiet = dict(show_progress_on=ui.photo_note)
    ui.photo.upload(on.load_photo, ui.photo, shown, api_name="load_photo", **quiet).then(
        on.clear_results, None, ui.forget, api_name="clear_results", api_visibility="private"
    )
    ui.photo.clear(on.clear_photo, None, shown, api_name="clear_photo", api_visibility="private", **quiet).then(
        on.clear_results, None, ui.forget, api_name="clear_results_too", api_visibility="private"
    )


def _wire_damage(ui: RestoreUI, on: RestoreHandlers, concurrency: int) -> None:
    ui.suggest_btn.click(
        gpu(on.suggest),
        [ui.photo, ui.editor, ui.sensitivity, ui.suggested],
        [ui.editor, ui.mask_note, ui.overlay, ui.suggested],
        api_name="suggest_damage",
        show_progress_on=ui.mask_note,  # "Looking for damage" under the button, not over the editor
        concurrency_limit=concurrency,
        concurrency_id=RESTORE_QUEUE,
    )
    check = dict(
        fn=on.check_mask, inputs=[ui.photo, ui.editor, ui.mask, ui.convention], outputs=[ui.overlay, ui.mask_note]
    )
    ui.check_btn.click(**check, api_name="check_mask").then(
        on.open_overlay, None, ui.overlay_box, api_name="open_overlay", api_visibility="private"
    )
    ui.mask.upload(**check, api_name="check_uploaded_mask", api_visibility="private")
    ui.convention.input(**check, api_name="check_convention", api_visibility="private")


def _wire_restore(ui: RestoreUI, on: RestoreHandlers, concurrency: int) -> None:
    ui.restore_btn.click(
        gpu(on.restore),
        [ui.photo, ui.editor, ui.mask, ui.convention, ui.count, ui.variation, ui.classical, ui.seed],
        ui.restored,
        api_name="restore",
        concurrency_limit=concurrency,
        concurrency_id=RESTORE_QUEUE,
    ).then(
        on.reset_preference,
        None,
        [ui.pref_status, ui.pending, ui.favourite],
        api_name="reset_preference",
        api_visibility="private",
    )


def _wire_pick(ui: RestoreUI, on: RestoreHandlers, prefs: Preferences, page: Page) -> None:
    """A click in the gallery, a change of the radio and "I prefer this one" run one at a time in the
    order they were sent, and the pick is kept on the server: a click followed at once by the
    button records the click, even before the radio shows it."""
    pick_queue = dict(concurrency_id=PICK_QUEUE, concurrency_limit=1)
    ui.gallery.select(
        on.select,
        ui.result,
        [ui.choice, ui.favourite],
        api_name="select_candidate",
        api_visibility="private",
        **pick_queue,
    )
    ui.choice.input(on.pick, ui.choice, ui.favourite, api_name="pick_candidate", api_visibility="private", **pick_queue)
    ui.choice.change(on.show, [ui.result, ui.choice], ui.compare, api_name="show", api_visibility="undocumented")
    ui.prefer_btn.click(
        prefs.prefer,
        [ui.result, ui.choice, ui.keep_photo, page.participant, ui.favourite],
        _answered(ui, page),
        api_name="prefer",
        **pick_queue,
    )


def _answered(ui: RestoreUI, page: Page) -> list[Any]:
    """What an answer updates."""
    return [ui.pref_status, ui.consent_box, ui.pending, ui.result, page.participant]


def _wire_answers(ui: RestoreUI, prefs: Preferences, page: Page) -> None:
    """The ranking, "none is acceptable", and the consent notice's two buttons."""
    answered = _answered(ui, page)
    ui.rank_btn.click(prefs.rank, [ui.result, ui.ranking, ui.keep_photo, page.participant], answered, api_name="rank")
    ui.none_btn.click(
        prefs.none_acceptable, [ui.result, ui.keep_photo, page.participant], answered, api_name="none_acceptable"
    )
    ui.agree_btn.click(
        prefs.consent,
        [ui.result, ui.pending, page.participant],
        [page.participant, page.remembered, ui.pref_status, ui.consent_box, ui.pending, ui.result],
        api_name="consent",
    )
    ui.decline_btn.click(prefs.decline, None, [ui.pref_status, ui.consent_box, ui.pending], api_name="decline")


def build(page: Page) -> RestoreTab:
    """Lay out the Restore tab and wire its events."""
    services = page.services
    ui = layout(has_model=services.model is not None)
    handlers = RestoreHandlers(page, ui)
    preferences = Preferences(page, ui)
    concurrency = services.settings.concurrency
    _wire_photo(ui, handlers)
    _wire_damage(ui, handlers, concurrency)
    _wire_restore(ui, handlers, concurrency)
    _wire_pick(ui, handlers, preferences, page)
    _wire_answers(ui, preferences, page)
    return RestoreTab(ui, handlers, preferences)
