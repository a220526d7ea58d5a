"""Fixtures for the API: the app in-process (TestClient) on the world of ``tests.fixtures.world`` or as a
real server on a loopback port, and a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.fixtures.live_server import LiveServer, free_port  # noqa: F401 — shared with the API tests
from tests.fixtures.world import USERS, World, build_world  # noqa: F401 — shared with the API tests


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """The app in-process, on the world's database and store."""
    with TestClient(create_app(world.settings)) as c:
        yield c


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
