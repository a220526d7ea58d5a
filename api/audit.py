"""Audit entries for API requests: the caller and its address and request id as the ``Origin``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlmodel import Session

from core.access import assigned_review
from core.accounts import Principal
from core.audit import Origin, record
from core.db import session_scope
from core.review import listings
from models.review import ReviewPacket
from models.submissions import Submission


def origin_of(request: Request, actor: Principal) -> Origin:
    """The API caller as an audit origin."""
    return Origin(
        actor.user_id,
        request.client.host if request.client else None,
        getattr(request.state, "request_id", None),
    )


def audit(
    session: Session,
    request: Request,
    actor: Principal,
    action: str,
    object_type: str,
    object_id: str,
    *,
    region: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record that ``actor`` did ``action`` to an object (who, what, when, from where)."""
    record(session, origin_of(request, actor), action, object_type, object_id, region=region, detail=detail)


def audit_read(
    engine: sa.Engine,
    request: Request,
    actor: Principal,
    object_type: str,
    object_id: str,
    *,
    region: str | None = None,
    detail: dict[str, Any] | None = None,
    action: str = "evidence.read",
) -> None:
    """Record a read of evidence (media and packets: ``evidence.read``; reports: ``report.read``) in a
    transaction of its own."""
    with session_scope(engine) as session:
        audit(session, request, actor, action, object_type, object_id, region=region, detail=detail)


def read_packet(
    session: Session, engine: sa.Engine, request: Request, reader: Principal, assignment_id: str, via: str
) -> ReviewPacket:
    """The blind packet of one of ``reader``'s assignments (``NotFound`` otherwise), its read audited as
    made through ``via`` (the API's packet or the reviewer page)."""
    assignment = assigned_review(session, reader, assignment_id)
    sub = session.get(Submission, assignment.submission_id)
    audit_read(
        engine,
        request,
        reader,
        "submission",
        sub.id,
        region=listings.school_of(session, sub),
        detail={"assignment_id": assignment.id, "media": via},
    )
    return listings.packet(session, assignment)
