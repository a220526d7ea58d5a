"""Writing the audit log: one row per sensitive act, in the act's own transaction.

The log is append-only: nothing here (or anywhere) updates or deletes a row, and the database refuses
UPDATE and DELETE on ``audit_log`` by trigger (migration 0004).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlmodel import Session

from api.auth import Principal
from core.db import session_scope
from models.audit import AuditEntry
from models.tables import utcnow


@dataclass(frozen=True)
class Origin:
    """Who acts and from where: an API caller (user id, client address, request id) or the CLI."""

    actor_id: str
    ip: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, request: Request, actor: Principal) -> Origin:
        return cls(
            actor.user_id,
            request.client.host if request.client else None,
            getattr(request.state, "request_id", None),
        )

    @classmethod
    def cli(cls) -> Origin:
        """The operating-system user running an ``evidence`` command."""
        return cls(f"cli:{getpass.getuser()}"[:64], "cli")


def record(
    session: Session,
    origin: Origin,
    action: str,
    object_type: str,
    object_id: str,
    *,
    region: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit row for ``origin`` doing ``action`` to an object, in the session's transaction."""
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=origin.actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            region=region,
            ip=origin.ip,
            request_id=origin.request_id,
            detail=detail,
        )
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
    record(session, Origin.of(request, actor), action, object_type, object_id, region=region, detail=detail)


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
