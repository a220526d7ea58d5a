"""The second spoof signal: a face that moves, but only as a flat picture does.

A printed photo or a phone held up to the camera moves and tilts, so the stillness check does not
catch it; but every view of it is the same flat image seen through a different homography. A
person's face is not flat (turning the head shifts the nose against the cheeks) and changes while
speaking and blinking. So: take the track's faces spread over its life (the encoding candidates),
align pairs of them (each face with the next two) with a dense homography (ECC) and measure what
alignment cannot explain (1 − the correlation coefficient after alignment). A picture leaves codec
noise only; a person leaves their expression and their 3D shape. The median over the pairs
decides, so one failed alignment does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.presence.candidates import Candidate

PATCH_PX = 80  # faces are compared at this size
NEIGHBOURS = 2  # each face is aligned with this many faces after it
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)


@dataclass(frozen=True)
class Flatness:
    deformation: float  # median over face pairs of 1 - correlation after the best homography
    pairs: int  # pairs aligned
    span_s: float  # time between the first and the last face compared

    def is_flat(self, max_deformation: float, min_pairs: int, min_seconds: float) -> bool:
        """True when enough faces far enough apart in time are all one flat image."""
        return self.pairs >= min_pairs and self.span_s >= min_seconds and self.deformation <= max_deformation


def face_patches(candidates: list[Candidate]) -> list[tuple[float, np.ndarray]]:
    """The inner face (cheek to cheek, brow to chin) of each candidate, grey, ``PATCH_PX`` square, by time."""
    out = []
    for c in sorted(candidates, key=lambda c: c.t):
        gray = cv2.cvtColor(c.crop, cv2.COLOR_BGR2GRAY)
        b = c.box
        x0, y0 = max(0, int(b.x0 + 0.1 * b.w)), max(0, int(b.y0 + 0.05 * b.h))
        x1, y1 = min(gray.shape[1], int(b.x1 - 0.1 * b.w)), min(gray.shape[0], int(b.y1))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        patch = cv2.resize(gray[y0:y1, x0:x1], (PATCH_PX, PATCH_PX), interpolation=cv2.INTER_AREA)
        out.append((c.t, patch.astype(np.float32)))
    return out


def measure_flatness(patches: list[tuple[float, np.ndarray]]) -> Flatness:
    """Align each face patch with the next ``NEIGHBOURS`` by a homography; the median of what is left
    unexplained."""
    left = []
    pairs = [(i, j) for i in range(len(patches)) for j in range(i + 1, min(i + 1 + NEIGHBOURS, len(patches)))]
    for i, j in pairs:
        a, b = patches[i][1], patches[j][1]
        warp = np.eye(3, dtype=np.float32)
        try:
            cc, _ = cv2.findTransformECC(a, b, warp, cv2.MOTION_HOMOGRAPHY, _ECC_CRITERIA, None, 5)
        except cv2.error:  # no convergence (e.g. a blank patch): this pair says nothing
            continue
        left.append(1.0 - float(cc))
    span = patches[-1][0] - patches[0][0] if patches else 0.0
    return Flatness(float(np.median(left)) if left else 1.0, len(left), span)
