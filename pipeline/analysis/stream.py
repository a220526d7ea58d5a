"""The frame stream of the one decode, as the analysers see it."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.analysis.analyser import FrameFeed
from pipeline.decode import FRAMES_VERSION
from pipeline.decode_path import VERSION as SAMPLED_DECODE_VERSION
from pipeline.limits import MediaLimits


@dataclass(frozen=True)
class FrameStream:
    """What the analysers' results depend on in the frames they are fed."""

    fps: float  # frames per second of the stream
    max_side: int  # long side of the frames
    sampled_stride: int = 1  # an analyser fed ``FrameFeed.SAMPLED`` takes every stride-th frame
    version: str = FRAMES_VERSION
    sampled_decode: str = SAMPLED_DECODE_VERSION  # how a re-screening decodes the sampled frames

    @classmethod
    def of(cls, limits: MediaLimits, sampled_fps: float) -> FrameStream:
        """The stream the decode makes under ``limits``, sampled at about ``sampled_fps``."""
        stride = max(1, round(limits.analysis_fps / sampled_fps))
        return cls(limits.analysis_fps, limits.analysis_max_side, stride)

    def version_parts(self, feed: FrameFeed) -> list:
        """The stream parameters an analyser fed ``feed`` depends on, as folded into its version.
        This layout is the one of the versions already stored: changing it makes them all stale.
        Only the sampled frames may come from a keyframe-only or reference-only decode
        (``pipeline.decode_path``), so only the stages fed them fold in its version."""
        frames = [self.version, self.fps, self.max_side]
        if feed is FrameFeed.EVERY:
            return frames
        if feed is FrameFeed.SAMPLED:
            return [[*frames, self.sampled_stride, self.sampled_decode]]
        return []
