"""Limits applied to every uploaded file before and during the one decode."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaLimits:
    max_upload_bytes: int = 4 * 1024**3
    max_long_side: int = 3840
    max_short_side: int = 2160
    min_short_side: int = 64  # below this no one can be recognised
    min_duration_s: float = 1.0
    max_duration_s: float = 4 * 3600.0
    probe_timeout_s: float = 30.0
    decode_timeout_factor: float = 4.0
    memory_bytes: int = 4 * 1024**3
    threads: int = 1
    analysis_fps: float = 1.0
    # native 1080p: a teacher's face 48 px wide in a 1080p classroom shot can still be identified
    analysis_max_side: int = 1920

    def decode_timeout_s(self, duration_s: float) -> float:
        """Wall-clock budget for the one decode pass of a file of this duration."""
        return 120.0 + self.decode_timeout_factor * duration_s
