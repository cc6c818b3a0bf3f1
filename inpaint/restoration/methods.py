"""The registry of restorers: the partial-convolution network and each classical method behind one
interface, so the pipeline never branches on a method's name.

A restorer fills every candidate's replaced pixels in an (H, W, 3) uint8 copy of the photo; the
pipeline then applies the tone curve and pastes the untouched pixels back. Register a new method
by subclassing ``Restorer`` with the ``@register`` decorator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ..nn.unet import PConvUNet
from . import classical
from .candidates import CandidateSpec, Progress
from .tiles import TileSettings, _component_boxes, pconv_fills

RESTORERS: dict[str, type[Restorer]] = {}


def register(cls: type[Restorer]) -> type[Restorer]:
    RESTORERS[cls.name] = cls
    return cls


class Restorer(ABC):
    """One way of filling damage. ``stochastic``: Monte-Carlo dropout varies its candidates."""

    name: ClassVar[str]
    stochastic: ClassVar[bool] = False

    @classmethod
    def create(
        cls, *, model: PConvUNet | None = None, tiles: TileSettings | None = None, sharp: PConvUNet | None = None
    ) -> Restorer:
        if sharp is not None:
            raise ValueError(f"the sharp finish is the sharpened network's fill: method 'pconv', not {cls.name!r}")
        return cls()

    @property
    def model_version(self) -> str | None:
        return None

    def version_for(self, finish: str) -> str | None:
        """The version of the model that fills a candidate with ``finish`` (None: no model)."""
        return self.model_version

    @abstractmethod
    def fill(
        self,
        rgb8: np.ndarray,
        known: np.ndarray,
        replaced: list[np.ndarray],
        specs: list[CandidateSpec],
        report: Progress,
    ) -> list[np.ndarray]:
        """One filled copy of ``rgb8`` per spec, correct at least where ``replaced[k]`` is True."""


def create_restorer(
    method: str, *, model: PConvUNet | None = None, tiles: TileSettings | None = None, sharp: PConvUNet | None = None
) -> Restorer:
    try:
        cls = RESTORERS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(RESTORERS)}") from None
    return cls.create(model=model, tiles=tiles, sharp=sharp)


@register
class PConvRestorer(Restorer):
    """The partial-convolution U-Net over resolution levels and tiles (``tiles.pconv_fills``);
    candidates whose finish is ``sharp`` are filled by the sharpened network ``sharp``."""

    name = "pconv"
    stochastic = True

    def __init__(self, model: PConvUNet, tiles: TileSettings, sharp: PConvUNet | None = None) -> None:
        self.model, self.tiles, self.sharp = model, tiles, sharp

    @classmethod
    def create(
        cls, *, model: PConvUNet | None = None, tiles: TileSettings | None = None, sharp: PConvUNet | None = None
    ) -> Restorer:
        if model is None:
            raise ValueError("method 'pconv' needs a model: pass model=inpaint.load_model()")
        return cls(model, tiles or TileSettings(), sharp)

    @property
    def model_version(self) -> str | None:
        return self.model.config.version

    def version_for(self, finish: str) -> str | None:
        """The version of the network that fills a candidate with ``finish``."""
        return self.sharp.config.version if finish == "sharp" and self.sharp is not None else self.model_version

    def fill(
        self,
        rgb8: np.ndarray,
        known: np.ndarray,
        replaced: list[np.ndarray],
        specs: list[CandidateSpec],
        report: Progress,
    ) -> list[np.ndarray]:
        sharp = [k for k, s in enumerate(specs) if s.finish == "sharp"]
        if sharp and self.sharp is None:
            raise ValueError(
                "the sharp finish needs the sharpened network: pass sharp_model=inpaint.load_sharp_model()"
            )
        groups = [(self.model, [k for k in range(len(specs)) if k not in sharp]), (self.sharp, sharp)]
        fills: list[np.ndarray | None] = [None] * len(specs)
        done = 0
        for model, ks in groups:
            if not ks:
                continue
            share, start = len(ks) / len(specs), done / len(specs)

            def part(f: float, msg: str, share: float = share, start: float = start) -> None:
                report(start + share * f, msg)

            group = pconv_fills(rgb8, known, [replaced[k] for k in ks], [specs[k] for k in ks], model, self.tiles, part)
            for k, fill in zip(ks, group):
                fills[k] = fill
            done += len(ks)
        return fills  # type: ignore[return-value]


class ClassicalRestorer(Restorer):
    """A classical filler (``classical.CLASSICAL_METHODS[name]``) run on a crop around each
    connected damaged region (32 px of context)."""

    def fill(
        self,
        rgb8: np.ndarray,
        known: np.ndarray,
        replaced: list[np.ndarray],
        specs: list[CandidateSpec],
        report: Progress,
    ) -> list[np.ndarray]:
        fills = []
        for k, (rep, spec) in enumerate(zip(replaced, specs)):
            fill = rgb8.copy()
            for y0, y1, x0, x1 in _component_boxes(rep, margin=32):
                crop_known = ~rep[y0:y1, x0:x1]
                if crop_known.all():
                    continue
                if not crop_known.any():
                    raise ValueError("a damaged region has no known pixels around it to restore from")
                filled = classical.classical_fill(spec.method, rgb8[y0:y1, x0:x1], crop_known, seed=spec.seed)
                fill[y0:y1, x0:x1][~crop_known] = filled[~crop_known]
            fills.append(fill)
            report((k + 1) / len(specs), f"{spec.method} {k + 1}/{len(specs)}")
        return fills


# One restorer per classical filler, in the table's order (telea, ns, biharmonic, smooth,
# patchmatch): a filler added to ``classical.CLASSICAL_METHODS`` is a method of ``restore`` too.
for _name in classical.CLASSICAL_METHODS:
    register(type(f"Classical_{_name}", (ClassicalRestorer,), {"name": _name}))


METHODS: tuple[str, ...] = tuple(RESTORERS)
