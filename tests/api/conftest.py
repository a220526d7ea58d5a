"""Fixtures for the API: the app in-process (TestClient) on the world of ``tests.fixtures.world`` or as a
real server on a loopback port, and a webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio.to_thread
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.fixtures.world import USERS, World, build_world  # noqa: F401 — shared with the API tests


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
    """The app served by uvicorn in a thread on a loopback port; ``threads`` shrinks the shared thread
    pool (sync routes and dependencies run there; 40 threads by default)."""

    def __init__(self, settings: Settings, threads: int | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(settings)
        config = uvicorn.Config(
            app if threads is None else _with_threads(app, threads),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
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


def _with_threads(app: Any, threads: int) -> Any:
    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        await app(scope, receive, send)

    return wrapped


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
