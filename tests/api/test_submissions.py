"""Creating and reading submissions over HTTP: validation, streaming limits, Range, languages,
``Idempotency-Key`` semantics, reprocessing."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from api.app import create_app
from models.audit import AuditEntry
from models.jobs import Job, JobStatus
from models.submissions import Submission, SubmissionMeta

BODY = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64


def _post(client, world, who="teacher", body=BODY, headers=None, **data):
    fields = {"teacher_id": "t_a", "micro_capabilities": "A1,B2"} | data
    files = {"file": ("lesson.mp4", body, "video/mp4")}
    return client.post(
        "/v1/submissions", files=files, data=fields, headers={**world.auth(who), **(headers or {})}
    )


def test_upload_is_stored_and_queued(client, world):
    resp = _post(client, world, micro_capabilities=["a1", "C7", "A1"])
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    assert sub["status"] == "queued" and sub["overall"] is None
    assert sub["micro_capabilities"] == ["A1", "C7"]
    assert sub["sha256"] == hashlib.sha256(BODY).hexdigest() and sub["size_bytes"] == len(BODY)
    assert world.store.exists("sha256/" + sub["sha256"])
    with Session(world.engine) as session:
        job = session.exec(select(Job).where(Job.submission_id == sub["id"])).one()
        meta = session.get(SubmissionMeta, sub["id"])
        audited = session.exec(select(AuditEntry).where(AuditEntry.object_id == sub["id"])).all()
    assert job.status == JobStatus.queued
    assert meta.uploaded_by == world.user_ids["teacher"]
    assert [a.action for a in audited] == ["submission.create"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"micro_capabilities": "A14"}, "invalid_micro_capability"),
        ({"micro_capabilities": "D1"}, "invalid_micro_capability"),
        ({"micro_capabilities": ""}, "invalid_micro_capability"),
        ({"teacher_id": ["t_a", "t_a"]}, "invalid_request"),
        ({"resubmission_of": "sub_nope"}, "invalid_resubmission"),
    ],
)
def test_bad_fields_are_422(client, world, fields, code):
    resp = _post(client, world, **fields)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == code


def test_all_thirty_codes_are_accepted(client, world):
    codes = [f"A{i}" for i in range(1, 14)] + [f"B{i}" for i in range(1, 11)] + [f"C{i}" for i in range(1, 8)]
    resp = _post(client, world, micro_capabilities=codes)
    assert resp.status_code == 201 and len(resp.json()["micro_capabilities"]) == 30


def test_missing_file_and_empty_file(client, world):
    resp = client.post(
        "/v1/submissions",
        data={"teacher_id": "t_a", "micro_capabilities": "A1"},
        headers=world.auth("teacher"),
    )
    assert resp.status_code == 422
    assert _post(client, world, body=b"").json()["error"]["code"] == "empty_file"


def test_resubmission_of_own_earlier_submission(client, world):
    resp = _post(client, world, resubmission_of=world.subs["a"])
    assert resp.status_code == 201 and resp.json()["resubmission_of"] == world.subs["a"]
    other = _post(client, world, resubmission_of=world.subs["c"])  # another teacher's
    assert other.status_code == 422


def test_size_cap_is_413_and_nothing_is_stored(world):
    settings = world.settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(settings)) as client:
        resp = _post(client, world, body=b"x" * 5000)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "file_too_large"
        resp = client.post(  # no Content-Length check can catch a chunked body: the stream is cut
            "/v1/submissions",
            headers={**world.auth("teacher"), "content-type": "multipart/form-data; boundary=XX"},
            content=iter(
                [b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n']
                + [b"y" * 600] * 4
                + [b"\r\n--XX--\r\n"]
            ),
        )
        assert resp.status_code == 413
    assert not world.store.exists("sha256/" + hashlib.sha256(b"x" * 5000).hexdigest())
    assert not world.store.exists("sha256/" + hashlib.sha256(b"y" * 2400).hexdigest())


def test_errors_speak_the_callers_language(client, world):
    zh = client.get(
        "/v1/submissions/sub_nope", headers={**world.auth("teacher"), "Accept-Language": "zh-CN,zh;q=0.9"}
    )
    en = client.get("/v1/submissions/sub_nope", headers={**world.auth("teacher"), "Accept-Language": "en-US"})
    pref = client.get(
        "/v1/submissions/sub_nope", headers={**world.auth("teacher"), "Accept-Language": "en;q=0.5, zh"}
    )
    assert zh.status_code == en.status_code == 404
    assert zh.json()["error"] == {"code": "not_found", "message": "未找到。"}
    assert en.json()["error"] == {"code": "not_found", "message": "Not found."}
    assert pref.json()["error"]["message"] == "未找到。"
    media = _post(client, world, body=b"", headers={"Accept-Language": "zh"})
    assert media.json()["error"]["message"] == "上传的文件是空的。"


def test_rendition_ranges(client, world):
    url = f"/v1/submissions/{world.subs['a']}/rendition"
    full = client.get(url, headers=world.auth("teacher"))
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    data = world.store.read_range(world.blobs["rendition"], 0, 10**9)
    assert full.content == data
    part = client.get(url, headers={**world.auth("teacher"), "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(url, headers={**world.auth("teacher"), "Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == data[-16:]
    out = client.get(url, headers={**world.auth("teacher"), "Range": f"bytes={len(data)}-"})
    assert out.status_code == 416 and out.headers["content-range"] == f"bytes */{len(data)}"


def test_keyframes_and_contact_sheet(client, world):
    kf = client.get(f"/v1/submissions/{world.subs['a']}/keyframes", headers=world.auth("teacher")).json()
    assert kf["keyframes"][0]["t"] == 1.0
    image = client.get(kf["keyframes"][0]["uri"], headers=world.auth("teacher"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    sheet = client.get(f"/v1/submissions/{world.subs['a']}/contact-sheet", headers=world.auth("teacher"))
    assert sheet.content == world.store.read_range(world.blobs["sheet"], 0, 10**6)
    with Session(world.engine) as session:
        reads = session.exec(select(func.count()).where(AuditEntry.action == "evidence.read")).one()
    assert reads == 2


def test_no_media_yet_is_404(client, world):
    resp = client.get(f"/v1/submissions/{world.subs['b']}/rendition", headers=world.auth("teacher_reviewer"))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "no_media"


def test_idempotency_key_replays_rejects_other_bodies(client, world):
    key = {"Idempotency-Key": "k-123"}
    first = _post(client, world, headers=key)
    again = _post(client, world, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other_body = _post(client, world, body=BODY + b"!", headers=key)
    assert other_body.status_code == 422 and other_body.json()["error"]["code"] == "idempotency_mismatch"
    other_fields = _post(client, world, headers=key, micro_capabilities="A2")
    assert other_fields.status_code == 422
    other_user = _post(client, world, who="school_admin", headers=key)  # keys are per user
    assert other_user.status_code == 201 and other_user.json()["id"] != first.json()["id"]
    with Session(world.engine) as session:
        n = session.exec(select(func.count()).where(Submission.sha256 == first.json()["sha256"])).one()
    assert n == 2


def test_a_failed_request_frees_its_key(client, world):
    key = {"Idempotency-Key": "k-retry"}
    assert _post(client, world, headers=key, micro_capabilities="Z9").status_code == 422
    assert _post(client, world, headers=key).status_code == 201


def test_reprocess_requeues(client, world):
    resp = client.post(f"/v1/submissions/{world.subs['a']}/reprocess", headers=world.auth("school_admin"))
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "queued"
    again = client.post(f"/v1/submissions/{world.subs['a']}/reprocess", headers=world.auth("school_admin"))
    assert again.json()["job_id"] == body["job_id"]  # one active job
    view = client.get(f"/v1/submissions/{world.subs['a']}", headers=world.auth("teacher")).json()
    assert view["status"] == "queued" and view["overall"] is None


def test_request_ids_and_metrics(client, world):
    resp = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.json() == {"status": "ok"} and resp.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    assert _post(client, world).status_code == 201
    metrics = client.get("/metrics").text
    assert 'evidence_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in metrics
    assert 'evidence_jobs{lane="interactive",status="queued"} 1.0' in metrics
