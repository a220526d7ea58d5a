"""The teacher's page in a real browser (Debian chromium, phone-sized): a real clip uploaded in parts
through a dropped connection, screened by the real pipeline, its result in plain words with every
number the report's; and a forged CSRF token refused."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from core.accounts import create_user
from core.audit import Origin
from core.db import make_engine, session_scope
from core.enrolment import enroll
from core.passwords import set_password
from models.accounts import Role
from models.submissions import Submission
from models.teachers import Teacher
from tests.fixtures.db import clone_migrated, drop_pg_database
from tests.fixtures.live_server import LiveServer
from tests.fixtures.media import CLIPS, DATA
from tests.pages.conftest import PHONE, give_passwords, open_as, password_of, snap
from workers.runner import JobRunner

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _num(x: float) -> str:
    return f"{float(x):.1f}".removesuffix(".0")


def test_teacher_uploads_a_real_clip_through_a_dropped_connection_and_sees_its_result(
    browser, world, ray_local
):
    give_passwords(world)
    with session_scope(world.engine) as session:  # the teacher's face, so presence is checked
        enroll(session, world.store, "t_a", [DATA / "faces/lin_manuel_miranda/ref1.png"], enrolled_by="admin")
    settings = world.settings.model_copy(update={"upload_part_bytes": 256 * 1024})  # 3 parts
    clip = CLIPS / "short_hamilton_clip.mp4"
    with LiveServer(settings) as server:
        page = open_as(browser, server, "teacher", PHONE)
        sent: dict[int, int] = {}

        def flaky(route):  # the second part's first attempt loses its connection
            number = int(route.request.url.rsplit("/", 1)[1])
            sent[number] = sent.get(number, 0) + 1
            if number == 2 and sent[number] == 1:
                route.abort("connectionreset")
            else:
                route.continue_()

        page.route(re.compile(r".*/v1/uploads/[^/]+/parts/\d+$"), flaky)
        page.set_input_files("#upload-file", str(clip))
        page.check('input[name="cap"][value="A1"]')
        page.check('input[name="cap"][value="B2"]')
        page.click("#upload-button")
        page.wait_for_url(re.compile(r"/me$"), timeout=60_000)
        page.wait_for_selector('article.submission[data-status="queued"]')
        assert sent == {1: 1, 2: 2, 3: 1}  # only the lost part went again
        new_id = page.get_attribute('article.submission[data-status="queued"]', "data-id")

        runner = JobRunner(settings, world.engine)  # screens it for real while the page waits
        while runner.run_once() is not None:
            pass
        card = page.locator(f'article.submission[data-id="{new_id}"][data-status="screened"]')
        card.wait_for(timeout=30_000)  # the page reloaded by itself
        snap(page, "teacher-me-phone")

        api = httpx.get(f"{server.url}/v1/submissions/{new_id}", headers=world.auth("teacher")).json()
        presence = api["report"]["presence"]
        assert card.get_attribute("data-overall") == api["overall"]
        assert api["overall"] == "duplicate"  # the same file as the world's lesson of teacher A
        text = card.inner_text()
        assert f"已确认您本人出镜 {_num(presence['teacher_seconds'])} 秒" in text
        assert f"规则要求至少 {_num(presence['required_seconds'])} 秒" in text
        assert "这与您之前提交过的录像相同（100% 的内容一致）" in text
        assert card.locator("figure.presence .seg.teacher").count() == len(presence["segments"])
        assert card.locator("img.poster").evaluate("img => img.complete && img.naturalWidth > 0")

        card.locator("a.resubmit").click()  # resubmitting names the one replaced
        page.wait_for_selector("#replacing")
        assert new_id in page.inner_text("#replacing")
        assert page.get_attribute("#upload-form", "data-resubmission-of") == new_id

        page.click("#lang-switch")
        page.wait_for_selector("html[lang=en]")
        assert "You were confirmed on camera for" in page.inner_text(f'article[data-id="{new_id}"]')
        page.context.close()


def test_a_forged_csrf_token_is_refused(browser, live, world):
    page = open_as(browser, live, "teacher")
    call = """async (token) => {
        const r = await fetch('/v1/uploads', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': token}, body: JSON.stringify({teacher_id: 't_a', micro_capabilities: ['A1'],
            size_bytes: 5})});
        return [r.status, (await r.json()).error?.code];
    }"""
    assert page.evaluate(call, "forged-token") == [403, "csrf_failed"]
    real = page.get_attribute('meta[name="csrf-token"]', "content")
    assert page.evaluate(call, real)[0] == 201
    page.context.close()


def test_on_s3_the_browser_sends_parts_to_presigned_urls_under_the_bucket_cors_rule(
    browser, s3_server, migrated_templates, tmp_path
):
    """PostgreSQL and the real S3 server: the rule of infra/s3-cors.json (with this site's origin) is
    what lets the page PUT parts across origins and read their ETags."""
    db_url = clone_migrated(migrated_templates, "postgresql", tmp_path / "db")
    bucket = f"evidence-web-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings = s3_server.settings(
        tmp_path / "home",
        storage=f"s3://{bucket}/lessons",
        database_url=db_url,
        jwt_secret="s" * 40,
        upload_part_bytes=5 * 1024**2,
    )
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            session.add(Teacher(id="t_a", name="Teacher A", school_code="sc.cd.wh.s017", subject="math"))
            session.flush()
            user = create_user(session, {Role.teacher}, teacher_id="t_a")
            set_password(session, user.id, password_of("teacher"), Origin("test"), login="teacher")
        lesson = tmp_path / "lesson.mp4"  # two parts (S3's parts are at least 5 MiB); never screened here
        lesson.write_bytes(os.urandom(6 * 1024**2 + 1234))
        server = LiveServer(settings)
        rule = json.loads((ROOT / "infra/s3-cors.json").read_text())
        rule["CORSRules"][0]["AllowedOrigins"] = [server.url]
        s3_server.client().put_bucket_cors(Bucket=bucket, CORSConfiguration=rule)
        other_origin = httpx.options(
            s3_server.endpoint_url + f"/{bucket}/x",
            headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "PUT"},
        )
        assert "access-control-allow-origin" not in other_origin.headers
        with server:
            page = open_as(browser, server, "teacher", PHONE)
            puts = []
            page.on("request", lambda r: puts.append(r) if r.method == "PUT" else None)
            page.set_input_files("#upload-file", str(lesson))
            page.check('input[name="cap"][value="C3"]')
            page.click("#upload-button")
            page.wait_for_url(re.compile(r"/me$"), timeout=120_000)
            page.wait_for_selector('article.submission[data-status="queued"]')
            snap(page, "teacher-me-s3-uploaded")
            page.context.close()
        assert len(puts) == 2 and all(r.url.startswith(s3_server.endpoint_url) for r in puts)
        assert all("cookie" not in r.headers for r in puts)
        with Session(engine) as session:
            sub = session.exec(select(Submission)).one()
        assert sub.size_bytes == lesson.stat().st_size
        assert sub.sha256 == hashlib.sha256(lesson.read_bytes()).hexdigest()
    finally:
        engine.dispose()
        drop_pg_database(db_url)
