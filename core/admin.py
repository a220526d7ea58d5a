"""What administrators read of their region: submissions with filters, statistics one level down,
and webhook deliveries (with re-drive of dead letters)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlmodel import Session, col, func, select

from core import regions
from core.audit import Origin, record
from core.db import db_now
from core.errors import DomainError, NotFound
from core.pagination import Keyset
from core.regions import in_region
from core.webhooks import redrive
from models.outbox import DeliveryPage, DeliveryPublic, DeliveryStatus, Event, WebhookDelivery
from models.submissions import (
    Overall,
    StatsGroup,
    StatsPublic,
    Submission,
    SubmissionMeta,
    SubmissionPage,
    SubmissionStatus,
    SubmissionSummary,
)
from models.teachers import Teacher

SUBMISSIONS_ORDER = Keyset((Submission.created_at, Submission.id))
DELIVERIES_ORDER = Keyset((WebhookDelivery.created_at, WebhookDelivery.id))


def list_submissions(
    session: Session,
    scope: str,
    *,
    overall: Overall | None = None,
    duplicate: bool | None = None,
    status: SubmissionStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SubmissionPage:
    """Submissions of the region ``scope`` and below, newest first, ``limit`` a page."""
    summary_columns = (
        Submission.id,
        Submission.teacher_id,
        Teacher.school_code,
        Teacher.subject,
        Submission.status,
        SubmissionMeta.overall,
        SubmissionMeta.duplicate,
        SubmissionMeta.micro_capabilities,
        Submission.created_at,
        Submission.updated_at,
    )
    stmt = (
        select(*summary_columns)  # not the reports: a page of summaries stays cheap
        .join(Teacher, col(Submission.teacher_id) == col(Teacher.id))
        .outerjoin(SubmissionMeta, col(SubmissionMeta.submission_id) == col(Submission.id))
        .where(in_region(Teacher.school_code, scope))
    )
    if overall is not None:
        stmt = stmt.where(SubmissionMeta.overall == overall)
    if duplicate is not None:
        stmt = stmt.where(func.coalesce(SubmissionMeta.duplicate, False) == duplicate)
    if status is not None:
        stmt = stmt.where(Submission.status == status)
    if since is not None:
        stmt = stmt.where(col(Submission.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Submission.created_at) < until)
    rows = session.exec(SUBMISSIONS_ORDER.select(stmt, cursor, limit)).all()
    page, next_cursor = SUBMISSIONS_ORDER.page(rows, limit, lambda r: (r.created_at, r.id))
    data = [
        SubmissionSummary(
            id=row.id,
            teacher_id=row.teacher_id,
            school_code=row.school_code,
            subject=row.subject,
            status=row.status,
            overall=row.overall,
            duplicate=bool(row.duplicate),
            micro_capabilities=list(row.micro_capabilities or []),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in page
    ]
    return SubmissionPage(data=data, next_cursor=next_cursor)


def _group(key: str, status_counts: Counter, overall_counts: Counter) -> StatsGroup:
    judged = sum(overall_counts.values())
    return StatsGroup(
        key=key,
        submissions=sum(status_counts.values()),
        by_status={s.value: status_counts.get(s.value, 0) for s in SubmissionStatus},
        by_overall={o.value: overall_counts.get(o.value, 0) for o in Overall},
        rates={
            o.value: round(overall_counts.get(o.value, 0) / judged, 4) if judged else 0.0 for o in Overall
        },
    )


def region_stats(
    session: Session, scope: str, *, since: datetime | None = None, until: datetime | None = None
) -> StatsPublic:
    """Counts by status and ``overall``, and ``overall`` rates, per region one level below ``scope``
    (per teacher for a school)."""
    school_level = regions.depth(scope) == len(regions.LEVELS)
    stmt = (
        select(
            Teacher.school_code,
            Submission.teacher_id,
            Submission.status,
            SubmissionMeta.overall,
            func.count(),
        )
        .join(Teacher, col(Submission.teacher_id) == col(Teacher.id))
        .outerjoin(SubmissionMeta, col(SubmissionMeta.submission_id) == col(Submission.id))
        .where(in_region(Teacher.school_code, scope))
        .group_by(Teacher.school_code, Submission.teacher_id, Submission.status, SubmissionMeta.overall)
    )
    if since is not None:
        stmt = stmt.where(col(Submission.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Submission.created_at) < until)
    by_status: dict[str, Counter] = defaultdict(Counter)
    by_overall: dict[str, Counter] = defaultdict(Counter)
    for school, teacher_id, status, overall, n in session.exec(stmt).all():
        key = teacher_id if school_level else regions.child_of(scope, school) or school
        for counts in (by_status[key], by_status[""]):
            counts[str(status)] += n
        if overall is not None:
            for counts in (by_overall[key], by_overall[""]):
                counts[str(overall)] += n
    return StatsPublic(
        region=scope,
        group_by="teacher" if school_level else regions.LEVELS[regions.depth(scope)],
        since=since,
        until=until,
        total=_group(scope, by_status[""], by_overall[""]),
        groups=[_group(k, by_status[k], by_overall[k]) for k in sorted(by_status) if k],
    )


def delivery_public(d: WebhookDelivery, e: Event) -> DeliveryPublic:
    """A webhook delivery with the event it carries."""
    return DeliveryPublic(
        id=d.id,
        event_id=d.event_id,
        event_type=e.type,
        submission_id=e.submission_id,
        url=d.url,
        status=d.status,
        attempts=d.attempts,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        last_attempt_at=d.last_attempt_at,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


def list_deliveries(
    session: Session, scope: str, status: DeliveryStatus, *, limit: int = 50, cursor: str | None = None
) -> DeliveryPage:
    """Webhook deliveries of the region's events in ``status``, newest first."""
    stmt = (
        select(WebhookDelivery, Event)
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .where(WebhookDelivery.status == status, in_region(Event.region, scope))
    )
    rows = session.exec(DELIVERIES_ORDER.select(stmt, cursor, limit)).all()
    page, next_cursor = DELIVERIES_ORDER.page(rows, limit, lambda r: (r[0].created_at, r[0].id))
    return DeliveryPage(data=[delivery_public(d, e) for d, e in page], next_cursor=next_cursor)


def redrive_delivery(session: Session, scope: str, delivery_id: str, origin: Origin) -> DeliveryPublic:
    """Send a dead-lettered delivery of the region again, with a fresh retry budget (audited)."""
    row = session.exec(
        select(WebhookDelivery, Event)
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .where(WebhookDelivery.id == delivery_id, in_region(Event.region, scope))
    ).first()
    if row is None:
        raise NotFound()
    delivery, event = row
    if delivery.status != DeliveryStatus.dead:
        raise DomainError("not_dead")
    redrive(session, delivery, db_now(session))
    record(session, origin, "webhook.redrive", "delivery", delivery.id, region=event.region)
    session.flush()
    return delivery_public(delivery, event)
