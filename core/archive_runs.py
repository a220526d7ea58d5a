"""Archive runs in the database: find an unfinished run of the same command again (resume), record its
input rows in batches, and count its progress and outcome with a few grouped queries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models.archive_runs import ArchiveRun, ArchiveRunItem
from models.base import utcnow
from models.jobs import Job, JobStatus
from models.submissions import Overall, Submission, SubmissionMeta, SubmissionStatus

FINISHED_JOBS = (JobStatus.done, JobStatus.failed)


def spec_digest(kind: str, spec: dict[str, Any]) -> str:
    """The identity of a command: the same kind and arguments give the same digest."""
    return hashlib.sha256(json.dumps([kind, spec], sort_keys=True).encode()).hexdigest()


def resume_or_start(
    session: Session, kind: str, spec: dict[str, Any], started_by: str | None = None
) -> tuple[ArchiveRun, bool]:
    """The newest unfinished run of this command (True: resumed), or a new one (False). Committed."""
    digest = spec_digest(kind, spec)
    run = session.exec(
        select(ArchiveRun)
        .where(ArchiveRun.spec_digest == digest, col(ArchiveRun.finished_at).is_(None))
        .order_by(col(ArchiveRun.created_at).desc())
        .limit(1)
    ).first()
    if run is not None:
        return run, True
    run = ArchiveRun(kind=kind, spec_digest=digest, spec=spec, started_by=started_by)
    session.add(run)
    session.commit()
    session.refresh(run)
    return run, False


def known(
    session: Session, run_id: str, *, row_keys: Iterable[str] = (), submission_ids: Iterable[str] = ()
) -> set[str]:
    """Which of these row keys and submission ids the run already holds (duplicate rows)."""
    found: set[str] = set()
    columns = ((ArchiveRunItem.row_key, row_keys), (ArchiveRunItem.submission_id, submission_ids))
    for column, values in columns:
        if values := list(values):
            held = select(column).where(ArchiveRunItem.run_id == run_id, col(column).in_(values))
            found |= set(session.exec(held).all())
    return found


def next_row(session: Session, run_id: str) -> int:
    """The row number the next recorded item of a selection gets."""
    top = session.exec(select(sa.func.max(ArchiveRunItem.row)).where(ArchiveRunItem.run_id == run_id)).one()
    return (top or 0) + 1


def advance(
    session: Session, run_id: str, cursor: str, *, input_done: bool = False, skipped: int = 0
) -> None:
    """Move the run's input cursor (in the transaction that recorded the rows before it)."""
    session.execute(
        sa.update(ArchiveRun)
        .where(col(ArchiveRun.id) == run_id)
        .values(
            cursor=cursor,
            input_done=input_done,
            skipped=ArchiveRun.skipped + skipped,
            updated_at=utcnow(),
        )
    )


@dataclass
class RunCounts:
    """Where a run stands: its rows, what they became, and the outcome of what it queued."""

    rows: int = 0
    bad: int = 0
    valid: int = 0  # dry run: rows that would be queued
    skipped: int = 0
    queued: int = 0  # rows whose job this run queued
    finished: int = 0  # of those, jobs that ended
    screened: int = 0
    rejected: int = 0
    failed: int = 0
    duplicates: int = 0  # screened and duplicate
    invalid: int = 0  # screened and invalid (presence)
    input_done: bool = False

    @property
    def remaining(self) -> int:
        return self.queued - self.finished

    @property
    def complete(self) -> bool:
        return self.input_done and self.remaining == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def counts(session: Session, run_id: str) -> RunCounts:
    """Count a run's progress and outcomes in the database (one grouped query over its rows)."""
    run = session.get(ArchiveRun, run_id)
    session.refresh(run)
    c = RunCounts(skipped=run.skipped, input_done=run.input_done)
    i, j, s, m = ArchiveRunItem, Job, Submission, SubmissionMeta
    rows = session.execute(
        select(i.outcome, j.status, s.status, m.overall, m.duplicate, sa.func.count())
        .select_from(i)
        .outerjoin(j, col(j.id) == col(i.job_id))
        .outerjoin(s, col(s.id) == col(i.submission_id))
        .outerjoin(m, col(m.submission_id) == col(i.submission_id))
        .where(i.run_id == run_id)
        .group_by(i.outcome, j.status, s.status, m.overall, m.duplicate)
    ).all()
    for outcome, job_status, sub_status, overall, duplicate, n in rows:
        c.rows += n
        if outcome == "bad":
            c.bad += n
        elif outcome == "valid":
            c.valid += n
        elif outcome == "skipped":
            c.skipped += n
        elif outcome == "queued":
            c.queued += n
            if job_status in FINISHED_JOBS:
                c.finished += n
                if job_status == JobStatus.failed or sub_status == SubmissionStatus.failed:
                    c.failed += n
                elif sub_status == SubmissionStatus.rejected:
                    c.rejected += n
                else:
                    c.screened += n
                    c.duplicates += n if duplicate else 0
                    c.invalid += n if overall == Overall.invalid else 0
    return c


def finish(session: Session, run_id: str) -> None:
    """Mark the run finished (the same command later starts a new run)."""
    session.execute(sa.update(ArchiveRun).where(col(ArchiveRun.id) == run_id).values(finished_at=utcnow()))


def bad_rows(session: Session, run_id: str, *, page: int = 1000) -> Iterator[ArchiveRunItem]:
    """The run's bad rows in row order, read a page at a time."""
    after = 0
    while True:
        items = session.exec(
            select(ArchiveRunItem)
            .where(
                ArchiveRunItem.run_id == run_id, ArchiveRunItem.outcome == "bad", ArchiveRunItem.row > after
            )
            .order_by(col(ArchiveRunItem.row))
            .limit(page)
        ).all()
        yield from items
        if len(items) < page:
            return
        after = items[-1].row
