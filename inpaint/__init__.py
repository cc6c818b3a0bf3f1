"""Photo restoration by partial convolutions: the restoration library.

Imports neither gradio nor sqlalchemy. Public names::

    from inpaint import PartialConv2d, PConvUNet, PConvUNetConfig, load_model, save_model, restore

``restore(photo, mask, n=K, seed=..., method=...)`` is the one entry point the app and the command
line use; see ``inpaint.restore``. Heavy submodules (training, evaluation) are not imported here.
"""

from .images import Photo, open_photo, save_image
from .layers import PartialConv2d
from .restore import METHODS, Candidate, CandidateSpec, plan_candidates, restore
from .unet import PConvUNet, PConvUNetConfig
from .weights import WeightsError, load_model, save_model

__all__ = [
    "METHODS",
    "Candidate",
    "CandidateSpec",
    "PConvUNet",
    "PConvUNetConfig",
    "PartialConv2d",
    "Photo",
    "WeightsError",
    "load_model",
    "open_photo",
    "plan_candidates",
    "restore",
    "save_image",
    "save_model",
]
