"""The spine end to end: submit → leased job → Ray task → stage results → report, on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core import jobs
from core.db import session_scope
from core.enrolment import enroll
from core.submissions import SubmissionConflict, submit_file
from models.base import utcnow
from models.jobs import Job, JobStatus, StageResult
from models.submissions import Submission
from tests.fixtures.media import make_video
from workers.runner import JobRunner


def _report(stack, submission_id: str) -> dict:
    with Session(stack.engine) as session:
        return session.get(Submission, submission_id).report


def _stage_rows(stack, submission_id: str) -> list[StageResult]:
    with Session(stack.engine) as session:
        return list(session.exec(select(StageResult).where(StageResult.submission_id == submission_id)))


def _submit(stack, path: Path, **kwargs) -> Submission:
    with Session(stack.engine) as session:
        return submit_file(session, stack.store, path, **kwargs)


@pytest.fixture(scope="module")
def lesson_720p(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("media") / "lesson.mp4"
    make_video(path, seconds=4, width=1280, height=720, fps=25)
    return path


@pytest.fixture(scope="module")
def lesson_1080p(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("media") / "lesson1080.mp4"
    make_video(path, seconds=3, width=1920, height=1080, fps=25)
    return path


def test_screening_end_to_end(stack, ray_local, lesson_720p):
    sub = _submit(stack, lesson_720p, teacher_id="t-001")
    JobRunner(stack.settings, stack.engine).run_once()
    report = _report(stack, sub.id)
    assert report["status"] == "screened", report
    media = report["media"]
    assert media["sha256"] == sub.sha256
    assert (media["width"], media["height"], media["container"]) == (1280, 720, "mp4")
    assert media["video_codec"] == "h264" and media["audio_codec"] == "aac"
    assert report["rendition"]["mode"] == "remux"
    scheme = "s3://" if stack.name == "production" else "file://"
    for uri in (report["rendition"]["uri"], report["poster"]["uri"]):
        assert uri.startswith(scheme)
        assert stack.store.exists("sha256/" + uri.rsplit("/", 1)[-1])
    assert report["keyframes"] and all(k["uri"].startswith(scheme) for k in report["keyframes"])
    assert report["contact_sheet"]["uri"].startswith(scheme)
    assert set(report["versions"]) >= {"validate", "rendition", "keyframes"}
    with Session(stack.engine) as session:
        job = session.exec(select(Job).where(Job.submission_id == sub.id)).one()
        assert job.status == JobStatus.done and job.attempts == 1


def test_transcode_path_and_rerun_is_idempotent(stack, ray_local, lesson_1080p):
    sub = _submit(stack, lesson_1080p)
    JobRunner(stack.settings, stack.engine).run_once()
    first = _report(stack, sub.id)
    assert first["rendition"]["mode"] == "transcode"
    assert (first["rendition"]["width"], first["rendition"]["height"]) == (1280, 720)
    rows_before = {(r.stage, r.version): r.created_at for r in _stage_rows(stack, sub.id)}

    again = _submit(stack, lesson_1080p, submission_id=sub.id)
    assert again.id == sub.id
    JobRunner(stack.settings, stack.engine).run_once()
    assert _report(stack, sub.id) == first
    rows_after = {(r.stage, r.version): r.created_at for r in _stage_rows(stack, sub.id)}
    assert rows_after == rows_before  # nothing recomputed, nothing duplicated

    other = _submit(stack, lesson_1080p)  # same bytes, no id: a new submission of the same file
    assert other.id != sub.id and other.sha256 == sub.sha256


def test_submission_id_reused_for_other_file_is_refused(stack, lesson_720p, lesson_1080p):
    sub = _submit(stack, lesson_720p)
    with pytest.raises(SubmissionConflict):
        _submit(stack, lesson_1080p, submission_id=sub.id)


def test_rejection_is_final_and_the_runner_survives(stack, ray_local, tmp_path, lesson_720p):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(50_000))
    bad = _submit(stack, junk)
    good = _submit(stack, lesson_720p)
    runner = JobRunner(stack.settings, stack.engine)
    assert runner.run_once() and runner.run_once()
    report = _report(stack, bad.id)
    assert report["status"] == "rejected"
    assert report["error"]["code"] == "not_a_video"
    assert report["error"]["message"] and report["error"]["message_zh"]
    assert _report(stack, good.id)["status"] == "screened"
    with Session(stack.engine) as session:
        assert session.get(Submission, bad.id).error_code == "not_a_video"


def test_killed_worker_job_is_reclaimed_and_completes_once(embedded_stack, tmp_path_factory):
    stack = embedded_stack
    video = tmp_path_factory.mktemp("slow") / "slow.mp4"
    make_video(video, seconds=20, width=1920, height=1080, fps=25)
    sub = _submit(stack, video)
    env = {
        **os.environ,
        "EVIDENCE_HOME": str(stack.settings.home),
        "EVIDENCE_LEASE_SECONDS": "600",  # held until this test lets it run out
        "EVIDENCE_HEARTBEAT_SECONDS": "1",
        "RAY_AUTH_MODE": "disabled",
    }
    env.pop("DATABASE_URL", None)
    env.pop("EVIDENCE_STORAGE", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        jobs_dir = stack.settings.jobs_dir
        while not (jobs_dir.exists() and any(jobs_dir.iterdir())):  # a hang fails the test's timeout
            assert worker.poll() is None, "worker exited early"
            time.sleep(0.2)
        # the task has downloaded the upload and is decoding
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)

    with Session(stack.engine) as session:
        job = session.exec(select(Job).where(Job.submission_id == sub.id)).one()
        assert job.status == JobStatus.running and job.attempts == 1
        assert session.get(Submission, sub.id).report is None

    runner = JobRunner(stack.settings, stack.engine, worker_id="rescuer")
    assert runner.run_once() is None  # the dead worker's lease still holds: nobody may take the job
    with session_scope(stack.engine) as session:  # its lease runs out
        job = session.exec(select(Job).where(Job.submission_id == sub.id)).one()
        job.lease_expires_at = utcnow() - timedelta(seconds=1)
        session.add(job)
    assert runner.run_once() is not None

    with Session(stack.engine) as session:
        job = session.exec(select(Job).where(Job.submission_id == sub.id)).one()
        assert job.status == JobStatus.done and job.attempts == 2 and job.lease_owner == "rescuer"
    assert _report(stack, sub.id)["status"] == "screened"
    stages = [r.stage for r in _stage_rows(stack, sub.id)]
    assert len(stages) == len(set(stages))


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _enrol_lin(stack) -> None:
    """Teacher ``t-lin``, enrolled from a photo of the man speaking in the Hamilton clip."""
    with Session(stack.engine) as session:
        enroll(
            session,
            stack.store,
            "t-lin",
            [SHARED / "faces/lin_manuel_miranda/ref1.png"],
            school_code="sc.cd.wh.s001",
            enrolled_by="test-admin",
        )
        session.commit()


def test_presence_and_keyframes_ride_on_the_screening(stack, ray_local):
    _enrol_lin(stack)
    sub = _submit(stack, SHARED / "clips/short_hamilton_clip.mp4", teacher_id="t-lin")
    JobRunner(stack.settings, stack.engine).run_once()
    report = _report(stack, sub.id)
    assert report["presence"]["verdict"] in {"valid", "needs_review"}
    assert report["presence"]["teacher_seconds"] > 0
    assert report["versions"]["presence"] != "1"  # the enrolled gallery is folded into the version
    teacher_frames = [k for k in report["keyframes"] if "teacher" in k["tags"]]
    assert teacher_frames and all(k["t"] >= 0 for k in teacher_frames)

    unenrolled = _submit(stack, SHARED / "clips/short_hamilton_clip.mp4", teacher_id="t-unknown")
    JobRunner(stack.settings, stack.engine).run_once()
    assert _report(stack, unenrolled.id)["presence"]["verdict"] == "not_checked"


def test_a_stale_presence_is_screened_again_alone_with_the_same_verdict(stack, ray_local):
    """A changed presence policy makes presence stale: the runner re-screens presence (and keyframes,
    which read it) on a lighter decode; the rendition, fingerprints and matches stand as stored."""
    _enrol_lin(stack)
    sub = _submit(stack, SHARED / "clips/short_hamilton_clip.mp4", teacher_id="t-lin")
    JobRunner(stack.settings, stack.engine).run_once()
    first = _report(stack, sub.id)
    rows = {(r.stage, r.version): r.created_at for r in _stage_rows(stack, sub.id)}

    stricter = stack.settings.model_copy(update={"presence_policy": {"min_ratio": 0.11}})
    with session_scope(stack.engine) as session:
        jobs.queue_again(session, session.get(Submission, sub.id))
    JobRunner(stricter, stack.engine).run_once()
    again = _report(stack, sub.id)
    assert again["versions"]["presence"] != first["versions"]["presence"]
    assert again["rescreen"]["stages"] == ["keyframes", "presence"]
    assert again["presence"]["verdict"] == first["presence"]["verdict"]
    assert abs(again["presence"]["teacher_seconds"] - first["presence"]["teacher_seconds"]) <= 2.0
    assert again["rendition"] == first["rendition"] and again["media"] == first["media"]
    after = {(r.stage, r.version): r.created_at for r in _stage_rows(stack, sub.id)}
    kept = {key: at for key, at in rows.items() if key[0] not in ("presence", "keyframes")}
    assert {"rendition", "fingerprint_visual", "duplicates"} <= {stage for stage, _ in kept}
    assert all(after[key] == at for key, at in kept.items())  # not computed again, not rewritten
    assert any(stage == "presence" and key not in rows for key in after for stage in [key[0]])
