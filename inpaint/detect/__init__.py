"""Photo -> suggested damage: the learned detector's tiled, multi-scale pipeline and the
classical (morphological) detector behind one function, ``detect_damage``."""

from .pipeline import DEFAULT_SENSITIVITY, DETECT_METHODS, Detection, DetectSettings, check_sensitivity, detect_damage

__all__ = ["DEFAULT_SENSITIVITY", "DETECT_METHODS", "DetectSettings", "Detection", "check_sensitivity", "detect_damage"]
