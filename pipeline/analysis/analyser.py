"""What an analyser is: a plug-in fed by the one decode (PySceneDetect's detector shape) that
declares what its host needs to version, feed, order and report it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from pipeline.frames import Frame


class FrameFeed(Enum):
    """Which frames of the stream an analyser is fed."""

    EVERY = "every"  # every frame (fingerprints: copies of fast footage)
    SAMPLED = "sampled"  # every ``FrameStream.sampled_stride``-th frame (faces, keyframes)
    NONE = "none"  # none: it works at finish (on the audio track)


@dataclass(frozen=True)
class Setting:
    """An input that changes an analyser's result: given to its constructor as ``name`` and folded
    into its stage version; ``default`` when the caller gives none."""

    name: str
    default: Any


@dataclass(frozen=True)
class ReportSection:
    """Where a stage's data shows in the screening report: nested under the stage name, its listed
    keys merged at the top level, or left out (internal data such as fingerprints)."""

    top_level_keys: tuple[str, ...] | None = None  # None: nested under the stage name
    shown: bool = True

    @classmethod
    def nested(cls) -> ReportSection:
        return cls()

    @classmethod
    def merged(cls, *keys: str) -> ReportSection:
        return cls(top_level_keys=keys)

    @classmethod
    def hidden(cls) -> ReportSection:
        return cls(shown=False)

    def entries(self, stage: str, data: dict[str, Any]) -> dict[str, Any]:
        """The report entries of this stage's stored ``data``."""
        if not self.shown:
            return {}
        if self.top_level_keys is None:
            return {stage: data}
        return {key: data.get(key) for key in self.top_level_keys}


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
    ``version`` (bump it when the output for the same input would change), the ``settings`` that
    change its result (the host folds their values, and the frame-stream parameters of its
    ``feed``, into the stage version), its report section and the stages it ``reads`` at finish."""

    stage: ClassVar[str]
    version: ClassVar[str]
    settings: ClassVar[tuple[Setting, ...]] = ()
    feed: ClassVar[FrameFeed] = FrameFeed.EVERY
    reads: ClassVar[tuple[str, ...]] = ()
    report: ClassVar[ReportSection] = ReportSection.nested()

    def process(self, frame: Frame) -> None:
        """Take the next frame of its feed."""

    def finish(self, ctx: FinishContext) -> StageOutput:
        """The stage's result, once the decode is over and the stages it reads are finished."""
        raise NotImplementedError
