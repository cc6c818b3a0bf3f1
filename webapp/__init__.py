"""The web app's tabs and handlers (UI only; app.py composes the page from the tabs).

- settings: deployment settings from environment variables, read in one place
- startup: the model, the detector, the study database and the Spaces GPU decorator, opened once
- page: what the tabs share (the services, the page, its tabs, the participant id)
- restore_tab, study_tab, researchers_tab: each tab's components, layout and event wiring
- restore: the Restore tab's handlers (photo + painted or uploaded mask -> restorations, download)
- preference: consent and recording choices, rankings and "none acceptable" through `study`
- study_mode: `?study=<id>` links: consent, trials one after another, thank-you
- admin: the researchers' dashboard behind STUDY_ADMIN_TOKEN
- display, texts, errors: screen copies of images, the words on the page, readable errors

Handlers return {component: update} dicts keyed by their tab's components. Importing this package
loads gradio, inpaint and study but opens nothing: no model, no database.
"""
