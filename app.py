"""The web app: restore a damaged photo, compare restorations, record which one people prefer.

Runs locally with `python app.py` (http://127.0.0.1:7860) and unchanged on a Hugging Face Space
(README front matter: `sdk: gradio`, `app_file: app.py`). This file only composes the page from
its tabs; each tab (webapp/restore_tab.py, study_tab.py, researchers_tab.py) lays out its components
and wires its events to its handlers, restoration is in `inpaint/`, storage in `study/`.
Settings come from environment variables (webapp/settings.py lists them).

API (gradio_client; `Client(url).view_api()` lists the parameters): /restore, /prefer, /rank,
/none_acceptable, /consent, /decline, /load_photo, /suggest_damage, /check_mask, /study_start,
/study_submit, /study_none, and with a researcher token /admin_unlock, /admin_counts, /admin_analyze,
/admin_export, /admin_export_parquet.
"""

from __future__ import annotations

import logging

import gradio as gr

import inpaint
import study
from webapp import researchers_tab, restore_tab, study_tab, texts
from webapp.page import Page
from webapp.settings import AppSettings
from webapp.startup import Services, load_damage_detector, load_model, load_sharp_model, open_database

CSS = """
#banner-missing {border-left: 4px solid #d9822b; padding-left: 10px}
"""


def build_demo(
    model: inpaint.PConvUNet | None = None,
    engine: study.Engine | None = None,
    settings: AppSettings | None = None,
    *,
    model_problem: str | None = None,
    detector: inpaint.DamageNet | None = None,
    detector_problem: str | None = None,
    sharp: inpaint.PConvUNet | None = None,
) -> gr.Blocks:
    """The whole page. ``model`` None serves the classical methods only (``model_problem`` says
    why); ``detector`` None suggests damage with the classical detector (``detector_problem``
    says why); ``sharp`` (the sharpened restorer) adds sharp candidates; ``engine`` defaults to the
    settings' study database."""
    settings = settings or AppSettings.from_env()
    if detector is None and detector_problem is None:
        detector_problem = "no damage detector was loaded"
    services = Services(
        model, model_problem, engine or open_database(settings), settings, detector, detector_problem, sharp
    )

    with gr.Blocks(title=texts.TITLE, delete_cache=(3600, 7200)) as demo:
        participant = gr.State(None)  # anonymous id, after consent
        remembered = gr.BrowserState(None, storage_key="photo-restore-participant", secret=settings.browser_secret)
        gr.Markdown(texts.INTRO)
        gr.Markdown(services.banner, elem_id="banner" if model is not None else "banner-missing")
        with gr.Tabs(selected="restore") as tabs:
            page = Page(services, demo, tabs, participant, remembered)
            restore_tab.build(page)
            study_tab.build(page)
            researchers_tab.build(page)
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = AppSettings.from_env()
    model, problem = load_model(settings.weights)  # once, at start-up
    detector, detector_problem = load_damage_detector(settings.detector)
    sharp = load_sharp_model(settings.sharp, model)
    engine = open_database(settings)
    study.maybe_start_sync(engine, settings.study)  # pushes snapshots to STUDY_HF_DATASET when set
    demo = build_demo(
        model,
        engine,
        settings,
        model_problem=problem,
        detector=detector,
        detector_problem=detector_problem,
        sharp=sharp,
    )
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=4).launch(
        max_file_size=settings.max_upload_bytes,
        css=CSS,
        footer_links=["api", "settings"],
    )


if __name__ == "__main__":
    main()
