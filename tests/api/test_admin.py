"""Administrators' lists (filters, keyset pages), statistics one level down, the event feed, and the
allowlist of shared material."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from models.audit import AuditEntry
from models.dedup import DuplicateMatch
from models.jobs import Job


def _post(client, world, n: int) -> list[str]:
    ids = []
    for i in range(n):
        files = {"file": (f"l{i}.mp4", f"lesson {i}".encode(), "video/mp4")}
        data = {"teacher_id": "t_a2", "micro_capabilities": "A1"}
        resp = client.post("/v1/submissions", files=files, data=data, headers=world.auth("school_admin"))
        assert resp.status_code == 201
        ids.append(resp.json()["id"])
    return ids


def test_pages_cover_everything_once_newest_first(client, world):
    made = _post(client, world, 5)
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get("/v1/admin/submissions" + query, headers=world.auth("school_admin")).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [s["id"] for s in seen]
    assert len(ids) == len(set(ids)) == 6  # the five new ones and "a"
    assert set(made) | {world.subs["a"]} == set(ids)
    stamps = [s["created_at"] for s in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_filters(client, world):
    _post(client, world, 2)
    auth = world.auth("county_admin")

    def ids(query: str) -> set[str]:
        return {s["id"] for s in client.get("/v1/admin/submissions" + query, headers=auth).json()["data"]}

    assert ids("?overall=duplicate") == {world.subs["a"]}
    assert ids("?duplicate=true") == {world.subs["a"]}
    assert world.subs["a"] not in ids("?duplicate=false")
    assert ids("?status=queued") >= {world.subs["b"]} and world.subs["a"] not in ids("?status=queued")
    assert ids("?region=sc.cd.wh.s018") == {world.subs["b"]}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ids(f"?since={future.replace('+', '%2B')}") == set()
    assert client.get("/v1/admin/submissions?since=12345", headers=auth).status_code == 422


def test_stats_one_level_down(client, world):
    _post(client, world, 3)
    county = client.get("/v1/admin/stats", headers=world.auth("county_admin")).json()
    assert county["group_by"] == "school"
    groups = {g["key"]: g for g in county["groups"]}
    assert set(groups) == {"sc.cd.wh.s017", "sc.cd.wh.s018"}
    assert (
        groups["sc.cd.wh.s017"]["submissions"] == 4
        and groups["sc.cd.wh.s017"]["by_overall"]["duplicate"] == 1
    )
    assert groups["sc.cd.wh.s017"]["rates"]["duplicate"] == 1.0  # of the one screened
    assert county["total"]["submissions"] == 5
    school = client.get("/v1/admin/stats", headers=world.auth("school_admin")).json()
    assert school["group_by"] == "teacher"
    assert {g["key"]: g["submissions"] for g in school["groups"]} == {"t_a": 1, "t_a2": 3}
    province = client.get("/v1/admin/stats", headers=world.auth("province_admin")).json()
    assert province["group_by"] == "city" and [g["key"] for g in province["groups"]] == ["sc.cd"]


def test_event_feed_pages_by_cursor(client, world):
    auth = world.auth("service")
    first = client.get("/v1/events?limit=2", headers=auth).json()
    assert len(first["data"]) == 2
    rest = client.get(f"/v1/events?after={first['next_cursor']}&limit=10", headers=auth).json()
    assert len(rest["data"]) == 1
    assert {e["id"] for e in first["data"]}.isdisjoint(e["id"] for e in rest["data"])
    idle = client.get(f"/v1/events?after={rest['next_cursor']}", headers=auth).json()
    assert idle == {"data": [], "next_cursor": rest["next_cursor"]}
    again = client.post(f"/v1/submissions/{world.subs['a']}/reprocess", headers=world.auth("school_admin"))
    assert again.status_code == 202 and again.json()["status"] == "queued", again.text
    # a re-screening announces again; reprocessing itself is not a terminal screening
    assert client.get(f"/v1/events?after={rest['next_cursor']}", headers=auth).json()["data"] == []


def test_allowlisting_shared_material(client, world):
    a, d = world.subs["a"], world.subs["d"]
    with Session(world.engine) as session:  # "d" was found to contain "a", both ways
        for mine, other in ((a, d), (d, a)):
            session.add(
                DuplicateMatch(submission_id=mine, other_id=other, kind="partial", verdict="duplicate",
                               score=0.9, query_coverage=0.5, match_coverage=0.5, segments=[], reasons=[],
                               version="test")
            )  # fmt: skip
        session.commit()
    body = {"submission_id": a, "title": "provincial demonstration lesson"}
    for who in ("school_admin", "county_admin", "city_admin"):
        assert client.post("/v1/admin/allowlist", json=body, headers=world.auth(who)).status_code == 403
    province = world.auth("province_admin")
    gd = {**body, "submission_id": world.subs["c"]}
    assert client.post("/v1/admin/allowlist", json=gd, headers=province).status_code == 404
    queued = client.post(
        "/v1/admin/allowlist", json={**body, "submission_id": world.subs["b"]}, headers=province
    )
    assert queued.status_code == 409 and queued.json()["error"]["code"] == "not_screened"

    made = client.post("/v1/admin/allowlist", json=body, headers=province)
    assert made.status_code == 201, made.text
    assert made.json()["rechecked"] == [d] and made.json()["title"] == body["title"]
    material = client.get(f"/v1/submissions/{a}", headers=province).json()
    assert material["overall"] != "duplicate" and material["report"]["duplicates"] == []
    assert client.get(f"/v1/submissions/{d}", headers=province).json()["status"] == "queued"
    listed = client.get("/v1/admin/allowlist", headers=world.auth("county_admin")).json()
    assert [(i["submission_id"], i["title"]) for i in listed] == [(a, body["title"])]
    with Session(world.engine) as session:
        assert session.exec(select(DuplicateMatch)).all() == []
        assert session.exec(select(Job).where(Job.submission_id == d, Job.status == "queued")).first()
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "allowlist.add")).one()
    assert entry.object_id == a and entry.detail["rechecked"] == [d]
