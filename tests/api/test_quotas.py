"""Quotas for API callers: 429 with ``Retry-After`` naming the limit in English and Chinese; the CLI
and administrators' reprocessing are not limited."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from core.settings import Settings
from core.submissions import submit_file
from tests.api.conftest import build_world

DATA = {"teacher_id": "t_a", "micro_capabilities": "A1"}


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
