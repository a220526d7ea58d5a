"""The analyser host: feeds the frames of the one decode to each analyser at its stride, times each
stage, and finishes the analysers in the order their ``reads`` ask for."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pipeline.analysis.analyser import Analyser, FinishContext, FrameFeed, StageOutput
from pipeline.analysis.stream import FrameStream
from pipeline.frames import Frame

Declared = TypeVar("Declared", Analyser, type[Analyser])  # analysers or their classes


class AnalyserHost:
    def __init__(
        self,
        analysers: Sequence[Analyser],
        sampled_stride: int = 1,
        provided: Mapping[str, StageOutput] | None = None,
    ) -> None:
        """Host ``analysers`` (those fed ``FrameFeed.SAMPLED`` take every ``sampled_stride``-th
        frame). A stage they read may be ``provided`` already computed (a re-screening reuses its
        stored result) instead of hosted; raises ``ValueError`` when their ``reads`` cannot be
        satisfied."""
        self.provided = dict(provided or {})
        self.analysers = finish_order(analysers, done=self.provided)
        self.sampled_stride = max(1, sampled_stride)
        strides = {FrameFeed.EVERY: 1, FrameFeed.SAMPLED: self.sampled_stride}
        self._fed = [(a, strides[a.feed]) for a in self.analysers if a.feed in strides]
        self.timings: dict[str, float] = {a.stage: 0.0 for a in self.analysers}  # stage -> seconds

    @property
    def takes_every_frame(self) -> bool:
        """Whether an analyser here is fed every frame of the stream."""
        return any(a.feed is FrameFeed.EVERY for a in self.analysers)

    @property
    def needs_audio(self) -> bool:
        """Whether an analyser here works on the audio track."""
        return any(a.feed is FrameFeed.NONE for a in self.analysers)

    @property
    def decimation(self) -> int:
        """How many frames of the stream an analysis-only decode may skip between frames it
        delivers: the sampled stride when no analyser here takes every frame, else 1 (frames keep
        their stream index, so each analyser still sees exactly its own frames)."""
        return 1 if self.takes_every_frame else self.sampled_stride

    def process(self, frame: Frame) -> None:
        """Give one frame of the stream to every analyser whose stride it falls on."""
        for analyser, stride in self._fed:
            if frame.index % stride == 0:
                t0 = time.perf_counter()
                analyser.process(frame)
                self.timings[analyser.stage] += time.perf_counter() - t0

    def finish(self, workdir: Path, duration_s: float, audio_path: Path | None) -> dict[str, StageOutput]:
        """Finish every analyser, each seeing the results of the stages it reads."""
        results: dict[str, StageOutput] = {}
        known = dict(self.provided)
        for analyser in self.analysers:
            t0 = time.perf_counter()
            ctx = FinishContext(workdir, duration_s, audio_path, {s: known[s] for s in analyser.reads})
            results[analyser.stage] = known[analyser.stage] = analyser.finish(ctx)
            self.timings[analyser.stage] += time.perf_counter() - t0
        return results


def build_host(
    analysers: Sequence[type[Analyser]],
    inputs: Mapping[str, Any],
    stream: FrameStream,
    provided: Mapping[str, StageOutput] | None = None,
) -> AnalyserHost:
    """Instantiate ``analysers`` with their declared settings taken from ``inputs`` by name (the
    defaults for the rest) and host them, with the ``provided`` stages they read. Raises
    ``ValueError`` for an input no analyser declares."""
    check_inputs(analysers, inputs)
    built = [cls(**{s.name: inputs.get(s.name, s.default) for s in cls.settings}) for cls in analysers]
    return AnalyserHost(built, stream.sampled_stride, provided)


def check_inputs(analysers: Sequence[type[Analyser]], inputs: Mapping[str, Any]) -> None:
    """Every input must be a setting some analyser declares (a misspelt one would change nothing)."""
    declared = {s.name for cls in analysers for s in cls.settings}
    if unknown := sorted(set(inputs) - declared):
        raise ValueError(f"no analyser declares the settings {unknown}")


def finish_order(analysers: Sequence[Declared], done: Collection[str] = ()) -> list[Declared]:
    """The analysers in the given order, except that each comes after the stages it reads (those
    ``done`` already are given). Raises ``ValueError`` for a stage declared twice (or both hosted
    and done), a read of an absent stage, or a cycle."""
    stages = [a.stage for a in analysers] + list(done)
    if twice := sorted({s for s in stages if stages.count(s) > 1}):
        raise ValueError(f"stages declared more than once: {twice}")
    for a in analysers:
        if unknown := sorted(set(a.reads) - set(stages)):
            raise ValueError(f"{a.stage} reads stages no analyser here produces: {unknown}")
    ordered: list[Declared] = []
    pending = list(analysers)
    while pending:
        done_now = set(done) | {a.stage for a in ordered}
        ready = next((a for a in pending if set(a.reads) <= done_now), None)
        if ready is None:
            raise ValueError(f"stages that read each other in a cycle: {sorted(a.stage for a in pending)}")
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def with_readers(analysers: Sequence[Declared], stages: Collection[str]) -> set[str]:
    """``stages`` and every stage among ``analysers`` that reads one of them, directly or not: what
    must be computed again when ``stages`` are (a reader's result follows what it read)."""
    found = set(stages)
    while grown := {a.stage for a in analysers if a.stage not in found and found & set(a.reads)}:
        found |= grown
    return found
