"""The webhook dispatcher: a worker beside the job runner that sends due deliveries (``core.webhooks``)
over HTTP. Several may run at once; each delivery is claimed under a lease."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa

from core import webhooks
from core.secrets import webhook_secret
from core.settings import Settings

log = logging.getLogger(__name__)
SEND_BATCH = 32
SEND_THREADS = 4


class WebhookDispatcher:
    """Fans events out to the configured URLs and sends due deliveries, signed."""

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

    def send(self, item: webhooks.Claimed) -> tuple[int | None, str | None]:
        """POST one delivery; returns (HTTP status or None, error or None)."""
        ts = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": item.event_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": webhooks.sign(self.secret, item.event_id, ts, item.body),
        }
        try:
            resp = self.client.post(item.url, content=item.body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:1000]
        if 200 <= resp.status_code < 300:
            return resp.status_code, None
        return resp.status_code, f"HTTP {resp.status_code}"

    def run_once(self) -> int:
        """Fan out, then send one batch of due deliveries; returns how many were attempted."""
        webhooks.fan_out(self.engine, self.settings)
        batch = webhooks.claim(self.engine, self.settings, SEND_BATCH)
        if not batch:
            return 0
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(batch))) as pool:
            outcomes = list(pool.map(self.send, batch))
        for item, (status_code, error) in zip(batch, outcomes, strict=True):
            webhooks.settle(self.engine, self.settings, item, status_code, error)
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
