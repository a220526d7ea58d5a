"""The audit log for administrators: ``GET /v1/admin/audit``, scoped to their region."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Admin, SessionDep
from api.errors import responses
from core import audit
from core.access import administered_region
from core.pagination import INT_CURSOR
from models.audit import AuditPage
from models.common import REGION_PATTERN, IsoDatetime

router = APIRouter(prefix="/v1/admin", tags=["admin"])

Text = Annotated[str | None, Query(min_length=1, max_length=128)]


@router.get("/audit", response_model=AuditPage, responses=responses(401, 403, 404, 422))
def list_audit(
    user: Admin,
    session: SessionDep,
    region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
    action: Text = None,
    actor_id: Text = None,
    object_type: Text = None,
    object_id: Text = None,
    since: IsoDatetime | None = None,
    until: IsoDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=INT_CURSOR, description="next_cursor")] = None,
) -> AuditPage:
    """Who did what to which object of the caller's region (or a region inside it), when and from
    where; newest first."""
    filters = {"action": action, "actor_id": actor_id, "object_type": object_type, "object_id": object_id}
    return audit.entries(
        session,
        administered_region(user, region),
        filters=filters,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
