"""How well a face crop can be encoded: size, sharpness and frontalness."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.presence.detection import Box

SHARPNESS_PX = 64  # faces are compared for sharpness at this common size


def face_patch(gray: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The face box of a grayscale image resampled to ``size`` x ``size`` (float32; edges replicated)."""
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(box.x0)), max(0, int(box.y0))
    x1, y1 = min(w, int(np.ceil(box.x1))), min(h, int(np.ceil(box.y1)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((size, size), np.float32)
    crop = gray[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[1] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp).astype(np.float32)


def sharpness(gray: np.ndarray, box: Box) -> float:
    """Laplacian energy over contrast of the face at 64 px: ~0.2-1.0 for sharp photos, < 0.05
    when blurred so much that its encoding drifts by 0.3 or more. Independent of face size and contrast."""
    patch = face_patch(gray, box, SHARPNESS_PX).astype(np.float64)
    contrast = patch.var()
    if contrast < 1.0:
        return 0.0
    return float(cv2.Laplacian(patch, cv2.CV_64F).var() / contrast)


def encoding_quality(face_px: float, detector_score: float, sharp: float) -> float:
    """A ranking score for choosing which faces of a track to encode: bigger, more frontal (the HOG
    margin grows with frontalness) and sharper faces first; each factor saturates."""
    size = min(face_px, 120.0) / 120.0
    frontal = 1.0 / (1.0 + np.exp(-2.0 * (detector_score - 0.5)))
    crisp = min(sharp, 0.3) / 0.3
    return float(size * (0.25 + frontal) * (0.25 + crisp))
