"""The frame stream: sampled, downscaled frames from the one decode, fed to the analysers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    index: int  # sample number, 0-based
    t: float  # seconds from the start of the video
    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)
