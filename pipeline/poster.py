"""Pick the poster image from the frame stream: non-black, reasonably sharp, around 10% in."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.frames import Frame

TARGET = 0.10  # preferred position, as a fraction of the duration
WINDOW = (0.03, 0.30)  # frames considered "around 10% in"
MIN_MEAN, MIN_STD = 20.0, 8.0  # below: black, blank or a fade
JPEG_QUALITY = 85


class PosterPicker:
    """Fed every sampled frame; keeps references to at most three candidates (no copies)."""

    def __init__(self, duration_s: float) -> None:
        self.duration_s = max(duration_s, 1e-6)
        self._in_window: tuple[float, np.ndarray] | None = None  # best (score, image) near 10%
        self._anywhere: tuple[float, np.ndarray] | None = None  # best non-black frame elsewhere
        self._nearest: tuple[float, np.ndarray] | None = None  # (distance to 10%, image) fallback

    def process(self, frame: Frame) -> None:
        pos = frame.t / self.duration_s
        distance = abs(pos - TARGET)
        if self._nearest is None or distance < self._nearest[0]:
            self._nearest = (distance, frame.image)
        score = _score(frame.image)
        if score is None:
            return
        if WINDOW[0] <= pos <= WINDOW[1]:
            if self._in_window is None or score > self._in_window[0]:
                self._in_window = (score, frame.image)
        elif self._anywhere is None or score > self._anywhere[0]:
            self._anywhere = (score, frame.image)

    def best(self) -> np.ndarray | None:
        for candidate in (self._in_window, self._anywhere, self._nearest):
            if candidate is not None:
                return candidate[1]
        return None

    def write(self, path: Path) -> bool:
        """Write the chosen frame as JPEG; False when no frame was seen."""
        image = self.best()
        if image is None:
            return False
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return False
        Path(path).write_bytes(data.tobytes())
        return True


def _score(image: np.ndarray) -> float | None:
    """Sharpness (variance of the Laplacian on a small grey copy); None for black/blank frames."""
    small = cv2.resize(
        image, (160, max(1, round(160 * image.shape[0] / image.shape[1]))), interpolation=cv2.INTER_AREA
    )
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    mean, std = cv2.meanStdDev(grey)
    if float(mean[0, 0]) < MIN_MEAN or float(std[0, 0]) < MIN_STD:
        return None
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
