"""A video's duplicate-detection fingerprint: visual runs (+ keyframe thumbnails) and audio landmarks."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.dedup.audio import AudioFingerprint
from pipeline.dedup.visual import VisualFingerprint


@dataclass
class Fingerprint:
    visual: VisualFingerprint
    audio: AudioFingerprint

    @property
    def duration_s(self) -> float:
        """Seconds of video covered (sampled frames, or the audio when longer)."""
        return max(self.visual.samples * self.visual.step, self.audio.duration_s)

    @classmethod
    def from_stage_data(cls, visual: dict, audio: dict | None, keyframes: bytes | None = None) -> Fingerprint:
        """From the ``fingerprint_visual`` and ``fingerprint_audio`` stage outputs (``keyframes``: the
        bytes of the visual stage's ``keyframes`` artifact, needed only to verify geometric copies)."""
        v = VisualFingerprint.from_data(visual, keyframes)
        a = AudioFingerprint.from_data(audio) if audio else AudioFingerprint.empty(v.samples * v.step)
        return cls(v, a)
