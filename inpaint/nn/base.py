"""What both networks share as models: a config they are built from, and a folder they are
saved to and loaded from (``save_pretrained`` / ``from_pretrained``), in the manner of
huggingface_hub's ModelHubMixin: config.json, model.safetensors and a model card README.md,
from a local folder or a Hub repo id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..io import weights
from .config import ConfigIO


class ModelBase(nn.Module):
    """A network built from ``config`` (an instance of ``config_class``), kept as ``self.config``.

    Subclasses set ``config_class``, ``role`` (named in error messages), ``train_hint`` (the
    command that trains one) and ``weights_env`` (the environment variable that points at its
    weights)."""

    config_class: ClassVar[type[ConfigIO]]
    role: ClassVar[str]
    train_hint: ClassVar[str]
    weights_env: ClassVar[str]
    card_title: ClassVar[str]

    config: Any
    metadata: dict[str, Any]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(
        self, folder: str | os.PathLike[str], *, card: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Path:
        """Write this model as a folder: config.json, model.safetensors (``metadata`` in its header,
        e.g. ``{"steps": 12000}``; ``steps`` > 0 marks the weights as trained) and README.md
        (``card``, or a minimal card when the folder has none)."""
        return weights.save_folder(self, folder, card=card, metadata=metadata)

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        device: str | torch.device | None = None,
        allow_untrained: bool = False,
    ) -> Any:
        """Load a model folder or Hub repo id, in eval mode on ``device`` (default: CUDA if present).

        Raises ``WeightsError`` with a one-line message for a missing folder or file, a corrupt
        file, a config that does not match the tensors, or untrained weights (unless
        ``allow_untrained``)."""
        return weights.load_folder(weights.resolve_source(source), cls, device=device, allow_untrained=allow_untrained)
