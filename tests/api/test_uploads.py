"""Resumable multipart uploads: on local storage (parts through the API) and on the real S3 server
(parts PUT straight to presigned URLs); resume after a partial upload; complete into a submission."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import build_world

PART = 5 * 1024**2
DATA = os.urandom(2 * PART + 123_457)


@pytest.fixture(params=["local", "s3"])
def up(request, tmp_path, world_db, screened_lessons):
    overrides = {"jwt_secret": "uploads-" + "u" * 40, "upload_part_bytes": PART, "database_url": world_db}
    if request.param == "s3":
        settings = request.getfixturevalue("s3_server").settings(tmp_path / "home", **overrides)
    else:
        settings = Settings(home=tmp_path / "home", **overrides)
    world = build_world(settings, screened_lessons)
    with TestClient(create_app(settings)) as client:
        yield request.param, world, client
    world.engine.dispose()


def _put(client: TestClient, world, part: dict, data: bytes) -> httpx.Response:
    if part["url"].startswith("/v1/"):
        return client.put(part["url"], content=data, headers=world.auth("teacher"))
    assert part["url"].startswith("http") and "X-Amz-Signature" in part["url"]
    return httpx.put(part["url"], content=data, timeout=60)  # presigned: no credentials needed


def _chunk(n: int) -> bytes:
    return DATA[(n - 1) * PART : n * PART]


def test_resumable_upload_to_submission(up):
    backend, world, client = up
    auth = world.auth("teacher")
    start = client.post(
        "/v1/uploads",
        json={
            "teacher_id": "t_a",
            "micro_capabilities": "A1,C3",
            "size_bytes": len(DATA),
            "filename": "big.mp4",
        },
        headers=auth,
    )
    assert start.status_code == 201, start.text
    upload = start.json()
    assert upload["part_count"] == 3 and [p["size"] for p in upload["parts"]] == [PART, PART, 123_457]
    assert (backend == "local") == upload["parts"][0]["url"].startswith("/v1/uploads/")

    assert _put(client, world, upload["parts"][0], _chunk(1)).status_code == 200
    resumed = client.get(f"/v1/uploads/{upload['id']}", headers=auth).json()
    assert [p["number"] for p in resumed["received"]] == [1]
    assert [p["number"] for p in resumed["parts"]] == [2, 3]  # fresh URLs for what is missing

    early = client.post(f"/v1/uploads/{upload['id']}/complete", headers=auth)
    assert early.status_code == 422 and early.json()["error"]["detail"]["missing"] == [2, 3]

    by_number = {p["number"]: p for p in resumed["parts"]}
    third = _put(client, world, by_number[3], _chunk(3))
    assert third.status_code == 200
    assert _put(client, world, by_number[2], b"garbage" * 10).status_code in (200, 422)  # a broken try
    second = _put(client, world, by_number[2], _chunk(2))  # sent again
    assert second.status_code == 200
    assert client.get(f"/v1/uploads/{upload['id']}", headers=world.auth("school_admin")).status_code == 404

    etags = [
        (1, resumed["received"][0]["etag"]),
        (2, second.headers.get("etag", "")),
        (3, third.headers.get("etag", "")),
    ]
    body = {"parts": [{"number": n, "etag": e} for n, e in etags]}
    done = client.post(f"/v1/uploads/{upload['id']}/complete", json=body, headers=auth)
    assert done.status_code == 201, done.text
    sub = done.json()
    assert sub["sha256"] == hashlib.sha256(DATA).hexdigest() and sub["size_bytes"] == len(DATA)
    assert sub["micro_capabilities"] == ["A1", "C3"] and sub["status"] == "queued"
    assert world.store.size("sha256/" + sub["sha256"]) == len(DATA)
    again = client.post(f"/v1/uploads/{upload['id']}/complete", headers=auth)
    assert again.status_code == 201 and again.json()["id"] == sub["id"]
    final = client.get(f"/v1/uploads/{upload['id']}", headers=auth).json()
    assert final["status"] == "completed" and final["submission_id"] == sub["id"]


def test_wrong_size_and_abort(up):
    _, world, client = up
    auth = world.auth("teacher")
    upload = client.post(
        "/v1/uploads",
        json={"teacher_id": "t_a", "micro_capabilities": ["B1"], "size_bytes": 1000},
        headers=auth,
    ).json()
    api_path = f"/v1/uploads/{upload['id']}/parts/1"
    short = client.put(api_path, content=b"x" * 999, headers=auth)
    assert short.status_code == 422 and short.json()["error"]["code"] == "upload_incomplete"
    assert client.put(f"/v1/uploads/{upload['id']}/parts/2", content=b"x", headers=auth).status_code == 422
    aborted = client.delete(f"/v1/uploads/{upload['id']}", headers=auth)
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    assert client.put(api_path, content=b"x" * 1000, headers=auth).status_code == 409
    assert client.post(f"/v1/uploads/{upload['id']}/complete", headers=auth).status_code == 409


def test_declared_size_over_the_limit_is_refused(up):
    _, world, client = up
    body = {
        "teacher_id": "t_a",
        "micro_capabilities": "A1",
        "size_bytes": world.settings.max_upload_bytes + 1,
    }
    resp = client.post("/v1/uploads", json=body, headers=world.auth("teacher"))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "file_too_large"


def test_starting_an_upload_is_idempotent(up):
    _, world, client = up
    headers = {**world.auth("teacher"), "Idempotency-Key": "upload-1"}
    body = {"teacher_id": "t_a", "micro_capabilities": "A2", "size_bytes": 4096}
    first = client.post("/v1/uploads", json=body, headers=headers)
    again = client.post("/v1/uploads", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/uploads", json={**body, "size_bytes": 4097}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_mismatch"
