"""Photo restoration by partial convolutions: the restoration library.

Imports neither gradio nor sqlalchemy. Public names::

    from inpaint import PartialConv2d, PConvUNet, PConvUNetConfig, load_model, save_model, restore
    from inpaint import detect_damage, load_detector

``restore(photo, mask, n=K, seed=..., method=...)`` is the one entry point the app and the command
line use; see ``inpaint.restore``. ``detect_damage(photo, sensitivity=...)`` suggests the damage
mask; see ``inpaint.detect``. Heavy submodules (training, evaluation) are not imported here.
"""

from .detect.pipeline import DEFAULT_SENSITIVITY, Detection, check_sensitivity, detect_damage
from .io.masks import detect_convention, dilate_damage, hole_ratio, known_to_image, load_mask, to_known_mask
from .io.photos import Photo, open_photo, save_image
from .io.weights import DEFAULT_DETECTOR, DEFAULT_SHARP, WeightsError, default_detector_source, default_sharp_source
from .nn.damagenet import DamageNet, DamageNetConfig, load_detector, save_detector
from .nn.pconv import PartialConv2d
from .nn.unet import PConvUNet, PConvUNetConfig, load_model, load_sharp_model, save_model
from .restoration import METHODS, Candidate, CandidateSpec, plan_candidates, restore

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_SENSITIVITY",
    "DEFAULT_SHARP",
    "METHODS",
    "Candidate",
    "CandidateSpec",
    "DamageNet",
    "DamageNetConfig",
    "Detection",
    "PConvUNet",
    "PConvUNetConfig",
    "PartialConv2d",
    "Photo",
    "WeightsError",
    "check_sensitivity",
    "default_detector_source",
    "default_sharp_source",
    "detect_convention",
    "detect_damage",
    "dilate_damage",
    "hole_ratio",
    "known_to_image",
    "load_detector",
    "load_mask",
    "load_model",
    "load_sharp_model",
    "open_photo",
    "plan_candidates",
    "restore",
    "save_image",
    "save_detector",
    "save_model",
    "to_known_mask",
]
