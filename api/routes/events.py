"""The event feed: the outbox read in order, ``GET /v1/events?after=CURSOR&limit=N``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from api.access import in_region
from api.deps import AdminOrService, SessionDep
from api.errors import responses
from models.outbox import Event
from models.schemas import EventPage, EventPublic

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=EventPage, responses=responses(401, 403, 422))
def list_events(
    user: AdminOrService,
    session: SessionDep,
    after: Annotated[
        str, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page")
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Events after the cursor, oldest first. The service sees all; an administrator their region's.
    Poll again with ``next_cursor`` (unchanged when nothing new arrived)."""
    stmt = select(Event).where(col(Event.seq) > int(after)).order_by(col(Event.seq)).limit(limit)
    if not user.is_service:
        stmt = stmt.where(in_region(Event.region, user.admin_scope or ""))
    rows = session.exec(stmt).all()
    return EventPage(
        data=[EventPublic(id=e.id, type=e.type, created_at=e.created_at, data=e.data) for e in rows],
        next_cursor=str(rows[-1].seq) if rows else after,
    )
