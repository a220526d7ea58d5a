"""Batch runs: an archive in, every file screened once; stale submissions found and re-run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from sqlmodel import Session, col, select

from core.enrolment import enroll
from models.jobs import Job
from models.submissions import Submission, SubmissionMeta, SubmissionStatus
from tests.fixtures.media import make_video
from tests.test_cli import run_cli
from workers import batch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _archive(root: Path) -> Path:
    (root / "t-a").mkdir(parents=True)
    (root / "t-b").mkdir()
    make_video(root / "t-a" / "lesson1.mp4", seconds=2, width=640, height=360, fps=25)
    shutil.copy(SHARED / "clips/short_hamilton_clip.mp4", root / "t-b" / "lesson2.mp4")
    (root / "t-b" / "broken.mov").write_bytes(os.urandom(4096))
    (root / "t-b" / "notes.txt").write_text("not a video")
    return root


def test_batch_cli_screens_an_archive(tmp_path):
    archive = _archive(tmp_path / "archive")
    home = tmp_path / "home"
    done = run_cli(home, "batch", str(archive), "--teacher-from-folder")
    assert done.returncode == 0, done.stderr
    assert "batch summary" in done.stderr
    assert "rejected:not_a_video" in done.stderr and "screened:not_checked" in done.stderr


def test_stale_submissions_are_found_and_rerun(embedded_stack, ray_local, tmp_path):
    stack = embedded_stack
    files = batch.find_videos([_archive(tmp_path / "archive")])
    assert [f.name for f in files] == ["lesson1.mp4", "broken.mov", "lesson2.mp4"]
    ids, refused = batch.ingest(stack.engine, stack.store, files, lambda p: p.parent.name)
    assert refused == []
    counts = batch.drain(stack.settings, stack.engine, ids)
    assert counts == {"screened:not_checked": 2, "rejected:not_a_video": 1}
    assert list(batch.stale_submissions(stack.engine, stack.settings)) == []

    # Enrolling teacher t-b changes what presence would say about t-b's lesson: only that one is stale.
    with Session(stack.engine) as session:
        enroll(
            session, stack.store, "t-b", [SHARED / "faces/lin_manuel_miranda/ref1.png"], enrolled_by="admin"
        )
        session.commit()
    stale = list(batch.stale_submissions(stack.engine, stack.settings))
    assert stale == [ids[2]]
    assert list(batch.stale_submissions(stack.engine, stack.settings, page=1)) == stale  # paged reads
    assert batch.requeue(stack.engine, stale) == 1
    with Session(stack.engine) as session:  # the admin views stop showing the old outcome meanwhile
        assert session.get(SubmissionMeta, stale[0]).overall is None
        assert session.get(Submission, stale[0]).status == SubmissionStatus.queued
    counts = batch.drain(stack.settings, stack.engine, stale)
    assert sum(counts.values()) == 1 and "screened:not_checked" not in counts
    with Session(stack.engine) as session:
        report = session.get(Submission, ids[2]).report
    assert report["presence"]["verdict"] in {"valid", "needs_review"}
    assert json.dumps(report)  # still a plain JSON document
    assert list(batch.stale_submissions(stack.engine, stack.settings)) == []


def test_running_an_archive_again_resumes_it(embedded_stack, ray_local, tmp_path):
    """An interrupted batch is simply run again: files already in keep their submission and results,
    nothing is submitted twice (so nothing is flagged as a copy of itself)."""
    stack = embedded_stack
    archive = _archive(tmp_path / "archive")
    files = batch.find_videos([archive])
    first, _ = batch.ingest(stack.engine, stack.store, files[:2], lambda p: p.parent.name)
    batch.drain(stack.settings, stack.engine, first)
    with Session(stack.engine) as session:
        done_at = {i: session.get(Submission, i).updated_at for i in first}
    again, refused = batch.ingest(stack.engine, stack.store, files, lambda p: p.parent.name)
    assert again[:2] == first and len(set(again)) == 3 and refused == []
    counts = batch.drain(stack.settings, stack.engine, again)
    assert counts == {"screened:not_checked": 2, "rejected:not_a_video": 1}
    with Session(stack.engine) as session:
        assert len(session.exec(select(Submission)).all()) == 3
        assert {i: session.get(Submission, i).updated_at for i in first} == done_at  # not re-run
        assert len(session.exec(select(Job).where(col(Job.submission_id).in_(first))).all()) == 2
        report = session.get(Submission, again[2]).report
    assert report["duplicates"] == []
    # the same file for another teacher is another submission
    (other,), _ = batch.ingest(stack.engine, stack.store, files[2:], lambda p: "t-other")
    assert other not in again


def test_files_that_cannot_be_ingested_are_reported_and_the_rest_goes_on(embedded_stack, tmp_path):
    stack = embedded_stack
    archive = _archive(tmp_path / "archive")
    big = archive / "t-a" / "huge.mp4"
    shutil.copy(archive / "t-b" / "lesson2.mp4", big)  # the real clip is larger than the synthetic one
    files = batch.find_videos([archive])
    (archive / "t-b" / "broken.mov").unlink()  # vanished between the listing and the ingest
    limit = (archive / "t-a" / "lesson1.mp4").stat().st_size + 1
    ids, refused = batch.ingest(stack.engine, stack.store, files, lambda p: p.parent.name, max_bytes=limit)
    assert {(r.path.name, r.code) for r in refused} == {
        ("huge.mp4", "file_too_large"),
        ("lesson2.mp4", "file_too_large"),
        ("broken.mov", "unreadable"),
    }
    assert len(ids) == 1
    assert all(r.message for r in refused)
    assert not any(k.endswith(hashlib.sha256(big.read_bytes()).hexdigest()) for k in stack.store.iter_keys())


def test_batch_cli_lists_files_it_could_not_ingest(tmp_path):
    archive = _archive(tmp_path / "archive")
    limit = str((archive / "t-a" / "lesson1.mp4").stat().st_size + 1)
    done = run_cli(tmp_path / "home", "batch", str(archive), env={"EVIDENCE_MAX_UPLOAD_BYTES": limit})
    assert done.returncode == 0, done.stderr
    assert "lesson2.mp4: file_too_large" in done.stderr and "not ingested (file_too_large)" in done.stderr
    assert "screened:not_checked" in done.stderr
