"""Slow and abusive uploaders against a real uvicorn: stalled bodies hold no thread, so /healthz and
reads still answer; uploads over the caps are refused at once; a body that stops arriving is timed
out; a client that goes away leaves no traceback; a malformed part header is a 422."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from tests.api.conftest import LiveServer, build_world

THREADS = 3  # the shared pool, shrunk: without the fix, 3 stalled uploads take every thread
BOUNDARY = "stallstallstall"


def _stalled_upload(port: int, token: str, teacher: str = "t_a") -> socket.socket:
    """Send the headers and the start of a 100 MB multipart upload, then nothing."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="teacher_id"\r\n\r\n{teacher}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="micro_capabilities"\r\n\r\nA1\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + b"\x00" * 70_000
    request = (
        "POST /v1/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {100_000_000}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(request + head)
    return sock


def _answer(sock: socket.socket) -> str:
    """The status line and headers the server sent on this socket (it closes after them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1").lower()


@pytest.fixture
def stall_settings(tmp_path, world_db):
    from core.settings import Settings

    return Settings(
        home=tmp_path / "home",
        database_url=world_db,
        jwt_secret="stall-" + "s" * 40,
        uploads_max_per_user=2,
        uploads_max_concurrent=4,
        upload_read_timeout_s=15,  # long enough for the checks below on a loaded machine
    )


def test_stalled_uploads_leave_the_api_answering(stall_settings, screened_lessons):
    world = build_world(stall_settings, screened_lessons)
    with LiveServer(stall_settings, threads=THREADS) as server, httpx.Client(base_url=server.url) as http:
        port = server.port
        stalled = [_stalled_upload(port, world.tokens[w]) for w in ("teacher", "teacher", "school_admin")]
        try:
            for _ in range(3):  # every endpoint answers while the uploads hang
                assert http.get("/healthz", timeout=10).status_code == 200
                sub = http.get(
                    f"/v1/submissions/{world.subs['a']}", headers=world.auth("service"), timeout=10
                )
                assert sub.status_code == 200
                listed = http.get("/v1/admin/submissions", headers=world.auth("county_admin"), timeout=10)
                assert listed.status_code == 200
            # a third upload of the same caller: 429 at once; a fifth in all: 503 at once
            third = _answer(_stalled_upload(port, world.tokens["teacher"]))
            assert third.startswith("http/1.1 429") and "retry-after: 30" in third
            assert "connection: close" in third
            stalled.append(_stalled_upload(port, world.tokens["county_admin"], teacher="t_b"))
            assert http.get("/healthz", timeout=10).status_code == 200
            fifth = _answer(_stalled_upload(port, world.tokens["city_admin"], teacher="t_b"))
            assert fifth.startswith("http/1.1 503") and "retry-after" in fifth
            # each stalled body is timed out (408) and its connection closed; the slots free up
            for sock in stalled:
                assert _answer(sock).startswith("http/1.1 408")
        finally:
            for sock in stalled:
                sock.close()
        files = {"file": ("lesson.mp4", b"\x00\x00\x00\x18ftypisom" * 100, "video/mp4")}
        data = {"teacher_id": "t_a", "micro_capabilities": "A1"}
        done = http.post("/v1/submissions", files=files, data=data, headers=world.auth("teacher"), timeout=30)
        assert done.status_code == 201, done.text
        assert not world.store.spool_dir.exists() or not list(world.store.spool_dir.iterdir())
    world.engine.dispose()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_gone_mid_upload_logs_no_traceback(stall_settings, screened_lessons):
    world = build_world(stall_settings, screened_lessons)
    seen = _Records()
    uvicorn_log = logging.getLogger("uvicorn.error")  # where uvicorn puts "Exception in ASGI application"
    uvicorn_log.addHandler(seen)
    try:
        with LiveServer(stall_settings) as server:
            _stalled_upload(server.port, world.tokens["teacher"]).close()
            metrics = ""
            for _ in range(100):  # until the server has seen the disconnect
                metrics = httpx.get(server.url + "/metrics", timeout=10).text
                if 'status="499"' in metrics:
                    break
    finally:
        uvicorn_log.removeHandler(seen)
    assert 'method="POST",route="/v1/submissions",status="499"' in metrics  # the one access line
    tracebacks = [r.getMessage() for r in seen.records if r.exc_info]
    assert not tracebacks
    assert not world.store.spool_dir.exists() or not list(world.store.spool_dir.iterdir())
    world.engine.dispose()


def test_a_bare_cr_in_a_part_header_is_a_422(stall_settings, screened_lessons):
    world = build_world(stall_settings, screened_lessons)
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="teacher_id"\r\n\r\nt_a\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data;\r name="file"; filename="x.mp4"\r\n\r\n'
        f"data\r\n--{BOUNDARY}--\r\n"
    ).encode()
    headers = {**world.auth("teacher"), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    with LiveServer(stall_settings) as server:
        resp = httpx.post(server.url + "/v1/submissions", content=body, headers=headers, timeout=30)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"
    world.engine.dispose()
