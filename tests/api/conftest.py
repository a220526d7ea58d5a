"""Fixtures for the API: a populated region (teachers, users of every role, submissions with reports),
the app in-process (TestClient) or as a real server on a loopback port, and a webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from core.accounts import create_user, issue_token
from core.db import init_db, make_engine, session_scope
from core.outbox import submission_changed
from core.settings import Settings
from core.storage import BlobStore, open_blob_store
from models.accounts import Role
from models.submissions import Submission, SubmissionMeta, SubmissionStatus
from models.teachers import Teacher

JPEG = b"\xff\xd8\xff\xe0" + b"keyframe" * 64
SCHOOLS = {
    "t_a": ("sc.cd.wh.s017", "math"),  # teacher A: the home school
    "t_a2": ("sc.cd.wh.s017", "physics"),  # a colleague at the same school
    "t_b": ("sc.cd.wh.s018", "math"),  # same county, other school
    "t_d": ("sc.cd.jj.s001", "english"),  # same city, other county
    "t_c": ("gd.gz.th.s003", "math"),  # another province
}
USERS: dict[str, dict[str, Any]] = {
    "teacher": {"roles": {Role.teacher}, "teacher_id": "t_a"},
    "teacher_reviewer": {"roles": {Role.teacher, Role.reviewer}, "teacher_id": "t_b"},
    "reviewer": {"roles": {Role.reviewer}, "region": "sc.cd.wh.s017"},
    "school_admin": {"roles": {Role.school_admin}, "region": "sc.cd.wh.s017"},
    "county_admin": {"roles": {Role.county_admin}, "region": "sc.cd.wh"},
    "city_admin": {"roles": {Role.city_admin}, "region": "sc.cd"},
    "province_admin": {"roles": {Role.province_admin}, "region": "sc"},
    "other_admin": {"roles": {Role.province_admin}, "region": "gd"},
    "service": {"roles": {Role.service}},
}


@dataclass
class World:
    """A small region with a user of every role, and submissions whose reports hold real blobs."""

    settings: Settings
    engine: Any
    store: BlobStore
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    subs: dict[str, str] = field(default_factory=dict)  # name -> submission id
    blobs: dict[str, str] = field(default_factory=dict)  # name -> blob key

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def add_submission(
    world: World, name: str, teacher_id: str, report: dict[str, Any] | None, status: SubmissionStatus
) -> str:
    """A submission with a ready-made report, as the runner would leave it (event included)."""
    key = world.store.put_bytes(f"upload of {name}".encode())
    with session_scope(world.engine) as session:
        sub = Submission(
            teacher_id=teacher_id,
            blob_key=key,
            sha256=key.removeprefix("sha256/"),
            size_bytes=10,
            filename=f"{name}.mp4",
            status=status,
            report=report,
        )
        session.add(sub)
        session.flush()
        session.add(SubmissionMeta(submission_id=sub.id, micro_capabilities=["A1", "B2"]))
        session.flush()
        submission_changed(session, sub)
    world.subs[name] = sub.id
    return sub.id


def screened_report(world: World, sub_id: str, *, duplicate_of: tuple[str, str] | None = None) -> dict:
    """A screened report with a rendition, a poster, keyframes, a contact sheet and (optionally) a
    duplicate match naming another submission and teacher."""
    uri = world.store.uri
    report: dict[str, Any] = {
        "submission_id": sub_id,
        "status": "screened",
        "error": None,
        "media": {"sha256": "0" * 64, "width": 640, "height": 360},
        "rendition": {"uri": uri(world.blobs["rendition"]), "mode": "remux", "width": 640, "height": 360},
        "poster": {"uri": uri(world.blobs["poster"])},
        "versions": {"validate": "1"},
        "timings": {},
        "presence": {"verdict": "valid", "teacher_seconds": 40.0},
        "keyframes": [{"t": 1.0, "uri": uri(world.blobs["keyframe"]), "width": 480, "height": 270}],
        "contact_sheet": {"uri": uri(world.blobs["sheet"]), "tiles": 1},
        "duplicates": [],
    }
    if duplicate_of is not None:
        other_sub, other_teacher = duplicate_of
        report["duplicates"] = [
            {
                "submission_id": other_sub,
                "teacher_id": other_teacher,
                "kind": "near",
                "verdict": "duplicate",
                "same_teacher": False,
                "earlier": "match",
                "score": 0.93,
                "query_coverage": 0.9,
                "match_coverage": 0.8,
                "segments": [{"query_start": 0, "query_end": 30, "match_start": 5, "match_end": 35}],
                "match_keyframe": uri(world.blobs["other_keyframe"]),
            }
        ]
    return report


def build_world(settings: Settings) -> World:
    """Migrate, then create teachers, users (with tokens) and three screened submissions."""
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    world = World(settings, engine, open_blob_store(settings))
    world.blobs = {
        "rendition": world.store.put_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40),
        "poster": world.store.put_bytes(JPEG + b"poster"),
        "keyframe": world.store.put_bytes(JPEG + b"own"),
        "sheet": world.store.put_bytes(JPEG + b"sheet"),
        "other_keyframe": world.store.put_bytes(JPEG + b"other"),
    }
    with session_scope(engine) as session:
        for tid, (school, subject) in SCHOOLS.items():
            session.add(Teacher(id=tid, name=f"Teacher {tid}", school_code=school, subject=subject))
    with session_scope(engine) as session:
        for who, spec in USERS.items():
            user = create_user(
                session, spec["roles"], name=who, region=spec.get("region"), teacher_id=spec.get("teacher_id")
            )
            world.user_ids[who] = user.id
            world.tokens[who] = issue_token(settings, user.id, ttl_s=3600)
    c_id = add_submission(world, "c", "t_c", None, SubmissionStatus.queued)
    a_id = add_submission(world, "a", "t_a", None, SubmissionStatus.queued)
    d_id = add_submission(world, "d", "t_d", None, SubmissionStatus.queued)
    for sub_id, dup in ((a_id, (c_id, "t_c")), (c_id, (a_id, "t_a")), (d_id, None)):
        with session_scope(engine) as session:
            sub = session.get(Submission, sub_id)
            sub.report = screened_report(world, sub_id, duplicate_of=dup)
            sub.status = SubmissionStatus.screened
            session.add(sub)
            submission_changed(session, sub)
    add_submission(world, "b", "t_b", None, SubmissionStatus.queued)
    return world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The populated region on SQLite and a local blob store."""
    w = build_world(Settings(home=tmp_path / "home", jwt_secret="test-secret-" + "x" * 32))
    yield w
    w.engine.dispose()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """The app in-process, on the world's database and store."""
    with TestClient(create_app(world.settings)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app served by uvicorn in a thread on a loopback port."""

    def __init__(self, settings: Settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the API did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A webhook receiver on a loopback port that fails the first ``fail_first`` requests (HTTP 503)
    and can be told to hang instead of answering."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.requests: list[Received] = []
        self.hang = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                    n = len(receiver.requests)
                if receiver.hang.is_set():
                    receiver.release.wait(60)
                    return  # no answer: the connection just closes
                self.send_response(503 if n <= receiver.fail_first else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(r.body) for r in self.requests]


def session_of(world: World) -> Session:
    return Session(world.engine, expire_on_commit=False)
