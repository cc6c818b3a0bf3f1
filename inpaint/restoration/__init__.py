"""Photo + damage -> K candidate restorations at full resolution: the pipeline (``restore``), the
registry of restorers (the partial-convolution network and the classical methods), the tiling
over resolution levels and the tone curve of monochrome prints."""

from .candidates import Candidate, CandidateSpec
from .methods import METHODS, RESTORERS, Restorer, register
from .pipeline import plan_candidates, restore
from .tiles import TileSettings

__all__ = [
    "METHODS",
    "RESTORERS",
    "Candidate",
    "CandidateSpec",
    "Restorer",
    "TileSettings",
    "plan_candidates",
    "register",
    "restore",
]
