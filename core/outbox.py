"""The outbox: an event is written in the same transaction as the change it announces.

The webhook dispatcher (``workers.webhook_dispatcher``) sends what is committed here, so a process
killed right after the commit still gets its events delivered. Event commits are serialised (a
transaction-level advisory lock on PostgreSQL; SQLite has one writer anyway), so ``seq`` grows in
commit order and a reader that pages by ``seq`` never skips an event committed late.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.overall import is_duplicate, overall_of
from core.redaction import rewrite_uris
from core.regions import in_region
from models.base import utcnow
from models.outbox import Event
from models.submissions import Submission, SubmissionMeta
from models.teachers import Teacher

_EVENT_LOCK_KEY = 7_411_020_006  # pg_advisory_xact_lock key: one event writer at a time
TERMINAL_TYPES = {
    "screened": "submission.screened",
    "rejected": "submission.rejected",
    "failed": "submission.failed",
}


def record(
    session: Session,
    type: str,
    data: dict[str, Any],
    *,
    submission_id: str | None = None,
    region: str | None = None,
    teacher_id: str | None = None,
) -> Event:
    """Add an event to the session's transaction (committed, or rolled back, with it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_EVENT_LOCK_KEY)))
    event = Event(
        type=type,
        data=data,
        submission_id=submission_id,
        region=region,
        teacher_id=teacher_id,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def meta_for(session: Session, submission_id: str) -> SubmissionMeta:
    """The submission's metadata row (``core.submissions.create_submission`` makes it)."""
    meta = session.get(SubmissionMeta, submission_id)
    if meta is None:
        raise LookupError(f"submission {submission_id} has no metadata row")
    return meta


def submission_data(sub: Submission, meta: SubmissionMeta, teacher: Teacher | None) -> dict[str, Any]:
    """An event's ``data`` for a submission: its state and its full report, with API paths."""
    return {
        "submission_id": sub.id,
        "teacher_id": sub.teacher_id,
        "school_code": teacher.school_code if teacher else None,
        "subject": teacher.subject if teacher else None,
        "status": sub.status.value,
        "overall": meta.overall.value if meta.overall else None,
        "duplicate": meta.duplicate,
        "micro_capabilities": list(meta.micro_capabilities),
        "resubmission_of": meta.resubmission_of,
        "report": rewrite_uris(sub.report, sub.id),
    }


def submission_changed(
    session: Session, submission: Submission, event_type: str | None = None
) -> Event | None:
    """Call after writing a submission's status or report, inside the same transaction.

    Keeps the derived ``overall``/``duplicate`` columns in step and records an event: ``event_type``,
    or by default the terminal one for the status (``submission.screened`` / ``rejected`` /
    ``failed``). Returns None when the status is not terminal and no type was given.
    """
    meta = meta_for(session, submission.id)
    meta.overall = overall_of(submission.status.value, submission.report)
    meta.duplicate = is_duplicate(submission.report)
    meta.updated_at = utcnow()
    session.add(meta)
    event_type = event_type or TERMINAL_TYPES.get(submission.status.value)
    if event_type is None:
        return None
    teacher = session.get(Teacher, submission.teacher_id) if submission.teacher_id else None
    return record(
        session,
        event_type,
        submission_data(submission, meta, teacher),
        submission_id=submission.id,
        region=teacher.school_code if teacher else None,
        teacher_id=submission.teacher_id,
    )


def report_updated(session: Session, submission: Submission) -> Event | None:
    """Call after changing the report of an already finished submission (e.g. a later upload was
    found to copy it), inside the same transaction: records ``submission.duplicate_found`` when it
    newly holds a duplicate match, else ``submission.updated``."""
    newly_duplicate = not meta_for(session, submission.id).duplicate and is_duplicate(submission.report)
    return submission_changed(
        session, submission, "submission.duplicate_found" if newly_duplicate else "submission.updated"
    )


def events_after(session: Session, scope: str | None, after: int, limit: int) -> list[Event]:
    """Events with ``seq`` above ``after``, oldest first: every event (``scope`` None) or the region's."""
    stmt = select(Event).where(col(Event.seq) > after).order_by(col(Event.seq)).limit(limit)
    if scope is not None:
        stmt = stmt.where(in_region(Event.region, scope))
    return list(session.exec(stmt).all())
