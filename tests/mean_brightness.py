"""A test analyser: the mean brightness of the sampled frames and the share of dark ones. All it
takes to add an analyser is a module like this and one line in a registry (test_new_analyser.py)."""

from __future__ import annotations

import cv2

from pipeline.analysis.analyser import Analyser, FinishContext, FrameFeed, Setting, StageOutput
from pipeline.frames import Frame


class MeanBrightness(Analyser):
    stage = "brightness"
    version = "1"
    settings = (Setting("dark_below", 40.0),)  # grey level under which a frame counts as dark
    feed = FrameFeed.SAMPLED

    def __init__(self, dark_below: float = 40.0) -> None:
        self.dark_below = dark_below
        self.means: list[float] = []

    def process(self, frame: Frame) -> None:
        self.means.append(float(cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).mean()))

    def finish(self, ctx: FinishContext) -> StageOutput:
        n = len(self.means)
        dark = sum(1 for m in self.means if m < self.dark_below)
        return StageOutput(
            {
                "frames": n,
                "mean": round(sum(self.means) / n, 2) if n else None,
                "dark_share": round(dark / n, 3) if n else None,
            }
        )
