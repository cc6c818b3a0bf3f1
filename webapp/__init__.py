"""The web app's handlers (UI only; app.py builds the page and wires them).

- settings: deployment settings from environment variables, read in one place
- startup: the model, the study database and the Spaces GPU decorator, opened once
- restore: the Restore tab (photo + painted or uploaded mask -> restorations, download)
- preference: consent and recording choices, rankings and "none acceptable" through `study`
- study_mode: `?study=<id>` links: consent, trials one after another, thank-you
- admin: the researchers' dashboard behind STUDY_ADMIN_TOKEN
- display, texts, errors: screen copies of images, the words on the page, readable errors

Importing this package loads gradio, inpaint and study but opens nothing: no model, no database.
"""
