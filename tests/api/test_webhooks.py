"""Webhooks: Standard Webhooks signatures checked by the ``standardwebhooks`` package on a real local
receiver, retries with exponential backoff, dead letters and re-drive, and delivery after the API
process is killed between commit and send."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from standardwebhooks import Webhook

from api.app import create_app
from core import webhooks
from core.db import session_scope
from core.settings import Settings
from models.outbox import DeliveryStatus, Event, WebhookDelivery
from tests.api.conftest import Receiver, build_world, free_port
from workers.webhook_dispatcher import WebhookDispatcher

pytestmark = pytest.mark.timeout(240)  # dispatching loops until done; a hang fails here
SECRET = "whsec_" + base64.b64encode(b"evidence-webhook-test-key-32byte").decode()


def _settings(home: Path, url: str, database_url: str | None = None, **overrides) -> Settings:
    return Settings(
        home=home,
        database_url=database_url,
        jwt_secret="hooks-" + "h" * 40,
        webhook_urls=[url],
        webhook_secret=SECRET,
        **overrides,
    )


def _deliveries(engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def _all(engine, status: DeliveryStatus) -> bool:
    """Whether all three events' deliveries reached ``status``."""
    rows = _deliveries(engine)
    return len(rows) == 3 and all(d.status == status for d in rows)


def _drain(dispatcher: WebhookDispatcher, until) -> None:
    """Dispatch until ``until()`` (a hang is caught by the test's timeout)."""
    while not until():
        if not dispatcher.run_once():
            time.sleep(0.05)


def test_signed_deliveries_verify_with_standardwebhooks(tmp_path, world_db, screened_lessons):
    with Receiver() as receiver:
        world = build_world(_settings(tmp_path / "home", receiver.url, world_db), screened_lessons)
        dispatcher = WebhookDispatcher(world.settings, world.engine)
        with Session(world.engine) as session:
            events = {e.id: e for e in session.exec(select(Event))}
        assert len(events) == 3
        _drain(dispatcher, lambda: len(receiver.requests) >= 3)
        verifier = Webhook(SECRET)
        for req in receiver.requests:
            payload = verifier.verify(req.body, req.headers)  # raises on a bad signature or stale timestamp
            assert req.headers["webhook-id"] == payload["id"]
            assert payload["type"] == "submission.screened"
            assert payload["data"]["report"]["status"] == "screened"
            assert set(payload) == {"id", "type", "created_at", "data"}
        assert {r.headers["webhook-id"] for r in receiver.requests} == set(events)
        tampered = receiver.requests[0].body.replace(b"screened", b"rejected", 1)
        with pytest.raises(Exception, match="(?i)signature"):
            verifier.verify(tampered, receiver.requests[0].headers)
        assert all(d.status == DeliveryStatus.delivered for d in _deliveries(world.engine))


def test_retries_back_off_exponentially_then_deliver(tmp_path, world_db, screened_lessons):
    with Receiver(fail_first=2) as receiver:
        settings = _settings(tmp_path / "home", receiver.url, world_db, webhook_backoff_base_s=0.2)
        world = build_world(settings, screened_lessons)
        dispatcher = WebhookDispatcher(world.settings, world.engine)
        webhooks.fan_out(world.engine, world.settings)
        with session_scope(world.engine) as session:  # follow one delivery: mark the others done
            for d in session.exec(select(WebhookDelivery)).all()[1:]:
                d.status = DeliveryStatus.delivered
                session.add(d)
        delays = []
        for attempt in (1, 2):
            _drain(dispatcher, lambda a=attempt: len(receiver.requests) >= a)
            (d,) = [d for d in _deliveries(world.engine) if d.status == DeliveryStatus.pending]
            assert d.attempts == attempt and d.last_status_code == 503
            delays.append((d.next_attempt_at - d.last_attempt_at).total_seconds())
        _drain(dispatcher, lambda: len(receiver.requests) >= 3)
        _drain(dispatcher, lambda: _deliveries(world.engine)[0].status == DeliveryStatus.delivered)
    # retry n waits base * 2**(n-1), with at most 25% jitter on top
    assert 0.2 <= delays[0] <= 0.25 and 0.4 <= delays[1] <= 0.5, delays
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1  # the same webhook-id on every attempt
    assert len({r.body for r in receiver.requests}) == 1


def test_dead_letter_is_visible_to_admins_and_can_be_redriven(tmp_path, world_db, screened_lessons):
    with Receiver(fail_first=10**6) as receiver:
        settings = _settings(
            tmp_path / "home", receiver.url, world_db, webhook_backoff_base_s=0.01, webhook_max_attempts=3
        )
        world = build_world(settings, screened_lessons)
        dispatcher = WebhookDispatcher(settings, world.engine)
        _drain(dispatcher, lambda: _all(world.engine, DeliveryStatus.dead))
        assert len(receiver.requests) == 9  # 3 events x 3 attempts
        with TestClient(create_app(settings)) as client:
            county = client.get("/v1/admin/webhooks/deliveries", headers=world.auth("county_admin")).json()
            other = client.get("/v1/admin/webhooks/deliveries", headers=world.auth("other_admin")).json()
            assert {d["submission_id"] for d in county["data"]} == {world.subs["a"]}
            assert {d["submission_id"] for d in other["data"]} == {world.subs["c"]}
            dead = county["data"][0]
            assert dead["status"] == "dead" and dead["attempts"] == 3 and dead["last_status_code"] == 503
            path = f"/v1/admin/webhooks/deliveries/{dead['id']}/redrive"
            assert client.post(path, headers=world.auth("other_admin")).status_code == 404
            assert client.post(path, headers=world.auth("teacher")).status_code == 403
            redriven = client.post(path, headers=world.auth("county_admin"))
            assert redriven.status_code == 200 and redriven.json()["status"] == "pending"
            assert client.post(path, headers=world.auth("county_admin")).status_code == 409
            receiver.fail_first = 0
            _drain(
                dispatcher,
                lambda: any(d.status == DeliveryStatus.delivered for d in _deliveries(world.engine)),
            )
            delivered = [d for d in _deliveries(world.engine) if d.status == DeliveryStatus.delivered]
            assert [d.id for d in delivered] == [dead["id"]]
            listed = client.get(
                "/v1/admin/webhooks/deliveries?status=delivered", headers=world.auth("county_admin")
            ).json()
            assert [d["id"] for d in listed["data"]] == [dead["id"]]


def _serve(settings: Settings, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "EVIDENCE_HOME": str(settings.home),
        "EVIDENCE_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "EVIDENCE_WEBHOOK_URLS": ",".join(settings.webhook_urls),
        "EVIDENCE_WEBHOOK_SECRET": SECRET,
        "EVIDENCE_WEBHOOK_LEASE_S": "1",
        "EVIDENCE_POLL_SECONDS": "0.1",
    }
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE", "RAY_ADDRESS"):
        env.pop(name, None)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    code = "import typer; from cli import serve; app = typer.Typer(); serve.register(app); app()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), "--no-worker"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_api_killed_between_commit_and_send_still_delivers(tmp_path, world_db, screened_lessons):
    with Receiver() as receiver:
        settings = _settings(tmp_path / "home", receiver.url, world_db)
        world = build_world(settings, screened_lessons)  # three events committed; nothing sent yet
        receiver.hang.set()  # the receiver takes the first request and never answers
        first = _serve(settings, free_port())
        try:
            while not receiver.requests:  # a hang is caught by the test's timeout
                assert first.poll() is None, "the API exited before sending"
                time.sleep(0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        killed_during = {r.headers["webhook-id"] for r in receiver.requests}
        assert not [d for d in _deliveries(world.engine) if d.status == DeliveryStatus.delivered]
        receiver.hang.clear()
        receiver.release.set()
        second = _serve(settings, free_port())
        try:
            while not _all(world.engine, DeliveryStatus.delivered):
                assert second.poll() is None, "the API exited before delivering"
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    with Session(world.engine) as session:
        events = {e.id for e in session.exec(select(Event))}
    assert {r.headers["webhook-id"] for r in receiver.requests} == events
    resent = [r.headers["webhook-id"] for r in receiver.requests].count(next(iter(killed_during)))
    assert resent >= 2  # sent before the kill and again, under the same webhook-id, after the restart
    for req in receiver.requests:
        Webhook(SECRET).verify(req.body, req.headers)
    assert all(d.created_at <= d.delivered_at for d in _deliveries(world.engine))
