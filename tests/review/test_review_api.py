"""The review API end to end on SQLite and PostgreSQL: spot check → blind packet and media → decision
with override → the teacher's view and dispute → re-check at the next level up → events and audit."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from models.accounts import User
from models.audit import AuditEntry


def spot_check(api, world, **body):
    body = {"level": "county", "region": "sc.cd.wh", "rate": 1.0, "seed": 11, **body}
    return api.post("/v1/assignments/spot-check", json=body, headers=world.auth("county_admin"))


def test_dispute_flow_end_to_end(api, api_world):
    world = api_world
    resp = spot_check(api, world)
    assert resp.status_code == 201, resp.text
    batch = resp.json()
    # Only "a" is screened in the county; a county check goes to another county of the same city.
    assert [a["submission_id"] for a in batch["assignments"]] == [world.subs["a"]]
    assignment = batch["assignments"][0]
    assert assignment["reviewer_id"] == world.user_ids["jj_reviewer"]
    assert assignment["recused_unit"] == "sc.cd.wh"

    # The reviewer's list and packet: nothing naming the teacher, the school, the uploader, the file,
    # nor the other submission or teacher of the duplicate match.
    mine = api.get("/v1/reviews", headers=world.auth("jj_reviewer")).json()["data"]
    assert [r["id"] for r in mine] == [assignment["id"]]
    packet = api.get(mine[0]["packet"], headers=world.auth("jj_reviewer"))
    assert packet.status_code == 200
    text = packet.text
    uploader = world.user_ids["teacher"]  # teacher A uploaded the lesson
    secrets = ("t_a", "t_a2", "t_c", "Teacher", "sc.cd.wh", "s017", "a.mp4", world.subs["a"], world.subs["c"])
    for secret in (*secrets, uploader):
        assert secret not in text, secret
    report = world.report("a")  # made by the pipeline: the packet carries its findings, blind
    evidence = packet.json()["evidence"]
    assert evidence["duplicates"][0]["verdict"] == report["duplicates"][0]["verdict"] == "duplicate"
    keys = ("query_start", "query_end", "match_start", "match_end")  # aligned times on both sides
    assert evidence["duplicates"][0]["segments"] == [
        {k: s[k] for k in keys} for s in report["duplicates"][0]["segments"]
    ]
    assert evidence["duplicates"][0]["this_is_earlier"] is True  # "a" was screened before its copy
    assert evidence["presence"]["verdict"] == report["presence"]["verdict"]
    assert [k["t"] for k in evidence["keyframes"]] == [k["t"] for k in report["keyframes"]]
    assert packet.json()["screening_overall"] == "duplicate"

    # Media: exactly the packet's, through the assignment; nothing by submission, nothing of the other.
    rendition = api.get(evidence["rendition"]["url"], headers=world.auth("jj_reviewer"))
    assert rendition.status_code == 200
    assert rendition.content == world.store.read_range(world.blobs["rendition"], 0, 10**6)
    other = world.blobs["other_keyframe"].removeprefix("sha256/")
    base = f"/v1/reviews/{assignment['id']}"
    assert api.get(f"{base}/media/{other}", headers=world.auth("jj_reviewer")).status_code == 404
    sub_path = f"/v1/submissions/{world.subs['a']}"
    assert api.get(f"{sub_path}/rendition", headers=world.auth("jj_reviewer")).status_code == 404
    assert api.get(sub_path, headers=world.auth("jj_reviewer")).status_code == 404
    # Another reviewer (even an administrator) cannot open someone else's assignment.
    for who in ("reviewer", "my_reviewer", "teacher_reviewer"):
        assert api.get(base, headers=world.auth(who)).status_code == 404
        assert api.get(evidence["rendition"]["url"], headers=world.auth(who)).status_code == 404
    assert api.get(base, headers=world.auth("county_admin")).status_code == 403

    # Decision with an override of the screening verdict.
    decision = {
        "score": 55,
        "override": {"overall": "clear", "reason": "licensed shared material"},
        "comment": "ok",
    }
    made = api.post(f"{base}/decision", json=decision, headers=world.auth("jj_reviewer"))
    assert made.status_code == 201, made.text
    assert made.json()["band"] == "fail" and made.json()["override_overall"] == "clear"
    again = api.post(f"{base}/decision", json=decision, headers=world.auth("jj_reviewer"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"

    # The teacher sees the decision, never who made it.
    seen = api.get("/v1/decisions", headers=world.auth("teacher"))
    assert seen.status_code == 200
    (public,) = seen.json()["data"]
    assert public["score"] == 55 and public["disputable"] is True
    for secret in (world.user_ids["jj_reviewer"], "jj_reviewer", "sc.cd.jj", assignment["id"]):
        assert secret not in seen.text
    assert api.get("/v1/decisions", headers=world.auth("teacher_reviewer")).json()["data"] == []
    decision_id = public["id"]
    assert api.get(f"/v1/decisions/{decision_id}", headers=world.auth("teacher_reviewer")).status_code == 404

    # Dispute (once, by the teacher): re-checked at city level, by a reviewer outside the city.
    path = f"/v1/decisions/{decision_id}/dispute"
    assert api.post(path, json={"reason": "x"}, headers=world.auth("teacher_reviewer")).status_code == 404
    disputed = api.post(path, json={"reason": "the shared clip is licensed"}, headers=world.auth("teacher"))
    assert disputed.status_code == 201, disputed.text
    assert disputed.json()["recheck_level"] == "city" and disputed.json()["status"] == "open"
    twice = api.post(path, json={"reason": "again"}, headers=world.auth("teacher"))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_disputed"
    (recheck,) = api.get("/v1/reviews", headers=world.auth("my_reviewer")).json()["data"]
    assert recheck["kind"] == "dispute" and recheck["level"] == "city"
    resolved = api.post(
        f"/v1/reviews/{recheck['id']}/decision",
        json={"score": 92, "comment": "fine"},
        headers=world.auth("my_reviewer"),
    )
    assert resolved.status_code == 201
    view = api.get(f"/v1/decisions/{decision_id}", headers=world.auth("teacher")).json()
    assert view["dispute"]["status"] == "resolved" and view["dispute"]["outcome"] == "changed"
    assert view["dispute"]["recheck_band"] == "excellent"
    assert "my_reviewer" not in json.dumps(view) and world.user_ids["my_reviewer"] not in json.dumps(view)
    final = [
        d
        for d in api.get("/v1/decisions", headers=world.auth("teacher")).json()["data"]
        if d["id"] != decision_id
    ]
    assert final[0]["kind"] == "dispute" and final[0]["disputable"] is False
    refused = api.post(
        f"/v1/decisions/{final[0]['id']}/dispute", json={"reason": "no"}, headers=world.auth("teacher")
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_disputable"

    # Events for the scoring workflow, in order.
    events = api.get("/v1/events", headers=world.auth("service")).json()["data"]
    review_events = [e for e in events if e["type"].startswith("review.")]
    assert [e["type"] for e in review_events] == [
        "review.decided",
        "review.disputed",
        "review.decided",
        "review.dispute_resolved",
    ]
    assert review_events[0]["data"]["override"] == {"overall": "clear", "reason": "licensed shared material"}
    assert review_events[0]["data"]["screening_overall"] == "duplicate"
    assert review_events[3]["data"]["outcome"] == "changed"

    # Audit: every act, scoped to the administrator's region.
    audit = api.get("/v1/admin/audit?limit=500", headers=world.auth("county_admin")).json()["data"]
    actions = {e["action"] for e in audit}
    assert {
        "assignment.batch",
        "assignment.create",
        "evidence.read",
        "review.decide",
        "review.override",
        "review.dispute",
        "review.dispute_resolve",
    } <= actions
    reads = [
        e for e in audit if e["action"] == "evidence.read" and e["actor_id"] == world.user_ids["jj_reviewer"]
    ]
    assert {r["detail"]["media"] for r in reads} >= {"packet"} and all(r["ip"] for r in reads)
    only = api.get("/v1/admin/audit?action=review.override", headers=world.auth("county_admin")).json()[
        "data"
    ]
    assert len(only) == 1 and only[0]["detail"]["from"] == "duplicate" and only[0]["detail"]["to"] == "clear"
    assert api.get("/v1/admin/audit", headers=world.auth("other_admin")).json()["data"] == []
    assert api.get("/v1/admin/audit?region=gd", headers=world.auth("county_admin")).status_code == 404
    assert api.get("/v1/admin/audit", headers=world.auth("teacher")).status_code == 403


def test_recused_reviewer_gets_404(api, api_world):
    world = api_world
    assignment = spot_check(api, world).json()["assignments"][0]
    base = f"/v1/reviews/{assignment['id']}"
    assert api.get(base, headers=world.auth("jj_reviewer")).status_code == 200
    with Session(world.engine) as session:  # the reviewer moves into the submission's county
        user = session.get(User, world.user_ids["jj_reviewer"])
        user.region = "sc.cd.wh.s018"
        session.add(user)
        session.commit()
    assert api.get(base, headers=world.auth("jj_reviewer")).status_code == 404
    assert api.get("/v1/reviews", headers=world.auth("jj_reviewer")).json()["data"] == []
    made = api.post(f"{base}/decision", json={"score": 70}, headers=world.auth("jj_reviewer"))
    assert made.status_code == 404


def test_assignment_errors_and_scope(api, api_world):
    world = api_world
    # Nobody in the county's city but outside the county can be disabled away: then a clear 409.
    with Session(world.engine) as session:
        user = session.get(User, world.user_ids["jj_reviewer"])
        user.disabled = True
        session.add(user)
        session.commit()
    none = spot_check(api, world)
    assert none.status_code == 409 and none.json()["error"]["code"] == "no_eligible_reviewer"
    assert none.json()["error"]["detail"][0]["recused_unit"] == "sc.cd.wh"
    peer = api.post(
        "/v1/assignments/peer", json={"region": "sc.cd.wh.s017"}, headers=world.auth("school_admin")
    )
    assert peer.status_code == 409 and peer.json()["error"]["code"] == "no_eligible_reviewer"
    assert "message" in peer.json()["error"]
    cn = api.post(
        "/v1/assignments/peer",
        json={"region": "sc.cd.wh.s017"},
        headers={**world.auth("school_admin"), "Accept-Language": "zh-CN"},
    )
    assert "评审人" in cn.json()["error"]["message"]
    outside = api.post(
        "/v1/assignments/peer", json={"region": "sc.cd.wh.s018"}, headers=world.auth("school_admin")
    )
    assert outside.status_code == 404
    assert spot_check(api, world, region="sc.cd").status_code == 404  # not the caller's region
    wrong_level = spot_check(api, world, region="sc.cd.wh.s017")
    assert wrong_level.status_code == 422 and wrong_level.json()["error"]["code"] == "invalid_region"
    assert spot_check(api, world, extra=1).status_code == 422
    teacher = api.post(
        "/v1/assignments/spot-check",
        json={"level": "county", "region": "sc.cd.wh"},
        headers=world.auth("teacher"),
    )
    assert teacher.status_code == 403


def test_school_review_goes_to_the_own_school_and_is_blind(api, api_world):
    world = api_world
    school = {"region": "sc.cd.wh.s017", "seed": 5}
    made = api.post("/v1/assignments/school", json=school, headers=world.auth("school_admin"))
    assert made.status_code == 201, made.text
    (assignment,) = made.json()["assignments"]
    assert assignment["submission_id"] == world.subs["a"] and assignment["kind"] == "school"
    assert assignment["reviewer_id"] == world.user_ids["reviewer"]
    base = f"/v1/reviews/{assignment['id']}"
    packet = api.get(base, headers=world.auth("reviewer"))
    assert packet.status_code == 200
    for secret in ("t_a", "Teacher", "a.mp4", world.subs["a"]):
        assert secret not in packet.text, secret
    for who in ("teacher_reviewer", "jj_reviewer"):
        assert api.get(base, headers=world.auth(who)).status_code == 404
    decided = api.post(f"{base}/decision", json={"score": 92}, headers=world.auth("reviewer"))
    assert decided.status_code == 201 and decided.json()["band"] == "excellent"
    again = api.post("/v1/assignments/school", json=school, headers=world.auth("school_admin"))
    assert again.status_code == 201 and again.json()["assignments"] == []
    other = {"region": "sc.cd.wh.s018"}
    assert (
        api.post("/v1/assignments/school", json=other, headers=world.auth("school_admin")).status_code == 404
    )
    # A county administrator covers every school of the county: "a" is done, "b" is not screened.
    county = api.post(
        "/v1/assignments/school", json={"region": "sc.cd.wh"}, headers=world.auth("county_admin")
    )
    assert county.status_code == 201 and county.json()["assignments"] == []
    with Session(world.engine) as session:
        actions = session.exec(select(AuditEntry.action)).all()
    assert actions.count("assignment.create") == 1 and "review.decide" in actions


def test_audit_log_is_append_only(api_world):
    with Session(api_world.engine) as session:
        session.add(AuditEntry(action="x.test", object_type="t", object_id="1", region="sc"))
        session.commit()
    for statement in ("UPDATE audit_log SET action = 'changed'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), api_world.engine.begin() as conn:
            conn.execute(sa.text(statement))
    with Session(api_world.engine) as session:
        assert session.exec(select(AuditEntry.action).where(AuditEntry.object_id == "1")).all() == ["x.test"]


def test_report_reads_are_audited(api, api_world):
    world = api_world
    sub = world.subs["a"]
    for path in (
        f"/v1/submissions/{sub}",
        f"/v1/submissions/{sub}/keyframes",
        f"/v1/submissions/{sub}/duplicates",
    ):
        assert api.get(path, headers=world.auth("teacher")).status_code == 200
    with Session(world.engine) as session:
        rows = session.exec(
            select(AuditEntry).where(AuditEntry.action == "report.read", AuditEntry.object_id == sub)
        ).all()
    assert sorted(r.detail["part"] for r in rows) == ["duplicates", "keyframes", "report"]
    assert {r.actor_id for r in rows} == {world.user_ids["teacher"]}


def test_review_events_never_reach_teachers(api, api_world):
    assert api.get("/v1/events", headers=api_world.auth("teacher")).status_code == 403
    assert api.get("/v1/events", headers=api_world.auth("jj_reviewer")).status_code == 403
