"""What an analyser is: a plug-in fed by the one decode (PySceneDetect's detector shape) that
declares what its host needs to know about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from pipeline.frames import Frame


class FrameFeed(Enum):
    """Which frames of the stream an analyser is fed."""

    EVERY = "every"  # every frame (fingerprints: copies of fast footage)
    SAMPLED = "sampled"  # every ``sampled_stride``-th frame (faces, keyframes)
    NONE = "none"  # none: it works at finish (on the audio track)


@dataclass
class StageOutput:
    """An analyser's result. Any ``pathlib.Path`` inside ``data`` is an artifact file in the job
    directory: the worker uploads it to the blob store and replaces it with its URI."""

    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinishContext:
    """What an analyser may use once the decode is over."""

    workdir: Path  # empty per-job directory; write artifacts here
    duration_s: float
    audio_path: Path | None  # 8 kHz mono s16le PCM of the first audio stream, None when there is none
    results: dict[str, StageOutput] = field(default_factory=dict)  # of the stages it ``reads``


class Analyser:
    """Base of the analysers. A subclass declares its ``stage`` (stage-result name), its
    ``version`` (bump it when the output for the same input would change), the frames it is fed
    and the stages it ``reads`` at finish."""

    stage: ClassVar[str]
    version: ClassVar[str]
    feed: ClassVar[FrameFeed] = FrameFeed.EVERY
    reads: ClassVar[tuple[str, ...]] = ()

    def process(self, frame: Frame) -> None:
        """Take the next frame of its feed."""

    def finish(self, ctx: FinishContext) -> StageOutput:
        """The stage's result, once the decode is over and the stages it reads are finished."""
        raise NotImplementedError
