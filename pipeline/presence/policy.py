"""The evidence-validity policy: every threshold the presence verdict depends on, in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PresencePolicy:
    match_threshold: float = 0.50  # distance at or below which a face is the teacher
    uncertain_threshold: float = 0.60  # (match, uncertain]: cannot tell, a person decides
    impostor_margin: float = 0.03  # a colleague this close to the teacher's distance (or closer) vetoes
    min_ratio: float = 0.10  # the teacher must be confirmed for this share of the video...
    min_seconds: float = 5.0  # ...and for at least min(min_seconds, short_ratio x duration)
    short_ratio: float = 0.25
    min_judge_px: float = 48.0  # a track whose median face is narrower (analysed frame) is too small to judge
    min_encodings: int = 2  # faces encoded per track before an early, clear answer is accepted
    max_encodings: int = 5
    clear_margin: float = 0.05  # distances this close to a threshold ask for more encodings
    static_max_change: float = 4.0  # a face whose pixels never change by more than this (grey levels)...
    static_min_seconds: float = 3.0  # ...over at least this long...
    static_min_samples: int = 4  # ...and this many samples is a still picture (spoof signal)
    flat_max_deformation: float = 0.018  # faces all one flat image up to this (1 - ECC correlation)...
    flat_min_pairs: int = 5  # ...over this many aligned pairs of faces (four faces)...
    flat_min_seconds: float = 6.0  # ...spread over this long: a picture moved by hand (spoof signal)
    small_face_px: float = 24.0  # with no face tracked at all, sampled frames are searched down to this...
    small_face_frames: int = 12  # ...in at most this many frames spread over the video...
    small_face_score: float = 0.3  # ...with this HOG margin (fine scans see more face-like texture)...
    small_face_min_frames: int = 2  # ...and faces in this many frames send the video to review

    def required_seconds(self, duration_s: float) -> float:
        """Confirmed teacher time needed for a valid verdict."""
        return max(self.min_ratio * duration_s, min(self.min_seconds, self.short_ratio * duration_s))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
