"""Writing the audit log: one row per sensitive act, in the act's own transaction.

The log is append-only: nothing here (or anywhere) updates or deletes a row, and the database refuses
UPDATE and DELETE on ``audit_log`` by trigger (migration 0004).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.pagination import Keyset
from core.regions import in_region
from models.audit import AuditEntry, AuditPage, AuditPublic
from models.base import utcnow


@dataclass(frozen=True)
class Origin:
    """Who acts and from where: an API caller (user id, client address, request id) or the CLI."""

    actor_id: str
    ip: str | None = None
    request_id: str | None = None

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


AUDIT_ORDER = Keyset((AuditEntry.id,))


def entries(
    session: Session,
    scope: str,
    *,
    filters: dict[str, str | None],
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AuditPage:
    """Audit entries of the region ``scope`` and below, newest first; ``filters`` match columns of
    ``AuditEntry`` exactly (None: any)."""
    stmt = select(AuditEntry).where(in_region(AuditEntry.region, scope))
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, name) == value)
    if since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= since)
    if until is not None:
        stmt = stmt.where(col(AuditEntry.at) < until)
    rows = session.exec(AUDIT_ORDER.select(stmt, cursor, limit)).all()
    page, next_cursor = AUDIT_ORDER.page(rows, limit, lambda e: (e.id,))
    return AuditPage(
        data=[AuditPublic.model_validate(e, from_attributes=True) for e in page], next_cursor=next_cursor
    )
