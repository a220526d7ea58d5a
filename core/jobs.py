"""The leased job queue: plain database work, no Ray.

A worker claims a job under a lease (``core.leases``), heartbeats to keep it, and may finish it only
while it still holds the lease. A job whose worker died is claimed again once the lease expires;
after ``max_attempts`` claims it is failed as poison instead. Lease times come from the database
clock on PostgreSQL (workers on many machines) and from this machine's UTC clock on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import leases, outbox
from core.db import db_now, insert_for, session_scope
from models.base import utcnow
from models.jobs import Job, JobStatus, Lane
from models.submissions import Submission, SubmissionStatus

ACTIVE = (JobStatus.queued, JobStatus.running)


def enqueue(session: Session, submission_id: str, lane: Lane = Lane.interactive) -> Job:
    """The submission's active (queued or running) job, created in ``lane`` when there is none; a
    queued one moves up to ``lane`` when that comes first."""
    session.flush()  # the submission may be pending in this same session
    session.execute(
        insert_for(session, Job)
        .values(submission_id=submission_id, lane=int(lane))
        .on_conflict_do_nothing()  # uq_jobs_active_submission: a concurrent enqueue won
    )
    job = session.exec(
        select(Job).where(Job.submission_id == submission_id, col(Job.status).in_(ACTIVE))
    ).one()
    if job.status == JobStatus.queued and job.lane > lane:
        job.lane = int(lane)
        session.add(job)
        session.flush()
    return job


def queue_again(session: Session, sub: Submission, lane: Lane = Lane.interactive) -> Job:
    """Queue a submission's screening again (its active job when it has one); a finished one goes
    back to ``queued`` and the change is recorded (the outbox keeps its derived columns in step)."""
    job = enqueue(session, sub.id, lane)
    if sub.status not in (SubmissionStatus.queued, SubmissionStatus.processing):
        sub.status = SubmissionStatus.queued
        sub.updated_at = utcnow()
        session.add(sub)
        outbox.submission_changed(session, sub)
    return job


def _due(job_id: str | None) -> Callable[[datetime], list[Any]]:
    """Claimable jobs at ``now``: expired leases first (longest expired), then the queued ones by
    lane (uploads before archive work), oldest first."""

    def due(now: datetime) -> list[Any]:
        expired = select(Job).where(Job.status == JobStatus.running, col(Job.lease_expires_at) < now)
        queued = select(Job).where(Job.status == JobStatus.queued)
        stmts = [
            expired.order_by(Job.lease_expires_at, Job.id),
            queued.order_by(Job.lane, Job.created_at, Job.id),
        ]
        return [s.where(Job.id == job_id) for s in stmts] if job_id is not None else stmts

    return due


def _poison(session: Session, job: Job, now: datetime) -> None:
    job.status = JobStatus.failed
    job.last_error = f"gave up after {job.attempts} attempts (each one lost its lease)"
    job.lease_expires_at = None
    job.finished_at = now
    submission = session.get(Submission, job.submission_id)
    if submission is not None and submission.status in (SubmissionStatus.queued, SubmissionStatus.processing):
        submission.status = SubmissionStatus.failed
    session.flush()


def claim(
    engine: sa.Engine,
    worker_id: str,
    lease_s: float,
    *,
    job_id: str | None = None,
    max_attempts: int = 5,
) -> Job | None:
    """Atomically take the next job (or only ``job_id``) under a lease of ``lease_s`` seconds.

    Jobs already claimed ``max_attempts`` times are failed (with their submission) instead.
    Returns the claimed job, detached, or None when nothing is claimable.
    """
    if lease_s <= 0:
        raise ValueError("lease_s must be positive")

    def take(session: Session, job: Job, now: datetime) -> bool:
        if job.attempts >= max_attempts:
            _poison(session, job, now)
            return False
        job.status = JobStatus.running
        job.lease_owner = worker_id
        job.lease_expires_at = now + timedelta(seconds=lease_s)
        job.attempts += 1
        job.started_at = now
        return True

    claimed = leases.claim(engine, _due(job_id), take)
    return claimed[0] if claimed else None


def _held(job_id: str, worker_id: str, now: datetime) -> tuple[Any, ...]:
    return (
        Job.id == job_id,
        Job.lease_owner == worker_id,
        Job.status == JobStatus.running,
        col(Job.lease_expires_at) > now,
    )


def heartbeat(engine: sa.Engine, job_id: str, worker_id: str, lease_s: float) -> bool:
    """Extend the lease to ``lease_s`` from now; False when the lease is no longer held."""
    with session_scope(engine) as session:
        now = db_now(session)
        result = session.execute(
            sa.update(Job)
            .where(*_held(job_id, worker_id, now))
            .values(lease_expires_at=now + timedelta(seconds=lease_s))
        )
        return result.rowcount == 1


def finish(
    engine: sa.Engine,
    job_id: str,
    worker_id: str,
    *,
    status: JobStatus = JobStatus.done,
    error: str | None = None,
    on_commit: Callable[[Session], None] | None = None,
) -> bool:
    """Mark the job done or failed and run ``on_commit(session)`` in the same transaction.

    Only while the lease is held: otherwise nothing is written, ``on_commit`` is not called and
    the result is False. If ``on_commit`` raises, everything is rolled back and the error propagates.
    """
    if status not in (JobStatus.done, JobStatus.failed):
        raise ValueError(f"finish with done or failed, not {status!r}")
    with session_scope(engine) as session:
        now = db_now(session)
        result = session.execute(
            sa.update(Job)
            .where(*_held(job_id, worker_id, now))
            .values(status=status, last_error=error, lease_expires_at=None, finished_at=now)
        )
        if result.rowcount != 1:
            return False
        if on_commit is not None:
            on_commit(session)
        return True


def release(engine: sa.Engine, job_id: str, worker_id: str) -> bool:
    """Give a held job back to the queue (e.g. on shutdown); the attempt is not counted."""
    with session_scope(engine) as session:
        result = session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.lease_owner == worker_id, Job.status == JobStatus.running)
            .values(
                status=JobStatus.queued,
                lease_owner=None,
                lease_expires_at=None,
                attempts=sa.case((Job.attempts > 0, Job.attempts - 1), else_=0),
            )
        )
        return result.rowcount == 1


def counts_by_status(session: Session) -> dict[tuple[str, str], int]:
    """Jobs by (status, lane name), for metrics."""
    rows = session.exec(select(Job.status, Job.lane, sa.func.count()).group_by(Job.status, Job.lane))
    return {(str(status), Lane(lane).name): n for status, lane, n in rows}


def live_leases(session: Session) -> dict[str, tuple[str | None, datetime | None]]:
    """Running jobs whose lease has not run out, by id: ``(lease owner, lease expiry)``."""
    now = db_now(session)
    rows = session.exec(
        select(Job.id, Job.lease_owner, Job.lease_expires_at).where(
            Job.status == JobStatus.running, col(Job.lease_expires_at) > now
        )
    )
    return {job_id: (owner, expires) for job_id, owner, expires in rows}


def runners_at_work(engine: sa.Engine, watch_s: float, wait: Callable[[float], object]) -> set[str]:
    """The lease owners seen working: live leases that were renewed (heartbeats) or newly taken over
    ``watch_s`` seconds. A runner that died leaves live leases that never move, so it does not count;
    with no live lease at all nothing is watched."""
    with Session(engine) as session:
        before = live_leases(session)
    if not before:
        return set()
    wait(watch_s)
    with Session(engine) as session:
        after = live_leases(session)
    return {
        owner
        for job_id, (owner, expires) in after.items()
        if owner is not None and (job_id not in before or before[job_id][1] != expires)
    }
