"""Photo restoration by partial convolutions: the restoration library.

Imports neither gradio nor sqlalchemy. Public names::

    from inpaint import PartialConv2d, PConvUNet, PConvUNetConfig, load_model, save_model, restore
    from inpaint import detect_damage, load_detector

``restore(photo, mask, n=K, seed=..., method=...)`` is the one entry point the app and the command
line use; see ``inpaint.restore``. ``detect_damage(photo, sensitivity=...)`` suggests the damage
mask; see ``inpaint.detect``. Heavy submodules (training, evaluation) are not imported here.
"""

from .detect import Detection, detect_damage, load_detector
from .images import Photo, open_photo, save_image
from .layers import PartialConv2d
from .restore import METHODS, Candidate, CandidateSpec, plan_candidates, restore
from .unet import PConvUNet, PConvUNetConfig
from .weights import WeightsError, load_model, save_model

__all__ = [
    "METHODS",
    "Candidate",
    "CandidateSpec",
    "Detection",
    "PConvUNet",
    "PConvUNetConfig",
    "PartialConv2d",
    "Photo",
    "WeightsError",
    "detect_damage",
    "load_detector",
    "load_model",
    "open_photo",
    "plan_candidates",
    "restore",
    "save_image",
    "save_model",
]
