"""The running app driven through gradio_client: restore a photo with a painted mask, record a
preference, and find the row in the SQLite file; ask for a suggested damage layer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from .conftest import RunningApp, painted_layer, sample_photo


def _rows(db_url: str, query: str, *args) -> list[tuple]:
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(query, args).fetchall()


def test_restore_then_prefer_through_the_api(running_app: RunningApp, tmp_path: Path):
    photo = tmp_path / "photo.png"
    sample_photo(128, 96).save(photo)
    strokes = tmp_path / "strokes.png"
    Image.fromarray(painted_layer((128, 96), [(30, 30, 70, 40)])).save(strokes)
    client = Client(running_app.url, verbose=False)

    editor = {"background": handle_file(photo), "layers": [handle_file(strokes)], "composite": handle_file(photo)}
    out = client.predict(handle_file(photo), editor, None, "auto", 2, 0.5, ["telea"], 5, api_name="/restore")
    gallery, status = out[0], out[6]  # (gallery, choice, ranking, slider, download, details, status, overlay)
    assert [item["caption"] for item in gallery] == ["A", "B", "C"]
    assert all(Image.open(item["image"]).size == (128, 96) for item in gallery)
    assert "3 restorations of 128 x 96 pixels" in status and "3.26 %" in status  # 400 of 12288 pixels

    before = _rows(running_app.db_url, "SELECT count(*) FROM responses")[0][0]
    first = client.predict("B", False, api_name="/prefer")
    assert "notice" in first  # nothing is recorded before consent...
    assert _rows(running_app.db_url, "SELECT count(*) FROM responses")[0][0] == before
    consent = client.predict(api_name="/consent")  # ...which records the waiting choice
    assert any("Recorded your choice (B)" in str(value) for value in consent), consent
    again = client.predict("B", False, api_name="/prefer")
    assert "already recorded" in again

    rows = _rows(
        running_app.db_url,
        """
        SELECT r.kind, tc.position, c.method, c.seed, p.image IS NULL
        FROM responses r
        JOIN trial_candidates tc ON tc.trial_id = r.trial_id AND tc.candidate_id = r.chosen_candidate_id
        JOIN candidates c ON c.id = r.chosen_candidate_id JOIN masks m ON m.id = c.mask_id
        JOIN photos p ON p.id = m.photo_id
        WHERE r.trial_id = (SELECT max(trial_id) FROM responses)""",
    )
    assert len(rows) == 1
    kind, position, method, seed, photo_not_kept = rows[0]
    assert (kind, position, photo_not_kept) == ("pick", 2, 1)  # B = the second shown, photo not stored
    assert method in ("pconv", "telea") and seed in (5, 6)
    assert _rows(running_app.db_url, "SELECT count(*) FROM responses")[0][0] == before + 1


def test_suggest_damage_through_the_api(running_app: RunningApp, tmp_path: Path):
    photo = tmp_path / "photo.png"
    sample_photo(128, 96).save(photo)
    client = Client(running_app.url, verbose=False)
    editor, note, overlay = client.predict(handle_file(photo), None, 0.5, api_name="/suggest_damage")
    assert "of the photo as damage (learned detector" in note
    layer = np.asarray(Image.open(editor["layers"][0]))
    assert layer.shape == (96, 128, 4) and 0 < (layer[..., 3] > 0).mean() < 0.5
    assert Image.open(overlay).size == (128, 96)


def test_bad_input_comes_back_as_a_readable_message(running_app: RunningApp, tmp_path: Path):
    bogus = tmp_path / "photo.png"
    bogus.write_text("not a photo at all")
    client = Client(running_app.url, verbose=False)
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(bogus), None, None, "auto", 2, 0.5, [], 0, api_name="/restore")
    message = str(caught.value)
    assert "not an image that can be read" in message and "Traceback" not in message
    with pytest.raises(AppError, match="Wrong researcher token"):
        client.predict("guess", api_name="/admin_unlock")
