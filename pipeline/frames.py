"""The frame stream: sampled, downscaled frames from the one decode, fanned out to analysers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Frame:
    index: int  # sample number, 0-based
    t: float  # seconds from the start of the video
    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)


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
    results: dict[str, StageOutput] = field(default_factory=dict)  # outputs of analysers finished earlier


class FrameConsumer(Protocol):
    """A plug-in fed by the one decode (PySceneDetect's detector shape)."""

    stage: str  # report key and stage-result name
    version: str  # bump when the output for the same input would change

    def process(self, frame: Frame) -> None: ...

    def finish(self, ctx: FinishContext) -> StageOutput: ...


class Subsampled:
    """Feeds an analyser every ``stride``-th frame of the stream, so analysers that need fewer frames
    (faces, keyframes) ride on a denser stream (fingerprints) without paying for it."""

    def __init__(self, inner: FrameConsumer, stride: int):
        self.inner = inner
        self.stride = max(1, stride)
        self.stage = inner.stage
        self.version = inner.version

    def process(self, frame: Frame) -> None:
        if frame.index % self.stride == 0:
            self.inner.process(frame)

    def finish(self, ctx: FinishContext) -> StageOutput:
        return self.inner.finish(ctx)
