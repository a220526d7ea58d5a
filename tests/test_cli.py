"""The ``evidence`` command line as a user runs it: real processes, exit codes, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.media import make_video


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVIDENCE_HOME": str(home), "RAY_AUTH_MODE": "disabled", **(env or {})}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE", "RAY_ADDRESS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


def test_process_prints_report_and_show_reads_it(cli_home, tmp_path):
    video = tmp_path / "lesson.mp4"
    make_video(video, seconds=2, width=640, height=360, fps=25)
    done = run_cli(cli_home, "process", str(video), "--teacher", "t-cli")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "screened"
    assert report["media"]["width"] == 640
    shown = run_cli(cli_home, "show", report["submission_id"])
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == report

    conflict = tmp_path / "other.mp4"
    make_video(conflict, seconds=2, width=320, height=240, fps=25)
    clash = run_cli(cli_home, "process", str(conflict), "--submission-id", report["submission_id"])
    assert clash.returncode == 4
    assert "different file" in clash.stderr


def test_rejected_media_exits_3_with_error_json(cli_home, tmp_path):
    image = tmp_path / "photo.mp4"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    done = run_cli(cli_home, "process", str(image))
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "rejected"
    assert report["error"]["code"] == "not_a_video"


def test_usage_and_not_found_exit_codes(cli_home, tmp_path):
    assert run_cli(cli_home, "process", str(tmp_path / "missing.mp4")).returncode == 2
    assert run_cli(cli_home, "show", "sub_does_not_exist").returncode == 5


def test_allowlist_add_screens_its_own_job_only(tmp_path):
    from sqlmodel import Session, select

    from core.db import init_db, make_engine
    from core.settings import Settings
    from core.storage import open_blob_store
    from core.submissions import submit_file
    from models.audit import AuditEntry
    from models.dedup import AllowlistItem
    from models.submissions import Submission, SubmissionStatus

    home = tmp_path / "home"
    settings = Settings(home=home)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    waiting = tmp_path / "waiting.mp4"
    make_video(waiting, seconds=2, width=320, height=240, fps=25)
    with Session(engine) as session:
        queued_first = submit_file(session, open_blob_store(settings), waiting).id  # older than the material

    material = tmp_path / "courseware.mp4"
    make_video(material, seconds=2, width=640, height=360, fps=25)
    done = run_cli(home, "allowlist", "add", str(material), "--title", "national courseware", "--by", "admin")
    assert done.returncode == 0, done.stderr
    material_id = done.stdout.strip().splitlines()[-1]
    with Session(engine) as session:
        assert session.get(Submission, material_id).status == SubmissionStatus.screened
        assert session.get(Submission, queued_first).status == SubmissionStatus.queued
        assert session.get(AllowlistItem, material_id).title == "national courseware"
    not_screened = run_cli(home, "allowlist", "mark", queued_first, "--title", "intro")
    assert not_screened.returncode == 4 and "not a screened submission" in not_screened.stderr
    again = run_cli(home, "allowlist", "mark", material_id, "--title", "national courseware")
    assert again.returncode == 0 and again.stdout.strip() == ""  # nothing matched it: nothing re-checked
    with Session(engine) as session:
        audited = session.exec(select(AuditEntry).where(AuditEntry.action == "allowlist.add")).all()
    assert [e.object_id for e in audited] == [material_id, material_id]
    assert all(e.actor_id.startswith("cli:") for e in audited)
    engine.dispose()


def test_pipes_and_devices_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "upload.mp4"
    os.mkfifo(fifo)  # nobody writes: opening it would block forever
    for path in (fifo, Path("/dev/zero")):  # /dev/zero would never end
        done = run_cli(tmp_path / "home", "process", str(path))
        assert done.returncode == 2 and "not a regular file" in " ".join(done.stderr.split()), done.stderr


def test_process_refuses_a_file_over_the_size_limit_before_storing_it(tmp_path):
    video = tmp_path / "lesson.mp4"
    make_video(video, seconds=2, width=320, height=240)
    home = tmp_path / "home"
    done = run_cli(home, "process", str(video), env={"EVIDENCE_MAX_UPLOAD_BYTES": "1000"})
    assert done.returncode == 3, done.stderr
    assert "file_too_large" in done.stderr and "1000" in done.stderr
    assert not [p for p in home.joinpath("blobs").rglob("*") if p.is_file()]  # nothing was copied


def test_index_build_publishes_every_signature_and_status_shows_it(tmp_path):
    """`evidence index build --here` builds every shard from the signatures in the database and records
    the snapshots; `status` then shows them with nothing committed since, and a new lesson as pending."""
    home = tmp_path / "home"
    for k, size in enumerate(((640, 360), (320, 240))):
        video = tmp_path / f"lesson{k}.mp4"
        make_video(video, seconds=3, width=size[0], height=size[1], fps=25)
        assert run_cli(home, "process", str(video)).returncode == 0
    built = run_cli(home, "index", "build", "--shards", "2", "--here")
    assert built.returncode == 0, built.stderr
    status = run_cli(home, "index", "status", "--shards", "2", env={"COLUMNS": "200"})
    assert status.returncode == 0, status.stderr
    rows = [line.split("│") for line in status.stderr.splitlines() if "/2" in line]
    assert len(rows) == 2
    assert sum(int(r[3]) for r in rows) == 2 and all(int(r[5]) == 0 for r in rows)
    video = tmp_path / "lesson2.mp4"
    make_video(video, seconds=3, width=480, height=270, fps=25)
    assert run_cli(home, "process", str(video)).returncode == 0
    status = run_cli(home, "index", "status", "--shards", "2", env={"COLUMNS": "200"})
    assert sum(int(r.split("│")[5]) for r in status.stderr.splitlines() if "/2" in r) == 1
