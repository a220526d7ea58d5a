"""Administrators: their region's submissions and statistics, dead-lettered webhook deliveries, and
the allowlist of known shared material."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlmodel import col, select

from api.audit import audit, origin_of
from api.deps import Admin, EngineDep, SessionDep, require_roles
from api.errors import responses
from core import admin, duplicates
from core.access import administered_region, administered_submission
from core.accounts import Principal
from core.db import session_scope
from core.errors import DomainError
from core.pagination import TIME_ID_CURSOR
from models.accounts import Role
from models.common import ID_PATTERN, REGION_PATTERN, IsoDatetime
from models.dedup import AllowlistCreate, AllowlistItem, AllowlistPublic
from models.outbox import DeliveryPage, DeliveryPublic, DeliveryStatus
from models.submissions import Overall, StatsPublic, SubmissionPage, SubmissionStatus

router = APIRouter(prefix="/v1/admin", tags=["admin"])

Limit = Annotated[int, Query(ge=1, le=200)]
Region = Annotated[str | None, Query(pattern=REGION_PATTERN)]
Cursor = Annotated[str | None, Query(pattern=TIME_ID_CURSOR, description="next_cursor of the last page")]
ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.province_admin))]


@router.get("/submissions", response_model=SubmissionPage, responses=responses(401, 403, 404, 422))
def list_submissions(
    user: Admin,
    session: SessionDep,
    region: Region = None,
    overall: Overall | None = None,
    duplicate: bool | None = None,
    status: SubmissionStatus | None = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SubmissionPage:
    """Submissions of the caller's region (or a region inside it), newest first, ``limit`` a page."""
    return admin.list_submissions(
        session,
        administered_region(user, region),
        overall=overall,
        duplicate=duplicate,
        status=status,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


@router.get("/stats", response_model=StatsPublic, responses=responses(401, 403, 404, 422))
def stats(
    user: Admin,
    session: SessionDep,
    region: Region = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
) -> StatsPublic:
    """Counts by status and ``overall``, and ``overall`` rates, per region one level down (per teacher
    for a school)."""
    return admin.region_stats(session, administered_region(user, region), since=since, until=until)


@router.get("/webhooks/deliveries", response_model=DeliveryPage, responses=responses(401, 403, 404, 422))
def list_deliveries(
    user: Admin,
    session: SessionDep,
    status: DeliveryStatus = DeliveryStatus.dead,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryPage:
    """Webhook deliveries of the caller's region's events (by default the dead letters), newest first."""
    return admin.list_deliveries(session, user.admin_scope or "", status, limit=limit, cursor=cursor)


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
        return admin.redrive_delivery(session, user.admin_scope or "", delivery_id, origin_of(request, user))


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
            raise DomainError("not_screened")
        sub_id = found.submission.id
        rechecked = duplicates.allowlist(session, sub_id, title=body.title, added_by=user.user_id)
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
