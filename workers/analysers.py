"""Which analysers ride on the one decode for a submission, and the versions their results carry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlmodel import Session

from core.enrolment import load_gallery
from core.settings import Settings
from models.tables import Submission
from pipeline.analysis.host import AnalyserHost
from pipeline.decode import FRAMES_VERSION
from pipeline.dedup import AudioFingerprinter, VisualFingerprinter
from pipeline.keyframes import KeyframeAnalyser, KeyframeParams
from pipeline.media_pass import STAGE_VERSIONS
from pipeline.presence import PresenceAnalyser, PresencePolicy


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
    return h.hexdigest()[:10]


@dataclass(frozen=True)
class AnalyserPlan:
    """Everything a task needs to build its analysers; small and picklable (no models, no frames)."""

    teacher_id: str | None = None
    teacher_encodings: tuple[np.ndarray, ...] = ()
    colleagues: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)
    presence_policy: PresencePolicy = field(default_factory=PresencePolicy)
    keyframe_params: KeyframeParams = field(default_factory=KeyframeParams)
    stride: int = 1  # presence and keyframes see every stride-th frame of the stream
    analysis_fps: float = 1.0
    analysis_max_side: int = 1920

    def versions(self) -> dict[str, str]:
        """Stage versions of the analysers; the inputs that change a result (the enrolled gallery,
        non-default settings) are folded in, so a result is reused only when they match."""
        gallery = [self.teacher_id, *(e.tobytes() for e in self.teacher_encodings)]
        for other in sorted(self.colleagues):
            gallery += [other, *(e.tobytes() for e in self.colleagues[other])]
        frames = [FRAMES_VERSION, self.analysis_fps, self.analysis_max_side]
        sampling = [*frames, self.stride]
        presence = f"{PresenceAnalyser.version}-{_digest(*gallery, asdict(self.presence_policy), sampling)}"
        keyframes = f"{KeyframeAnalyser.version}-{_digest(asdict(self.keyframe_params), sampling)}"
        visual = f"{VisualFingerprinter.version}-{_digest(*frames)}"
        return {
            PresenceAnalyser.stage: presence,
            KeyframeAnalyser.stage: keyframes,
            VisualFingerprinter.stage: visual,
            AudioFingerprinter.stage: AudioFingerprinter.version,
        }

    def all_versions(self) -> dict[str, str]:
        """Every stage of a screening: the core media stages plus the analysers."""
        return {**STAGE_VERSIONS, **self.versions()}


def plan_for(session: Session, submission: Submission, settings: Settings) -> AnalyserPlan:
    """Read what the analysers need for this submission from the database."""
    own, colleagues = load_gallery(session, submission.teacher_id) if submission.teacher_id else ([], {})
    return AnalyserPlan(
        teacher_id=submission.teacher_id,
        teacher_encodings=tuple(own),
        colleagues={k: tuple(v) for k, v in colleagues.items()},
        presence_policy=PresencePolicy(**settings.presence_policy),
        keyframe_params=KeyframeParams(**settings.keyframe_params),
        stride=max(1, round(settings.analysis_fps / settings.faces_fps)),
        analysis_fps=settings.analysis_fps,
        analysis_max_side=settings.analysis_max_side,
    )


def build_host(plan: AnalyserPlan) -> AnalyserHost:
    """The analysers in a host (keyframes tag the teacher's stretches found by presence; the
    fingerprints feed duplicate matching)."""
    presence = PresenceAnalyser(
        plan.teacher_id,
        list(plan.teacher_encodings),
        {k: list(v) for k, v in plan.colleagues.items()},
        policy=plan.presence_policy,
    )
    keyframes = KeyframeAnalyser(plan.keyframe_params)
    return AnalyserHost([presence, keyframes, VisualFingerprinter(), AudioFingerprinter()], plan.stride)
