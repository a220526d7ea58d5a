"""Adding an analyser: one module (tests/mean_brightness.py) and one registry line. It rides on the
real decode of a real clip next to the product's analysers, shows in the report under its stage,
and its declared setting is folded into its version."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import pytest

from core.settings import Settings
from pipeline.analysis.registry import ANALYSERS
from pipeline.analysis.stream import FrameStream
from pipeline.media_pass import iter_frames
from tests.fixtures.media import CLIPS
from tests.mean_brightness import MeanBrightness
from workers.analysers import AnalyserPlan
from workers.report import build_report, outcome_to_stages
from workers.screening_task import run_screening

CLIP = CLIPS / "short_hamilton_clip.mp4"
WITH_BRIGHTNESS = (*ANALYSERS, MeanBrightness)  # the registry line


def _plan(settings, **inputs) -> AnalyserPlan:
    return AnalyserPlan(inputs, FrameStream.of(settings.media_limits, settings.faces_fps), WITH_BRIGHTNESS)


def test_a_new_analyser_rides_on_the_decode_and_shows_in_the_report(embedded_stack, tmp_path):
    settings = embedded_stack.settings
    key = embedded_stack.store.put_file(CLIP)
    plan = _plan(settings, dark_below=60.0)
    outcome = run_screening("sub-brightness", key, settings, plan)
    assert outcome["status"] == "screened", outcome
    stages = outcome_to_stages(outcome)
    report = build_report("sub-brightness", "0" * 64, stages, outcome["versions"], WITH_BRIGHTNESS)

    brightness = report["brightness"]
    stream_frames = stages["fingerprint_visual"]["samples"]  # fed every frame of the stream
    assert plan.stream.sampled_stride == 2
    assert brightness["frames"] == math.ceil(stream_frames / plan.stream.sampled_stride) >= 10
    # the frames it was fed are the faces-rate frames: decoded alone at that rate, they agree
    faces_rate = replace(settings.media_limits, analysis_fps=settings.faces_fps)
    own = [
        float(cv2.cvtColor(f.image, cv2.COLOR_BGR2GRAY).mean())
        for f in iter_frames(CLIP, tmp_path, faces_rate)
    ]
    assert brightness["frames"] == len(own)
    assert brightness["mean"] == pytest.approx(sum(own) / len(own), abs=0.5)
    assert brightness["dark_share"] == round(sum(m < 60.0 for m in own) / len(own), 3)
    assert report["versions"]["brightness"] == plan.all_versions()["brightness"]
    assert "brightness" in outcome["timings"]
    assert report["presence"]["verdict"] == "not_checked" and report["keyframes"]  # the product's ran too
    assert "fingerprint_visual" not in report and "fingerprint_audio" not in report  # hidden sections


def test_its_declared_setting_is_folded_into_its_version_only(tmp_path):
    settings = Settings(home=tmp_path)
    default, darker = _plan(settings).all_versions(), _plan(settings, dark_below=60.0).all_versions()
    assert default["brightness"].startswith("1-") and darker["brightness"].startswith("1-")
    assert default["brightness"] != darker["brightness"]
    assert _plan(settings, dark_below=40.0).all_versions() == default  # the default, given explicitly
    assert {k: v for k, v in darker.items() if k != "brightness"} == {
        k: v for k, v in default.items() if k != "brightness"
    }
