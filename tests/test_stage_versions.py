"""Stage versions are stored with every result: a changed string makes every stored result stale and
the archive is screened again. These strings were computed by the code before the analyser host
(commit b9d7c8d) and must stay byte for byte the same for the same settings and enrolled gallery.
Changed deliberately since: presence and keyframes (the stages fed the sampled frames) when a
re-screening could decode only keyframes or reference frames (``pipeline.decode_path.VERSION``),
presence also for its guided face search (version 4); the other stages kept theirs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sqlmodel import Session

from core.settings import Settings
from models.submissions import Submission
from models.teachers import Teacher, TeacherFace
from pipeline.presence.face_models import encoder_name
from workers.analysers import AnalyserPlan, plan_for

MEDIA = {"validate": "4", "rendition": "4"}
FINGERPRINTS = {"fingerprint_visual": "1-8b6ced743f", "fingerprint_audio": "1"}
DEFAULTS = {**MEDIA, "presence": "4-e7b72da462", "keyframes": "3-ed4c9af220", **FINGERPRINTS}
NOT_ENROLLED = {**DEFAULTS, "presence": "4-f949c59903"}  # the teacher id is folded in
ENROLLED = {**DEFAULTS, "presence": "4-84f8a6d2f1"}  # ... and the teacher's and colleagues' encodings
NON_DEFAULT = {
    **MEDIA,
    "presence": "4-e98fbecf18",
    "keyframes": "3-8b9b436a5e",
    "fingerprint_visual": "1-eaf28cd0e0",
    "fingerprint_audio": "1",
}


def _encoding(k: int) -> bytes:
    return (np.linspace(-0.2, 0.2, 128) + 0.01 * k).astype("<f8").tobytes()


@pytest.fixture
def gallery(engine):
    """Teacher t-1 (two encodings) and a colleague t-2 (one) at one school; t-0 is not enrolled."""
    with Session(engine) as session:
        session.add(Teacher(id="t-0"))
        for teacher_id, encodings in (("t-1", (1, 2)), ("t-2", (3,))):
            session.add(Teacher(id=teacher_id, school_code="p.c.c.s1"))
            for k in encodings:
                face = TeacherFace(
                    teacher_id=teacher_id,
                    photo_key=f"sha256/{k}",
                    encoding=_encoding(k),
                    model=encoder_name(),
                    enrolled_by="admin",
                )
                session.add(face)
        session.commit()
    return engine


def _versions(engine, teacher_id: str | None, settings: Settings) -> dict[str, str]:
    with Session(engine) as session:
        sub = Submission(teacher_id=teacher_id, blob_key="sha256/x", sha256="0" * 64, size_bytes=1)
        return plan_for(session, sub, settings).all_versions()


def test_default_settings_keep_their_versions(gallery, tmp_path):
    settings = Settings(home=tmp_path)
    assert _versions(gallery, None, settings) == DEFAULTS
    assert _versions(gallery, "t-0", settings) == NOT_ENROLLED
    assert _versions(gallery, "t-1", settings) == ENROLLED


def test_non_default_settings_keep_their_versions(gallery, tmp_path):
    settings = Settings(
        home=tmp_path,
        presence_policy={"min_ratio": 0.2},
        keyframe_params={"cap": 20},
        faces_fps=0.5,
        analysis_max_side=1280,
    )
    assert _versions(gallery, "t-1", settings) == NON_DEFAULT


def plan_for_defaults(tmp_path) -> AnalyserPlan:
    """The plan of a submission without a teacher under the default settings (no database needed)."""
    return plan_for(
        None, Submission(blob_key="sha256/x", sha256="0" * 64, size_bytes=1), Settings(home=tmp_path)
    )


def test_a_new_decode_path_changes_only_the_stages_fed_the_sampled_frames(tmp_path):
    """A re-screening may decode only keyframes or reference frames for the sampled frames: a
    change to that decode makes presence and keyframes stale, never fingerprints (every frame, full
    decode), the audio fingerprint or the media stages."""
    plan = plan_for_defaults(tmp_path)
    before = plan.all_versions()
    after = replace(plan, stream=replace(plan.stream, sampled_decode="next")).all_versions()
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert changed == {"presence", "keyframes"}
