"""End to end in a real browser (Debian's chromium driven by playwright): upload a damaged photo,
paint over a crease, restore, pick a favourite, consent, download it; take part in a study,
reloading half-way; open the researchers' dashboard; let the detector suggest the damage, see it
drawn in the editor, erase part of it, undo and redo that, restore. Checks the SQLite file, measures
the red on screenshots of the editor's canvas, and takes screenshots of each tab: into a temporary
folder, or, to refresh the README's, ``SCREENSHOTS_DIR=docs/screenshots`` (a test run leaves the
checkout untouched)."""

from __future__ import annotations

import io
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaint import detect_damage, load_detector
from webapp.restore import BRUSH_COLOUR

from .conftest import ADMIN_TOKEN, RunningApp, sample_photo

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "pconv-browser-screenshots")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="no chromium browser (apt-get install chromium; .ci/run installs it)",
)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements-test.txt)"
)
expect = sync_api.expect


def _rows(app: RunningApp, query: str, *args) -> list[tuple]:
    with sqlite3.connect(f"file:{app.db_url.removeprefix('sqlite:///')}?mode=ro", uri=True) as db:
        return db.execute(query, args).fetchall()


def _queue_join(request) -> bool:
    """An event sent to the app's queue."""
    return request.method == "POST" and "/queue/join" in request.url


@contextmanager
def _slow_network(page, latency_ms: int):
    """Every request of ``page`` takes ``latency_ms`` longer (Chromium's network emulation)."""
    cdp = page.context.new_cdp_session(page)
    conditions = dict(offline=False, downloadThroughput=-1, uploadThroughput=-1)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {**conditions, "latency": latency_ms})
    try:
        yield
    finally:
        cdp.send("Network.emulateNetworkConditions", {**conditions, "latency": 0})
        cdp.detach()


def _screenshot(page, name: str, full_page: bool = True) -> Path:
    """A small PNG for the README: at most 1100 px wide, 256 colours."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    image = Image.open(path).convert("RGB")
    if image.width > 1100:
        image = image.resize((1100, round(image.height * 1100 / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def _damaged_photo(folder: Path) -> tuple[Path, list[tuple[int, int]]]:
    """A real photo with synthetic creases across it, and points along the longest one (image
    pixels, left to right: the median row of its pixels in each of 8 column bands)."""
    from scipy import ndimage

    from inpaint.synth import synthesize_damage

    damaged, known = synthesize_damage(sample_photo(384, 384), "moderate", seed=5, kinds=("crease",))
    path = folder / "grandmother-1952.png"
    Image.fromarray(damaged).save(path)
    labels, n = ndimage.label(~known, structure=np.ones((3, 3)))
    longest = 1 + int(np.argmax(ndimage.sum_labels(np.ones_like(labels), labels, range(1, n + 1))))
    ys, xs = np.nonzero(labels == longest)
    ends = [(int(xs[i]), int(ys[i])) for i in (np.argmin(xs), np.argmax(xs))]
    points = [ends[0]]
    bands = 8  # each pointer move costs about a second of software rendering on a busy CPU
    for x0 in np.linspace(xs.min(), xs.max(), bands + 1)[:-1]:
        band = (xs >= x0) & (xs < x0 + (xs.max() - xs.min()) / bands + 1)
        if band.any():
            points.append((int(np.median(xs[band])), int(np.median(ys[band]))))
    # a stroke must start on the photo: a press on its very edge does not begin one
    return path, [(min(max(x, 3), 380), min(max(y, 3), 380)) for x, y in [*points, ends[1]]]


# The editor fits the photo into its canvas once the photo has loaded (the zoom it prints in its
# toolbar changes then): wait for a zoom at which the photo fits, then map pixels to the screen.
_FITTED = """([w, h]) => {
  const editor = document.querySelector('#damage-editor');
  const canvas = editor && editor.querySelector('canvas');
  const zoom = editor && [...editor.querySelectorAll('span')].find(e => /^\\d+%$/.test(e.textContent.trim()));
  if (!canvas || !zoom) return false;
  const r = canvas.getBoundingClientRect();
  const fit = Math.min(r.width / w, r.height / h), z = parseInt(zoom.textContent) / 100;
  return z <= fit * 1.01 && z >= fit * 0.75;
}"""


def _paint(page, points: list[tuple[int, int]], size: tuple[int, int], tool: str = "Brush") -> None:
    """Drag the brush (or, with ``tool="Erase"``, the eraser) through ``points`` (image pixels) on
    the editor's canvas, which shows the photo centred at the zoom printed in the editor's toolbar."""
    editor = page.locator("#damage-editor")
    page.wait_for_function(_FITTED, arg=list(size))
    editor.get_by_role("button", name=tool, exact=True).first.click()
    scale = int(editor.get_by_text(re.compile(r"^\d+%$")).first.inner_text().rstrip("%")) / 100
    box = editor.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    screen = [(cx + (x - size[0] / 2) * scale, cy + (y - size[1] / 2) * scale) for x, y in points]
    page.mouse.move(*screen[0])
    page.mouse.down()
    for x, y in screen[1:]:
        page.mouse.move(x, y)  # the editor draws the segment between two pointer positions
    page.mouse.up()


@dataclass(frozen=True)
class Red:
    """The brush-red pixels of the photo's rectangle on a screenshot of the editor's canvas."""

    share: float  # of the rectangle's screen pixels
    photo_xy: np.ndarray = field(repr=False)  # (N, 2) int: the photo pixel under each red screen pixel (x, y)

    def near(self, damage: np.ndarray) -> float:
        """The fraction of red pixels within one photo pixel of ``damage`` (bool (H, W)): the display
        scales the photo by a non-integer zoom, so a red pixel may sample its neighbour."""
        from scipy import ndimage

        grown = ndimage.binary_dilation(damage, np.ones((3, 3), bool))
        return float(grown[self.photo_xy[:, 1], self.photo_xy[:, 0]].mean()) if len(self.photo_xy) else 0.0


# A screen pixel counts as the brush's red when each channel is within this of BRUSH_COLOUR: the
# editor draws a received layer unsmoothed (exactly the colour), and no pixel of the test photo,
# nor its orange suit, comes this close (checked on the screenshot taken before suggesting).
_RED_TOLERANCE = 24


def _brush_red(
    page, size: tuple[int, int], ready: Callable[[Red], bool] = lambda red: True, timeout: float = 90.0
) -> Red:
    """The brush-red pixels over the photo on the editor's canvas, once the editor is done with the
    last event that updated it (its progress overlay, which veils the canvas, is hidden), the canvas
    has settled (two screenshots in a row alike) and ``ready`` holds; or the last ones measured after
    ``timeout`` seconds (the caller's assertion then says what was on screen). The photo is shown
    centred on the canvas at the zoom printed in the editor's toolbar (as ``_paint`` maps it)."""
    editor = page.locator("#damage-editor")
    expect(editor.locator(":scope > .wrap")).to_have_class(re.compile(r"\bhide\b"))
    page.wait_for_function(_FITTED, arg=list(size))
    zoom = int(editor.get_by_text(re.compile(r"^\d+%$")).first.inner_text().rstrip("%")) / 100
    canvas = editor.locator("canvas").first
    deadline, last, red = time.monotonic() + timeout, None, None
    while True:  # each screenshot waits for the next frame: the loop is paced by the page
        shot = canvas.screenshot()
        if shot == last and red is not None and ready(red) or time.monotonic() > deadline:
            return red
        if shot != last:
            screen = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(np.int16)
            cx, cy = screen.shape[1] / 2, screen.shape[0] / 2
            x0, y0 = round(cx - size[0] * zoom / 2), round(cy - size[1] * zoom / 2)
            photo = screen[y0 : round(cy + size[1] * zoom / 2), x0 : round(cx + size[0] * zoom / 2)]
            mask = (np.abs(photo - np.array(BRUSH_COLOUR)) <= _RED_TOLERANCE).all(axis=-1)
            ys, xs = np.nonzero(mask)
            xy = np.stack([np.minimum(xs / zoom, size[0] - 1), np.minimum(ys / zoom, size[1] - 1)], axis=1)
            red = Red(float(mask.mean()), xy.astype(int))
        last = shot


def _launch(playwright):
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
        headless=True,
        args=CHROMIUM_FLAGS,
    )


def _percent(text: str, before: str) -> float:
    """The number printed before `` %`` after ``before`` in a note."""
    match = re.search(re.escape(before) + r"\s*([0-9.]+) %", text)
    assert match, text
    return float(match.group(1))


def _open_with_photo(browser, url: str, photo: Path, accept_downloads: bool = False):
    """A new page on the app with ``photo`` (384 x 384) uploaded and the editor's canvas shown."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=accept_downloads)
    page.set_default_timeout(60_000)
    expect.set_options(timeout=90_000)
    page.goto(url)
    page.locator("#photo-upload input[type=file]").set_input_files(str(photo))
    expect(page.get_by_text("384 x 384 pixels")).to_be_visible()
    expect(page.locator("#damage-editor canvas").first).to_be_visible()
    return page


@pytest.mark.timeout(600)  # a software-rendered canvas is slow when the CPU is busy
def test_restore_prefer_download_study_and_dashboard_in_a_browser(running_app: RunningApp, tmp_path: Path):
    photo, crease = _damaged_photo(tmp_path)
    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            # --- Restore: upload, paint, check the mask ---------------------------------------
            page = _open_with_photo(browser, running_app.url, photo, accept_downloads=True)
            expect(page.locator("#damage-editor").get_by_role("button", name="Brush Size")).to_be_visible()
            _paint(page, crease, (384, 384))
            page.get_by_role("button", name="Show the damage to restore").click()
            marked = re.compile(r"Marked as damage \(red\): [0-9.]+ % of the photo, from painted strokes")
            expect(page.get_by_text(marked)).to_be_visible()
            page.get_by_label("Telea (fast marching)").check()
            _screenshot(page, "restore-painted")

            # --- restore, compare, pick, consent -----------------------------------------------
            page.locator("#restore-button").click()
            thumbnails = page.locator("#candidates .thumbnail-item")
            expect(thumbnails).to_have_count(5)  # 4 by the model + Telea
            expect(page.locator("#restore-status")).to_contain_text("5 restorations of 384 x 384 pixels")
            # a click and "I prefer this one" straight after, over a slow connection (as a Space's
            # visitors have), so the button goes before the click's answer is back in the radio: the
            # server takes them in the order they were sent, so B is the choice
            with _slow_network(page, latency_ms=400):
                with page.expect_request(_queue_join):  # the click's event has left the page (the answer has not)
                    thumbnails.nth(1).click()
                page.locator("#prefer-button").click()
                expect(page.locator("#consent-agree")).to_be_visible()
            expect(page.locator("#download-button")).to_contain_text("Download B")
            expect(page.get_by_text("Before we record your choice")).to_be_visible()
            _screenshot(page, "restore-results")
            before = _rows(running_app, "SELECT count(*) FROM responses")[0][0]
            page.locator("#consent-agree").click()
            expect(page.locator("#preference-status")).to_contain_text("Recorded your choice (B)")
            kind, position = _rows(
                running_app,
                """
                SELECT r.kind, tc.position FROM responses r JOIN trial_candidates tc
                ON tc.trial_id = r.trial_id AND tc.candidate_id = r.chosen_candidate_id
                ORDER BY r.id DESC LIMIT 1""",
            )[0]
            assert (kind, position) == ("pick", 2)
            assert _rows(running_app, "SELECT count(*) FROM responses")[0][0] == before + 1

            # --- download the chosen one at full resolution ------------------------------------------
            with page.expect_download() as download:
                page.locator("#download-button").click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.name.endswith("-restored-B.png") and Image.open(saved).size == (384, 384)

            # --- Study mode: consent, trials, a reload half-way, thanks ------------------------------------
            page.goto(f"{running_app.url}?study={running_app.study_id}")
            expect(page.locator("#study-intro")).to_contain_text("Pilot study")
            expect(page.locator("#study-start")).to_be_visible()
            _screenshot(page, "study-consent")
            page.locator("#study-start").click()
            expect(page.locator("#study-progress")).to_contain_text("Trial 1 of 3")
            page.locator("#study-gallery .thumbnail-item").nth(0).click()
            expect(page.locator("#study-choice input:checked")).to_have_count(1)
            _screenshot(page, "study-trial")
            page.locator("#study-submit").click()
            expect(page.locator("#study-progress")).to_contain_text("Trial 2 of 3")
            page.reload()  # the participant continues where they were
            expect(page.locator("#study-progress")).to_contain_text("Trial 2 of 3")
            # a click and Submit straight after, over a slow connection: Submit goes before the click's
            # answer is back in the radio; the server takes the study's events in order, so it counts
            with _slow_network(page, latency_ms=400):
                with page.expect_request(_queue_join):
                    page.locator("#study-gallery .thumbnail-item").nth(2).click()
                page.locator("#study-submit").click()
                expect(page.locator("#study-progress")).to_contain_text("Trial 3 of 3")
            page.get_by_role("button", name="None is acceptable").last.click()
            expect(page.locator("#study-thanks")).to_be_visible()
            answers = _rows(
                running_app,
                """SELECT r.kind, tc.position FROM responses r
                                             JOIN trials t ON t.id = r.trial_id
                                             LEFT JOIN trial_candidates tc ON tc.trial_id = r.trial_id
                                                                          AND tc.candidate_id = r.chosen_candidate_id
                                             WHERE t.study_id = ? ORDER BY t.sequence""",
                running_app.study_id,
            )
            assert [tuple(a) for a in answers] == [("pick", 1), ("pick", 3), ("none", None)]

            # --- Researchers ------------------------------------------------------------------------------
            page.goto(running_app.url)
            page.get_by_role("tab", name="Researchers").click()
            page.locator("#admin-token input").fill(ADMIN_TOKEN)
            page.locator("#admin-unlock").click()
            expect(page.locator("#admin-counts")).to_contain_text("answers")
            page.locator("#admin-analyze").click()
            expect(page.get_by_text("Strongest condition")).to_be_visible()
            page.locator("#admin-csv").click()
            expect(page.get_by_role("row", name=re.compile(r"long\.csv"))).to_be_visible()
            _screenshot(page, "researchers")
        finally:
            browser.close()


@pytest.mark.timeout(600)
def test_suggest_damage_then_erase_part_of_it_and_restore_in_a_browser(running_app: RunningApp, tmp_path: Path):
    """The suggestion is drawn in the editor, over the damage it marks, as red strokes the eraser
    works on and Undo/Redo take back and replay; Restore reads what is left of it."""
    photo, _ = _damaged_photo(tmp_path)
    size = (384, 384)
    larger = tmp_path / "larger.png"
    sample_photo(600, 450).save(larger)  # the editor shows a 512 x 384 preview of it
    sensitivity = 0.45  # the app's tiny random detector marks a few hundred scattered pixels here
    expected = detect_damage(photo, sensitivity, model=load_detector(running_app.folder / "damage-detector"))
    assert 0 < expected.fraction < 0.05
    # erase along the rows where the suggestion is densest, across its damaged pixels there
    rows = np.convolve(expected.damage.sum(axis=1), np.ones(7), mode="same")
    y = int(np.clip(np.argmax(rows[20:-20]) + 20, 20, 363))
    xs = np.nonzero(expected.damage[y - 3 : y + 4].any(axis=0))[0]
    line = [(int(x), y) for x in np.linspace(max(xs.min() - 6, 4), min(xs.max() + 6, 379), 3)]
    # Red on screen against the share in the note: the photo is shown at a zoom of about 1.3, so a
    # photo pixel covers one or two screen pixels each way (1.3 on average) and the screen share of
    # a few hundred scattered pixels is within a few percent of theirs (0.93 of it measured), while
    # a layer drawn off its place leaves most of its red off the photo (0.2 of it measured).
    share_ratio = (0.7, 1.3)

    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = _open_with_photo(browser, running_app.url, photo)
            editor = page.locator("#damage-editor")
            # another, larger photo, then this one again: the editor's canvas shrinks back to this one
            for other, described in ((larger, "600 x 450 pixels"), (photo, "384 x 384 pixels")):
                page.locator("#photo-upload").get_by_role("button", name="Clear").click()
                page.locator("#photo-upload input[type=file]").set_input_files(str(other))
                expect(page.get_by_text(described)).to_be_visible()
            assert _brush_red(page, size).share < 1e-4  # the photo itself has no brush red

            number = page.locator("#sensitivity-slider input[type=number]")
            number.fill(str(sensitivity))
            number.press("Enter")
            expect(page.locator("#sensitivity-slider input[type=range]")).to_have_value(str(sensitivity))
            page.locator("#suggest-button").click()
            note = page.locator("#mask-note")
            expect(note).to_contain_text("of the photo as damage (learned detector")
            suggested = _percent(note.inner_text(), "Suggested")
            assert abs(suggested - 100 * expected.fraction) <= 0.02  # the same detector, in the app

            # the editor draws the suggestion in red over the photo, on the pixels it marks
            shown = _brush_red(page, size, ready=lambda red: red.share > 0)
            assert share_ratio[0] < 100 * shown.share / suggested < share_ratio[1], (shown.share, suggested)
            assert shown.near(expected.damage) > 0.9

            # the editor holds the suggestion as its layer: what it sends back is exactly it
            page.get_by_role("button", name="Show the damage to restore").click()
            expect(note).to_contain_text("from painted strokes")
            assert _percent(note.inner_text(), "Marked as damage (red):") == suggested

            # erase part of it with the editor's eraser: less is marked, less is red, none under the eraser
            _paint(page, line, size, tool="Erase")
            page.get_by_role("button", name="Show the damage to restore").click()
            expect(note).not_to_contain_text(f"Marked as damage (red): {suggested:.2f} %")
            expect(note).to_contain_text("from painted strokes")
            erased = _percent(note.inner_text(), "Marked as damage (red):")
            assert 0 < erased < suggested
            left = _brush_red(page, size)
            assert share_ratio[0] < 100 * left.share / erased < share_ratio[1], (left.share, erased)
            assert left.near(expected.damage) > 0.9 and left.share < shown.share
            px, py = left.photo_xy.T
            assert not ((abs(py - y) <= 2) & (px >= line[0][0]) & (px <= line[-1][0])).any()

            # Undo brings the erased strokes back (the editor sends the suggestion again), Redo erases them
            editor.get_by_role("button", name="Undo").click()
            back = _brush_red(page, size, ready=lambda red: red.share > left.share)
            assert back.share == pytest.approx(shown.share, rel=0.01)
            page.get_by_role("button", name="Show the damage to restore").click()
            expect(note).to_contain_text(f"Marked as damage (red): {suggested:.2f} %")
            editor.get_by_role("button", name="Redo").click()
            again = _brush_red(page, size, ready=lambda red: red.share < back.share)
            assert again.share == pytest.approx(left.share, rel=0.01)
            page.get_by_role("button", name="Show the damage to restore").click()
            expect(note).to_contain_text(f"Marked as damage (red): {erased:.2f} %")

            # restore: the model restores what is left of the suggestion
            page.locator("#restore-button").click()
            expect(page.locator("#candidates .thumbnail-item")).to_have_count(4)
            expect(page.locator("#restore-status")).to_contain_text(
                f"4 restorations of 384 x 384 pixels; Marked as damage (red): {erased:.2f} %"
            )
        finally:
            browser.close()
