"""What a submission's analysers need from the database and the settings; the registry does the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from core.enrolment import load_gallery
from core.settings import Settings
from models.submissions import Submission
from pipeline.analysis.analyser import Analyser, StageOutput
from pipeline.analysis.host import AnalyserHost, build_host, with_readers
from pipeline.analysis.registry import ANALYSERS
from pipeline.analysis.stream import FrameStream
from pipeline.analysis.versions import stage_versions
from pipeline.keyframes import KeyframeParams
from pipeline.media_pass import STAGE_VERSIONS
from pipeline.presence import EnrolledFaces, PresencePolicy


@dataclass(frozen=True)
class AnalyserPlan:
    """Everything a task needs to build its analysers; small and picklable (no models, no frames)."""

    inputs: dict[str, Any]  # values of the analysers' declared settings, by name
    stream: FrameStream
    analysers: tuple[type[Analyser], ...] = ANALYSERS

    def all_versions(self) -> dict[str, str]:
        """Every stage of a screening: the media stages plus the analysers, whose versions fold in
        their settings and frame stream (a result is reused only when they match)."""
        analysers = stage_versions(self.analysers, self.inputs, self.stream)
        if clash := sorted(set(analysers) & set(STAGE_VERSIONS)):
            raise ValueError(f"analysers may not take the media stages' names: {clash}")
        return {**STAGE_VERSIONS, **analysers}

    def host(self, rerun: Rerun | None = None) -> AnalyserHost:
        """The analysers, built with their settings, in a host for one decode: all of them, or only
        those ``rerun`` names, given the stored results of the stages they read."""
        if rerun is None:
            return build_host(self.analysers, self.inputs, self.stream)
        chosen = [a for a in self.analysers if a.stage in rerun.stages]
        declared = {s.name for a in chosen for s in a.settings}
        inputs = {name: value for name, value in self.inputs.items() if name in declared}
        provided = {stage: StageOutput(data) for stage, data in rerun.provided.items()}
        return build_host(chosen, inputs, self.stream, provided)

    def rerun_for(self, stored: dict[str, dict]) -> Rerun | None:
        """What a re-screening must compute when ``stored`` holds the current results it has: the
        analysers without one, and those that read a stage computed again (their result follows
        it), given the stored results of the other stages they read. None when the media stages
        are not current (a whole screening is needed) or nothing is missing."""
        if any(stage not in stored for stage in STAGE_VERSIONS) or "error" in stored["validate"]:
            return None
        stages = with_readers(self.analysers, {a.stage for a in self.analysers if a.stage not in stored})
        if not stages:
            return None
        reads = {s for a in self.analysers if a.stage in stages for s in a.reads} - stages
        return Rerun(
            tuple(a.stage for a in self.analysers if a.stage in stages), {s: stored[s] for s in reads}
        )


@dataclass(frozen=True)
class Rerun:
    """The analysers a re-screening computes again, and the stored data of the stages they read."""

    stages: tuple[str, ...]
    provided: dict[str, dict[str, Any]]


def plan_for(session: Session, submission: Submission, settings: Settings) -> AnalyserPlan:
    """Read what the analysers need for this submission from the database and the settings."""
    own, colleagues = load_gallery(session, submission.teacher_id) if submission.teacher_id else ([], {})
    faces = EnrolledFaces(submission.teacher_id, tuple(own), {k: tuple(v) for k, v in colleagues.items()})
    inputs = {
        "enrolled_faces": faces,
        "presence_policy": PresencePolicy(**settings.presence_policy),
        "keyframe_params": KeyframeParams(**settings.keyframe_params),
    }
    return AnalyserPlan(inputs, FrameStream.of(settings.media_limits, settings.faces_fps))
