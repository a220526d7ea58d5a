"""The audit log for administrators: ``GET /v1/admin/audit``, scoped to their region."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from api.access import in_region
from api.deps import Admin, SessionDep
from api.errors import responses
from api.routes.admin import REGION_QUERY, _scope
from models.audit import AuditEntry
from models.review import AuditPage, AuditPublic
from models.schemas import IsoDatetime

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Text = Annotated[str | None, Query(min_length=1, max_length=128)]


@router.get("/audit", response_model=AuditPage, responses=responses(401, 403, 404, 422))
def list_audit(
    user: Admin,
    session: SessionDep,
    region: Annotated[str | None, Query(pattern=REGION_QUERY)] = None,
    action: Text = None,
    actor_id: Text = None,
    object_type: Text = None,
    object_id: Text = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor")] = None,
) -> AuditPage:
    """Who did what to which object of the caller's region (or a region inside it), when and from
    where; newest first."""
    stmt = (
        select(AuditEntry)
        .where(in_region(AuditEntry.region, _scope(user, region)))
        .order_by(col(AuditEntry.id).desc())
        .limit(limit + 1)
    )
    filters = {
        AuditEntry.action: action,
        AuditEntry.actor_id: actor_id,
        AuditEntry.object_type: object_type,
        AuditEntry.object_id: object_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditEntry.at) < until)
    if cursor is not None:
        stmt = stmt.where(col(AuditEntry.id) < int(cursor))
    rows = session.exec(stmt).all()
    page = rows[:limit]
    return AuditPage(
        data=[AuditPublic.model_validate(e, from_attributes=True) for e in page],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )
