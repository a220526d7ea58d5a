"""The faces of a track worth encoding: the best one per stretch of time, in bounded memory."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.presence.detection import Box

CROP_FACE_PX = 160  # crops keep the face at most this wide (dlib encodes a 150 px chip)


@dataclass(frozen=True)
class Candidate:
    t: float
    quality: float
    face_px: float  # face width in the analysed frame
    crop: np.ndarray  # BGR, the face with a margin around it
    box: Box  # the face inside ``crop``


class CandidatePool:
    """Keeps the best-quality face per time bucket; when the pool is full, buckets double in length
    (so a long track keeps faces spread over its whole life, never more than ``capacity``)."""

    def __init__(self, capacity: int = 8, bucket_s: float = 1.0) -> None:
        self.capacity = capacity
        self.bucket_s = bucket_s
        self._start: float | None = None
        self._buckets: dict[int, Candidate] = {}

    def wants(self, t: float, quality: float) -> bool:
        """Whether a face of this quality at ``t`` would be kept (checked before cropping)."""
        held = self._buckets.get(self._bucket(t))
        return held is None or quality > held.quality

    def add(self, t: float, quality: float, frame: np.ndarray, box: Box) -> None:
        if not self.wants(t, quality):
            return
        h, w = frame.shape[:2]
        region = box.expand(0.5, 0.5, w, h)
        x0, y0 = int(region.x0), int(region.y0)
        crop = frame[y0 : int(np.ceil(region.y1)), x0 : int(np.ceil(region.x1))]
        s = min(1.0, CROP_FACE_PX / max(box.w, 1.0))
        crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1.0 else crop.copy()
        local = Box((box.x0 - x0) * s, (box.y0 - y0) * s, (box.x1 - x0) * s, (box.y1 - y0) * s)
        self._buckets[self._bucket(t)] = Candidate(t, quality, box.w, crop, local)
        while len(self._buckets) > self.capacity:
            self._coarsen()

    def best_first(self) -> list[Candidate]:
        return sorted(self._buckets.values(), key=lambda c: -c.quality)

    def clear(self) -> None:
        self._buckets.clear()

    def _bucket(self, t: float) -> int:
        if self._start is None:
            self._start = t
        return int((t - self._start) // self.bucket_s)

    def _coarsen(self) -> None:
        self.bucket_s *= 2
        kept: dict[int, Candidate] = {}
        for c in self._buckets.values():
            key = self._bucket(c.t)
            if key not in kept or c.quality > kept[key].quality:
                kept[key] = c
        self._buckets = kept
