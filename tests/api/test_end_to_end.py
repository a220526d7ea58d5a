"""Upload → screened → signed webhook, end to end: a real server, the real S3 server, PostgreSQL and a
Ray-backed job runner."""

from __future__ import annotations

import httpx
import pytest
from standardwebhooks import Webhook

from tests.api.conftest import LiveServer, Receiver, build_world
from tests.api.test_webhooks import SECRET
from tests.fixtures.db import create_pg_database, drop_pg_database
from tests.fixtures.media import make_video
from workers.runner import JobRunner
from workers.webhook_dispatcher import WebhookDispatcher


@pytest.fixture
def pg_url():
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def test_upload_screen_and_webhook(tmp_path, s3_server, pg_url, ray_local, screened_lessons):
    video = make_video(tmp_path / "lesson.mp4", seconds=2, width=320, height=240)
    with Receiver() as receiver:
        settings = s3_server.settings(
            tmp_path / "home",
            database_url=pg_url,
            jwt_secret="e2e-" + "e" * 40,
            webhook_urls=[receiver.url],
            webhook_secret=SECRET,
        )
        world = build_world(settings, screened_lessons)
        with LiveServer(settings) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            with open(video, "rb") as f:
                created = http.post(
                    "/v1/submissions",
                    files={"file": ("lesson.mp4", f, "video/mp4")},
                    data={"teacher_id": "t_a", "micro_capabilities": ["A5", "B7"]},
                    headers=world.auth("teacher"),
                )
            assert created.status_code == 201, created.text
            sub_id = created.json()["id"]

            assert JobRunner(settings, world.engine).run_once() is not None

            view = http.get(f"/v1/submissions/{sub_id}", headers=world.auth("teacher")).json()
            assert view["status"] == "screened", view
            assert view["overall"] in ("clear", "needs_review")  # no face enrolled: presence not checked
            assert "s3://" not in str(view) and view["report"]["rendition"]["uri"].startswith("/v1/")

            frames = http.get(f"/v1/submissions/{sub_id}/keyframes", headers=world.auth("teacher")).json()
            assert frames["keyframes"] and frames["keyframes"][0]["uri"].startswith("/v1/")
            sheet = http.get(f"/v1/submissions/{sub_id}/contact-sheet", headers=world.auth("teacher"))
            assert sheet.status_code in (200, 307)

            redirect = http.get(f"/v1/submissions/{sub_id}/rendition", headers=world.auth("service"))
            assert redirect.status_code == 307
            location = redirect.headers["location"]
            assert location.startswith(s3_server.endpoint_url) and "X-Amz-Signature" in location
            head = httpx.get(location, headers={"Range": "bytes=0-15"}, timeout=30)
            assert head.status_code == 206 and head.content[4:8] == b"ftyp"

            dispatcher = WebhookDispatcher(settings, world.engine)
            while dispatcher.run_once():  # each round sends a batch of due deliveries, synchronously
                pass
            mine = [r for r in receiver.requests if sub_id.encode() in r.body]
            assert mine, "no webhook for the new submission"
            payload = Webhook(SECRET).verify(mine[0].body, mine[0].headers)
            assert payload["type"] == "submission.screened"
            assert payload["data"]["submission_id"] == sub_id
            assert payload["data"]["overall"] == view["overall"]
            assert payload["data"]["micro_capabilities"] == ["A5", "B7"]
            assert "s3://" not in mine[0].body.decode()

            feed = http.get("/v1/events?limit=1000", headers=world.auth("service")).json()
            assert payload["id"] in {e["id"] for e in feed["data"]}
    world.engine.dispose()
