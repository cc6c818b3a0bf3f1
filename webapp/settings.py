"""Deployment settings of the web app, read from environment variables in one place.

Nothing is read at import: `AppSettings.from_env()` reads the environment when called, so tests
pass their own mapping. Every variable has a working default, so a plain `python app.py` runs.

Variables
- `INPAINT_WEIGHTS`: a model folder or a Hugging Face Hub repo id (default: the bundled weights/).
- `INPAINT_DETECTOR_WEIGHTS`: the damage detector behind *Suggest damage*, a folder or a Hub repo
  id (default: the bundled weights/damage-detector/). When it cannot be loaded the app still runs
  and suggests with the classical detector instead.
- `INPAINT_SHARP_WEIGHTS`: the sharpened restorer of the *sharp* candidates, a folder (default: the
  bundled weights/sharp/, an overlay of the bundled restorer). Without it the candidates are plain
  and grain-matched only.
- `STUDY_DB_URL`, `STUDY_ADMIN_TOKEN`, `STUDY_HF_DATASET`, `STUDY_SYNC_MINUTES`: read by
  `study.load_settings` (the study package documents them); no admin token = no researcher tab.
- `APP_MAX_UPLOAD_MB` (50): the largest file accepted by the server.
- `APP_MAX_MEGAPIXELS` (40): the largest photo restored, in millions of pixels.
- `APP_QUEUE_SIZE` (16): requests waiting at most; more are refused with "the queue is full".
- `APP_CONCURRENCY` (1): restorations running at once (each uses the model and the CPU/GPU).
- `APP_PREVIEW_SIDE` (1600): longest side, in pixels, of the copy shown in the editor and the
  gallery; restorations and downloads always have the photo's full resolution.
- `APP_OUTPUT_DIR` (a folder in the system's temp dir): where full-resolution results are written
  for download; folders older than two hours are removed. It must lie in the temp dir or the
  working directory, from where Gradio copies files into its cache (nothing in it is served
  directly).
- `APP_BROWSER_SECRET`: key that encrypts the anonymous participant id kept in the browser. Set it
  on a deployment so that participants keep their place in a study across server restarts;
  unset, a random key is drawn at start-up (a restart then starts everyone afresh).
- The address and port are Gradio's own `GRADIO_SERVER_NAME` and `GRADIO_SERVER_PORT`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import study
from inpaint import DEFAULT_DETECTOR, DEFAULT_SHARP, default_detector_source, default_sharp_source


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, integer: bool = False) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{name} must be {kind}, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {text!r}")
    return value


@dataclass(frozen=True)
class AppSettings:
    """What `python app.py` needs to serve; see the module docstring for the variables."""

    weights: str | None = None
    detector: str = field(default_factory=default_detector_source)
    sharp: str = field(default_factory=default_sharp_source)
    study: study.Settings = field(default_factory=lambda: study.Settings(db_url="sqlite://"))
    max_upload_mb: float = 50.0
    max_megapixels: float = 40.0
    queue_size: int = 16
    concurrency: int = 1
    preview_side: int = 1600
    output_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "photo-restore")
    browser_secret: str | None = None

    @property
    def admin_token(self) -> str | None:
        return self.study.admin_token

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        """Read the settings; a malformed value raises ValueError naming the variable."""
        env = os.environ if environ is None else environ
        output = env.get("APP_OUTPUT_DIR", "").strip()
        output_dir = Path(output) if output else Path(tempfile.gettempdir()) / "photo-restore"
        roots = (Path(tempfile.gettempdir()).resolve(), Path.cwd().resolve())
        if not any(output_dir.resolve().is_relative_to(root) for root in roots):
            raise ValueError(
                f"APP_OUTPUT_DIR must be inside {roots[0]} or the working directory {roots[1]}, got {output!r}"
            )
        return cls(
            weights=env.get("INPAINT_WEIGHTS", "").strip() or None,
            # the given mapping is the whole environment: unset means the bundled detector
            detector=env.get("INPAINT_DETECTOR_WEIGHTS", "").strip() or str(DEFAULT_DETECTOR),
            sharp=env.get("INPAINT_SHARP_WEIGHTS", "").strip() or str(DEFAULT_SHARP),
            study=study.load_settings(env),
            max_upload_mb=_number(env, "APP_MAX_UPLOAD_MB", 50.0, 1, 10_000),
            max_megapixels=_number(env, "APP_MAX_MEGAPIXELS", 40.0, 0.01, 1_000),
            queue_size=int(_number(env, "APP_QUEUE_SIZE", 16, 1, 10_000, integer=True)),
            concurrency=int(_number(env, "APP_CONCURRENCY", 1, 1, 64, integer=True)),
            preview_side=int(_number(env, "APP_PREVIEW_SIDE", 1600, 256, 8192, integer=True)),
            output_dir=output_dir,
            browser_secret=env.get("APP_BROWSER_SECRET", "").strip() or None,
        )
