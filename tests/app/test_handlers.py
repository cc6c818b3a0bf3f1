"""Handler-level tests: the app's handlers called directly with a tiny model and a real SQLite
file, no server and no browser. Each handler returns a dict keyed by its tab's components: the
tests read the entries of the components they check, and check that the keys are the components
the handler's event updates."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import func, select

import study
from inpaint import (
    DEFAULT_DETECTOR,
    DamageNet,
    DamageNetConfig,
    PConvUNet,
    PConvUNetConfig,
    detect_damage,
    dilate_damage,
    save_detector,
    save_model,
    to_known_mask,
)
from inpaint.io.provenance import PNG_KEY, sidecar_path, verify
from study.models import Candidate, Participant, Photo, Response, ResponseRank, Trial, TrialCandidate
from webapp import display, texts
from webapp.errors import user_errors
from webapp.restore import BRUSH_COLOUR
from webapp.settings import AppSettings
from webapp.startup import Services, load_damage_detector, load_model

from .conftest import ADMIN_TOKEN, Tabs, build_tabs, make_study, mask_image, painted_layer, sample_photo


def editor_value(background: Image.Image, boxes: list[tuple[int, int, int, int]]) -> dict:
    """What the editor sends: the RGBA background and one painted layer at the same size."""
    return {
        "background": np.asarray(background.convert("RGBA")),
        "layers": [painted_layer(background.size, boxes)],
        "composite": None,
    }


def count(engine, model) -> int:
    with study.read_session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def restore_once(services: Services, photo_file: Path, n: int = 2, classical=("telea",)):
    """The Restoration state after painting a stroke and pressing Restore."""
    tab = build_tabs(services).restore.handlers
    editor = tab.load_photo(str(photo_file))[tab.ui.editor]
    value = editor_value(editor["background"], [(20, 20, 40, 30)])
    return tab.restore(str(photo_file), value, None, "auto", n, 0.5, list(classical), 7)[tab.ui.result]


# --- settings and start-up ---------------------------------------------------------------------


def test_settings_defaults_and_readable_errors():
    s = AppSettings.from_env({})
    assert (s.max_upload_mb, s.queue_size, s.concurrency, s.preview_side) == (50.0, 16, 1, 1600)
    assert s.admin_token is None and s.weights is None and s.study.db_url.startswith("sqlite:///")
    assert s.detector == str(DEFAULT_DETECTOR)  # the bundled weights/damage-detector
    s = AppSettings.from_env(
        {
            "STUDY_ADMIN_TOKEN": "t",
            "INPAINT_WEIGHTS": "me/model",
            "APP_QUEUE_SIZE": "3",
            "INPAINT_DETECTOR_WEIGHTS": "me/detector",
        }
    )
    assert (s.admin_token, s.weights, s.queue_size, s.detector) == ("t", "me/model", 3, "me/detector")
    with pytest.raises(ValueError, match="APP_QUEUE_SIZE must be a whole number"):
        AppSettings.from_env({"APP_QUEUE_SIZE": "many"})
    with pytest.raises(ValueError, match="APP_CONCURRENCY must be between 1 and 64"):
        AppSettings.from_env({"APP_CONCURRENCY": "0"})
    with pytest.raises(ValueError, match="APP_OUTPUT_DIR must be inside"):
        AppSettings.from_env({"APP_OUTPUT_DIR": "/etc/photo-restore"})


def test_fresh_checkout_creates_its_default_database_but_not_a_configured_ones_folder(tmp_path, monkeypatch):
    """`python app.py` in a fresh clone: no data/ folder yet, no STUDY_DB_URL."""
    import study.settings as study_settings
    from webapp.startup import open_database

    monkeypatch.setattr(study_settings, "PERSISTENT_DIR", tmp_path / "no-space-disk")
    monkeypatch.chdir(tmp_path)
    engine = open_database(AppSettings.from_env({}))
    try:
        assert (tmp_path / "data" / "study.sqlite").is_file()
        from sqlalchemy import inspect

        assert {Participant.__tablename__, Trial.__tablename__} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    typo = f"sqlite:///{tmp_path / 'missing-folder' / 'study.sqlite'}"
    with pytest.raises(study.StorageError, match="does not exist"):
        open_database(AppSettings.from_env({"STUDY_DB_URL": typo}))
    assert not (tmp_path / "missing-folder").exists()


def test_missing_or_untrained_weights_leave_the_classical_methods(tmp_path, engine, settings, photo_file):
    model, problem = load_model(str(tmp_path / "weights"))
    assert model is None and "not found" in problem
    save_model(PConvUNet(PConvUNetConfig(width=4, depth=3)), tmp_path / "random")  # steps = 0
    model, problem = load_model(str(tmp_path / "random"))
    assert model is None and "never trained" in problem

    services = Services(None, problem, engine, settings)
    assert "weights are missing" in services.banner and "never trained" in services.banner
    ui = build_tabs(services).restore.ui
    assert not ui.count.visible and not ui.variation.visible  # the model's options are hidden
    assert ui.classical.value == ["telea", "ns", "biharmonic"] and ui.classical.label == "Classical methods"
    with pytest.raises(gr.Error, match="tick at least one classical method"):
        restore_once(services, photo_file, classical=())
    result = restore_once(services, photo_file, n=4, classical=("telea", "biharmonic"))
    assert sorted(s.params["method"] for s in result.shown) == ["biharmonic", "telea"]  # never pconv


# --- restore --------------------------------------------------------------------------------------


def test_load_photo_makes_a_preview_and_reports_bad_files(tabs: Tabs, tmp_path):
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    big = tmp_path / "big.jpg"
    sample_photo(600, 400).save(big, quality=95)
    out = tab.load_photo(str(big))
    assert set(out) == tabs.outputs("load_photo") == {ui.editor, ui.photo_note, ui.overlay}
    editor, note = out[ui.editor], out[ui.photo_note]
    assert editor["background"].size == (256, 171) and editor["layers"] == [] and out[ui.overlay] is None
    assert "600 x 400" in note and "preview" in note
    assert tab.load_photo(None) == tab.clear_photo() == {ui.editor: None, ui.photo_note: "", ui.overlay: None}
    assert set(tab.clear_photo()) == tabs.outputs("clear_photo")

    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a photo")
    with pytest.raises(gr.Error, match="not an image that can be read"):
        tab.load_photo(str(not_image))
    truncated = tmp_path / "cut.png"
    truncated.write_bytes((tmp_path / "big.jpg").read_bytes()[:3000])
    with pytest.raises(gr.Error, match="truncated or corrupt"):
        tab.load_photo(str(truncated))


def test_a_new_photo_clears_what_belonged_to_the_last_one(tabs: Tabs):
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    cleared = tab.clear_results()
    assert set(cleared) == tabs.outputs("clear_results") == tabs.outputs("clear_results_too") == set(ui.forget)
    for state in (ui.result, ui.pending, ui.suggested, ui.favourite, ui.slider):
        assert cleared[state] is None
    assert cleared[ui.gallery] == [] and cleared[ui.choice].choices == [] and cleared[ui.choice].value is None
    assert cleared[ui.ranking].choices == [] and cleared[ui.ranking].value == [] and not cleared[ui.download].visible
    assert cleared[ui.details] == cleared[ui.status] == cleared[ui.pref_status] == cleared[ui.mask_note] == ""
    reset = tab.reset_preference()
    assert reset == {ui.pref_status: "", ui.pending: None, ui.favourite: None}
    assert set(reset) == tabs.outputs("reset_preference")
    assert set(tab.open_overlay()) == tabs.outputs("open_overlay") and tab.open_overlay()[ui.overlay_box].open


def test_restore_gives_full_resolution_candidates_that_keep_the_undamaged_pixels(tabs: Tabs, tmp_path):
    path = tmp_path / "scan.png"
    original = sample_photo(300, 200)
    original.save(path)
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    preview = tab.load_photo(str(path))[ui.editor]["background"]
    assert preview.size == (256, 171)  # the strokes are painted on the preview...
    value = editor_value(preview, [(100, 60, 140, 70)])
    calls = []
    progress = lambda fraction, desc=None, **kw: calls.append(fraction)  # noqa: E731
    out = tab.restore(str(path), value, None, "auto", 3, 0.5, ["telea"], 11, progress=progress)
    assert set(out) == tabs.outputs("restore") == set(ui.restored)
    result, gallery, choice, ranking = out[ui.result], out[ui.gallery], out[ui.choice], out[ui.ranking]
    assert [caption for _, caption in gallery] == ["A", "B", "C", "D"]
    assert sorted(s.params["method"] for s in result.shown) == ["pconv"] * 3 + ["telea"]
    assert {s.params["seed"] for s in result.shown if s.params["method"] == "pconv"} == {11, 12, 13}
    assert choice.choices == [("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")] and calls[-1] > 0.9
    assert choice.value is None and ranking.value == [] and ranking.choices == choice.choices
    assert out[ui.status].startswith("4 restorations of 300 x 200 pixels; Marked as damage (red): **")
    assert not out[ui.download].visible and out[ui.slider][1] is result.shown[0].preview
    assert out[ui.overlay].size == preview.size
    known = np.asarray(original)
    for s in result.shown:  # ...and the results have the photo's full resolution
        restored = np.asarray(Image.open(s.path))
        assert restored.shape == known.shape
        same = (restored == known).all(axis=2)
        assert same[:40].all() and same[110:].all()  # far from the stroke: untouched
        assert same[72:80, 125:155].mean() < 0.2  # under the stroke (scaled up): replaced
    assert 0.005 < result.hole_ratio < 0.05
    shown = tab.show(result, "B")
    assert set(shown) == tabs.outputs("show") == set(ui.compare)
    slider, download, details = shown[ui.slider], shown[ui.download], shown[ui.details]
    assert download.visible and download.value["orig_name"].endswith("-restored-B.png")
    assert "**B**" in details and slider[1].size == preview.size
    for label in "ABCD":  # each restoration's details say how it was made, its finish too
        p = result.by_label(label).params
        text = tab.show(result, label)[ui.details]
        assert f"dropout {p['dropout']:g}" in text and f"seed {p['seed']}" in text
        assert ("finish `grain`" in text) == (p["finish"] == "grain")
    assert any(s.params["finish"] == "grain" for s in result.shown)
    empty = tab.show(None, "B")
    assert set(empty) == set(ui.compare) and empty[ui.slider] is None and empty[ui.details] == ""
    assert not empty[ui.download].visible


def test_uploaded_masks_follow_the_convention_and_combine_with_strokes(tabs: Tabs, photo_file):
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    editor = tab.load_photo(str(photo_file))[ui.editor]
    empty = editor_value(editor["background"], [])
    white = mask_image((96, 72), [(10, 10, 30, 20)])
    black = mask_image((96, 72), [(10, 10, 30, 20)], white_is_damage=False)
    checks = [
        tab.check_mask(str(photo_file), empty, m, c)
        for m, c in [(white, "auto"), (black, "auto"), (white, "white-is-damage"), (black, "black-is-damage")]
    ]
    assert all(set(out) == tabs.outputs("check_mask") == tabs.outputs("check_convention") for out in checks)
    notes = [out[ui.mask_note] for out in checks]
    assert all("2.89 %" in n for n in notes), notes  # 200 of 6912 pixels
    assert "white is damage" in notes[0] and "black is damage" in notes[1]
    assert all(out[ui.overlay].size == (96, 72) for out in checks)
    both = tab.check_mask(str(photo_file), editor_value(editor["background"], [(50, 50, 60, 60)]), white, "auto")
    assert "4.34 %" in both[ui.mask_note] and "painted strokes and the uploaded mask" in both[ui.mask_note]
    assert tab.check_mask(None, None, white, "auto") == {
        ui.overlay: None,
        ui.mask_note: "Upload a photo first: the damage is shown over it.",
    }
    with pytest.raises(gr.Error, match="aspect"):
        tab.check_mask(str(photo_file), empty, mask_image((50, 50), [(1, 1, 5, 5)]), "auto")


def test_nothing_marked_is_refused_with_a_hint(tabs: Tabs, photo_file):
    tab = tabs.restore.handlers
    editor = tab.load_photo(str(photo_file))[tab.ui.editor]
    with pytest.raises(gr.Error, match="No damage is marked: paint over"):
        tab.restore(str(photo_file), editor_value(editor["background"], []), None, "auto", 2, 0.5, [], 0)
    with pytest.raises(gr.Error, match="Upload a photo first"):
        tab.restore(None, None, None, "auto", 2, 0.5, [], 0)


def test_every_download_carries_provenance_that_verifies_against_the_upload(tabs: Tabs, photo_file, tmp_path):
    """The file offered for download holds its own record (a PNG chunk): copied anywhere, it
    verifies against the uploaded file, and only the pixels its mask names differ from it."""
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    editor = tab.load_photo(str(photo_file))[ui.editor]
    out = tab.restore(
        str(photo_file), editor_value(editor["background"], [(20, 20, 40, 30)]), None, "auto", 2, 0.5, ["telea"], 5
    )
    result = out[ui.result]
    assert not out[ui.provenance].visible
    upload = np.asarray(Image.open(photo_file))
    for s in result.shown:
        shown = tab.show(result, s.label)
        download = Path(shown[ui.download].value["path"])  # Gradio's copy: what the browser gets
        assert download.read_bytes() == s.path.read_bytes() and download.name == s.path.name
        assert s.provenance is None and not shown[ui.provenance].visible
        copy = tmp_path / "downloads" / download.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(download.read_bytes())
        verdict = verify(photo_file, copy)
        assert verdict.ok, verdict.message
        record = verdict.provenance
        assert record.source.endswith("PNG chunk inpaint-provenance")
        assert record.candidate == {k: v for k, v in s.params.items() if k != "seconds"}
        changed = (np.asarray(Image.open(copy)) != upload).any(axis=2)
        assert changed.any() and not (changed & ~record.replaced).any()
        assert record.replaced[20:30, 20:40].all()  # the painted stroke was replaced

        def touch(a):
            a[0, 0] = 255 - a[0, 0]

        pixels = np.asarray(Image.open(copy)).copy()
        touch(pixels)
        info = PngInfo()
        info.add_itxt(PNG_KEY, Image.open(copy).info[PNG_KEY])
        Image.fromarray(pixels).save(copy, pnginfo=info)
        verdict = verify(photo_file, copy)
        assert not verdict.ok and verdict.differing == 1 and "1 pixel outside" in verdict.message


def test_a_16_bit_rgb_download_offers_its_provenance_beside_it(tabs: Tabs, tmp_path):
    """OpenCV writes 16-bit RGB PNGs, which cannot carry the record: the app offers it as a
    second download, and the two files verify together against the upload."""
    import cv2

    wide = np.asarray(sample_photo(), dtype=np.uint16) * 256 + 7  # uses the low bits
    upload = tmp_path / "scan16.png"
    assert cv2.imwrite(str(upload), np.ascontiguousarray(wide[..., ::-1]))
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    editor = tab.load_photo(str(upload))[ui.editor]
    value = editor_value(editor["background"], [(20, 20, 40, 30)])
    result = tab.restore(str(upload), value, None, "auto", 1, 0.5, ["ns"], 5)[ui.result]
    for s in result.shown:
        shown = tab.show(result, s.label)
        offered = shown[ui.provenance]
        assert offered.visible and s.provenance == sidecar_path(s.path)
        assert PNG_KEY not in Image.open(s.path).info
        folder = tmp_path / f"downloads-{s.label}"  # both downloads, saved side by side
        folder.mkdir()
        for button in (shown[ui.download], offered):
            src = Path(button.value["path"])
            (folder / src.name).write_bytes(src.read_bytes())
        assert sorted(p.name for p in folder.iterdir()) == sorted([s.path.name, s.provenance.name])
        verdict = verify(upload, folder / s.path.name)
        assert verdict.ok and verdict.provenance.original["kind"] == "rgb16", verdict.message
        assert verdict.provenance.source == s.provenance.name
    cleared = tab.clear_results()
    assert not cleared[ui.provenance].visible and not tab.show(None, "A")[ui.provenance].visible


def test_a_16_bit_grey_tiff_comes_back_16_bit(services, tmp_path):
    grey = (np.asarray(sample_photo().convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    path = tmp_path / "scan.tif"
    Image.fromarray(grey).save(path)
    result = restore_once(services, path, n=1, classical=("ns",))
    restored = Image.open(result.shown[0].path)
    assert restored.mode.startswith("I") and restored.size == (96, 72)
    assert np.array_equal(np.asarray(restored)[50:], grey[50:])  # untouched rows, all 16 bits


def test_the_api_editor_background_is_the_photo_when_no_file_is_sent(tabs: Tabs):
    tab = tabs.restore.handlers
    value = editor_value(sample_photo(), [(20, 20, 40, 30)])
    result = tab.restore(None, value, None, "auto", 2, 0.0, [], 3)[tab.ui.result]
    assert result.size == (96, 72) and len(result.shown) == 2


# --- suggest damage --------------------------------------------------------------------------------


def layer_damage(value: dict) -> np.ndarray:
    """The damage in the editor value's one layer, as Restore reads it (alpha > 0)."""
    (layer,) = value["layers"]
    return np.asarray(layer)[..., 3] > 0


def box(size: tuple[int, int], x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    w, h = size
    a = np.zeros((h, w), bool)
    a[y0:y1, x0:x1] = True
    return a


def suggest(tab, *args) -> tuple:
    """(editor value, mask note, overlay, suggestion state) from a Suggest damage."""
    out = tab.suggest(*args)
    ui = tab.ui
    assert set(out) == {ui.editor, ui.mask_note, ui.overlay, ui.suggested}
    return out[ui.editor], out[ui.mask_note], out[ui.overlay], out[ui.suggested]


def test_a_suggestion_becomes_the_editor_layer_and_keeps_the_painted_strokes(tabs: Tabs, services, photo_file):
    tab = tabs.restore.handlers
    assert tabs.outputs("suggest_damage") == {tab.ui.editor, tab.ui.mask_note, tab.ui.overlay, tab.ui.suggested}
    background = tab.load_photo(str(photo_file))[tab.ui.editor]["background"]
    value = editor_value(background, [(60, 50, 90, 60)])
    painted = box((96, 72), 60, 50, 90, 60)
    suggested, note, overlay, state = suggest(tab, str(photo_file), value, 0.5, None)

    detection = detect_damage(np.asarray(sample_photo()), 0.5, model=services.detector)
    assert 0.01 < detection.fraction < 0.5  # the tiny detector marks some pixels, not all
    layer = np.asarray(suggested["layers"][0])
    assert layer.shape == (72, 96, 4) and layer.dtype == np.uint8 and len(suggested["layers"]) == 1
    # opaque brush red exactly on the suggestion and the strokes, transparent elsewhere
    assert np.array_equal(layer[..., 3], np.where(detection.damage | painted, 255, 0))
    assert (layer[..., :3] == BRUSH_COLOUR).all()
    assert np.array_equal(np.asarray(suggested["background"]), value["background"])
    assert suggested["composite"] is suggested["background"]  # the editor loads the composite as the photo
    assert re.fullmatch(
        r"Suggested \*\*\d+\.\d\d %\*\* of the photo as damage \(learned detector, \d+\.\d s\); "
        r"erase or add strokes, then Restore\.",
        note,
    ), note
    assert f"**{100 * detection.fraction:.2f} %**" in note
    assert overlay.size == (96, 72)

    # The person erases the left half of the suggestion and paints a stroke there, then asks
    # again at a lower sensitivity: the suggested pixels are replaced, every stroke is kept.
    edited = layer.copy()
    edited[:, :48, 3] = 0
    edited[5:12, 5:40] = (*BRUSH_COLOUR, 255)
    stroke = box((96, 72), 5, 5, 40, 12) & ~detection.damage  # (a stroke over suggested pixels looks like them)
    assert stroke.any()
    edited_value = {"background": suggested["background"], "layers": [edited], "composite": None}
    again, note, _, state = suggest(tab, str(photo_file), edited_value, 0.45, state)
    lower = detect_damage(np.asarray(sample_photo()), 0.45, model=services.detector)
    assert 0 < lower.fraction < detection.fraction  # fewer pixels: some of the last suggestion goes
    assert np.array_equal(layer_damage(again), lower.damage | painted | stroke)
    assert np.array_equal(state.own, painted | stroke) and np.array_equal(state.suggested, lower.damage)

    # at sensitivity 0 nothing is suggested: only the strokes stay, and the note says so
    none, note, _, _ = suggest(tab, str(photo_file), again, 0.0, state)
    assert np.array_equal(layer_damage(none), painted | stroke)
    assert note.startswith("No damage found at sensitivity 0.00 (learned detector")


def test_the_editor_draws_a_received_layer_over_its_photo(tabs: Tabs):
    """Gradio's editor draws a received layer centred in a texture as large as its canvas has been
    since its brush was set up: the empty canvas is 1 x 1, so that with a photo the canvas is the
    photo (restore_tab.py says how; the browser test looks at the screen)."""
    editor = tabs.restore.ui.editor
    assert editor.canvas_size == (1, 1) and not editor.fixed_canvas


def test_the_events_that_update_the_editor_show_their_progress_on_a_note(tabs: Tabs):
    """A progress box can be left over the editor, hiding the suggestion (restore_tab.py says how)."""
    ui = tabs.restore.ui
    progress_on = {fn.api_name: fn.show_progress_on for fn in tabs.demo.fns.values() if ui.editor in fn.outputs}
    assert progress_on == {
        "load_photo": [ui.photo_note],
        "clear_photo": [ui.photo_note],
        "suggest_damage": [ui.mask_note],
    }


def _through_the_editor(value: dict) -> dict:
    """The editor value as the page sends it back: postprocessed by a gr.ImageEditor like the app's
    (its lossy WebP transfer), then read back as RGBA arrays."""
    component = gr.ImageEditor(type="numpy", image_mode="RGBA", layers=False)
    sent = component.postprocess(value)
    read = lambda f: np.asarray(Image.open(f.path).convert("RGBA"))  # noqa: E731
    return {"background": read(sent.background), "layers": [read(f) for f in sent.layers], "composite": None}


def test_restoring_a_suggestion_replaces_exactly_the_suggested_pixels(tabs: Tabs, services, photo_file):
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    editor = tab.load_photo(str(photo_file))[ui.editor]
    suggested = tab.suggest(str(photo_file), editor, 0.5, None)[ui.editor]
    damage = detect_damage(np.asarray(sample_photo()), 0.5, model=services.detector).damage
    back = _through_the_editor(suggested)
    assert np.array_equal(layer_damage(back), damage)  # the transfer keeps the alpha exactly
    assert (np.abs(back["layers"][0][damage][:, :3].astype(int) - BRUSH_COLOUR) <= 3).mean() > 0.99  # and the colour

    out = tab.restore(str(photo_file), back, None, "auto", 1, 0.5, ["telea"], 5)
    result, status = out[ui.result], out[ui.status]
    mask = np.asarray(Image.open(io.BytesIO(result.mask_png))) > 127  # white = damage
    assert np.array_equal(mask, damage) and "from painted strokes" in status
    original = np.asarray(sample_photo())
    for s in result.shown:
        restored = np.asarray(Image.open(s.path))
        replaced = ~dilate_damage(~damage, s.params["dilation"])
        assert (restored[~replaced] == original[~replaced]).all()  # everything else untouched
        assert (restored[damage] != original[damage]).any(axis=-1).mean() > 0.5


def test_a_large_photo_is_suggested_at_full_resolution_and_shown_on_the_preview(tabs: Tabs, services, tmp_path):
    path = tmp_path / "scan.png"
    sample_photo(600, 400).save(path)
    tab = tabs.restore.handlers
    suggested, note, _, _ = suggest(tab, str(path), None, 0.5, None)  # an API client: just the file
    detection = detect_damage(np.asarray(Image.open(path)), 0.5, model=services.detector)
    assert detection.damage.shape == (400, 600) and f"**{100 * detection.fraction:.2f} %**" in note
    assert suggested["background"].size == (256, 171)  # the editor's preview...
    layer = np.asarray(suggested["layers"][0])
    assert layer.shape == (171, 256, 4)  # ...and the layer over it, where any damage under a pixel marks it
    assert np.array_equal(layer[..., 3] > 0, display.shrink_damage(detection.damage, (256, 171)))

    # Restore scales the layer back up exactly like painted strokes: the mask covers the detection
    result = tab.restore(str(path), suggested, None, "auto", 1, 0.5, [], 5)[tab.ui.result]
    mask = np.asarray(Image.open(io.BytesIO(result.mask_png))) > 127
    assert np.array_equal(~mask, to_known_mask(layer, "alpha", size=(600, 400), resize=True))
    assert mask[detection.damage].mean() > 0.9
    assert 0.5 * detection.fraction < mask.mean() < 4 * detection.fraction


def test_without_the_learned_detector_the_classical_one_suggests(tmp_path, engine, settings, photo_file):
    missing = AppSettings.from_env(
        {"INPAINT_DETECTOR_WEIGHTS": str(tmp_path / "nowhere"), "APP_OUTPUT_DIR": str(tmp_path)}
    )
    detector, problem = load_damage_detector(missing.detector)
    assert detector is None and "not found" in problem
    save_detector(DamageNet(DamageNetConfig(width=4, depth=3)), tmp_path / "random")  # steps = 0
    detector, problem = load_damage_detector(str(tmp_path / "random"))
    assert detector is None and "never trained" in problem

    tab = build_tabs(Services(None, "no weights", engine, settings, detector, problem)).restore.handlers
    editor = tab.load_photo(str(photo_file))[tab.ui.editor]
    suggested, note, _, _ = suggest(tab, str(photo_file), editor, 0.5, None)
    classical = detect_damage(np.asarray(sample_photo()), 0.5, method="classical")
    assert np.array_equal(layer_damage(suggested), classical.damage)
    assert "(classical detector, " in note and "the learned detector is not available" in note
    assert "never trained" not in note and "\n" not in note  # short: the reason is in the server log


def test_suggesting_without_a_readable_photo_is_a_one_line_message(tabs: Tabs, tmp_path, photo_file):
    tab = tabs.restore.handlers
    with pytest.raises(gr.Error, match="Upload a photo first"):
        tab.suggest(None, None, 0.5, None)
    with pytest.raises(gr.Error, match="Upload a photo first"):
        tab.suggest(None, {"background": None, "layers": [], "composite": None}, 0.5, None)
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a photo")
    with pytest.raises(gr.Error, match="not an image that can be read"):
        tab.suggest(str(not_image), None, 0.5, None)
    with pytest.raises(gr.Error, match=r"Sensitivity must be in \[0, 1\]"):
        tab.suggest(str(photo_file), None, 1.5, None)


# --- preferences -----------------------------------------------------------------------------------


def test_the_restoration_picked_on_the_page_is_the_one_preferred(tabs: Tabs, services, engine, photo_file):
    """A click in the gallery is kept on the server (the pick) and "I prefer this one" records it,
    not what the radio sent: the radio may not show the click yet when the button goes."""
    result = restore_once(services, photo_file, n=2, classical=("telea",))
    tab, ui, prefs = tabs.restore.handlers, tabs.restore.ui, tabs.restore.preferences
    assert tabs.outputs("select_candidate") == {ui.choice, ui.favourite}
    assert tabs.outputs("pick_candidate") == {ui.favourite}
    assert tab.select(result, gr.SelectData(None, {"index": 2, "value": None, "selected": True})) == {
        ui.choice: "C",
        ui.favourite: "C",
    }
    assert tab.select(result, gr.SelectData(None, {"index": 7, "value": None, "selected": True})) == {
        ui.choice: None,
        ui.favourite: None,
    }
    assert tab.select(None, gr.SelectData(None, {"index": 0, "value": None, "selected": True})) == {
        ui.choice: None,
        ui.favourite: None,
    }
    assert tab.pick("A") == {ui.favourite: "A"} and tab.pick("") == {ui.favourite: None}
    participant = study.new_participant(engine, consent=True)
    status = prefs.prefer(result, "A", False, participant, "C")[ui.pref_status]  # the radio still said A
    assert "Recorded your choice (C)" in status
    with study.read_session(engine) as s:
        assert s.scalar(select(Response.chosen_candidate_id)) == result.candidate_ids[2]
    with pytest.raises(gr.Error, match="Click the restoration you prefer first"):
        prefs.prefer(restore_once(services, photo_file, n=1), None, False, participant, None)


def answered(tabs: Tabs, out: dict) -> tuple:
    """(status, consent notice, pending answer, restoration, participant) from an answer's dict."""
    ui = tabs.restore.ui
    assert set(out) == {ui.pref_status, ui.consent_box, ui.pending, ui.result, tabs.page.participant}
    return out[ui.pref_status], out[ui.consent_box], out[ui.pending], out[ui.result], out[tabs.page.participant]


def test_a_choice_is_recorded_only_after_consent_with_order_and_parameters(tabs: Tabs, services, engine, photo_file):
    result = restore_once(services, photo_file, n=2, classical=("telea", "biharmonic"))
    prefs, ui, page = tabs.restore.preferences, tabs.restore.ui, tabs.page
    assert tabs.outputs("prefer") == tabs.outputs("rank") == tabs.outputs("none_acceptable")
    status, notice, pending, result, participant = answered(tabs, prefs.prefer(result, "C", False, None))
    assert notice.visible and pending.labels == ("C",) and "notice" in status and participant is None
    assert count(engine, Participant) == 0 and count(engine, Trial) == 0  # nothing before consent

    out = prefs.consent(result, pending, None)
    assert set(out) == tabs.outputs("consent")
    participant, remembered, status = out[page.participant], out[page.remembered], out[ui.pref_status]
    notice, pending, result = out[ui.consent_box], out[ui.pending], out[ui.result]
    assert remembered == {"participant": participant} and not notice.visible and pending is None
    assert "Recorded your choice (C)" in status
    with study.read_session(engine) as s:
        response = s.scalars(select(Response)).one()
        shown = s.execute(
            select(TrialCandidate.position, Candidate.method, Candidate.dilation, Candidate.seed, Candidate.image)
            .join(Candidate)
            .order_by(TrialCandidate.position)
        ).all()
        photo_image = s.scalar(select(Photo.image))
    assert [(m, d, seed) for _, m, d, seed, _ in shown] == [
        (x.params["method"], x.params["dilation"], x.params["seed"]) for x in result.shown
    ]
    assert response.kind == "pick" and response.participant_id == participant and response.seconds >= 0
    assert response.chosen_candidate_id == result.candidate_ids[2]
    assert photo_image is None and all(image is None for *_, image in shown)  # not allowed to keep

    # a double click, or clicking another one afterwards, records nothing more
    assert "already recorded" in prefs.prefer(result, None, False, participant, "B")[ui.pref_status]
    assert "already recorded" in prefs.prefer(result, "C", False, participant)[ui.pref_status]
    assert "already recorded" in prefs.prefer(result, "A", False, participant)[ui.pref_status]
    assert count(engine, Response) == 1 and count(engine, Trial) == 1


def test_declining_forgets_the_waiting_answer(tabs: Tabs, services, engine, photo_file):
    prefs, ui = tabs.restore.preferences, tabs.restore.ui
    prefs.prefer(restore_once(services, photo_file), "A", False, None)
    out = prefs.decline()
    assert set(out) == tabs.outputs("decline") == {ui.pref_status, ui.consent_box, ui.pending}
    assert out[ui.pref_status].startswith("Nothing was recorded") and not out[ui.consent_box].visible
    assert out[ui.pending] is None and count(engine, Participant) == 0 and count(engine, Response) == 0


def test_an_id_the_database_does_not_know_asks_for_consent_again(tabs: Tabs, services, engine, photo_file):
    result = restore_once(services, photo_file)
    out = tabs.restore.preferences.prefer(result, "A", False, "f" * 32)
    status, notice, pending, result, participant = answered(tabs, out)
    assert notice.visible and participant is None and pending.labels == ("A",) and status.startswith("Please read")
    assert count(engine, Photo) == 0 and count(engine, Response) == 0  # nothing registered


def test_the_photo_is_kept_only_when_allowed(tabs: Tabs, services, engine, photo_file):
    prefs = tabs.restore.preferences
    participant = study.new_participant(engine)
    result = restore_once(services, photo_file)
    prefs.prefer(result, "A", True, participant)
    with study.read_session(engine) as s:
        photo_image = s.scalar(select(Photo.image))
        images = s.scalars(select(Candidate.image)).all()
    assert photo_image == photo_file.read_bytes()
    assert all(image is not None for image in images) and len(images) == 3


def test_ranking_and_none_acceptable(tabs: Tabs, services, engine, photo_file):
    prefs = tabs.restore.preferences
    participant = study.new_participant(engine)
    result = restore_once(services, photo_file, n=2, classical=("telea",))
    with pytest.raises(gr.Error, match="Rank all 3 restorations"):
        prefs.rank(result, ["B", "A"], False, participant)
    ranked = answered(tabs, prefs.rank(result, ["B", "C", "A"], False, participant))
    assert "B > C > A" in ranked[0] and not ranked[1].visible and ranked[4] == participant
    with study.read_session(engine) as s:
        ranks = s.execute(select(ResponseRank.rank, ResponseRank.candidate_id).order_by(ResponseRank.rank)).all()
    ids = dict(zip(result.labels, result.candidate_ids))
    assert [cid for _, cid in ranks] == [ids["B"], ids["C"], ids["A"]]

    other = restore_once(services, photo_file, n=2, classical=())
    assert "none is acceptable" in answered(tabs, prefs.none_acceptable(other, False, participant))[0]
    with study.read_session(engine) as s:
        assert sorted(s.scalars(select(Response.kind))) == ["none", "rank"]


def test_one_restoration_cannot_be_compared(tabs: Tabs, services, engine, photo_file):
    result = restore_once(services, photo_file, n=1, classical=())
    with pytest.raises(gr.Error, match="only one restoration"):
        tabs.restore.preferences.prefer(result, "A", False, study.new_participant(engine))
    with pytest.raises(gr.Error, match="Restore a photo first"):
        tabs.restore.preferences.prefer(None, "A", False, None)


# --- study mode ------------------------------------------------------------------------------------


def request(**params) -> SimpleNamespace:
    return SimpleNamespace(query_params=params)


def select_event(index: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": None, "selected": True})


def test_a_participant_completes_a_study_and_resumes_after_a_reload(tabs: Tabs, engine):
    study_id = make_study(engine, mode="pick", n_items=3)
    mode, ui, shared = tabs.study, tabs.study.ui, tabs.page
    out = mode.on_load(None, request(study=str(study_id)))
    assert set(out) == tabs.outputs("on_load") == {shared.participant, shared.tabs, *ui.page}
    assert out[shared.participant] is None and out[shared.tabs].selected == "study"
    assert out[ui.consent].visible and not out[ui.trial].visible and not out[ui.thanks].visible
    assert "Test study" in out[ui.intro] and "3 photos" in out[ui.intro]

    page = mode.start(out[ui.state], None)
    assert set(page) == tabs.outputs("study_start") == {shared.participant, shared.remembered, *ui.page}
    participant, state = page[shared.participant], page[ui.state]
    progress, gallery = page[ui.progress], page[ui.gallery]
    assert page[shared.remembered] == {"participant": participant} and progress == "**Trial 1 of 3**"
    assert len(gallery) == 3 and page[ui.trial].visible and not page[ui.consent].visible
    assert page[ui.choice].choices == [("A", "A"), ("B", "B"), ("C", "C")] and page[ui.choice].visible
    with pytest.raises(gr.Error, match="Click the restoration"):
        mode.submit(state, participant, None, [])
    picked = mode.select(state, select_event(1))
    assert set(picked) == tabs.outputs("study_select") == set(ui.picked)
    state, first_choice = picked[ui.state], picked[ui.choice].value
    first_ids = state.trial.candidate_ids
    page = mode.submit(state, participant, None, [])  # the click is in the state, whatever the radio sent
    assert set(page) == tabs.outputs("study_submit") == tabs.outputs("study_none") == set(ui.page)
    state = page[ui.state]
    assert page[ui.progress] == "**Trial 2 of 3**"

    # a reload: the browser still knows the participant, and the same trial comes back
    page = mode.on_load({"participant": participant}, request(study="Test study"))
    assert page[ui.progress] == "**Trial 2 of 3**" and page[ui.state].trial.trial_id == state.trial.trial_id
    assert page[shared.participant] == participant
    page = mode.none_acceptable(page[ui.state], participant)
    assert page[ui.progress] == "**Trial 3 of 3**"
    page = mode.submit(page[ui.state], participant, "A", [])
    assert page[ui.thanks].visible and not page[ui.trial].visible  # the thank-you page
    assert mode.on_load({"participant": participant}, request(study=str(study_id)))[ui.thanks].visible  # still thanks

    progress = study.study_progress(engine, study_id, participant)
    assert progress.finished and progress.done == 3
    with study.read_session(engine) as s:
        rows = s.execute(
            select(Trial.sequence, Response.kind, Response.chosen_candidate_id)
            .join(Response, Response.trial_id == Trial.id)
            .order_by(Trial.sequence)
        ).all()
    assert [kind for _, kind, _ in rows] == ["pick", "none", "pick"]
    assert first_choice == "B" and rows[0][2] == first_ids[1]


def test_the_last_pick_on_the_page_is_the_answer(tabs: Tabs, engine):
    """Clicks and radio changes are kept on the server in order, so Submit records the latest one
    even when the page had not shown it yet (the radio still holding an earlier choice)."""
    study_id = make_study(engine, name="Quick", mode="pick", n_items=1)
    mode, ui = tabs.study, tabs.study.ui
    page = mode.start(mode.on_load(None, request(study=str(study_id)))[ui.state], None)
    participant, state = page[tabs.page.participant], page[ui.state]
    out = mode.select(state, select_event(0))
    state = out[ui.state]
    assert out[ui.choice].value == "A"
    out = mode.choose(state, "C")  # the participant sets the radio to C
    assert set(out) == tabs.outputs("study_choose") == set(ui.picked)
    state = out[ui.state]
    assert out[ui.choice].value == "C" and state.picked == ("C",)
    state = mode.select(state, select_event(1))[ui.state]  # then clicks B; Submit leaves before the radio shows B
    assert mode.submit(state, participant, "C", [])[ui.thanks].visible
    with study.read_session(engine) as s:
        chosen = s.scalar(select(Response.chosen_candidate_id))
    assert chosen == state.trial.candidate_ids[1]
    assert mode.choose(state, None)[ui.state].picked == () and mode.select(None, select_event(0))[ui.state] is None


def test_a_ranking_study_collects_full_rankings(tabs: Tabs, engine):
    study_id = make_study(engine, name="Ranking", mode="rank", n_items=1)
    mode, ui = tabs.study, tabs.study.ui
    state = mode.on_load(None, request(study=str(study_id)))[ui.state]
    page = mode.start(state, None)
    participant, state, choice, ranking = page[tabs.page.participant], page[ui.state], page[ui.choice], page[ui.ranking]
    assert ranking.visible and not choice.visible
    for index in (2, 0, 1, 0):  # a second click on A moves it last
        out = mode.select(state, select_event(index))
        state, shown = out[ui.state], out[ui.ranking]
    assert shown.value == ["C", "B", "A"] and state.picked == ("C", "B", "A")
    out = mode.reorder(state, ["C", "A", "X"])  # B removed in the dropdown; X is not shown
    assert set(out) == tabs.outputs("study_reorder") == set(ui.picked)
    state, shown = out[ui.state], out[ui.ranking]
    assert shown.value == ["C", "A"] and state.picked == ("C", "A")
    with pytest.raises(gr.Error, match="Rank all 3"):
        mode.submit(state, participant, None, ["C", "B", "A"])  # the page's ranking wins over what is sent
    out = mode.select(state, select_event(1))
    state, shown = out[ui.state], out[ui.ranking]
    assert shown.value == ["C", "A", "B"]
    assert mode.submit(state, participant, None, [])[ui.thanks].visible  # one item: done
    with study.read_session(engine) as s:
        ranked = s.scalars(select(ResponseRank.candidate_id).order_by(ResponseRank.rank)).all()
    ids = state.trial.candidate_ids
    assert ranked == [ids[2], ids[0], ids[1]]


def test_study_links_that_lead_nowhere(tabs: Tabs):
    mode, ui = tabs.study, tabs.study.ui
    with pytest.raises(gr.Error, match="There is no study 'nope'"):
        mode.on_load(None, request(study="nope"))
    with pytest.raises(gr.Error, match="There is no study '99': check the link you were given"):
        mode.on_load(None, request(study=" 99 "))
    out = mode.on_load({"participant": "abc"}, request())
    assert set(out) == tabs.outputs("on_load")
    assert out[tabs.page.participant] == "abc" and out[ui.state] is None and out[ui.intro] == texts.STUDY_NONE
    assert not out[ui.consent].visible and not out[ui.trial].visible and not out[ui.thanks].visible


# --- researchers -----------------------------------------------------------------------------------


def test_the_dashboard_needs_the_configured_token(tabs: Tabs, services, engine, settings, photo_file, tmp_path):
    closed = build_tabs(Services(None, None, engine, AppSettings.from_env({"APP_OUTPUT_DIR": str(tmp_path)}))).admin
    assert not closed.enabled and closed.ui is None
    with pytest.raises(gr.Error, match="disabled"):
        closed.unlock(ADMIN_TOKEN)
    admin, ui = tabs.admin, tabs.admin.ui
    for wrong in ("", None, ADMIN_TOKEN + "x"):
        with pytest.raises(gr.Error, match="Wrong researcher token"):
            admin.unlock(wrong)

    participant = study.new_participant(engine)
    for _ in range(2):
        tabs.restore.preferences.prefer(
            restore_once(services, photo_file, n=2, classical=("telea",)), "A", False, participant
        )
    study_id = make_study(engine, name="Pilot", n_items=1)
    out = admin.unlock(ADMIN_TOKEN)
    assert set(out) == tabs.outputs("admin_unlock") == tabs.outputs("admin_unlock_enter")
    board, timer, counts, scope = out[ui.dashboard], out[ui.timer], out[ui.counts], out[ui.scope]
    assert board.visible and timer.active and "**2** answers" in counts and out[ui.note].startswith("Unlocked")
    assert [value for value, _ in scope.choices] == ["All recorded answers", f"{study_id}: Pilot"]
    assert admin.counts(ADMIN_TOKEN) == {ui.counts: counts} and tabs.outputs("admin_counts") == {ui.counts}
    out = admin.analyze(ADMIN_TOKEN, scope.value)
    assert set(out) == tabs.outputs("admin_analyze")
    table, chart, notes = out[ui.table], out[ui.chart], out[ui.analysis_note]
    assert isinstance(table, pd.DataFrame) and set(table["condition"]) >= {"telea/d2/p0"}
    assert Image.open(chart).size[0] > 300 and "2 answers from 1 participants" in notes
    for fmt, api_name in (("csv", "admin_export"), ("parquet", "admin_export_parquet")):
        out = getattr(admin, f"export_{fmt}")(ADMIN_TOKEN, scope.value)
        assert set(out) == tabs.outputs(api_name) == {ui.exports}
        files = [Path(f) for f in out[ui.exports]]
        assert sorted(f.name for f in files) == [f"long.{fmt}", f"pairwise.{fmt}"]
        long = pd.read_csv(files[0]) if fmt == "csv" else pd.read_parquet(files[0])
        assert len(long) == 6  # 2 trials x 3 shown candidates
    with pytest.raises(gr.Error, match="Wrong researcher token"):
        admin.export("guess", "csv", None)


# --- the page and its errors -----------------------------------------------------------------------


def test_the_page_has_the_api_and_no_open_researcher_tab_without_a_token(tiny_model, engine, tmp_path):
    import app

    open_settings = AppSettings.from_env({"APP_OUTPUT_DIR": str(tmp_path)})
    demo = app.build_demo(tiny_model, engine, open_settings)
    names = set(demo.get_api_info()["named_endpoints"])
    assert {
        "/restore",
        "/suggest_damage",
        "/prefer",
        "/rank",
        "/none_acceptable",
        "/consent",
        "/study_start",
        "/study_submit",
    } <= names
    assert not any(name.startswith("/admin") for name in names)
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert {t.label: t.interactive for t in tabs} == {"Restore": True, "Study": True, "Researchers": False}
    for dependency in demo.config["dependencies"]:
        assert dependency["api_name"], dependency  # every event is named


def test_unexpected_errors_become_short_messages():
    @user_errors
    def broken():
        raise RuntimeError("KeyError deep inside: /secret/path")

    @user_errors
    def locked():
        raise study.StorageError("database is locked")

    with pytest.raises(gr.Error) as caught:
        broken()
    assert "went wrong" in caught.value.message and "secret" not in caught.value.message
    with pytest.raises(gr.Error, match="unavailable"):
        locked()


def test_a_remembered_id_unknown_to_the_database_starts_afresh(tabs: Tabs, engine):
    study_id = make_study(engine, n_items=1)
    mode, ui, shared = tabs.study, tabs.study.ui, tabs.page
    page = mode.on_load({"participant": "f" * 32}, request(study=str(study_id)))
    assert page[shared.participant] == "f" * 32 and page[ui.consent].visible  # the consent page, not an error
    page = mode.start(page[ui.state], "f" * 32)
    participant = page[shared.participant]
    assert participant != "f" * 32 and page[shared.remembered] == {"participant": participant}
    assert page[ui.progress] == "**Trial 1 of 1**" and study.participant_exists(engine, participant)


def test_spaces_gpu_is_applied_only_when_the_package_is_present(monkeypatch):
    import importlib.util
    import sys
    import types

    from webapp.startup import gpu

    def handler(x):
        return x

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert gpu(handler) is handler  # no `spaces` package
    fake = types.ModuleType("spaces")
    fake.GPU = lambda fn: ("on the GPU", fn)
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "spaces" else None)
    assert gpu(handler) == ("on the GPU", handler)


def test_a_sharpened_restorer_adds_sharp_candidates_and_its_absence_is_not_an_error(
    tiny_model, engine, settings, tmp_path
):
    import torch

    from inpaint import save_model
    from inpaint.io.weights import save_overlay
    from webapp.startup import load_sharp_model

    base = save_model(tiny_model, tmp_path / "weights", metadata={"steps": 1})
    tuned = load_model(str(base))[0]
    with torch.no_grad():
        tuned.decoder[-1].conv.weight.mul_(1.5)
    tuned.config.version = "tiny-sharp"
    save_overlay(tuned, base / "sharp", ["decoder.2"], "tiny-test", {"steps": 1})
    assert AppSettings.from_env({"INPAINT_SHARP_WEIGHTS": str(base / "sharp")}).sharp == str(base / "sharp")
    assert load_sharp_model(str(tmp_path / "nowhere"), tiny_model) is None
    assert load_sharp_model(str(base / "sharp"), None) is None  # no restorer, no sharp candidates
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    assert load_sharp_model(str(tmp_path / "broken"), tiny_model) is None
    sharp = load_sharp_model(str(base / "sharp"), tiny_model)
    assert sharp is not None and sharp.config.version == "tiny-sharp"
    tabs = build_tabs(Services(tiny_model, None, engine, settings, sharp=sharp))
    tab, ui = tabs.restore.handlers, tabs.restore.ui
    path = tmp_path / "scan.png"
    sample_photo(300, 200).save(path)
    preview = tab.load_photo(str(path))[ui.editor]["background"]
    out = tab.restore(str(path), editor_value(preview, [(100, 60, 140, 70)]), None, "auto", 4, 0.5, [], 5)
    params = [s.params for s in out[ui.result].shown]
    assert sorted(p["finish"] for p in params) == ["grain", "grain", "plain", "sharp"]
    assert {p["model_version"] for p in params if p["finish"] == "sharp"} == {"tiny-sharp"}
    label = next(s.label for s in out[ui.result].shown if s.params["finish"] == "sharp")
    assert "finish `sharp`" in tab.show(out[ui.result], label)[ui.details]
