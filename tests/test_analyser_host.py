"""The analyser host: strides per analyser, finish in the order of ``reads`` (each sees only what
it reads), declarations checked loudly, settings folded into stage versions, report sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.analysis.analyser import (
    Analyser,
    FinishContext,
    FrameFeed,
    ReportSection,
    Setting,
    StageOutput,
)
from pipeline.analysis.host import AnalyserHost, build_host, with_readers
from pipeline.analysis.stream import FrameStream
from pipeline.analysis.versions import stage_versions
from pipeline.frames import Frame

STREAM = FrameStream(fps=2.0, max_side=640, sampled_stride=3)


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


class Tuned(Analyser):
    stage, version = "tuned", "2"
    settings = (Setting("threshold", 0.5), Setting("labels", ("a", "b")))
    feed = FrameFeed.SAMPLED
    report = ReportSection.merged("score")

    def __init__(self, threshold: float, labels: tuple[str, ...]) -> None:
        self.threshold, self.labels = threshold, labels

    def finish(self, ctx: FinishContext) -> StageOutput:
        return StageOutput({"score": self.threshold, "labels": list(self.labels)})


class Silent(Analyser):
    stage, version = "silent", "7"
    feed = FrameFeed.NONE
    report = ReportSection.hidden()

    def finish(self, ctx: FinishContext) -> StageOutput:
        return StageOutput({"audio": ctx.audio_path is not None})


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


def test_a_stage_read_may_be_provided_instead_of_hosted():
    keyframes = Counter("keyframes", reads=("presence",))
    host = AnalyserHost([keyframes], provided={"presence": StageOutput({"segments": [[0, 1]]})})
    results = _feed(host, 2)
    assert set(results) == {"keyframes"} and results["keyframes"].data["saw"] == ["presence"]
    with pytest.raises(ValueError, match="more than once"):  # hosted and provided at once
        AnalyserHost([Counter("presence")], provided={"presence": StageOutput()})


def test_what_follows_a_stage_computed_again():
    chain = [Counter("p"), Counter("k", reads=("p",)), Counter("s", reads=("k",)), Counter("o")]
    assert with_readers(chain, {"p"}) == {"p", "k", "s"}  # directly or not
    assert with_readers(chain, {"k"}) == {"k", "s"}
    assert with_readers(chain, {"o"}) == {"o"} and with_readers(chain, set()) == set()


def test_settings_are_given_by_name_and_unknown_ones_refused():
    host = build_host([Tuned, Silent], {"threshold": 0.8}, STREAM)
    tuned = host.analysers[0]
    assert isinstance(tuned, Tuned) and (tuned.threshold, tuned.labels) == (0.8, ("a", "b"))
    with pytest.raises(ValueError, match="treshold"):
        build_host([Tuned, Silent], {"treshold": 0.8}, STREAM)
    with pytest.raises(ValueError, match="treshold"):
        stage_versions([Tuned], {"treshold": 0.8}, STREAM)


def test_versions_fold_in_settings_and_the_stream_the_analyser_is_fed():
    base = stage_versions([Tuned, Silent], {}, STREAM)
    assert base["silent"] == "7"  # no settings, no frames: its version as declared
    assert base["tuned"].startswith("2-") and len(base["tuned"]) == 12
    assert stage_versions([Tuned], {"threshold": 0.5, "labels": ("a", "b")}, STREAM) == {
        "tuned": base["tuned"]
    }
    changed = [
        stage_versions([Tuned], {"threshold": 0.6}, STREAM),
        stage_versions([Tuned], {"labels": ("b", "a")}, STREAM),
        stage_versions([Tuned], {}, FrameStream(fps=2.0, max_side=640, sampled_stride=2)),
        stage_versions([Tuned], {}, FrameStream(fps=2.0, max_side=1280, sampled_stride=3)),
        stage_versions([Tuned], {}, FrameStream(fps=2.0, max_side=640, sampled_stride=3, version="9")),
    ]
    assert len({v["tuned"] for v in changed} | {base["tuned"]}) == len(changed) + 1
    assert stage_versions([Silent], {}, FrameStream(fps=5.0, max_side=64)) == {"silent": "7"}


def test_report_sections_nest_merge_or_hide():
    data = {"score": 1.0, "labels": ["a"]}
    assert ReportSection.nested().entries("tuned", data) == {"tuned": data}
    assert ReportSection.merged("score", "missing").entries("tuned", data) == {"score": 1.0, "missing": None}
    assert ReportSection.hidden().entries("tuned", data) == {}
