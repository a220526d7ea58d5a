"""The analyser host: strides per analyser, finish in the order of ``reads`` (each sees only what
it reads), reads that cannot be met refused loudly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.analysis.analyser import Analyser, FinishContext, FrameFeed, StageOutput
from pipeline.analysis.host import AnalyserHost
from pipeline.frames import Frame


class Counter(Analyser):
    """Counts the frames it is fed and records the results it saw at finish."""

    version = "1"

    def __init__(self, stage: str, feed: FrameFeed = FrameFeed.EVERY, reads: tuple[str, ...] = ()):
        self.stage, self.feed, self.reads = stage, feed, reads
        self.indexes: list[int] = []

    def process(self, frame: Frame) -> None:
        self.indexes.append(frame.index)

    def finish(self, ctx: FinishContext) -> StageOutput:
        return StageOutput({"frames": len(self.indexes), "saw": sorted(ctx.results)})


def _feed(host: AnalyserHost, frames: int) -> dict[str, StageOutput]:
    image = np.zeros((4, 4, 3), np.uint8)
    for i in range(frames):
        host.process(Frame(i, i / 2, image))
    return host.finish(Path("."), frames / 2, None)


def test_each_analyser_is_fed_at_its_stride():
    every, sampled, none = (
        Counter("every"),
        Counter("sampled", FrameFeed.SAMPLED),
        Counter("none", FrameFeed.NONE),
    )
    _feed(AnalyserHost([every, sampled, none], sampled_stride=3), 10)
    assert every.indexes == list(range(10))
    assert sampled.indexes == [0, 3, 6, 9]
    assert none.indexes == []


def test_analysers_finish_after_what_they_read_and_see_only_that():
    keyframes = Counter("keyframes", reads=("presence",))
    summary = Counter("summary", reads=("keyframes", "presence"))
    presence, other = Counter("presence"), Counter("other")
    host = AnalyserHost([summary, keyframes, other, presence])
    assert [a.stage for a in host.analysers] == ["other", "presence", "keyframes", "summary"]
    results = _feed(host, 2)
    assert results["keyframes"].data["saw"] == ["presence"]
    assert results["summary"].data["saw"] == ["keyframes", "presence"]
    assert results["other"].data["saw"] == []
    assert set(host.timings) == {"summary", "keyframes", "other", "presence"}


@pytest.mark.parametrize(
    ("analysers", "message"),
    [
        ([Counter("keyframes", reads=("presence",))], "reads stages no analyser here produces"),
        ([Counter("a", reads=("b",)), Counter("b", reads=("a",))], "cycle"),
        ([Counter("a", reads=("a",))], "cycle"),
        ([Counter("a"), Counter("a")], "more than once"),
    ],
)
def test_reads_that_cannot_be_met_fail_loudly(analysers, message):
    with pytest.raises(ValueError, match=message):
        AnalyserHost(analysers)
