"""Quotas for API callers: 429 with ``Retry-After`` naming the limit in English and Chinese; the CLI
and administrators' reprocessing are not limited; concurrent requests cannot overshoot a quota."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from api.app import create_app
from core.db import session_scope
from core.settings import Settings
from core.submissions import submit_file
from models.submissions import Submission
from models.uploads import Upload, UploadStatus
from tests.api.conftest import build_world

DATA = {"teacher_id": "t_a", "micro_capabilities": "A1"}
RACERS = 8


@pytest.fixture
def quota_world(request, tmp_path, world_db, screened_lessons):
    settings = Settings(
        home=tmp_path / "home", database_url=world_db, jwt_secret="quota-" + "q" * 40, **request.param
    )
    world = build_world(settings, screened_lessons)
    with TestClient(create_app(settings)) as client:
        yield world, client
    world.engine.dispose()


def _post(client, world, body: bytes, **headers: str):
    files = {"file": ("lesson.mp4", body, "video/mp4")}
    return client.post(
        "/v1/submissions", files=files, data=DATA, headers={**world.auth("teacher"), **headers}
    )


def _refused(resp, code: str) -> None:
    assert resp.status_code == 429 and resp.json()["error"]["code"] == code, resp.text
    assert 1 <= int(resp.headers["retry-after"]) <= 86400


@pytest.mark.parametrize("quota_world", [{"quota_submissions_per_day": 3}], indirect=True)
def test_submissions_per_teacher_per_day(quota_world, tmp_path):
    world, client = quota_world  # teacher A's lesson "a" was uploaded through the API just now: 1 of 3
    assert _post(client, world, b"one" * 100).status_code == 201
    upload = {"teacher_id": "t_a", "micro_capabilities": "A1", "size_bytes": 10}
    assert client.post("/v1/uploads", json=upload, headers=world.auth("teacher")).status_code == 201  # 3 of 3
    _refused(_post(client, world, b"two" * 100), "quota_submissions_per_day")
    zh = _post(client, world, b"two" * 100, **{"Accept-Language": "zh-CN"}).json()["error"]["message"]
    assert "每位教师 24 小时内的提交数" in zh
    en = client.post("/v1/uploads", json=upload, headers=world.auth("school_admin")).json()["error"][
        "message"
    ]
    assert "submissions per teacher in 24 hours" in en  # an administrator's uploads count for the teacher
    lesson = tmp_path / "cli.mp4"
    lesson.write_bytes(b"from the command line" * 10)
    with Session(world.engine) as session:  # the CLI (process, batch) is not limited
        assert submit_file(session, world.store, lesson, teacher_id="t_a").id
    resp = client.post(f"/v1/submissions/{world.subs['a']}/reprocess", headers=world.auth("school_admin"))
    assert resp.status_code == 202  # nor is reprocessing


@pytest.mark.parametrize("quota_world", [{"quota_bytes_per_day": 1000}], indirect=True)
def test_bytes_per_teacher_per_day_refused_before_the_file(quota_world):
    world, client = quota_world  # lesson "a" alone is over 1000 bytes
    body = b"never stored" * 200
    resp = _post(client, world, body)
    _refused(resp, "quota_bytes_per_day")
    assert not world.store.exists("sha256/" + hashlib.sha256(body).hexdigest())


@pytest.mark.parametrize("quota_world", [{"quota_open_uploads": 1}], indirect=True)
def test_open_uploads_per_caller(quota_world):
    world, client = quota_world
    body = {"teacher_id": "t_a", "micro_capabilities": "A1", "size_bytes": 100}
    first = client.post("/v1/uploads", json=body, headers=world.auth("teacher"))
    assert first.status_code == 201
    _refused(client.post("/v1/uploads", json=body, headers=world.auth("teacher")), "quota_open_uploads")
    client.delete(f"/v1/uploads/{first.json()['id']}", headers=world.auth("teacher"))
    assert client.post("/v1/uploads", json=body, headers=world.auth("teacher")).status_code == 201


@pytest.mark.parametrize("quota_world", [{"quota_submissions_per_day": 2}], indirect=True)
def test_an_upload_being_completed_still_counts(quota_world):
    world, client = quota_world  # lesson "a": 1 of 2
    upload = {"teacher_id": "t_a", "micro_capabilities": "A1", "size_bytes": 10}
    started = client.post("/v1/uploads", json=upload, headers=world.auth("teacher"))
    assert started.status_code == 201  # 2 of 2
    with session_scope(world.engine) as session:  # its parts being joined: not yet a submission
        session.get(Upload, started.json()["id"]).status = UploadStatus.completing
    _refused(_post(client, world, b"one more" * 100), "quota_submissions_per_day")


def _race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(i)`` in ``n`` threads released together by a barrier; returns the results."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _outcome(responses: list[Any], code: str) -> Counter:
    assert all(r.status_code == 201 or r.json()["error"]["code"] == code for r in responses)
    return Counter(r.status_code for r in responses)


@pytest.mark.parametrize(
    "quota_world",
    [{"quota_submissions_per_day": 4, "quota_open_uploads": 0, "uploads_max_per_user": RACERS}],
    indirect=True,
)
def test_concurrent_submissions_and_uploads_stay_within_the_teachers_quota(quota_world):
    world, client = quota_world  # lesson "a" counts: room for 3 more of teacher A's
    upload = {"teacher_id": "t_a", "micro_capabilities": "A1", "size_bytes": 10}

    def create(i: int) -> Any:
        if i % 2:
            return client.post("/v1/uploads", json=upload, headers=world.auth("teacher"))
        return _post(client, world, b"racing lesson %d " % i * 50)

    assert _outcome(_race(RACERS, create), "quota_submissions_per_day") == {201: 3, 429: RACERS - 3}
    with Session(world.engine) as session:
        uploads = session.exec(select(func.count()).where(Upload.teacher_id == "t_a")).one()
        posted = session.exec(select(func.count()).where(Submission.filename == "lesson.mp4")).one()
    assert uploads + posted == 3


@pytest.mark.parametrize(
    "quota_world", [{"quota_open_uploads": 3, "quota_submissions_per_day": 0}], indirect=True
)
def test_concurrent_uploads_stay_within_the_callers_quota(quota_world):
    world, client = quota_world  # one caller, two teachers: the caller's quota is what binds

    def start(i: int) -> Any:
        body = {"teacher_id": ("t_a", "t_a2")[i % 2], "micro_capabilities": "A1", "size_bytes": 10}
        return client.post("/v1/uploads", json=body, headers=world.auth("school_admin"))

    assert _outcome(_race(RACERS, start), "quota_open_uploads") == {201: 3, 429: RACERS - 3}
    with Session(world.engine) as session:
        assert session.exec(select(func.count()).select_from(Upload)).one() == 3
