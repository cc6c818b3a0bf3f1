"""The web app: restore a damaged photo, compare restorations, record which one people prefer.

Runs locally with `python app.py` (http://127.0.0.1:7860) and unchanged on a Hugging Face Space
(README front matter: `sdk: gradio`, `app_file: app.py`). This file only builds the page and wires
events; the handlers live in `webapp/`, restoration in `inpaint/`, storage in `study/`.
Settings come from environment variables (webapp/settings.py lists them).

API (gradio_client; `Client(url).view_api()` lists the parameters): /restore, /prefer, /rank,
/none_acceptable, /consent, /decline, /load_photo, /suggest_damage, /check_mask, /study_start,
/study_submit, /study_none, and with a researcher token /admin_unlock, /admin_counts, /admin_analyze,
/admin_export, /admin_export_parquet.
"""

from __future__ import annotations

import logging

import gradio as gr
from sqlalchemy import Engine

import inpaint
from inpaint.detect import DEFAULT_SENSITIVITY, DamageNet
from webapp import texts
from webapp.admin import Dashboard
from webapp.preference import Preferences
from webapp.restore import BRUSH_HEX, CLASSICAL, CONVENTIONS, MAX_MODEL_CANDIDATES, PHOTO_TYPES, PICK_QUEUE, RestoreTab
from webapp.settings import AppSettings
from webapp.startup import Services, gpu, load_damage_detector, load_model, open_database
from webapp.study_mode import STUDY_QUEUE, StudyMode

CSS = """
#banner-missing {border-left: 4px solid #d9822b; padding-left: 10px}
"""


def build_demo(
    model: inpaint.PConvUNet | None = None,
    engine: Engine | None = None,
    settings: AppSettings | None = None,
    *,
    model_problem: str | None = None,
    detector: DamageNet | None = None,
    detector_problem: str | None = None,
) -> gr.Blocks:
    """The whole page. ``model`` None serves the classical methods only (``model_problem`` says
    why); ``detector`` None suggests damage with the classical detector (``detector_problem``
    says why); ``engine`` defaults to the settings' study database."""
    settings = settings or AppSettings.from_env()
    if detector is None and detector_problem is None:
        detector_problem = "no damage detector was loaded"
    services = Services(model, model_problem, engine or open_database(settings), settings, detector, detector_problem)
    restore_tab = RestoreTab(services)
    prefs = Preferences(services)
    studies = StudyMode(services)
    admin = Dashboard(services)
    has_model = model is not None

    with gr.Blocks(title=texts.TITLE, delete_cache=(3600, 7200)) as demo:
        participant = gr.State(None)  # anonymous id, after consent
        remembered = gr.BrowserState(None, storage_key="photo-restore-participant", secret=settings.browser_secret)
        gr.Markdown(texts.INTRO)
        gr.Markdown(services.banner, elem_id="banner-missing" if not has_model else "banner")

        with gr.Tabs(selected="restore") as tabs:
            # --- 1. Restore ---------------------------------------------------------------------
            with gr.Tab("Restore", id="restore"):
                result = gr.State(None)
                pending = gr.State(None)
                suggested = gr.State(None)  # the latest suggestion's pixels, replaced by the next one
                favourite = gr.State(None)  # the restoration picked on the page (see PICK_QUEUE below)
                with gr.Row():
                    with gr.Column(scale=1, min_width=280):
                        photo = gr.File(label="1. Upload a photo (PNG, JPEG, TIFF, WebP, BMP)", file_types=PHOTO_TYPES,
                                        type="filepath", elem_id="photo-upload")
                        photo_note = gr.Markdown()
                        with gr.Accordion("Or upload a mask image", open=False):
                            mask = gr.Image(label="Mask (same shape as the photo)", type="pil", image_mode=None,
                                            sources=["upload"], elem_id="mask-upload")
                            convention = gr.Radio(CONVENTIONS, value="auto", label="In the mask, damage is")
                        # without weights these stay hidden: the banner says why
                        count = gr.Slider(1, MAX_MODEL_CANDIDATES, value=4, step=1, visible=has_model,
                                          label="Restorations by the model")
                        variation = gr.Slider(0, 1, value=0.5, step=0.05, visible=has_model,
                                              label="How much they may vary")
                        classical = gr.CheckboxGroup(
                            [(texts.CLASSICAL_LABELS[m], m) for m in CLASSICAL],
                            value=[] if has_model else ["telea", "ns", "biharmonic"],
                            label="Also add classical methods" if has_model else "Classical methods",
                        )
                        with gr.Accordion("More options", open=False):
                            seed = gr.Number(0, precision=0, minimum=0, label="Seed (0 = a new random one)")
                        restore_btn = gr.Button("Restore", variant="primary", elem_id="restore-button")
                    with gr.Column(scale=2):
                        editor = gr.ImageEditor(
                            label="2. Paint over the damage, or let Suggest damage mark it "
                                  "(brush, eraser and size in the toolbar)",
                            type="numpy", image_mode="RGBA", sources=[], transforms=[], layers=False,
                            brush=gr.Brush(colors=[BRUSH_HEX], color_mode="fixed", default_size=6),
                            eraser=gr.Eraser(default_size=10), height=560, elem_id="damage-editor",
                            placeholder="Upload a photo on the left, then paint over the damage here",
                        )
                        with gr.Row(equal_height=True):
                            sensitivity = gr.Slider(0, 1, value=DEFAULT_SENSITIVITY, step=0.05, scale=3,
                                                    label="Sensitivity (higher marks more as damage)",
                                                    elem_id="sensitivity-slider")
                            suggest_btn = gr.Button("Suggest damage", scale=1, elem_id="suggest-button")
                        with gr.Row():
                            check_btn = gr.Button("Show the damage to restore", size="sm")
                        mask_note = gr.Markdown(elem_id="mask-note")
                        with gr.Accordion("Damage to restore (red)", open=False) as overlay_box:
                            overlay = gr.Image(label="Damage over the photo", interactive=False, height=360)

                status = gr.Markdown(elem_id="restore-status")
                gallery = gr.Gallery(label="3. Restorations: click the one you prefer", columns=4, height="auto",
                                     object_fit="contain", allow_preview=False, elem_id="candidates")
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
                        with gr.Accordion("Settings of the chosen restoration", open=False):
                            details = gr.Markdown()
                        pref_status = gr.Markdown(elem_id="preference-status")
                with gr.Group(visible=False, elem_id="consent") as consent_box:
                    gr.Markdown(texts.CONSENT)
                    with gr.Row():
                        agree_btn = gr.Button("I agree, record my choice", variant="primary", elem_id="consent-agree")
                        decline_btn = gr.Button("No thanks", elem_id="consent-decline")

            # --- 2. Study mode --------------------------------------------------------------------
            with gr.Tab("Study", id="study"):
                study_state = gr.State(None)
                study_intro = gr.Markdown(texts.STUDY_NONE, elem_id="study-intro")
                with gr.Group(visible=False) as study_consent:
                    study_start_btn = gr.Button("I agree, start", variant="primary", elem_id="study-start")
                with gr.Group(visible=False) as study_trial:
                    study_progress = gr.Markdown(elem_id="study-progress")
                    with gr.Row():
                        study_photo = gr.Image(label="The damaged photo", interactive=False, scale=1, height=360)
                        study_gallery = gr.Gallery(label="Restorations", columns=4, scale=2, height=360,
                                                   object_fit="contain", allow_preview=False, elem_id="study-gallery")
                    with gr.Row():
                        study_choice = gr.Radio([], label="The best one", elem_id="study-choice")
                        study_ranking = gr.Dropdown([], multiselect=True, label="Best first", visible=False)
                    with gr.Row():
                        study_submit_btn = gr.Button("Submit", variant="primary", elem_id="study-submit")
                        study_none_btn = gr.Button("None is acceptable", size="sm")
                with gr.Group(visible=False) as study_thanks:
                    gr.Markdown(texts.STUDY_THANKS, elem_id="study-thanks")

            # --- 3. Researchers ---------------------------------------------------------------------
            with gr.Tab("Researchers", id="researchers", interactive=admin.enabled):
                if not admin.enabled:
                    gr.Markdown(texts.ADMIN_DISABLED)
                else:
                    with gr.Row():
                        token = gr.Textbox(label="Researcher token", type="password", scale=3, elem_id="admin-token")
                        unlock_btn = gr.Button("Open the dashboard", scale=1, elem_id="admin-unlock")
                    admin_note = gr.Markdown()
                    timer = gr.Timer(15, active=False)
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

        # --- events: Restore ------------------------------------------------------------------
        compare = [slider, download, details]
        forget = [result, gallery, choice, ranking, *compare, status, pref_status, pending, suggested, mask_note,
                  favourite]
        photo.upload(restore_tab.load_photo, photo, [editor, photo_note, overlay], api_name="load_photo").then(
            restore_tab.clear_results, None, forget, api_name="clear_results", api_visibility="private")
        photo.clear(lambda: (None, "", None), None, [editor, photo_note, overlay], api_name="clear_photo",
                    api_visibility="private").then(
            restore_tab.clear_results, None, forget, api_name="clear_results_too", api_visibility="private")
        suggest_btn.click(
            gpu(restore_tab.suggest),
            [photo, editor, sensitivity, suggested],
            [editor, mask_note, overlay, suggested],
            api_name="suggest_damage",
            concurrency_limit=settings.concurrency,
            concurrency_id="restore",  # a detection uses the machine like a restoration does
        )
        mask_inputs = [photo, editor, mask, convention]
        check = dict(fn=restore_tab.check_mask, inputs=mask_inputs, outputs=[overlay, mask_note])
        check_btn.click(**check, api_name="check_mask").then(lambda: gr.Accordion(open=True), None, overlay_box,
                                                              api_name="open_overlay", api_visibility="private")
        mask.upload(**check, api_name="check_uploaded_mask", api_visibility="private")
        convention.input(**check, api_name="check_convention", api_visibility="private")

        restore_btn.click(
            gpu(restore_tab.restore),
            [photo, editor, mask, convention, count, variation, classical, seed],
            [result, gallery, choice, ranking, *compare, status, overlay],
            api_name="restore",
            concurrency_limit=settings.concurrency,
            concurrency_id="restore",
        ).then(lambda: ("", None, None), None, [pref_status, pending, favourite], api_name="reset_preference",
               api_visibility="private")
        # A click in the gallery, a change of the radio and "I prefer this one" run one at a time in
        # the order they were sent, and the pick is kept on the server: a click followed at once by
        # the button records the click, even before the radio shows it.
        pick_queue = dict(concurrency_id=PICK_QUEUE, concurrency_limit=1)
        gallery.select(restore_tab.select, result, [choice, favourite], api_name="select_candidate",
                       api_visibility="private", **pick_queue)
        choice.input(restore_tab.pick, choice, favourite, api_name="pick_candidate", api_visibility="private",
                     **pick_queue)
        choice.change(restore_tab.show, [result, choice], compare, api_name="show", api_visibility="undocumented")

        answer_outputs = [pref_status, consent_box, pending, result, participant]
        prefer_btn.click(prefs.prefer, [result, choice, keep_photo, participant, favourite], answer_outputs,
                         api_name="prefer", **pick_queue)
        rank_btn.click(prefs.rank, [result, ranking, keep_photo, participant], answer_outputs, api_name="rank")
        none_btn.click(prefs.none_acceptable, [result, keep_photo, participant], answer_outputs,
                       api_name="none_acceptable")
        agree_btn.click(prefs.consent, [result, pending, participant],
                        [participant, remembered, pref_status, consent_box, pending, result], api_name="consent")
        decline_btn.click(prefs.decline, None, [pref_status, consent_box, pending], api_name="decline")

        # --- events: Study mode ------------------------------------------------------------------
        page = [study_state, study_intro, study_consent, study_trial, study_thanks, study_progress, study_photo,
                study_gallery, study_choice, study_ranking]
        demo.load(studies.on_load, remembered, [participant, tabs, *page], api_name="on_load",
                  api_visibility="private")
        study_start_btn.click(studies.start, [study_state, participant], [participant, remembered, *page],
                              api_name="study_start")
        # The events that read or change the participant's answer run one at a time, in the order
        # they were sent (one queue, see StudyState), so a Submit right after a click sees it.
        study_queue = dict(concurrency_id=STUDY_QUEUE, concurrency_limit=1)
        study_submit_btn.click(studies.submit, [study_state, participant, study_choice, study_ranking], page,
                               api_name="study_submit", **study_queue)
        study_none_btn.click(studies.none_acceptable, [study_state, participant], page, api_name="study_none",
                             **study_queue)
        picked = [study_state, study_choice, study_ranking]
        study_gallery.select(studies.select, study_state, picked, api_name="study_select", api_visibility="private",
                             **study_queue)
        study_choice.input(studies.choose, [study_state, study_choice], picked, api_name="study_choose",
                           api_visibility="private", **study_queue)
        study_ranking.input(studies.reorder, [study_state, study_ranking], picked, api_name="study_reorder",
                            api_visibility="private", **study_queue)

        # --- events: Researchers -------------------------------------------------------------------
        if admin.enabled:
            unlock = dict(fn=admin.unlock, inputs=token, outputs=[dashboard, admin_note, timer, counts, scope])
            unlock_btn.click(**unlock, api_name="admin_unlock")
            token.submit(**unlock, api_name="admin_unlock_enter", api_visibility="private")
            timer.tick(admin.counts, token, counts, api_name="admin_counts", show_progress="hidden")
            analyze_btn.click(admin.analyze, [token, scope], [table, chart, analysis_note], api_name="admin_analyze")
            csv_btn.click(lambda t, s: admin.export(t, "csv", s), [token, scope], exports, api_name="admin_export")
            parquet_btn.click(lambda t, s: admin.export(t, "parquet", s), [token, scope], exports,
                              api_name="admin_export_parquet")
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = AppSettings.from_env()
    model, problem = load_model(settings.weights)  # once, at start-up
    detector, detector_problem = load_damage_detector(settings.detector)
    engine = open_database(settings)
    from study import maybe_start_sync

    maybe_start_sync(engine, settings.study)  # pushes snapshots to STUDY_HF_DATASET when set
    demo = build_demo(model, engine, settings, model_problem=problem, detector=detector,
                      detector_problem=detector_problem)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=4).launch(
        max_file_size=settings.max_upload_bytes,
        css=CSS,
        footer_links=["api", "settings"],
    )


if __name__ == "__main__":
    main()
