"""100 concurrent posts with one ``Idempotency-Key`` against a real server make one submission,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, func, select

from core.settings import Settings
from models.idempotency import IdempotencyKey
from models.submissions import Submission
from tests.api.conftest import LiveServer, build_world

CLIENTS = 100
BODY = b"\x00\x00\x00\x18ftypisom" + b"race" * 50_000


@pytest.fixture
def race_settings(tmp_path, world_db):
    return Settings(
        home=tmp_path / "home",
        jwt_secret="race-" + "r" * 40,
        database_url=world_db,
        uploads_max_per_user=CLIENTS,  # the race, not the upload caps, is under test
        uploads_max_concurrent=CLIENTS,
    )


def test_one_key_one_submission(race_settings, screened_lessons):
    world = build_world(race_settings, screened_lessons)
    start = threading.Barrier(CLIENTS)
    headers = {**world.auth("teacher"), "Idempotency-Key": "race-key-1"}
    data = {"teacher_id": "t_a", "micro_capabilities": ["A1", "A2"]}
    with LiveServer(race_settings) as server:

        def post(_: int) -> httpx.Response:
            files = {"file": ("lesson.mp4", BODY, "video/mp4")}
            with httpx.Client(base_url=server.url, timeout=120) as http:
                start.wait()
                return http.post("/v1/submissions", files=files, data=data, headers=headers)

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(post, range(CLIENTS)))
        after = httpx.post(
            server.url + "/v1/submissions",
            files={"file": ("lesson.mp4", BODY, "video/mp4")},
            data=data,
            headers=headers,
            timeout=60,
        )
    statuses = Counter(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1, statuses
    assert all(r.json()["error"]["code"] == "idempotency_conflict" for r in results if r.status_code == 409)
    assert after.status_code == 201 and after.json()["id"] in created
    with Session(world.engine) as session:
        subs = session.exec(
            select(func.count()).where(Submission.teacher_id == "t_a", Submission.filename == "lesson.mp4")
        ).one()
        key = session.exec(select(IdempotencyKey)).one()
    assert subs == 1
    assert key.status_code == 201 and key.response["id"] in created
    world.engine.dispose()
