"""The leased job queue and stage results on SQLite and PostgreSQL, with real concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from core.db import db_now, session_scope
from core.jobs import claim, enqueue, finish, heartbeat, release
from core.stage_results import current as get_stage_results
from core.stage_results import drop as drop_stage_results
from core.stage_results import put as put_stage_result
from models import Job, JobStatus, StageResult, Submission, SubmissionStatus
from models.base import utcnow
from models.jobs import Lane

LEASE = 60.0
REPORT = {"status": "rejected", "error": {"code": "truncated"}}


def _submit(
    engine: sa.Engine, created_at: datetime | None = None, lane: Lane = Lane.interactive
) -> tuple[str, str]:
    """A new submission and its job: (submission_id, job_id)."""
    with session_scope(engine) as session:
        sub = Submission(blob_key="sha256/" + "0" * 64, sha256="0" * 64, size_bytes=1)
        session.add(sub)
        job = enqueue(session, sub.id, lane)
        if created_at is not None:
            job.created_at = created_at
    return sub.id, job.id


def _job(engine: sa.Engine, job_id: str) -> Job:
    with session_scope(engine, immediate=False) as session:
        return session.exec(select(Job).where(Job.id == job_id)).one()


def _submission(engine: sa.Engine, sub_id: str) -> Submission:
    with session_scope(engine, immediate=False) as session:
        return session.exec(select(Submission).where(Submission.id == sub_id)).one()


def _expire(engine: sa.Engine, job_id: str) -> None:
    """Let the lease run out, as when its worker died."""
    with session_scope(engine) as session:
        session.get(Job, job_id).lease_expires_at = datetime.now(UTC) - timedelta(seconds=1)


def _race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in ``n`` threads released together; returns results, re-raising any error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_enqueue_returns_the_active_job(engine: sa.Engine) -> None:
    sub, job = _submit(engine)
    with session_scope(engine) as session:
        assert enqueue(session, sub).id == job
    assert claim(engine, "w1", LEASE).id == job
    with session_scope(engine) as session:
        assert enqueue(session, sub).id == job  # running counts as active
    assert finish(engine, job, "w1")
    with session_scope(engine) as session:
        rerun = enqueue(session, sub)
    assert rerun.id != job and rerun.status == JobStatus.queued


def test_concurrent_enqueue_makes_one_job(engine: sa.Engine) -> None:
    with session_scope(engine) as session:
        sub = Submission(blob_key="k", sha256="0" * 64, size_bytes=1)
        session.add(sub)

    def enqueue_once(_: int) -> str:
        with session_scope(engine) as session:
            return enqueue(session, sub.id).id

    ids = _race(6, enqueue_once)
    assert len(set(ids)) == 1
    with session_scope(engine, immediate=False) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_claim_takes_expired_leases_then_oldest_queued(engine: sa.Engine) -> None:
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    _, newer = _submit(engine, t0 + timedelta(seconds=2))
    _, older = _submit(engine, t0 + timedelta(seconds=1))
    _, stale = _submit(engine, t0 + timedelta(seconds=3))
    assert claim(engine, "w0", LEASE, job_id=stale).id == stale
    assert claim(engine, "w1", LEASE).id == older
    _expire(engine, stale)
    before = datetime.now(UTC)
    got = claim(engine, "w2", LEASE)
    assert got.id == stale and got.lease_owner == "w2" and got.attempts == 2
    assert got.status == JobStatus.running and got.started_at >= before - timedelta(seconds=1)
    assert before + timedelta(seconds=LEASE - 5) < got.lease_expires_at
    assert claim(engine, "w3", LEASE).id == newer
    assert claim(engine, "w4", LEASE) is None
    stored = _job(engine, stale)
    assert (stored.status, stored.lease_owner, stored.attempts) == (JobStatus.running, "w2", 2)


def test_claim_by_job_id_takes_only_that_job(engine: sa.Engine) -> None:
    _, first = _submit(engine)
    _, second = _submit(engine)
    assert claim(engine, "w1", LEASE, job_id=second).id == second
    assert claim(engine, "w2", LEASE, job_id=second) is None  # held by w1
    assert _job(engine, first).status == JobStatus.queued


def test_racing_workers_claim_each_job_exactly_once(engine: sa.Engine) -> None:
    jobs = {_submit(engine)[1] for _ in range(24)}

    def work(i: int) -> list[str]:
        done = []
        while (job := claim(engine, f"w{i}", LEASE)) is not None:
            assert finish(engine, job.id, f"w{i}")
            done.append(job.id)
        return done

    per_worker = _race(6, work)
    claimed = [j for done in per_worker for j in done]
    assert sorted(claimed) == sorted(jobs)  # every job once, none twice
    with session_scope(engine, immediate=False) as session:
        rows = session.exec(select(Job)).all()
    assert {(j.status, j.attempts) for j in rows} == {(JobStatus.done, 1)}


def test_expired_lease_is_reclaimed_and_the_first_worker_loses_it(engine: sa.Engine) -> None:
    sub, job = _submit(engine)
    assert claim(engine, "dead", LEASE).id == job
    assert heartbeat(engine, job, "dead", LEASE)
    assert not heartbeat(engine, job, "other", LEASE)  # not the owner
    _expire(engine, job)
    assert not heartbeat(engine, job, "dead", LEASE)  # expired leases are not revived
    assert claim(engine, "alive", LEASE).id == job
    called = []

    def write(session: Session) -> None:
        called.append(True)
        session.get(Submission, sub).status = SubmissionStatus.screened

    assert not heartbeat(engine, job, "dead", LEASE)
    assert not finish(engine, job, "dead", on_commit=write)
    assert called == [] and _submission(engine, sub).status == SubmissionStatus.queued
    assert _job(engine, job).lease_owner == "alive"
    assert heartbeat(engine, job, "alive", LEASE)
    assert finish(engine, job, "alive", on_commit=write)
    assert called == [True] and _submission(engine, sub).status == SubmissionStatus.screened
    assert not finish(engine, job, "alive")  # finished once


def test_lease_runs_out_on_the_clock(engine: sa.Engine) -> None:
    _, job = _submit(engine)
    assert claim(engine, "slow", LEASE).id == job
    assert claim(engine, "eager", LEASE) is None
    with session_scope(engine) as session:  # the database clock passes the lease's end
        row = session.get(Job, job)
        row.lease_expires_at = db_now(session) - timedelta(seconds=1)
    assert claim(engine, "eager", LEASE).id == job
    assert not heartbeat(engine, job, "slow", LEASE)


def test_finish_writes_on_commit_atomically(engine: sa.Engine) -> None:
    sub, job = _submit(engine)
    claim(engine, "w1", LEASE)

    def broken(session: Session) -> None:
        session.get(Submission, sub).status = SubmissionStatus.screened
        session.flush()
        raise RuntimeError("report could not be built")

    with pytest.raises(RuntimeError):
        finish(engine, job, "w1", on_commit=broken)
    assert _job(engine, job).status == JobStatus.running
    assert _submission(engine, sub).status == SubmissionStatus.queued

    def reject(session: Session) -> None:
        row = session.get(Submission, sub)
        row.status, row.error_code, row.report = SubmissionStatus.rejected, "truncated", REPORT

    assert finish(engine, job, "w1", status=JobStatus.failed, error="truncated", on_commit=reject)
    stored = _job(engine, job)
    assert (stored.status, stored.last_error) == (JobStatus.failed, "truncated")
    assert stored.lease_expires_at is None
    assert stored.finished_at is not None
    row = _submission(engine, sub)
    assert (row.status, row.error_code, row.report) == (SubmissionStatus.rejected, "truncated", REPORT)


def test_release_gives_the_job_back_without_counting_the_attempt(engine: sa.Engine) -> None:
    _, job = _submit(engine)
    claim(engine, "w1", LEASE)
    assert not release(engine, job, "w2")
    assert release(engine, job, "w1")
    stored = _job(engine, job)
    assert (stored.status, stored.lease_owner, stored.attempts) == (JobStatus.queued, None, 0)
    assert not finish(engine, job, "w1")
    assert claim(engine, "w2", LEASE).attempts == 1


def test_poison_job_fails_after_max_attempts(engine: sa.Engine) -> None:
    sub, job = _submit(engine)
    _, healthy = _submit(engine, datetime.now(UTC) + timedelta(hours=1))
    for attempt in (1, 2):
        assert claim(engine, f"w{attempt}", LEASE, max_attempts=2).id == job
        _expire(engine, job)
    assert claim(engine, "w3", LEASE, max_attempts=2).id == healthy  # the poison job is skipped
    stored = _job(engine, job)
    assert stored.status == JobStatus.failed and stored.attempts == 2 and "2 attempts" in stored.last_error
    assert _submission(engine, sub).status == SubmissionStatus.failed
    assert claim(engine, "w4", LEASE, max_attempts=2) is None


def test_uploads_are_claimed_before_archive_work_and_a_request_moves_a_job_up(engine: sa.Engine) -> None:
    old = utcnow() - timedelta(hours=1)
    archive = [_submit(engine, old + timedelta(seconds=i), Lane.archive)[1] for i in range(3)]
    upload = _submit(engine)[1]  # queued after the whole archive
    assert claim(engine, "w", LEASE).id == upload
    assert claim(engine, "w", LEASE).id == archive[0]  # then the archive, oldest first
    with session_scope(engine) as session:  # an administrator asks for the last one
        sub = session.exec(select(Job.submission_id).where(Job.id == archive[2])).one()
        assert enqueue(session, sub, Lane.interactive).id == archive[2]
        assert enqueue(session, sub, Lane.archive).lane == Lane.interactive  # never moved down
    assert claim(engine, "w", LEASE).id == archive[2]
    assert claim(engine, "w", LEASE).id == archive[1]


def test_stage_results_are_matched_by_version_and_replaced_when_computed_again(engine: sa.Engine) -> None:
    sub, _ = _submit(engine)
    with session_scope(engine) as session:
        put_stage_result(session, sub, "probe", "1", {"width": 1280}, 0.5)
        put_stage_result(session, sub, "rendition", "2", {"mode": "remux"}, 3.0)
    with session_scope(engine) as session:
        put_stage_result(session, sub, "probe", "2", {"width": 720}, 0.4)
    with session_scope(engine, immediate=False) as session:
        got = get_stage_results(session, sub, {"probe": "1", "rendition": "3", "keyframes": "1"})
        assert set(got) == {"probe"}
        assert (got["probe"].data, got["probe"].seconds) == ({"width": 1280}, 0.5)
        assert get_stage_results(session, sub, {"probe": "2"})["probe"].data == {"width": 720}
        assert get_stage_results(session, sub, {}) == {}
    with session_scope(engine) as session:  # computed again at the same version: the new one stands
        put_stage_result(session, sub, "probe", "1", {"width": 1}, 9.0)
    with session_scope(engine) as session:
        got = get_stage_results(session, sub, {"probe": "1", "rendition": "2"})
        assert (got["probe"].data, got["probe"].seconds) == ({"width": 1}, 9.0)
        drop_stage_results(session, [sub], ["probe"])
    with session_scope(engine, immediate=False) as session:
        assert set(get_stage_results(session, sub, {"probe": "1", "rendition": "2"})) == {"rendition"}


def test_concurrent_duplicate_stage_results(engine: sa.Engine) -> None:
    sub, _ = _submit(engine)

    def put(i: int) -> int:
        with session_scope(engine) as session:
            put_stage_result(session, sub, "fingerprint", "1", {"writer": i}, 1.0)
        return i

    assert sorted(_race(6, put)) == list(range(6))  # none fails on the conflict
    with session_scope(engine, immediate=False) as session:
        rows = session.exec(select(StageResult).where(col(StageResult.submission_id) == sub)).all()
    assert len(rows) == 1 and rows[0].data["writer"] in range(6)
