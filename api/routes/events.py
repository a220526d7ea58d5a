"""The event feed: the outbox read in order, ``GET /v1/events?after=CURSOR&limit=N``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminOrService, SessionDep
from api.errors import responses
from core import outbox
from core.pagination import INT_CURSOR
from models.outbox import EventPage, EventPublic

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=EventPage, responses=responses(401, 403, 422))
def list_events(
    user: AdminOrService,
    session: SessionDep,
    after: Annotated[str, Query(pattern=INT_CURSOR, description="next_cursor of the previous page")] = "0",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Events after the cursor, oldest first. The service sees all; an administrator their region's.
    Poll again with ``next_cursor`` (unchanged when nothing new arrived)."""
    scope = None if user.is_service else user.admin_scope or ""
    rows = outbox.events_after(session, scope, int(after), limit)
    return EventPage(
        data=[EventPublic(id=e.id, type=e.type, created_at=e.created_at, data=e.data) for e in rows],
        next_cursor=str(rows[-1].seq) if rows else after,
    )
