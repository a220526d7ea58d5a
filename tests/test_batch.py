"""Batch runs: an archive in, every file screened once; stale submissions found and re-run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sqlmodel import Session

from core.enrolment import enroll
from models.tables import Submission
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
    ids = batch.ingest(stack.engine, stack.store, files, lambda p: p.parent.name)
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
    counts = batch.drain(stack.settings, stack.engine, stale)
    assert sum(counts.values()) == 1 and "screened:not_checked" not in counts
    with Session(stack.engine) as session:
        report = session.get(Submission, ids[2]).report
    assert report["presence"]["verdict"] in {"valid", "needs_review"}
    assert json.dumps(report)  # still a plain JSON document
    assert list(batch.stale_submissions(stack.engine, stack.settings)) == []
