"""A last look for faces too small for the tracker (a wide shot from the back of a classroom), so a
lesson whose teacher is only far away goes to a person instead of being called faceless."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.presence.detection import detect, scan_scale, suppress_overlaps


class FrameSample:
    """Up to ``capacity`` greyscale frames spread evenly over the whole video, in bounded memory:
    every ``stride``-th frame is kept, and when full every other kept frame is dropped and the
    stride doubles."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.stride = 1
        self._seen = 0
        self.frames: list[tuple[float, np.ndarray]] = []

    def offer(self, t: float, image: np.ndarray) -> None:
        if self._seen % self.stride == 0:
            self.frames.append((t, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)))
            if len(self.frames) > self.capacity:
                self.frames = self.frames[::2]
                self.stride *= 2
        self._seen += 1


@dataclass(frozen=True)
class SmallFaces:
    frames: int  # frames searched
    with_faces: int  # frames where at least one small face was found
    face_px: float  # median width of the faces found (analysed frame pixels); 0 when none
    min_face_px: float  # the smallest face searched for

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "with_faces": self.with_faces,
            "face_px": round(self.face_px, 1),
            "min_face_px": self.min_face_px,
        }


def find_small_faces(sample: FrameSample, min_face_px: float, score: float) -> SmallFaces:
    """Search the sampled frames at the scale that finds faces of ``min_face_px`` (HOG margin at
    least ``score``: stricter than the tracker's, as fine scans see more face-like texture)."""
    widths: list[float] = []
    with_faces = 0
    for _, gray in sample.frames:
        found = suppress_overlaps(detect(gray, scan_scale(min_face_px), None, score))
        if found:
            with_faces += 1
            widths += [d.box.w for d in found]
    return SmallFaces(
        frames=len(sample.frames),
        with_faces=with_faces,
        face_px=float(np.median(widths)) if widths else 0.0,
        min_face_px=min_face_px,
    )
