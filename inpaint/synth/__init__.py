"""Synthesis for training and evaluation only (the app never imports it): random hole masks in
the paper's bins, synthetic old-print damage with its exact mask, print ageing and scanning, and
where damage visibly changed a print."""

from .damage import DAMAGE_KINDS, SEVERITIES, synthesize_damage, synthesize_damage_mask
from .holes import HOLE_BINS, hole_bin, random_irregular_mask
from .mix import random_training_mask

__all__ = [
    "DAMAGE_KINDS",
    "HOLE_BINS",
    "SEVERITIES",
    "hole_bin",
    "random_irregular_mask",
    "random_training_mask",
    "synthesize_damage",
    "synthesize_damage_mask",
]
