"""Signing in to the pages: argon2 passwords set by the CLI, one generic failure, throttling per account
and per address, the session cookie's attributes, CSRF on everything the cookie authenticates, media
by cookie, and sessions that end on sign-out, a new password and a disabled user (for good)."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import make_transient
from sqlmodel import Session, select

from api.app import create_app
from core.accounts import set_disabled
from core.audit import Origin
from core.db import session_scope
from core.passwords import set_password
from models.accounts import User
from models.web_auth import SignInFailure, UserPassword, WebSession
from tests.pages.conftest import csrf_of, password_of, sign_in

GENERIC = "账号或密码错误，或该账号无法登录。"


def _sessions(world, who: str) -> int:
    with Session(world.engine) as session:
        rows = session.exec(select(WebSession).where(WebSession.user_id == world.user_ids[who])).all()
        return len(rows)


def test_password_is_stored_as_argon2id_and_sign_in_sets_a_hardened_cookie(web, world):
    with Session(world.engine) as session:
        row = session.get(UserPassword, world.user_ids["teacher"])
    assert row.login == "teacher" and row.password_hash.startswith("$argon2id$")
    assert password_of("teacher") not in row.password_hash

    answer = sign_in(web, "teacher", next_path="/me")
    assert answer.status_code == 303 and answer.headers["location"] == "/me"
    cookies = answer.headers.get_list("set-cookie")
    cookie = next(c for c in cookies if c.startswith("__Host-evidence_session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "path"} <= attributes
    assert "samesite=lax" in cookie.lower() and "domain" not in attributes
    assert web.get("/me").status_code == 200


def test_every_failure_is_the_same_answer(web, world):
    with session_scope(world.engine) as session:
        session.get(User, world.user_ids["school_admin"]).disabled = True
    answers = [
        sign_in(web, "teacher", password="wrong password"),
        sign_in(web, "nobody-here", password="whatever-123"),
        sign_in(web, "school_admin"),  # disabled
    ]
    assert {a.status_code for a in answers} == {401}
    assert all(GENERIC in a.text for a in answers)
    assert all("__Host-evidence_session" not in a.headers.get("set-cookie", "") for a in answers)


def test_throttled_per_account_then_per_address(web, world):
    for _ in range(world.settings.sign_in_max_failures_account):
        assert sign_in(web, "teacher", password="wrong password").status_code == 401
    refused = sign_in(web, "teacher")  # the right password, but too late
    assert refused.status_code == 429 and "登录失败次数过多" in refused.text
    assert sign_in(web, "reviewer").status_code == 303  # another account from the same address
    with Session(world.engine) as session:
        keys = set(session.exec(select(SignInFailure.key)).all())
    assert keys == {"account:teacher", "address:testclient"}


def test_throttled_per_address(web, world):
    world.settings.sign_in_max_failures_address = 3
    for n in range(3):
        assert sign_in(web, f"guess-{n}", password="wrong password").status_code == 401
    assert sign_in(web, "reviewer").status_code == 429


def test_sign_in_form_needs_its_token(web):
    web.get("/login")
    data = {"login": "teacher", "password": password_of("teacher"), "csrf_token": "forged", "next": ""}
    assert web.post("/login", data=data, follow_redirects=False).status_code == 403


def test_cookie_requests_that_change_state_need_the_csrf_token(web, world):
    sign_in(web, "teacher")
    token = csrf_of(web.get("/me").text)
    body = {"teacher_id": "t_a", "micro_capabilities": ["A1"], "size_bytes": 10, "filename": "x.mp4"}
    forged = web.post("/v1/uploads", json=body, headers={"X-CSRF-Token": "forged-" + token[:10]})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    assert web.post("/v1/uploads", json=body).status_code == 403  # no token at all
    good = web.post("/v1/uploads", json=body, headers={"X-CSRF-Token": token})
    assert good.status_code == 201
    upload = good.json()
    assert web.put(upload["parts"][0]["url"], content=b"0123456789").status_code == 403
    put = web.put(upload["parts"][0]["url"], content=b"0123456789", headers={"X-CSRF-Token": token})
    assert put.status_code == 200
    # reads need no token; a bearer header needs none either, cookie or not
    assert web.get(f"/v1/uploads/{upload['id']}").status_code == 200
    bearer = web.post("/v1/uploads", json=body, headers=world.auth("teacher"))
    assert bearer.status_code == 201


def test_media_routes_accept_the_cookie(web, world):
    sign_in(web, "teacher")
    answer = web.get(f"/v1/submissions/{world.subs['a']}/rendition", headers={"Range": "bytes=0-99"})
    assert answer.status_code == 206 and len(answer.content) == 100
    assert web.get(f"/v1/submissions/{world.subs['d']}/rendition").status_code == 404  # not theirs


def test_sign_out_ends_the_session(web, world):
    sign_in(web, "teacher")
    token = csrf_of(web.get("/me").text)
    assert web.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert _sessions(world, "teacher") == 1
    web.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert _sessions(world, "teacher") == 0
    assert web.get("/me", follow_redirects=False).headers["location"] == "/login?next=/me"


def test_disabling_a_user_ends_their_sessions(web, world):
    sign_in(web, "teacher")
    assert _sessions(world, "teacher") == 1
    with session_scope(world.engine) as session:  # through the ORM: ended in the same transaction
        session.get(User, world.user_ids["teacher"]).disabled = True
    assert _sessions(world, "teacher") == 0
    assert web.get("/v1/submissions/" + world.subs["a"]).status_code == 401
    with session_scope(world.engine) as session:
        session.get(User, world.user_ids["teacher"]).disabled = False
    assert web.get("/me", follow_redirects=False).status_code == 303  # the old cookie stays dead


def test_a_session_opened_before_a_disable_stays_refused_after_enabling(web, world):
    sign_in(web, "teacher")
    with Session(world.engine) as session:
        opened = session.exec(select(WebSession)).one()
        session.expunge(opened)
    make_transient(opened)
    teacher = world.user_ids["teacher"]
    with session_scope(world.engine) as session:
        set_disabled(session, teacher, True, Origin("test"))
    assert _sessions(world, "teacher") == 0
    with session_scope(world.engine) as session:  # a sign-in racing the disable committed just after it
        session.add(opened)
    assert _sessions(world, "teacher") == 1
    with session_scope(world.engine) as session:
        set_disabled(session, teacher, False, Origin("test"))
    with TestClient(create_app(world.settings), base_url="https://testserver") as later:
        assert sign_in(later, "teacher").status_code == 303
        assert web.get("/me", follow_redirects=False).status_code == 303  # refused, and removed
        assert later.get("/me").status_code == 200  # the session opened after enabling lives on
    assert _sessions(world, "teacher") == 1


def test_a_user_disabled_in_bulk_is_refused_and_loses_every_session(web, world):
    sign_in(web, "teacher")
    with session_scope(world.engine) as session:
        session.execute(sa.update(User).where(User.id == world.user_ids["teacher"]).values(disabled=True))
    assert _sessions(world, "teacher") == 1
    assert web.get("/me", follow_redirects=False).status_code == 303
    assert _sessions(world, "teacher") == 0


def test_a_new_password_ends_the_sessions(web, world):
    sign_in(web, "teacher")
    with session_scope(world.engine) as session:
        set_password(session, world.user_ids["teacher"], "another-password", Origin("test"))
    assert _sessions(world, "teacher") == 0
    assert sign_in(web, "teacher").status_code == 401
    assert sign_in(web, "teacher", password="another-password").status_code == 303


def test_pages_answer_in_chinese_first_and_english_on_one_click(web):
    sign_in(web, "teacher")
    page = web.get("/me")
    assert '<html lang="zh-CN">' in page.text and "我的课堂录像" in page.text
    link = re.search(r'id="lang-switch" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    english = web.get(link)
    assert '<html lang="en">' in english.text and "My lesson recordings" in english.text


def test_an_idle_session_ends(web, world):
    sign_in(web, "teacher")
    idle = timedelta(seconds=world.settings.web_session_idle_s + 60)
    with session_scope(world.engine) as session:
        row = session.exec(select(WebSession)).one()
        row.last_seen_at = row.last_seen_at - idle
        session.add(row)
    assert web.get("/me", follow_redirects=False).status_code == 303
    assert _sessions(world, "teacher") == 0
