"""The webhook dispatcher: sends committed outbox events to ``EVIDENCE_WEBHOOK_URLS``, signed in the
Standard Webhooks format, at least once, with exponential backoff and then a dead letter.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api.secrets import webhook_secret
from core.db import session_scope
from core.settings import Settings
from models.outbox import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from models.tables import new_id
from workers.queue import db_now, insert_for

log = logging.getLogger(__name__)
FAN_OUT_BATCH = 1000
SEND_BATCH = 32
SEND_THREADS = 4


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
class _Claimed:
    delivery_id: str
    url: str
    attempts: int
    event_id: str
    body: bytes


class WebhookDispatcher:
    """Fans events out to the configured URLs and sends due deliveries. Several may run at once."""

    def __init__(self, settings: Settings, engine: sa.Engine, client: httpx.Client | None = None):
        self.settings = settings
        self.engine = engine
        self.client = client or httpx.Client(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            headers={"user-agent": "evidence-webhooks/1"},
        )
        self._secret: str | None = None

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = webhook_secret(self.settings)
        return self._secret

    def fan_out(self) -> int:
        """Create deliveries for events not yet given to each configured URL; returns how many."""
        created = 0
        for url in self.settings.webhook_urls:
            with session_scope(self.engine) as session:
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

    def claim(self, limit: int = SEND_BATCH) -> list[_Claimed]:
        """Take due deliveries under a lease of ``webhook_lease_s``."""
        with session_scope(self.engine) as session:
            now = db_now(session)
            due = session.exec(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == DeliveryStatus.pending,
                    col(WebhookDelivery.next_attempt_at) <= now,
                )
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            claimed = []
            for d in due:
                d.attempts += 1
                d.last_attempt_at = now
                d.next_attempt_at = now + timedelta(seconds=self.settings.webhook_lease_s)
                session.add(d)
                event = session.exec(select(Event).where(Event.id == d.event_id)).one()
                claimed.append(_Claimed(d.id, d.url, d.attempts, d.event_id, event_body(event)))
            return claimed

    def send(self, item: _Claimed) -> tuple[int | None, str | None]:
        """POST one delivery; returns (HTTP status or None, error or None)."""
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": item.event_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.secret, item.event_id, ts, item.body),
        }
        try:
            resp = self.client.post(item.url, content=item.body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:1000]
        if 200 <= resp.status_code < 300:
            return resp.status_code, None
        return resp.status_code, f"HTTP {resp.status_code}"

    def settle(self, item: _Claimed, status_code: int | None, error: str | None) -> None:
        """Record an attempt's outcome (skipped when another dispatcher re-claimed the delivery since)."""
        with session_scope(self.engine) as session:
            d = session.get(WebhookDelivery, item.delivery_id, with_for_update=True)
            if d is None or d.attempts != item.attempts or d.status != DeliveryStatus.pending:
                return
            now = db_now(session)
            d.last_status_code, d.last_error = status_code, error
            if error is None:
                d.status, d.delivered_at = DeliveryStatus.delivered, now
            elif d.attempts >= self.settings.webhook_max_attempts:
                d.status = DeliveryStatus.dead
                log.warning("webhook delivery %s to %s dead-lettered: %s", d.id, d.url, error)
            else:
                # the wait counts from the attempt, so a slow send does not stretch the schedule
                due = (d.last_attempt_at or now) + timedelta(seconds=backoff_s(self.settings, d.attempts))
                d.next_attempt_at = max(now, due)
            session.add(d)

    def run_once(self) -> int:
        """Fan out, then send one batch of due deliveries; returns how many were attempted."""
        self.fan_out()
        batch = self.claim()
        if not batch:
            return 0
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(batch))) as pool:
            outcomes = list(pool.map(self.send, batch))
        for item, (status_code, error) in zip(batch, outcomes, strict=True):
            self.settle(item, status_code, error)
        return len(batch)

    def run_forever(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set, polling every ``poll_seconds`` when idle."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a database hiccup must not end the dispatcher
                log.exception("webhook dispatch failed; retrying")
                busy = 0
            if not busy:
                stop.wait(self.settings.poll_seconds)


def redrive(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """Put a dead-lettered delivery back in the queue with a fresh retry budget."""
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.last_error = None
    session.add(delivery)
