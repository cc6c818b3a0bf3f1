"""The Restore tab's handlers: a photo in, the damage from the editor's painted layer and/or a
mask file, several restorations out (shuffled, labelled A, B, C...), one compared and downloaded.
Each handler returns a dict keyed by the tab's components (webapp/restore_tab.py lays them out
and wires the events).

The photo is read from the uploaded file itself, at full resolution and in its own format (TIFF
and 16-bit scans included); the editor only shows a preview, and the strokes painted on it are
scaled back to the photo's size. A client without the file (gradio_client) may send just the
editor's value: its background is then the photo.

*Suggest damage* runs a damage detector on the full-resolution photo and puts what it finds into
the editor's layer, painted like brush strokes (see ``RestoreHandlers.suggest``), so the person corrects
it with the brush and eraser and Restore reads it exactly like hand-painted strokes.
"""

from __future__ import annotations

import io
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image

import inpaint
from inpaint import (
    DEFAULT_SENSITIVITY,
    Detection,
    check_sensitivity,
    detect_convention,
    detect_damage,
    hole_ratio,
    known_to_image,
    to_known_mask,
)
from inpaint.io.provenance import describe_original, make_record, save_restoration
from study import sha256_hex
from webapp import display, texts
from webapp.errors import user_errors
from webapp.page import Page, Updates
from webapp.startup import prune_outputs

if TYPE_CHECKING:
    from webapp.restore_tab import RestoreUI

PHOTO_TYPES = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif"]
CONVENTIONS = [("auto-detect", "auto"), ("white is damage", "white-is-damage"), ("black is damage", "black-is-damage")]
CLASSICAL = list(texts.CLASSICAL_LABELS)
LABELS = "ABCDEFGHIJKL"
MAX_MODEL_CANDIDATES = 8
BRUSH_COLOUR = (255, 32, 32)  # the editor's damage brush; suggested damage is painted the same
BRUSH_HEX = "#{:02x}{:02x}{:02x}".format(*BRUSH_COLOUR)


@dataclass
class Shown:
    """One restoration as shown on screen."""

    label: str
    params: dict[str, Any]
    path: Path  # full resolution, for download; carries its provenance record where it can
    sha256: str  # of the file at ``path``
    preview: Image.Image
    provenance: Path | None = None  # the record beside ``path``, when the file cannot carry it


@dataclass
class Restoration:
    """The visitor's latest restoration (a gr.State): what the preference record needs."""

    folder: Path
    photo_path: Path
    photo_sha256: str
    size: tuple[int, int]
    mask_png: bytes
    hole_ratio: float
    before: Image.Image
    shown: list[Shown]  # on-screen order
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    shown_at: float = field(default_factory=time.monotonic)
    candidate_ids: list[int] | None = None  # once registered in the study database
    trial_id: int | None = None
    response_id: int | None = None

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.shown]

    def by_label(self, label: str) -> Shown:
        for s in self.shown:
            if s.label == label:
                return s
        raise ValueError(f"there is no restoration {label!r}: choose one of {', '.join(self.labels)}")


@dataclass
class Suggestion:
    """The visitor's latest suggestion (a gr.State), at the editor's size: which pixels of the
    layer it sent were the person's own strokes and which were suggested, so that the next
    suggestion replaces the suggested pixels and keeps the strokes."""

    own: np.ndarray  # bool (H, W)
    suggested: np.ndarray  # bool (H, W)


def damage_layer(damage: np.ndarray) -> np.ndarray:
    """An editor layer for a bool damage mask (H, W): RGBA, opaque brush colour on the damage,
    transparent elsewhere. The colour channels are the brush colour everywhere (only the alpha
    says where the damage is), so the editor's lossy WebP transfer keeps the colour exact; the
    alpha channel, which is all that Restore reads, is stored losslessly."""
    layer = np.empty((*damage.shape, 4), np.uint8)
    layer[..., :3] = BRUSH_COLOUR
    layer[..., 3] = np.where(damage, 255, 0)
    return layer


def _safe_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).stem).strip("-.")
    return (stem or "photo")[:60]


def _editor_value(preview: Image.Image) -> dict[str, Any]:
    return {"background": preview, "layers": [], "composite": preview}


class RestoreHandlers:
    """The Restore tab's handlers, for the components in ``ui``."""

    def __init__(self, page: Page, ui: RestoreUI) -> None:
        self.services = page.services
        self.settings = page.services.settings
        self.ui = ui

    # --- inputs ----------------------------------------------------------------------------

    def _open_file(self, path: str | Path) -> tuple[inpaint.Photo, bytes]:
        raw = Path(path).read_bytes()
        return inpaint.open_photo(raw, max_pixels=self.settings.max_pixels), raw

    def _photo(self, photo_path: str | None, editor: dict[str, Any] | None) -> tuple[inpaint.Photo, bytes, str]:
        """(the photo, its file bytes, a name) from the uploaded file, else the editor's background."""
        if photo_path:
            photo, raw = self._open_file(photo_path)
            return photo, raw, Path(photo_path).name
        background = (editor or {}).get("background")
        if background is None:
            raise ValueError("Upload a photo first")
        array = np.asarray(background)
        if array.ndim == 3 and array.shape[2] == 4 and (array[..., 3] == 255).all():
            array = array[..., :3]  # the editor's RGBA of an opaque photo
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        raw = buffer.getvalue()
        return inpaint.open_photo(raw, max_pixels=self.settings.max_pixels), raw, "photo.png"

    @staticmethod
    def _known(
        photo: inpaint.Photo, editor: dict[str, Any] | None, mask_image: Image.Image | None, convention: str
    ) -> tuple[np.ndarray, list[str]]:
        """The full-resolution known mask (True = keep) from the painted layers and/or the mask
        image (their damage is combined), and a note on where it came from."""
        known = np.ones(photo.data.shape[:2], bool)
        sources = []
        layers = [layer for layer in (editor or {}).get("layers") or [] if layer is not None]
        painted = [to_known_mask(np.asarray(layer), "alpha", size=photo.size, resize=True) for layer in layers]
        for layer_known in painted:
            known &= layer_known
        if painted and not all(k.all() for k in painted):
            sources.append("painted strokes")
        if mask_image is not None:
            used = detect_convention(mask_image) if convention == "auto" else convention
            known &= to_known_mask(mask_image, convention, size=photo.size, resize=True)
            sources.append(f"the uploaded mask ({used.replace('-', ' ')})")
        return known, sources

    def _editor_base(self, photo: inpaint.Photo, editor: dict[str, Any] | None) -> tuple[Any, tuple[int, int], bool]:
        """(the editor's background, its size (width, height), whether the editor's layers belong to
        it). The editor's own background is kept when it shows this photo (same aspect ratio); an
        empty editor, or one holding another picture, gets the photo's preview and no strokes."""
        background = (editor or {}).get("background")
        if background is not None:
            array = np.asarray(background)
            h, w = array.shape[:2]
            pw, ph = photo.size
            if h and w and abs((w / h) / (pw / ph) - 1) <= 0.02:
                return background, (w, h), True
        shown = display.preview(photo, self.settings.preview_side)
        return shown, shown.size, False

    @staticmethod
    def _painted(editor: dict[str, Any] | None, size: tuple[int, int]) -> np.ndarray:
        """The editor layers' damage (alpha > 0, as Restore reads it) at ``size``, all layers combined."""
        damage = np.zeros(size[::-1], bool)
        for layer in (editor or {}).get("layers") or []:
            if layer is not None:
                damage |= ~to_known_mask(np.asarray(layer), "alpha", size=size, resize=True)
        return damage

    def _detect(self, photo: inpaint.Photo, sensitivity: float) -> tuple[Detection, str]:
        """The detection at full resolution, and how it was made (for the note)."""
        detector = self.services.detector
        if detector is not None:
            detection = detect_damage(photo.rgb8, sensitivity, method="learned", model=detector)
            return detection, f"learned detector, {detection.seconds:.1f} s"
        detection = detect_damage(photo.rgb8, sensitivity, method="classical")
        return detection, f"classical detector, {detection.seconds:.1f} s; the learned detector is not available"

    # --- handlers ----------------------------------------------------------------------------

    @user_errors
    def load_photo(self, photo_path: str | None) -> Updates:
        """A new upload: put its preview in the editor (clearing old strokes) and describe it."""
        if not photo_path:
            return self.clear_photo()
        photo, raw = self._open_file(photo_path)
        shown = display.preview(photo, self.settings.preview_side)
        w, h = photo.size
        note = f"**{Path(photo_path).name}**: {w} x {h} pixels, {photo.kind.upper()}, {len(raw) / 1e6:.1f} MB."
        if shown.size != photo.size:
            note += (
                f" You paint on a {shown.size[0]} x {shown.size[1]} preview; the restoration uses the full resolution."
            )
        return {self.ui.editor: _editor_value(shown), self.ui.photo_note: note, self.ui.overlay: None}

    def clear_photo(self) -> Updates:
        """The photo was removed: an empty editor, no description, no damage overlay."""
        return {self.ui.editor: None, self.ui.photo_note: "", self.ui.overlay: None}

    @user_errors
    def check_mask(
        self, photo_path: str | None, editor: dict[str, Any] | None, mask_image: Image.Image | None, convention: str
    ) -> Updates:
        """The damage over the photo (the overlay), and how much of it is marked (the mask note)."""
        if not photo_path and (editor or {}).get("background") is None:
            return {self.ui.overlay: None, self.ui.mask_note: "Upload a photo first: the damage is shown over it."}
        photo, _, _ = self._photo(photo_path, editor)
        known, sources = self._known(photo, editor, mask_image, convention)
        base = display.preview(photo, self.settings.preview_side)
        return {self.ui.overlay: display.overlay(base, ~known), self.ui.mask_note: self._mask_note(known, sources)}

    def open_overlay(self) -> Updates:
        """Open the accordion that shows the damage over the photo."""
        return {self.ui.overlay_box: gr.Accordion(open=True)}

    @user_errors
    def suggest(
        self,
        photo_path: str | None,
        editor: dict[str, Any] | None,
        sensitivity: float | None,
        last: Suggestion | None,
        progress: gr.Progress = gr.Progress(),
    ) -> Updates:
        """Detect the damage on the full-resolution photo and put it into the editor's layer, painted
        in the brush colour, for the person to correct. Strokes already painted are kept; the
        pixels the last suggestion (``last``) marked are replaced. Updates the editor, the mask
        note, the damage overlay and the suggestion state."""
        if not photo_path and (editor or {}).get("background") is None:
            raise ValueError("Upload a photo first: the damage is suggested on it")
        sensitivity = check_sensitivity(DEFAULT_SENSITIVITY if sensitivity is None else sensitivity)
        photo, _, _ = self._photo(photo_path, editor)
        progress(0.0, desc="Looking for damage")
        detection, how = self._detect(photo, sensitivity)
        background, size, same_picture = self._editor_base(photo, editor)
        layer = self._painted(editor, size) if same_picture else np.zeros(size[::-1], bool)
        if last is not None and last.suggested.shape == layer.shape:
            # what is in the layer now: the person's strokes, plus whatever is left of the last
            # suggestion (pixels it suggested that were not strokes already)
            own = layer & (last.own | ~last.suggested)
        else:
            own = layer
        suggested = display.shrink_damage(detection.damage, size)  # one-pixel scratches stay visible
        value = {"background": background, "layers": [damage_layer(own | suggested)], "composite": background}
        if detection.damage.any():
            note = (
                f"Suggested **{100 * detection.fraction:.2f} %** of the photo as damage ({how}); "
                "erase or add strokes, then Restore."
            )
        else:
            note = (
                f"No damage found at sensitivity {sensitivity:.2f} ({how}): raise the sensitivity, "
                "or paint over the damage."
            )
        base = Image.fromarray(np.asarray(background)).convert("RGB")
        return {
            self.ui.editor: value,
            self.ui.mask_note: note,
            self.ui.overlay: display.overlay(base, own | suggested),
            self.ui.suggested: Suggestion(own, suggested),
        }

    @staticmethod
    def _mask_note(known: np.ndarray, sources: list[str]) -> str:
        if known.all():
            return "No damage is marked yet: paint over the damaged areas, or upload a mask."
        share = 100 * hole_ratio(known)
        return f"Marked as damage (red): **{share:.2f} %** of the photo, from {' and '.join(sources)}."

    @user_errors
    def restore(
        self,
        photo_path: str | None,
        editor: dict[str, Any] | None,
        mask_image: Image.Image | None,
        convention: str,
        n: float,
        variation: float,
        classical: list[str] | None,
        seed: float | None,
        progress: gr.Progress = gr.Progress(),
    ) -> Updates:
        """Restore the photo where the painted strokes and/or the mask mark damage: ``n`` restorations
        by the model (if its weights are installed) plus one per classical method, shuffled and
        labelled A, B, C... Updates the restoration state, the gallery, the choice and the ranking,
        the comparison (before/after, download, settings text), the status and the damage overlay."""
        photo, raw, name = self._photo(photo_path, editor)
        known, sources = self._known(photo, editor, mask_image, convention or "auto")
        if known.all():
            raise ValueError("No damage is marked: paint over the damaged areas (or upload a mask) first")
        runs = self._plan(n, classical or [])
        seed = int(seed) if seed else random.SystemRandom().randrange(1, 2**31)
        progress(0.0, desc="Starting")
        candidates: list[inpaint.Candidate] = []
        for i, (method, count) in enumerate(runs):

            def report(fraction: float, message: str, i: int = i, method: str = method) -> None:
                progress((i + fraction) / len(runs), desc=f"{method}: {message}")

            candidates += inpaint.restore(
                photo,
                known,
                n=count,
                seed=seed,
                method=method,
                variation=float(variation),
                model=self.services.model if method == "pconv" else None,
                sharp_model=self.services.sharp if method == "pconv" else None,
                progress=report,
            )
        random.SystemRandom().shuffle(candidates)  # on-screen order carries no information
        progress(0.98, desc="Saving full-resolution results")
        result = self._keep(photo, raw, name, known, candidates)
        single = result.labels[0] if len(result.shown) == 1 else None
        size = f"{photo.size[0]} x {photo.size[1]} pixels"
        status = f"{len(result.shown)} restorations of {size}; " + self._mask_note(known, sources)
        ui = self.ui
        return {
            ui.result: result,
            ui.gallery: [(s.preview, s.label) for s in result.shown],
            ui.choice: gr.Radio(choices=result.labels, value=single, interactive=True),
            ui.ranking: gr.Dropdown(choices=result.labels, value=[], multiselect=True, interactive=True),
            **self._compare(result, single),
            ui.status: status,
            ui.overlay: display.overlay(result.before, ~known),
        }

    def _plan(self, n: float, classical: list[str]) -> list[tuple[str, int]]:
        unknown = [m for m in classical if m not in CLASSICAL]
        if unknown:
            raise ValueError(f"unknown method(s) {', '.join(unknown)}: choose among {', '.join(CLASSICAL)}")
        runs = [(m, 1) for m in CLASSICAL if m in classical]
        if self.services.model is not None:
            count = int(n or 0)
            if not 0 <= count <= MAX_MODEL_CANDIDATES:
                raise ValueError(f"The number of restorations must be between 1 and {MAX_MODEL_CANDIDATES}, got {n}")
            if count:
                runs.insert(0, ("pconv", count))
        if not runs:
            if self.services.model is None:
                raise ValueError("The model's weights are missing: tick at least one classical method")
            raise ValueError("Choose at least one restoration")
        return runs

    def _keep(
        self, photo: inpaint.Photo, raw: bytes, name: str, known: np.ndarray, candidates: list[inpaint.Candidate]
    ) -> Restoration:
        """Write the full-resolution results, each with its provenance record (in the file, or
        beside it when the file cannot carry it), and the photo (for the study if allowed) to a new
        folder, and make the screen copies."""
        out_root = self.settings.output_dir
        prune_outputs(out_root)
        folder = out_root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        stem = _safe_stem(name)
        photo_path = folder / ("original" + (Path(name).suffix.lower() or ".png"))
        photo_path.write_bytes(raw)
        mask_buffer = io.BytesIO()
        known_to_image(known).save(mask_buffer, format="PNG")
        side = self.settings.preview_side
        original = describe_original(photo)
        shown = []
        for label, c in zip(LABELS, candidates):
            # level 3: a third of the default's time for 11% more bytes (several full-size PNGs
            # per request; see save_image)
            saved = save_restoration(
                c.image, folder / f"{stem}-restored-{label}", make_record(original, c), compress_level=3
            )
            path = saved.path
            preview = display.preview(c.image, side)
            shown.append(Shown(label, c.params, path, sha256_hex(path.read_bytes()), preview, saved.sidecar))
        return Restoration(
            folder=folder,
            photo_path=photo_path,
            photo_sha256=sha256_hex(raw),
            size=photo.size,
            mask_png=mask_buffer.getvalue(),
            hole_ratio=hole_ratio(known),
            before=display.preview(photo, side),
            shown=shown,
        )

    def _compare(self, result: Restoration, label: str | None) -> Updates:
        """The before/after slider, the download button and the settings text for the chosen label."""
        ui = self.ui
        if not label:
            return {
                ui.slider: (result.before, result.shown[0].preview),
                ui.download: gr.DownloadButton(value=None, visible=False),
                ui.provenance: gr.DownloadButton(value=None, visible=False),
                ui.details: "Click a restoration to compare it with the original and download it.",
            }
        chosen = result.by_label(label)
        p = chosen.params
        details = (
            f"**{label}**: method `{p['method']}`, mask grown by {p['dilation']} px, dropout {p['dropout']:g}, "
            f"seed {p['seed']}"
            + (f", finish `{p['finish']}`" if p.get("finish", "plain") != "plain" else "")
            + (f", model `{p['model_version']}`" if p.get("model_version") else "")
            + f", {p['seconds']:.2f} s. Download: {result.size[0]} x {result.size[1]} pixels, lossless."
        )
        kind = chosen.path.suffix[1:].upper()
        return {
            ui.slider: (result.before, chosen.preview),
            ui.download: gr.DownloadButton(
                label=f"Download {label} (full resolution, {kind})", value=str(chosen.path), visible=True
            ),
            # a file that cannot carry its provenance record (16-bit RGB) has it beside it
            ui.provenance: gr.DownloadButton(
                label=f"Download {label}'s provenance (JSON)",
                value=str(chosen.provenance) if chosen.provenance else None,
                visible=chosen.provenance is not None,
            ),
            ui.details: details,
        }

    def clear_results(self) -> Updates:
        """A new photo: forget its predecessor's restorations, suggestion, answer and pick (the
        restoration state, gallery, choice, ranking, comparison, status, preference status,
        pending answer, suggestion state, mask note and pick)."""
        ui = self.ui
        return {
            ui.result: None,
            ui.gallery: [],
            ui.choice: gr.Radio(choices=[], value=None),
            ui.ranking: gr.Dropdown(choices=[], value=[], multiselect=True),
            ui.slider: None,
            ui.download: gr.DownloadButton(value=None, visible=False),
            ui.provenance: gr.DownloadButton(value=None, visible=False),
            ui.details: "",
            ui.status: "",
            ui.pref_status: "",
            ui.pending: None,
            ui.suggested: None,
            ui.mask_note: "",
            ui.favourite: None,
        }

    def reset_preference(self) -> Updates:
        """New restorations: no preference status, no answer waiting for consent, nothing picked."""
        return {self.ui.pref_status: "", self.ui.pending: None, self.ui.favourite: None}

    def select(self, result: Restoration | None, evt: gr.SelectData) -> Updates:
        """A click in the gallery chooses that restoration: the radio shows it, and it is the pick
        kept on the server for "I prefer this one"."""
        label = None
        if result is not None and evt.index is not None:
            index = evt.index if isinstance(evt.index, int) else evt.index[0]
            label = result.shown[index].label if 0 <= index < len(result.shown) else None
        return {self.ui.choice: label, self.ui.favourite: label}

    def pick(self, label: str | None) -> Updates:
        """The person set the radio themselves: that is the pick now."""
        return {self.ui.favourite: label or None}

    @user_errors
    def show(self, result: Restoration | None, label: str | None) -> Updates:
        """Compare the chosen restoration with the original, and offer it for download."""
        if result is None:
            ui = self.ui
            hidden = gr.DownloadButton(value=None, visible=False)
            return {ui.slider: None, ui.download: hidden, ui.provenance: hidden, ui.details: ""}
        return self._compare(result, label)
