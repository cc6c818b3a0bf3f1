"""What the app opens once at start-up: the model and the damage detector (or the reason there is
none), the study database, and the optional Spaces GPU decorator."""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import inpaint
import study
from inpaint.nn.unet import sharp_model_for
from webapp import texts
from webapp.settings import AppSettings

log = logging.getLogger("webapp")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Services:
    """Shared by every handler: loaded once, read-only afterwards."""

    model: inpaint.PConvUNet | None
    model_problem: str | None
    engine: study.Engine
    settings: AppSettings
    detector: inpaint.DamageNet | None = None  # None: "Suggest damage" uses the classical detector
    detector_problem: str | None = None
    sharp: inpaint.PConvUNet | None = None  # the sharp candidates' network; None: plain and grain only

    @property
    def banner(self) -> str:
        if self.model is None:
            return texts.MODEL_MISSING.format(reason=(self.model_problem or "no model was loaded").rstrip("."))
        device = next(self.model.parameters()).device.type
        return texts.MODEL_READY.format(
            version=self.model.config.version, parameters=self.model.num_parameters(), device=device.upper()
        )


def load_model(source: str | None) -> tuple[inpaint.PConvUNet | None, str | None]:
    """The model, or None and the one-line reason (missing or untrained weights never stop the
    app: it serves the classical methods and says why the model is absent)."""
    try:
        t0 = time.perf_counter()
        model = inpaint.load_model(source)
    except inpaint.WeightsError as e:
        log.warning("no restoration model: %s", e)
        return None, str(e).splitlines()[0]
    log.info("loaded model %s in %.1f s", model.config.version, time.perf_counter() - t0)
    return model, None


def load_sharp_model(source: str, model: inpaint.PConvUNet | None) -> inpaint.PConvUNet | None:
    """The sharpened restorer of the sharp candidates, or None (no restorer, no overlay of this
    restorer in ``source``, or weights that do not load: the app then offers plain and
    grain-matched candidates)."""
    if model is None:
        return None
    try:
        sharp = sharp_model_for(model, source)
    except inpaint.WeightsError as e:
        log.warning("no sharpened restorer (candidates are plain and grain-matched): %s", e)
        return None
    if sharp is None:
        log.info(
            "no sharpened version of %s at %s: candidates are plain and grain-matched", model.config.version, source
        )
        return None
    log.info("loaded the sharpened restorer %s", sharp.config.version)
    return sharp


def load_damage_detector(source: str | None) -> tuple[inpaint.DamageNet | None, str | None]:
    """The learned damage detector, or None and the one-line reason (the app then suggests damage
    with the classical detector: a missing detector never stops it)."""
    try:
        t0 = time.perf_counter()
        detector = inpaint.load_detector(source)
    except inpaint.WeightsError as e:
        log.warning("no learned damage detector (the classical one suggests damage): %s", e)
        return None, str(e).splitlines()[0]
    log.info("loaded damage detector %s in %.1f s", detector.config.version, time.perf_counter() - t0)
    return detector, None


def open_database(settings: AppSettings) -> study.Engine:
    """The study database, created or migrated (idempotent). The default SQLite file's folder
    (``./data`` on a fresh clone) is made if needed; a configured URL's is not."""
    engine = study.get_engine(settings.study.db_url, create_folder=settings.study.uses_default_db)
    study.init_db(engine)
    return engine


def gpu(fn: F) -> F:
    """``spaces.GPU(fn)`` on a Hugging Face Space that has the `spaces` package (ZeroGPU), else
    ``fn`` unchanged; `spaces` is imported only when present."""
    if importlib.util.find_spec("spaces") is None:
        return fn
    import spaces

    return spaces.GPU(fn)  # type: ignore[no-any-return]


def prune_outputs(folder: Path, max_age_seconds: float = 2 * 3600) -> None:
    """Remove result folders older than ``max_age_seconds`` (downloads nobody is looking at any more)."""
    import shutil

    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_seconds
    for child in folder.iterdir():
        try:
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:  # another worker removed it first
            continue
