"""Fixtures shared by the library's tests: a damage mask, and a folder of smooth photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.inpaint.detect_helpers import smooth_photo
from tests.inpaint.masks_helpers import make_damage


@pytest.fixture
def damage() -> np.ndarray:
    return make_damage()


@pytest.fixture()
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_photo(80, 96, seed=i)).save(folder / f"p{i}.png")
    return folder
