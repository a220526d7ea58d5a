"""HOG face detection on whole frames or regions, rescaled so the smallest wanted face fits the detector."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.presence.face_models import face_models

DETECTOR_WINDOW_PX = 80  # dlib's HOG detector finds faces down to about 80x80 pixels


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0

    def expand(self, fx: float, fy: float, width: int, height: int) -> Box:
        """This box grown by ``fx``/``fy`` box sizes on each side, clipped to the image."""
        return Box(
            max(0.0, self.x0 - fx * self.w),
            max(0.0, self.y0 - fy * self.h),
            min(float(width), self.x1 + fx * self.w),
            min(float(height), self.y1 + fy * self.h),
        )

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True)
class Detection:
    box: Box  # in frame pixels
    score: float  # HOG detector margin: > 0 is a face for dlib, higher is more frontal/clear


def detect(
    gray: np.ndarray, scale: float, region: Box | None = None, threshold: float = 0.0
) -> list[Detection]:
    """Faces in ``region`` (default: the whole image) of a grayscale frame, scanned at ``scale``
    (2.0 finds faces of ~40 px); boxes come back in frame pixels."""
    h, w = gray.shape[:2]
    if region is None:
        region = Box(0, 0, w, h)
    x0, y0 = int(region.x0), int(region.y0)
    x1, y1 = int(np.ceil(region.x1)), int(np.ceil(region.y1))
    crop = gray[y0:y1, x0:x1]
    if crop.shape[0] < 8 or crop.shape[1] < 8:
        return []
    if scale != 1.0:
        interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp)
    sy = crop.shape[0] / (y1 - y0)
    sx = crop.shape[1] / (x1 - x0)
    rects, scores, _ = face_models().detector.run(np.ascontiguousarray(crop), 0, threshold)
    return [
        Detection(
            Box(x0 + r.left() / sx, y0 + r.top() / sy, x0 + (r.right() + 1) / sx, y0 + (r.bottom() + 1) / sy),
            float(s),
        )
        for r, s in zip(rects, scores, strict=True)
    ]


def scan_scale(min_face_px: float) -> float:
    """The rescale factor that brings a face of ``min_face_px`` up to the detector's window."""
    return DETECTOR_WINDOW_PX / min_face_px


def suppress_overlaps(dets: list[Detection], iou: float = 0.3) -> list[Detection]:
    """Non-maximum suppression: the highest-scoring of overlapping detections survives."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(d.box.iou(k.box) < iou and not _nested(d.box, k.box) for k in kept):
            kept.append(d)
    return kept


def _nested(a: Box, b: Box) -> bool:
    """One box lies (mostly) inside the other: the same face found at two scales."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    return ix * iy >= 0.7 * min(a.w * a.h, b.w * b.h)
