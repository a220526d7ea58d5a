"""Fixtures for the pages: people of the API world with passwords, the app in-process over https (so
the Secure cookie is sent), a real server, and one Debian chromium per session driven by Playwright."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.db import session_scope
from core.passwords import hash_password
from models.web_auth import UserPassword
from tests.fixtures.live_server import LiveServer
from tests.fixtures.world import USERS, World

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"  # outside git
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def password_of(who: str) -> str:
    return f"pw-{who}-2026"


@cache
def _hash_of(who: str) -> str:
    return hash_password(password_of(who))  # ~0.1-0.3 s each: hashed once per test session


def give_passwords(world: World) -> None:
    """Every user of the world signs in as ``who`` with ``password_of(who)`` (``core.passwords.set_password``
    is tested on its own; here the rows are written with hashes made once)."""
    with session_scope(world.engine) as session:
        for who in USERS:
            session.add(UserPassword(user_id=world.user_ids[who], login=who, password_hash=_hash_of(who)))


def sign_in(client: TestClient, who: str, password: str | None = None, next_path: str = "") -> object:
    """Sign in through the form as a browser does: fetch it (and its token cookie), then post it."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    data = {"login": who, "password": password or password_of(who), "csrf_token": token, "next": next_path}
    return client.post("/login", data=data, follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]*)"', html).group(1)


@pytest.fixture
def web(world: World) -> Iterator[TestClient]:
    """The app in-process over https, every world user with a password."""
    give_passwords(world)
    with TestClient(create_app(world.settings), base_url="https://testserver") as client:
        yield client


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium (``shutil.which``), one for the whole session; Playwright's own browser
    downloads cannot work here."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run infra/setup.sh (Debian package chromium)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=executable, args=["--autoplay-policy=no-user-gesture-required"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live(world: World) -> Iterator[LiveServer]:
    """The app on a loopback port, for the browser; every world user with a password."""
    give_passwords(world)
    with LiveServer(world.settings) as server:
        yield server


def open_as(browser: object, server: LiveServer, who: str, viewport: dict | None = None) -> object:
    """A fresh browser context signed in as ``who`` through the sign-in form; returns its page."""
    context = browser.new_context(viewport=viewport or DESKTOP, base_url=server.url)
    page = context.new_page()
    page.goto("/login")
    page.fill('input[name="login"]', who)
    page.fill('input[name="password"]', password_of(who))
    page.click("#sign-in")
    page.wait_for_load_state()
    return page


def snap(page: object, name: str) -> None:
    """Keep a screenshot as a test artifact (``test-artifacts/screenshots``, not in git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
