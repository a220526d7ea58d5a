"""The spoof signal: a face that never moves or changes across its track is a picture, not a person.

Change is measured where the face first was: a still picture leaves those pixels untouched (codec
noise only) however its detected box jitters; a person moving, talking or blinking changes them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.presence.detection import Box
from pipeline.presence.quality import face_patch

PATCH_PX = 24


@dataclass(frozen=True)
class Stillness:
    motion: float  # largest shift of the detected face centre or size, as a share of the face width
    change: float  # largest mean change (grey levels) of the pixels where the face first was
    span_s: float
    samples: int

    def is_static(self, max_change: float, min_seconds: float, min_samples: int) -> bool:
        """True when the face is long enough on screen to judge and its pixels never changed."""
        return self.span_s >= min_seconds and self.samples >= min_samples and self.change <= max_change


class StillnessMeter:
    """Streams a track's faces; keeps the first face and the extremes, not every face."""

    def __init__(self) -> None:
        self._reference: np.ndarray | None = None
        self._ref_box: Box | None = None
        self._max_shift = 0.0
        self._max_change = 0.0
        self._first_t: float | None = None
        self._last_t = 0.0
        self._samples = 0

    def add(self, t: float, gray: np.ndarray, box: Box) -> None:
        if self._reference is None or self._ref_box is None:
            self._reference, self._ref_box, self._first_t = face_patch(gray, box, PATCH_PX), box, t
        else:
            ref = self._ref_box
            shift = max(abs(box.cx - ref.cx), abs(box.cy - ref.cy), abs(box.w - ref.w)) / max(ref.w, 1.0)
            self._max_shift = max(self._max_shift, shift)
            same_place = face_patch(gray, ref, PATCH_PX)
            self._max_change = max(self._max_change, float(np.abs(same_place - self._reference).mean()))
        self._first_t = min(self._first_t if self._first_t is not None else t, t)
        self._last_t = max(self._last_t, t)
        self._samples += 1

    def result(self) -> Stillness:
        span = self._last_t - self._first_t if self._first_t is not None else 0.0
        return Stillness(self._max_shift, self._max_change, span, self._samples)
