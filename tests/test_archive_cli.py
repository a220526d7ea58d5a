"""``evidence batch --manifest`` and ``evidence reprocess`` as an operator runs them: a driver killed
mid-run and one stopped with Ctrl-C, then the same command again; every lesson ends exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from core.db import init_db, make_engine
from models.archive_runs import ArchiveRunItem
from models.jobs import Job, JobStatus
from models.outbox import Event
from tests.test_archive_runs import SCHOOL, add_teachers, lessons, write_manifest

LESSONS = 6
FAST_LEASES = {
    "EVIDENCE_LEASE_SECONDS": "3",
    "EVIDENCE_HEARTBEAT_SECONDS": "1",
    "EVIDENCE_POLL_SECONDS": "0.2",
}


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "EVIDENCE_HOME": str(home),
        "RAY_AUTH_MODE": "disabled",
        "COLUMNS": "200",
        **FAST_LEASES,
    }
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE", "RAY_ADDRESS"):
        env.pop(name, None)
    return {**env, **extra}


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: what it started goes with it
    )


def finished_jobs(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Job).where(Job.status == JobStatus.done)).all())


def wait_for(engine: sa.Engine, proc: subprocess.Popen, at_least: int, timeout_s: float = 240) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (n := finished_jobs(engine)) >= at_least:
            return n
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {at_least} jobs finished in {timeout_s} s")


def end_group(proc: subprocess.Popen) -> None:
    """Whatever the killed driver left running in its group (Ray's local processes)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def test_killed_and_interrupted_drivers_resume_and_finish_each_lesson_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'evidence.db'}")
    init_db(engine)
    teachers = [f"t{i}" for i in range(LESSONS)]
    add_teachers(engine, *teachers)
    lessons(tmp_path / "archive", LESSONS)
    manifest = write_manifest(
        tmp_path / "archive" / "manifest.csv",
        [{"path": f"lesson{i}.mp4", "teacher_id": t, "school": SCHOOL} for i, t in enumerate(teachers)],
    )
    env = cli_env(home)
    command = ("batch", "--manifest", str(manifest))

    killed = start(env, *command)
    done = wait_for(engine, killed, 2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    end_group(killed)
    assert done < LESSONS

    interrupted = start(env, *command)
    wait_for(engine, interrupted, done + 1)
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    end_group(interrupted)
    assert interrupted.returncode == 130, err
    assert "resuming run" in err and "run the same command again to resume" in err

    final = subprocess.run(
        [sys.executable, "-m", "cli.main", *command], env=env, capture_output=True, text=True, timeout=600
    )
    assert final.returncode == 0, final.stderr
    assert "resuming run" in final.stderr and "archive run summary" in final.stderr
    summary = json.loads(Path(final.stderr.split("summary: ")[-1].split()[0]).read_text())
    assert summary["state"] == "complete"
    assert summary["counts"]["screened"] + summary["counts"]["rejected"] == LESSONS

    with Session(engine) as session:
        items = session.exec(select(ArchiveRunItem)).all()
        all_jobs = session.exec(select(Job)).all()
        events = session.exec(select(Event).where(Event.type == "submission.screened")).all()
    assert sorted(i.row for i in items) == list(range(1, LESSONS + 1))  # every row read once
    subs = {i.submission_id for i in items}
    assert len(subs) == LESSONS
    assert sorted(j.submission_id for j in all_jobs) == sorted(subs)  # one job each, none queued twice
    assert all(j.status == JobStatus.done for j in all_jobs)
    assert sorted(e.submission_id for e in events) == sorted(subs)  # each finished exactly once

    shown = subprocess.run(
        [sys.executable, "-m", "cli.main", "runs", "show", summary["run_id"], "--watch"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0 and "archive run summary" in shown.stderr, shown.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "cli.main", "runs", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert summary["run_id"] in listed.stderr and "finished" in listed.stderr

    again = subprocess.run(  # a finished run: the same command starts a new one that has nothing to do
        [sys.executable, "-m", "cli.main", *command], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "starting run" in again.stderr
    with Session(engine) as session:
        assert len(session.exec(select(Job)).all()) == LESSONS


def test_reprocess_dry_run_and_bad_stages(tmp_path):
    home = tmp_path / "home"
    env = cli_env(home)
    bad = subprocess.run(
        [sys.executable, "-m", "cli.main", "reprocess", "--all", "--stages", "presense"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "unknown_stage" in bad.stderr and "presence" in bad.stderr
    dry = subprocess.run(
        [sys.executable, "-m", "cli.main", "reprocess", "--all", "--stages", "presence", "--dry-run"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "valid rows (dry run)" in dry.stderr
