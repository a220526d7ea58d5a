"""The reviewer's pages in a real browser: their own assignments, the blind packet whose video plays
and seeks from keyframes and the timeline, duplicate matches at aligned times, the score going out as
the same ``review.decided`` event; and another reviewer's assignment not found."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from core.db import session_scope
from models.outbox import Event
from models.review import ReviewAssignment, ReviewKind, ReviewLevel
from tests.pages.conftest import open_as, snap

pytestmark = pytest.mark.slow


def _assign(world, who: str, kind: ReviewKind) -> str:
    with session_scope(world.engine) as session:
        a = ReviewAssignment(
            kind=kind, level=ReviewLevel.school, submission_id=world.subs["a"],
            reviewer_id=world.user_ids[who], seed=0, created_by="test",
        )  # fmt: skip
        session.add(a)
        session.flush()
        return a.id


def _current_time(page) -> float:
    return page.evaluate("() => document.getElementById('player').currentTime")


def test_reviewer_watches_seeks_and_scores_a_blind_packet(browser, live, world):
    mine = _assign(world, "reviewer", ReviewKind.school)
    theirs = _assign(world, "teacher_reviewer", ReviewKind.peer)
    report = world.report("a")
    page = open_as(browser, live, "reviewer")
    page.goto("/review")
    assert page.locator("#assignments tbody tr").count() == 1
    page.click(f'tr[data-id="{mine}"] a')
    page.wait_for_selector("#player")

    html = page.content()
    for secret in (
        "t_a",
        "t_a2",
        "t_c",
        "Teacher",
        "sc.cd.wh",
        "s017",
        "a.mp4",
        world.subs["a"],
        world.subs["c"],
    ):
        assert not re.search(rf"\b{re.escape(secret)}\b", html), secret
    assert world.user_ids["teacher"] not in html  # the uploader

    page.evaluate("() => document.getElementById('player').play()")
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.5", timeout=20_000)

    frames = page.locator("#keyframes .keyframe")
    assert frames.count() == len(report["keyframes"])
    last = report["keyframes"][-1]["t"]
    page.evaluate("() => document.getElementById('player').pause()")
    frames.last.click()
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {last}) < 1.5")

    stretches = page.locator("#stretches .seg")
    assert stretches.count() == len(report["presence"]["segments"])
    start = report["presence"]["segments"][0]["start"]
    page.evaluate("() => document.getElementById('player').pause()")
    stretches.first.click()
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {start}) < 1.5")

    match = report["duplicates"][0]
    shown = page.locator("#duplicates .match").first
    assert shown.get_attribute("data-verdict") == match["verdict"]
    first = match["segments"][0]
    row = shown.locator("tbody tr").first.inner_text()
    for t in (first["query_start"], first["match_start"]):
        assert f"{int(round(t)) // 60}:{int(round(t)) % 60:02d}" in row
    snap(page, "reviewer-packet")

    page.fill('input[name="score"]', "92")
    page.fill('textarea[name="comment"]', "教学设计清晰")
    page.click("#submit-decision")
    page.wait_for_selector("#decided")
    assert "92" in page.inner_text("#decided") and "优秀" in page.inner_text("#decided")
    with Session(world.engine) as session:
        events = session.exec(select(Event).where(Event.type == "review.decided")).all()
    assert [(e.data["assignment_id"], e.data["score"], e.data["band"]) for e in events] == [
        (mine, 92, "excellent")
    ]

    page.goto(f"/review/{theirs}")  # another reviewer's assignment
    assert "未找到" in page.inner_text("#page-error")
    assert page.evaluate("async (id) => (await fetch('/v1/reviews/' + id)).status", theirs) == 404
    page.context.close()
