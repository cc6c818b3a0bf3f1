"""What a restoration returns: a candidate (image, the parameters that made it, the pixels it
replaced) and its spec, plain data that the study layer stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_CANDIDATES = 8


Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class CandidateSpec:
    """The parameters that make one candidate; plain data that the study layer stores.
    ``finish``: what is done to the fill after the restorer and the tone curve: ``plain``
    (nothing) or ``grain`` (the photo's own grain added, ``grain.add_grain``)."""

    method: str
    dilation: int
    dropout: float
    seed: int
    model_version: str | None = None
    finish: str = "plain"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Candidate:
    """One restoration: the image (the upload's mode and size; an array if an array was given),
    its parameters, the pixels it replaced (True = replaced) and the seconds it took (the batch's
    time shared among its candidates)."""

    image: Any
    spec: CandidateSpec
    replaced: np.ndarray
    seconds: float = 0.0

    @property
    def params(self) -> dict[str, Any]:
        return {**self.spec.as_dict(), "seconds": round(self.seconds, 4)}
