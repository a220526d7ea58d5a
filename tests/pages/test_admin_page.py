"""The administrator's page in a real browser: the charts show the numbers the API's stats give and
drill down to a school; the flagged queue, duplicate clusters and webhook health stay inside the
region; a county administrator sees no other county."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from core.db import session_scope
from core.duplicates import match_fields, write_matches
from models.outbox import DeliveryStatus, Event, WebhookDelivery
from models.submissions import Overall, Submission, SubmissionMeta
from models.teachers import Teacher
from tests.pages.conftest import PHONE, open_as, sign_in, snap

pytestmark = pytest.mark.slow
OVERALLS = ("invalid", "needs_review", "duplicate")


def _matches_and_deliveries(world) -> None:
    """The match between lesson A and its copy C in the database (as the pipeline wrote it in the
    reports), and a delivered and a dead webhook delivery of lesson A's event."""
    match = world.report("a")["duplicates"][0]
    with session_scope(world.engine) as session:
        write_matches(session, world.subs["a"], [match_fields(world.subs["c"], match)])
        event = session.exec(select(Event).where(Event.submission_id == world.subs["a"])).first()
        now = datetime.now(UTC)
        session.add(
            WebhookDelivery(
                event_id=event.id,
                url="https://scoring.example/ok",
                status=DeliveryStatus.delivered,
                attempts=1,
                delivered_at=now,
            )
        )
        session.add(WebhookDelivery(event_id=event.id, url="https://scoring.example/down",
                                    status=DeliveryStatus.dead, attempts=16, last_status_code=503,
                                    last_error="HTTP 503"))  # fmt: skip


def _chart(page, element_id: str) -> dict:
    return page.evaluate(
        """(id) => { const o = echarts.getInstanceByDom(document.getElementById(id)).getOption();
        return {labels: o.xAxis[0].data, series: Object.fromEntries(o.series.map(s => [s.id, s.data]))}; }""",
        element_id,
    )


def _api_stats(server, world, who: str, region: str | None = None) -> dict:
    params = {"region": region} if region else {}
    return httpx.get(f"{server.url}/v1/admin/stats", params=params, headers=world.auth(who)).json()


def _assert_charts_match(page, stats: dict) -> None:
    counts, rates = _chart(page, "counts-chart"), _chart(page, "rates-chart")
    keys = [g["key"] for g in stats["groups"]]
    assert [k.rsplit(".", 1)[-1] if stats["group_by"] != "teacher" else k for k in keys] == counts["labels"]
    for o in OVERALLS:
        assert counts["series"][o] == [g["by_overall"][o] for g in stats["groups"]]
        assert rates["series"][o] == [g["rates"][o] for g in stats["groups"]]
        assert page.inner_text(f"#total-{o}") == str(stats["total"]["by_overall"][o])


def test_county_admin_sees_the_apis_numbers_drills_down_and_no_other_county(browser, live, world):
    _matches_and_deliveries(world)
    page = open_as(browser, live, "county_admin", PHONE)
    page.goto("/admin")
    page.wait_for_selector("#counts-chart svg")
    stats = _api_stats(live, world, "county_admin")
    assert stats["region"] == "sc.cd.wh" and stats["group_by"] == "school"
    _assert_charts_match(page, stats)

    html = page.content()
    for elsewhere in ("sc.cd.jj", "t_d", "t_c", "gd.gz", world.subs["c"], world.subs["d"]):
        assert not re.search(rf"\b{re.escape(elsewhere)}\b", html), elsewhere
    cluster = page.locator("#clusters .cluster")
    assert cluster.count() == 1 and cluster.get_attribute("data-outside") == "1"
    assert world.subs["a"] in cluster.inner_text() and "最早的一份在您管辖区域之外" in cluster.inner_text()
    assert page.locator(f'#flagged tr[data-id="{world.subs["a"]}"]').count() == 1
    assert page.inner_text("#wh-dead") == "1" and page.inner_text("#wh-delivered") == "1"
    snap(page, "admin-county-phone")

    # a click on school s017's bar drills down: per teacher, the same numbers as the API's
    index = stats["groups"].index(next(g for g in stats["groups"] if g["key"] == "sc.cd.wh.s017"))
    page.locator("#counts-chart").scroll_into_view_if_needed()
    x, y = page.evaluate(
        """(i) => { const c = echarts.getInstanceByDom(document.getElementById('counts-chart'));
        const s = c.getOption().series.findIndex(s => s.data[i] > 0);
        const bar = c.getModel().getSeriesByIndex(s).getData().getItemLayout(i);
        return [bar.x + bar.width / 2, bar.y + bar.height / 2]; }""",
        index,
    )
    box = page.locator("#counts-chart").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url(re.compile(r"/admin\?region=sc\.cd\.wh\.s017$"))
    page.wait_for_selector("#counts-chart svg")
    _assert_charts_match(page, _api_stats(live, world, "county_admin", "sc.cd.wh.s017"))
    assert "sc.cd.wh" in page.inner_text("#crumbs")

    page.goto("/admin?region=sc.cd.jj")  # the neighbouring county
    assert "未找到" in page.inner_text("#page-error")
    page.context.close()


def test_province_admin_sees_cities_and_the_copy_across_provinces_only_as_a_count(browser, live, world):
    _matches_and_deliveries(world)
    page = open_as(browser, live, "province_admin")
    page.goto("/admin")
    page.wait_for_selector("#rates-chart svg")
    _assert_charts_match(page, _api_stats(live, world, "province_admin"))
    assert world.subs["c"] not in page.content()  # the copy in another province: counted, never named
    assert page.locator("#clusters .cluster").get_attribute("data-outside") == "1"
    snap(page, "admin-province")
    page.context.close()


def _add_submission(session, n: int, overall: Overall, created_at: datetime | None = None) -> str:
    """A flagged submission of teacher ``t_b`` (sc.cd.wh.s018), with its own bytes ``n``."""
    digest = f"{n:064x}"
    sub = Submission(blob_key="sha256/" + digest, sha256=digest, size_bytes=1, teacher_id="t_b")
    if created_at is not None:
        sub.created_at = created_at
    session.add(sub)
    session.flush()
    session.add(SubmissionMeta(submission_id=sub.id, overall=overall))
    return sub.id


def _section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def test_the_flagged_queue_pages_newest_first_without_repeats(web, world):
    """Beyond one page of flagged submissions, "next page" links walk the rest, each once."""
    with session_scope(world.engine) as session:
        base = datetime.now(UTC)
        for i in range(57):
            _add_submission(session, i, Overall.invalid, base - timedelta(minutes=i))
    with Session(world.engine) as session:
        total = len(
            session.exec(
                select(Submission.id)
                .join(Teacher, Submission.teacher_id == Teacher.id)
                .join(SubmissionMeta, SubmissionMeta.submission_id == Submission.id)
                .where(Teacher.school_code.startswith("sc.cd.wh."))
                .where(SubmissionMeta.overall.in_([Overall.invalid, Overall.duplicate, Overall.needs_review]))
            ).all()
        )
    assert sign_in(web, "county_admin").status_code == 303
    seen, url = [], "/admin"
    while url:
        html = web.get(url).text
        flagged = _section(html, "flagged")
        rows = re.findall(r'<tr data-id="([^"]+)"', flagged)
        assert len(rows) <= 50 and rows
        seen += rows
        found = re.search(r'id="flagged-next" href="([^"]+)"', flagged)
        url = "/admin" + found.group(1).replace("&amp;", "&").split("#")[0] if found else None
    assert len(seen) == len(set(seen)) == total >= 57  # every flagged submission once
    assert web.get("/admin?after=not-a-cursor").status_code == 400


def test_duplicate_clusters_page_largest_first(web, world):
    """More clusters than a page holds: pages of 20, each cluster on one page only."""
    template = world.report("a")["duplicates"][0]
    with session_scope(world.engine) as session:
        for i in range(23):  # 23 pairs of copies in the county
            pair = [_add_submission(session, 1000 + 2 * i + side, Overall.duplicate) for side in range(2)]
            write_matches(session, pair[0], [match_fields(pair[1], {**template, "verdict": "duplicate"})])
    assert sign_in(web, "county_admin").status_code == 303
    first = _section(web.get("/admin").text, "clusters")
    total = int(re.search(r"共 (\d+) 个重复提交簇", first).group(1))
    assert total >= 23 and first.count('class="cluster"') == 20
    second = _section(web.get("/admin?clusters=2").text, "clusters")
    assert second.count('class="cluster"') == total - 20 and 'id="clusters-prev"' in second
    ids = [re.findall(r'<li data-id="([^"]+)"', html) for html in (first, second)]
    assert not set(ids[0]) & set(ids[1])  # no cluster on both pages
    assert web.get("/admin?clusters=0").status_code == 422
