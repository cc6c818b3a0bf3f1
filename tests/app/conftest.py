"""Fixtures for the app tests: a tiny model and a tiny damage detector (never the bundled weights),
a real SQLite file in tmp_path, small photos, a study with stored images, the three tabs built on
a page (their components and handlers), and (for the API and browser tests) the real app running
as `python app.py` in a subprocess on a free loopback port."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import study
from inpaint import PConvUNet, known_to_image, save_detector, save_model
from tests.helpers import free_port, tiny_detector, tiny_restorer
from webapp import researchers_tab, restore_tab, study_tab
from webapp.admin import Dashboard
from webapp.page import Page
from webapp.restore_tab import RestoreTab
from webapp.settings import AppSettings
from webapp.startup import Services, load_damage_detector, open_database
from webapp.study_mode import StudyMode

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "test-admin-token"


# --- images ----------------------------------------------------------------------------------


def sample_photo(width: int = 96, height: int = 72) -> Image.Image:
    """A real photograph (scikit-image's bundled astronaut), resized: content the classical
    methods and the network can work with, without a download."""
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.LANCZOS)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def painted_layer(size: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """What the ImageEditor returns for strokes: an RGBA layer, transparent except the boxes
    (x0, y0, x1, y1), painted opaque red."""
    w, h = size
    layer = np.zeros((h, w, 4), np.uint8)
    for x0, y0, x1, y1 in boxes:
        layer[y0:y1, x0:x1] = (255, 32, 32, 255)
    return layer


def mask_image(
    size: tuple[int, int], boxes: list[tuple[int, int, int, int]], white_is_damage: bool = True
) -> Image.Image:
    w, h = size
    a = np.zeros((h, w), np.uint8)
    for x0, y0, x1, y1 in boxes:
        a[y0:y1, x0:x1] = 255
    return Image.fromarray(a if white_is_damage else 255 - a, "L")


def make_study(
    engine, name: str = "Test study", mode: str = "pick", n_items: int = 3, size: tuple[int, int] = (64, 48)
) -> int:
    """A study whose items have stored photo, mask and three candidate images each: real
    damaged crops of the sample photo, restored by three classical methods."""
    from inpaint import restore
    from inpaint.synth import synthesize_damage

    w, h = size
    source = sample_photo(w * 2, h * 2)
    items = []
    for i in range(n_items):
        x, y = (i * w // 2) % w, (i * h // 3) % h
        damaged, known = synthesize_damage(source.crop((x, y, x + w, y + h)), "moderate", seed=i)
        photo = Image.fromarray(damaged)
        candidates = [
            study.CandidateInfo(
                c.params["method"],
                c.params["dilation"],
                c.params["dropout"],
                seed=c.params["seed"],
                image_bytes=png_bytes(c.image),
            )
            for method in ("telea", "ns", "biharmonic")
            for c in restore(photo, known, n=1, seed=i, method=method)
        ]
        items.append(
            (
                study.PhotoInfo(w, h, image_bytes=png_bytes(photo)),
                study.MaskInfo(w, h, hole_ratio=float((~known).mean()), image_bytes=png_bytes(known_to_image(known))),
                candidates,
            )
        )
    return study.create_study(engine, name, items, mode=mode, description="Which restoration looks best?")


# --- the page's tabs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tabs:
    """The three tabs built on one page the way app.build_demo builds them."""

    demo: gr.Blocks
    page: Page
    restore: RestoreTab
    study: StudyMode
    admin: Dashboard

    def outputs(self, api_name: str) -> set[Any]:
        """The components the event called ``api_name`` updates."""
        (fn,) = [fn for fn in self.demo.fns.values() if fn.api_name == api_name]
        return set(fn.outputs)


def build_tabs(services: Services) -> Tabs:
    with gr.Blocks() as demo:
        participant, remembered = gr.State(None), gr.BrowserState(None)
        with gr.Tabs() as tabs:
            page = Page(services, demo, tabs, participant, remembered)
            built = Tabs(demo, page, restore_tab.build(page), study_tab.build(page), researchers_tab.build(page))
    return built


# --- in-process fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model() -> PConvUNet:
    return tiny_restorer(working_size=64, version="tiny-test")


def save_tiny_detector(folder: Path) -> Path:
    """A tiny damage detector (random weights marked as trained: steps = 1), saved to ``folder``.
    Its suggestions are meaningless but deterministic, and at the default sensitivity it flags a
    few percent of the sample photo: neither nothing nor everything."""
    return save_detector(tiny_detector(version="tiny-detector-test"), folder, metadata={"steps": 1})


@pytest.fixture(scope="session")
def tiny_detector_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_detector(tmp_path_factory.mktemp("detector") / "damage-detector")


@pytest.fixture
def settings(tmp_path: Path, tiny_detector_folder: Path) -> AppSettings:
    return AppSettings.from_env(
        {
            "STUDY_DB_URL": f"sqlite:///{tmp_path / 'study.sqlite'}",
            "STUDY_ADMIN_TOKEN": ADMIN_TOKEN,
            "APP_OUTPUT_DIR": str(tmp_path / "out"),
            "APP_PREVIEW_SIDE": "256",
            "INPAINT_DETECTOR_WEIGHTS": str(tiny_detector_folder),
        }
    )


@pytest.fixture
def engine(settings: AppSettings):
    engine = open_database(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def services(tiny_model: PConvUNet, engine, settings: AppSettings) -> Services:
    """The tiny model, and the tiny detector loaded the way the app loads it (from the settings)."""
    detector, problem = load_damage_detector(settings.detector)
    assert detector is not None, problem
    return Services(tiny_model, None, engine, settings, detector, problem)


@pytest.fixture
def tabs(services: Services) -> Tabs:
    return build_tabs(services)


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "grandma.png"
    sample_photo().save(path)
    return path


# --- the running app -----------------------------------------------------------------------------


@dataclass
class RunningApp:
    url: str
    db_url: str
    study_id: int
    folder: Path
    log: Path


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float = 150.0) -> None:
    """Poll the page until it answers (bounded), failing early if the process died."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(delay)  # a polling interval, not a wait for something to happen
        delay = min(delay * 1.5, 2.0)
    raise RuntimeError(f"the app did not answer at {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory, tiny_model: PConvUNet) -> Iterator[RunningApp]:
    """`python app.py` with a tiny "trained" model (INPAINT_WEIGHTS) and damage detector
    (INPAINT_DETECTOR_WEIGHTS, in ``folder / "damage-detector"``), a fresh SQLite file that
    already holds a study, an admin token, on a free 127.0.0.1 port."""
    folder = tmp_path_factory.mktemp("running-app")
    save_model(tiny_model, folder / "weights", metadata={"steps": 1})  # steps >= 1: counts as trained
    save_tiny_detector(folder / "damage-detector")
    db_url = f"sqlite:///{folder / 'study.sqlite'}"
    engine = study.get_engine(db_url)
    study.init_db(engine)
    study_id = make_study(engine, name="Pilot study", n_items=3, size=(256, 192))
    engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "INPAINT_WEIGHTS": str(folder / "weights"),
        "INPAINT_DETECTOR_WEIGHTS": str(folder / "damage-detector"),
        "STUDY_DB_URL": db_url,
        "STUDY_ADMIN_TOKEN": ADMIN_TOKEN,
        "APP_OUTPUT_DIR": str(folder / "out"),
        "APP_PREVIEW_SIDE": "512",
        "OMP_NUM_THREADS": "1",  # one core: the tests share a small CPU with other work
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("STUDY_HF_DATASET", None)
    log = folder / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process, log)
        yield RunningApp(url, db_url, study_id, folder, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
