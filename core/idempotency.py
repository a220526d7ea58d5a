"""``Idempotency-Key`` for creates: the same key and request give the first response again; the same
key with another request is ``idempotency_mismatch``; a key whose first request is still running is
``idempotency_conflict``.

The key is claimed (committed, in flight) before the body is read, so concurrent retries see it at
once; the response is stored in the transaction that creates the resource; a failed request
releases the key so the client can retry with it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.db import insert_for, session_scope
from core.errors import DomainError
from models.base import utcnow
from models.idempotency import IdempotencyKey

KEY_PATTERN = r"^[!-~]{1,255}$"  # visible ASCII


@dataclass(frozen=True)
class Claim:
    """A claimed key: ``replay`` holds the stored (fingerprint, status, body) when it already finished."""

    user_id: str
    key: str
    endpoint: str
    replay: tuple[str, int, dict[str, Any]] | None = None


def fingerprint(endpoint: str, request: dict[str, Any]) -> str:
    """A stable hash of what a request asks for."""
    canon = json.dumps({"endpoint": endpoint, "request": request}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def claim(engine: sa.Engine, user_id: str, key: str, endpoint: str, inflight_s: float) -> Claim:
    """Claim ``key`` for a new request, or find its finished first response; ``idempotency_conflict``
    while in flight.

    An in-flight claim older than ``inflight_s`` (its request died) is taken over.
    """
    if not re.fullmatch(KEY_PATTERN, key):
        raise DomainError("invalid_request", "Idempotency-Key must be 1-255 visible ASCII characters")
    with session_scope(engine) as session:
        insert = insert_for(session, IdempotencyKey)
        now = utcnow()
        inserted = session.connection().execute(
            insert.values(user_id=user_id, key=key, endpoint=endpoint, created_at=now)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if inserted.first() is not None:
            return Claim(user_id, key, endpoint)
        row = session.get(IdempotencyKey, (user_id, key), with_for_update=True)
        if row is None:  # released between our insert and read: the client may retry
            raise DomainError("idempotency_conflict")
        if row.status_code is not None:
            return Claim(user_id, key, endpoint, (row.fingerprint or "", row.status_code, row.response or {}))
        if now - row.created_at < timedelta(seconds=inflight_s):
            raise DomainError("idempotency_conflict")
        row.created_at, row.endpoint = now, endpoint
        session.add(row)
        return Claim(user_id, key, endpoint)


def check_replay(claim: Claim, request_fingerprint: str) -> tuple[int, dict[str, Any]] | None:
    """The stored response when ``claim`` finished with the same request; ``idempotency_mismatch``
    for another."""
    if claim.replay is None:
        return None
    stored_fp, status, body = claim.replay
    if stored_fp != request_fingerprint:
        raise DomainError("idempotency_mismatch")
    return status, body


def complete(session: Session, claim: Claim, request_fingerprint: str, status: int, body: dict) -> None:
    """Store the response in the caller's transaction (the one that creates the resource)."""
    row = session.get(IdempotencyKey, (claim.user_id, claim.key))
    if row is None:
        row = IdempotencyKey(user_id=claim.user_id, key=claim.key, endpoint=claim.endpoint)
    row.fingerprint, row.status_code, row.response = request_fingerprint, status, body
    row.completed_at = utcnow()
    session.add(row)


def release(engine: sa.Engine, claim: Claim) -> None:
    """Forget an in-flight claim whose request failed (finished claims are kept)."""
    with session_scope(engine) as session:
        row = session.get(IdempotencyKey, (claim.user_id, claim.key))
        if row is not None and row.status_code is None:
            session.delete(row)
