"""The networks: the partial convolution, the blocks both networks are built from, the restorer
(``PConvUNet``) and the damage detector (``DamageNet``), and their configs."""

from .blocks import DecoderBlock, EncoderBlock, RefineHead
from .damagenet import DamageNet, DamageNetConfig
from .pconv import PartialConv2d
from .unet import PConvUNet, PConvUNetConfig

__all__ = [
    "DamageNet",
    "DamageNetConfig",
    "DecoderBlock",
    "EncoderBlock",
    "PConvUNet",
    "PConvUNetConfig",
    "PartialConv2d",
    "RefineHead",
]
