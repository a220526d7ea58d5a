"""Webhook deliveries: outbox events fanned out to ``EVIDENCE_WEBHOOK_URLS``, signed in the Standard
Webhooks format, claimed under a lease for sending, retried with exponential backoff, then
dead-lettered (the sending loop is ``workers.webhook_dispatcher``).

Each event gets one delivery row per URL (fanned out in ``seq`` order). A delivery is claimed under
a lease (its ``next_attempt_at`` moves past the send), so a dispatcher that dies mid-send leaves it
to be sent again; the ``webhook-id`` is the event id, stable across attempts, for receivers to
de-duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import leases
from core.db import db_now, insert_for, session_scope
from core.settings import Settings
from models.base import new_id
from models.outbox import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)
FAN_OUT_BATCH = 1000


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the key of a ``whsec_<base64>`` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def event_body(event: Event) -> bytes:
    """The JSON a receiver gets: ``{id, type, created_at, data}`` (the same bytes on every attempt)."""
    payload = {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": event.data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def backoff_s(settings: Settings, attempts: int) -> float:
    """Delay before retry ``attempts`` (1-based): base * 2**(attempts-1), capped, plus up to 25% jitter."""
    delay = min(settings.webhook_backoff_base_s * 2 ** (attempts - 1), settings.webhook_backoff_max_s)
    return delay * (1 + 0.25 * random.random())


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt, with the exact bytes to send."""

    delivery_id: str
    url: str
    attempts: int
    event_id: str
    body: bytes


def fan_out(engine: sa.Engine, settings: Settings) -> int:
    """Create deliveries for events not yet given to each configured URL; returns how many."""
    created = 0
    for url in settings.webhook_urls:
        with session_scope(engine) as session:
            session.connection().execute(
                insert_for(session, WebhookEndpoint).values(url=url, last_seq=0).on_conflict_do_nothing()
            )
            endpoint = session.exec(
                select(WebhookEndpoint).where(WebhookEndpoint.url == url).with_for_update()
            ).one()
            rows = session.exec(
                select(Event.seq, Event.id)
                .where(col(Event.seq) > endpoint.last_seq)
                .order_by(col(Event.seq))
                .limit(FAN_OUT_BATCH)
            ).all()
            if not rows:
                continue
            now = db_now(session)
            values = [
                {
                    "id": new_id("dlv"),
                    "event_id": eid,
                    "url": url,
                    "next_attempt_at": now,
                    "created_at": now,
                    "status": DeliveryStatus.pending.value,
                    "attempts": 0,
                }
                for _, eid in rows
            ]
            session.connection().execute(
                insert_for(session, WebhookDelivery).values(values).on_conflict_do_nothing()
            )
            endpoint.last_seq = rows[-1][0]
            session.add(endpoint)
            created += len(rows)
    return created


def claim(engine: sa.Engine, settings: Settings, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due deliveries under a lease of ``webhook_lease_s``."""

    def due(now: datetime) -> list:
        pending = WebhookDelivery.status == DeliveryStatus.pending
        stmt = select(WebhookDelivery).where(pending, col(WebhookDelivery.next_attempt_at) <= now)
        return [stmt.order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))]

    def take(session: Session, d: WebhookDelivery, now: datetime) -> bool:
        d.attempts += 1
        d.last_attempt_at = now
        d.next_attempt_at = now + timedelta(seconds=settings.webhook_lease_s)
        session.add(d)
        return True

    taken = leases.claim(engine, due, take, limit=limit)
    if not taken:
        return []
    with Session(engine) as session:
        ids = [d.event_id for d in taken]
        events = {e.id: e for e in session.exec(select(Event).where(col(Event.id).in_(ids)))}
    return [Claimed(d.id, d.url, d.attempts, d.event_id, event_body(events[d.event_id])) for d in taken]


def settle(
    engine: sa.Engine, settings: Settings, item: Claimed, status_code: int | None, error: str | None
) -> None:
    """Record an attempt's outcome (skipped when another dispatcher re-claimed the delivery since)."""
    with session_scope(engine) as session:
        d = session.get(WebhookDelivery, item.delivery_id, with_for_update=True)
        if d is None or d.attempts != item.attempts or d.status != DeliveryStatus.pending:
            return
        now = db_now(session)
        d.last_status_code, d.last_error = status_code, error
        if error is None:
            d.status, d.delivered_at = DeliveryStatus.delivered, now
        elif d.attempts >= settings.webhook_max_attempts:
            d.status = DeliveryStatus.dead
            log.warning("webhook delivery %s to %s dead-lettered: %s", d.id, d.url, error)
        else:
            # the wait counts from the attempt, so a slow send does not stretch the schedule
            due = (d.last_attempt_at or now) + timedelta(seconds=backoff_s(settings, d.attempts))
            d.next_attempt_at = max(now, due)
        session.add(d)


def redrive(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """Put a dead-lettered delivery back in the queue with a fresh retry budget."""
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.last_error = None
    session.add(delivery)


def counts_by_status(session: Session) -> dict[str, int]:
    """Webhook deliveries by status (for metrics)."""
    rows = session.exec(select(WebhookDelivery.status, sa.func.count()).group_by(WebhookDelivery.status))
    return {str(status): n for status, n in rows}
