"""Model folders: config.json (the network's versioned config), model.safetensors (the weights,
with the training metadata in its header) and README.md (the model card), read from a local
folder or downloaded from the Hugging Face Hub, and written atomically.

This module knows nothing of the networks: ``load_folder`` builds whatever model class it is
given (see ``inpaint.nn.base.ModelBase.from_pretrained``). The environment variables that point
at the deployed weights are read here, in one place.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS = PROJECT_ROOT / "weights"


_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class WeightsError(ValueError):
    """Missing, corrupt or mismatched weights; the message says what to do."""


def default_source() -> str:
    """``INPAINT_WEIGHTS`` (a folder or a Hub repo id) or the bundled ``weights/`` folder."""
    return os.environ.get("INPAINT_WEIGHTS") or str(DEFAULT_WEIGHTS)


def save_folder(
    model: torch.nn.Module,
    folder: str | os.PathLike[str],
    *,
    card: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a model folder. ``metadata`` (e.g. ``{"steps": 12000}``) is stored in the
    safetensors header; ``steps`` > 0 marks the weights as trained."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {str(k): json.dumps(v) for k, v in (metadata or {}).items()}
    meta.setdefault("steps", "0")
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, folder / WEIGHTS_NAME)  # never leave a half-written weights file behind
    (folder / CONFIG_NAME).write_text(model.config.to_json() + "\n")
    if card is not None:
        (folder / CARD_NAME).write_text(card)
    elif not (folder / CARD_NAME).exists():
        (folder / CARD_NAME).write_text(_minimal_card(model, meta))
    return folder


def _minimal_card(model: torch.nn.Module, meta: dict[str, str]) -> str:
    title = getattr(model, "card_title", "Partial-convolution U-Net")
    return (
        f"# {title}\n\n"
        f"Config: `{json.dumps(model.config.to_dict(), sort_keys=True)}`\n\n"
        f"Parameters: {sum(p.numel() for p in model.parameters()):,}. Training steps: {meta.get('steps', '0')}.\n"
    )


def read_metadata(folder: str | os.PathLike[str]) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(Path(folder) / WEIGHTS_NAME), framework="pt") as f:
        raw = f.metadata() or {}
    out: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def resolve_source(source: str | os.PathLike[str] | None = None) -> Path:
    """A local folder for ``source``: itself if it is a folder, else a Hub download."""
    source = str(source) if source is not None else default_source()
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise WeightsError(f"{source} is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    if _REPO_ID.match(source) and not source.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download
        except ImportError as e:  # pragma: no cover - huggingface_hub is a hard requirement
            raise WeightsError("install huggingface_hub to load weights from the Hub") from e
        try:
            return Path(snapshot_download(source, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]))
        except Exception as e:  # network, auth, missing repo: all end in one clear message
            raise WeightsError(
                f"could not download weights from the Hub repo {source!r}: {type(e).__name__}: {e}".splitlines()[0]
            ) from e
    raise WeightsError(f"weights not found: {source} is neither a folder nor a Hub repo id (owner/name)")


def load_folder(folder: Path, model_cls: Any, *, device: str | torch.device | None, allow_untrained: bool) -> Any:
    """The checks every model folder gets: ``model_cls.config_class.from_dict`` reads config.json
    (migrating older schemas), ``model_cls(config)`` must match the tensors, and the weights must
    be trained. ``model_cls`` names its ``role``, ``train_hint`` and ``weights_env`` for the
    messages."""
    role, train_hint, env = model_cls.role, model_cls.train_hint, model_cls.weights_env
    cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not cfg_path.is_file() or not w_path.is_file():
        missing = [p.name for p in (cfg_path, w_path) if not p.is_file()]
        raise WeightsError(
            f"no trained weights in {folder} (missing {', '.join(missing)}): train a model with "
            f"`{train_hint}` or set {env} to a folder or Hub repo that has them"
        )
    try:
        config = model_cls.config_class.from_dict(json.loads(cfg_path.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise WeightsError(f"{cfg_path} is not a valid model config: {e}") from e

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(w_path))
        meta = read_metadata(folder)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{w_path} is corrupt or not a safetensors file ({e})".splitlines()[0]) from e
    if meta.get(OVERLAY_KEY):
        base_state, working_size = _overlay_base(folder, str(meta[OVERLAY_KEY]))
        state = {**base_state, **state}
        if working_size is not None:  # an overlay changes weights, not how its model is run
            config.working_size = working_size
    if not allow_untrained and int(meta.get("steps", 0) or 0) <= 0:
        raise WeightsError(
            f"the weights in {folder} were never trained; refusing to use a random network as a "
            f"{role} (train with `{train_hint}`, or pass allow_untrained=True for tests)"
        )

    model = model_cls(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{name}: {', '.join(keys[:3])}{'...' if len(keys) > 3 else ''}"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise WeightsError(f"{w_path} does not match {cfg_path} ({detail})")
    model.load_state_dict(state)
    model.eval().requires_grad_(False)
    model.metadata = meta  # type: ignore[attr-defined]
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    # channels-last: oneDNN's faster layout for these convolutions on CPUs (bench/bench_restore.py);
    # the forward passes convert their inputs to match
    return model.to(device).to(memory_format=torch.channels_last)


# An overlay folder holds only some of a model's tensors (the layers a fine-tune trained) and names
# the model they replace tensors of, by version, in this metadata key; that model's folder is the
# overlay folder's parent (weights/ for weights/sharp/).
OVERLAY_KEY = "overlay_of"


def save_overlay(
    model: torch.nn.Module,
    folder: str | os.PathLike[str],
    prefixes: list[str],
    base_version: str,
    metadata: dict[str, Any],
) -> Path:
    """Write the tensors of ``model`` under ``prefixes`` as an overlay of the model ``base_version``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items() if k.startswith(tuple(prefixes))
    }
    if not state:
        raise ValueError(f"no tensors under {', '.join(prefixes)}")
    meta = {str(k): json.dumps(v) for k, v in {**metadata, OVERLAY_KEY: base_version}.items()}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(model.config.to_json() + "\n")
    return folder


def overlay_base_version(folder: str | os.PathLike[str]) -> str | None:
    """The version of the model an overlay folder applies to; None when ``folder`` holds no
    readable overlay."""
    from safetensors import SafetensorError

    try:
        return read_metadata(folder).get(OVERLAY_KEY) or None
    except (OSError, ValueError, SafetensorError):  # missing or unreadable: not an overlay (loading it says why)
        return None


# Config keys an overlay may differ in from its model: its own version, and the working size of the
# fine-tune's crops (the overlay is run at its model's working size).
_OVERLAY_FREE = ("version", "working_size")


def _overlay_base(folder: Path, version: str) -> tuple[dict[str, torch.Tensor], int | None]:
    """(the tensors, the working size) of the model an overlay in ``folder`` applies to: its
    parent folder's, which must be version ``version`` with the same architecture."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    base = folder.resolve().parent
    try:
        config = json.loads((base / CONFIG_NAME).read_text())
        own = json.loads((folder / CONFIG_NAME).read_text())
        state = load_file(str(base / WEIGHTS_NAME))
    except (OSError, json.JSONDecodeError, SafetensorError) as e:
        raise WeightsError(
            f"{folder} is an overlay of {version}, but {base} holds no readable model ({e})".splitlines()[0]
        ) from e
    if config.get("version") != version:
        raise WeightsError(f"{folder} is an overlay of {version}, but {base} holds {config.get('version')}")
    if {k: v for k, v in config.items() if k not in _OVERLAY_FREE} != {
        k: v for k, v in own.items() if k not in _OVERLAY_FREE
    }:
        raise WeightsError(f"{folder} and the model it overlays ({base}) have different architectures")
    return state, config.get("working_size")


DEFAULT_DETECTOR = DEFAULT_WEIGHTS / "damage-detector"


DEFAULT_SHARP = DEFAULT_WEIGHTS / "sharp"


def default_sharp_source() -> str:
    """``INPAINT_SHARP_WEIGHTS`` (a folder) or the bundled overlay ``weights/sharp``: the sharpened
    restorer of the ``sharp`` finish."""
    return os.environ.get("INPAINT_SHARP_WEIGHTS") or str(DEFAULT_SHARP)


def default_detector_source() -> str:
    """``INPAINT_DETECTOR_WEIGHTS`` (a folder or a Hub repo id) or the bundled folder."""
    return os.environ.get("INPAINT_DETECTOR_WEIGHTS") or str(DEFAULT_DETECTOR)
