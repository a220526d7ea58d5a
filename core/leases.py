"""Claiming rows under a lease: the one mechanism behind the job queue and webhook deliveries.

A claimer locks the rows that are due at the database's clock, skipping rows another claimer holds
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``, see
``core.db``), and sets each one's lease in the same transaction. Rows whose lease runs out become due
again, so work held by a claimer that died is picked up by another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from core.db import db_now, session_scope

Row = TypeVar("Row")


def claim(
    engine: sa.Engine,
    due: Callable[[datetime], Sequence[Any]],
    take: Callable[[Session, Row, datetime], bool],
    *,
    limit: int = 1,
) -> list[Row]:
    """Claim up to ``limit`` rows in one transaction and return them (detached, usable afterwards).

    ``due(now)`` gives the ``select`` statements of due rows, most urgent first, each ordered.
    ``take(session, row, now)`` leases a row (and returns True) or settles it otherwise (False, e.g.
    a job given up as poison); either way it must leave the row no longer due.
    """
    taken: list[Row] = []
    with session_scope(engine) as session:
        now = db_now(session)
        for stmt in due(now):
            while len(taken) < limit:
                rows = session.exec(stmt.limit(limit - len(taken)).with_for_update(skip_locked=True)).all()
                if not rows:
                    break
                taken += [row for row in rows if take(session, row, now)]
            session.flush()
    return taken
