"""Administrators: their region's submissions and statistics, dead-lettered webhook deliveries, and
the allowlist of known shared material."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlmodel import and_, col, func, or_, select

from api import regions
from api.access import administered_submission, in_region
from api.audit import audit
from api.auth import Principal
from api.deps import Admin, EngineDep, SessionDep, require_roles
from api.errors import ApiError, responses
from api.webhooks import redrive
from core.db import session_scope
from models.accounts import Role
from models.dedup import AllowlistCreate, AllowlistItem, AllowlistPublic
from models.outbox import DeliveryStatus, Event, WebhookDelivery
from models.schemas import (
    ID_PATTERN,
    DeliveryPage,
    DeliveryPublic,
    IsoDatetime,
    StatsGroup,
    StatsPublic,
    SubmissionPage,
    SubmissionSummary,
)
from models.submission_meta import Overall, SubmissionMeta
from models.tables import Submission, SubmissionStatus, Teacher
from workers import dedup
from workers.queue import db_now

router = APIRouter(prefix="/v1/admin", tags=["admin"])

REGION_QUERY = r"^[a-z0-9][a-z0-9_-]{0,31}(\.[a-z0-9][a-z0-9_-]{0,31}){0,3}$"
CURSOR_QUERY = r"^[0-9]{1,16}_[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # next_cursor of the last page
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Limit = Annotated[int, Query(ge=1, le=200)]
ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.province_admin))]


def _scope(user: Principal, region: str | None) -> str:
    """The region to look at: the caller's own, or a region inside it (else 404)."""
    scope = user.admin_scope or ""
    if region is None:
        return scope
    if not regions.contains(scope, region):
        raise ApiError(404, "not_found")
    return region


def _encode_cursor(at: datetime, row_id: str) -> str:
    """``<microseconds since the epoch>_<id>`` of the last row of a page."""
    micros = (at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{row_id}"


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    micros, _, row_id = cursor.partition("_")
    return EPOCH + timedelta(microseconds=int(micros)), row_id


def _before(created: Any, ident: Any, cursor: str | None) -> Any:
    """Keyset pagination, newest first: rows strictly after the cursor's (created_at, id)."""
    if cursor is None:
        return and_(True)
    at, row_id = _decode_cursor(cursor)
    return or_(created < at, and_(created == at, ident < row_id))


@router.get("/submissions", response_model=SubmissionPage, responses=responses(401, 403, 404, 422))
def list_submissions(
    user: Admin,
    session: SessionDep,
    region: Annotated[str | None, Query(pattern=REGION_QUERY)] = None,
    overall: Overall | None = None,
    duplicate: bool | None = None,
    status: SubmissionStatus | None = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_QUERY)] = None,
) -> SubmissionPage:
    """Submissions of the caller's region (or a region inside it), newest first, ``limit`` a page."""
    scope = _scope(user, region)
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
        .where(in_region(Teacher.school_code, scope), _before(Submission.created_at, Submission.id, cursor))
        .order_by(col(Submission.created_at).desc(), col(Submission.id).desc())
        .limit(limit + 1)
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
    rows = session.exec(stmt).all()
    page = [
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
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return SubmissionPage(
        data=page, next_cursor=_encode_cursor(page[-1].created_at, page[-1].id) if more else None
    )


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


@router.get("/stats", response_model=StatsPublic, responses=responses(401, 403, 404, 422))
def stats(
    user: Admin,
    session: SessionDep,
    region: Annotated[str | None, Query(pattern=REGION_QUERY)] = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
) -> StatsPublic:
    """Counts by status and ``overall``, and ``overall`` rates, per region one level down (per teacher
    for a school)."""
    scope = _scope(user, region)
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


def _delivery_public(d: WebhookDelivery, e: Event) -> DeliveryPublic:
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


@router.get("/webhooks/deliveries", response_model=DeliveryPage, responses=responses(401, 403, 404, 422))
def list_deliveries(
    user: Admin,
    session: SessionDep,
    status: DeliveryStatus = DeliveryStatus.dead,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_QUERY)] = None,
) -> DeliveryPage:
    """Webhook deliveries of the caller's region's events (by default the dead letters), newest first."""
    stmt = (
        select(WebhookDelivery, Event)
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .where(
            WebhookDelivery.status == status,
            in_region(Event.region, user.admin_scope or ""),
            _before(WebhookDelivery.created_at, WebhookDelivery.id, cursor),
        )
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
        .limit(limit + 1)
    )
    rows = session.exec(stmt).all()
    page = [_delivery_public(d, e) for d, e in rows[:limit]]
    more = len(rows) > limit
    return DeliveryPage(
        data=page, next_cursor=_encode_cursor(page[-1].created_at, page[-1].id) if more else None
    )


@router.post(
    "/webhooks/deliveries/{delivery_id}/redrive",
    response_model=DeliveryPublic,
    responses=responses(401, 403, 404, 409, 422),
)
def redrive_delivery(
    delivery_id: Annotated[str, Path(pattern=ID_PATTERN)], request: Request, user: Admin, engine: EngineDep
) -> DeliveryPublic:
    """Send a dead-lettered delivery again, with a fresh retry budget."""
    with session_scope(engine) as session:
        row = session.exec(
            select(WebhookDelivery, Event)
            .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
            .where(WebhookDelivery.id == delivery_id, in_region(Event.region, user.admin_scope or ""))
        ).first()
        if row is None:
            raise ApiError(404, "not_found")
        delivery, event = row
        if delivery.status != DeliveryStatus.dead:
            raise ApiError(409, "not_dead")
        redrive(session, delivery, db_now(session))
        audit(session, request, user, "webhook.redrive", "delivery", delivery.id, region=event.region)
        session.flush()
        return _delivery_public(delivery, event)


@router.post(
    "/allowlist",
    status_code=201,
    response_model=AllowlistPublic,
    responses=responses(401, 403, 404, 409, 422),
)
def add_to_allowlist(
    body: AllowlistCreate, request: Request, user: ProvinceAdmin, engine: EngineDep
) -> AllowlistPublic:
    """Register a screened submission of the caller's province as known shared material (national
    courseware, a school intro): matches with it stop flagging, its existing matches are withdrawn
    and every submission that matched it is queued for a re-check. Province administrators only, as
    the allowlist applies everywhere; audited."""
    with session_scope(engine) as session:
        found = administered_submission(session, user, body.submission_id)
        if found.submission.status != SubmissionStatus.screened:
            raise ApiError(409, "not_screened")
        sub_id = found.submission.id
        rechecked = dedup.allowlist(session, sub_id, title=body.title, added_by=user.user_id)
        item = session.get(AllowlistItem, sub_id)
        detail = {"title": item.title, "rechecked": rechecked}
        audit(
            session,
            request,
            user,
            "allowlist.add",
            "submission",
            sub_id,
            region=found.school_code,
            detail=detail,
        )
        return AllowlistPublic.model_validate(item, from_attributes=True).model_copy(
            update={"rechecked": rechecked}
        )


@router.get("/allowlist", response_model=list[AllowlistPublic], responses=responses(401, 403, 422))
def list_allowlist(user: Admin, session: SessionDep) -> list[AllowlistPublic]:
    """Every registered piece of shared material (it applies to all regions), oldest first."""
    items = session.exec(select(AllowlistItem).order_by(col(AllowlistItem.added_at))).all()
    return [AllowlistPublic.model_validate(i, from_attributes=True) for i in items]
