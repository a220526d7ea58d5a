"""Teachers over HTTP: creation in the administrator's region, face enrolment from real photos and
its erasure, each act audited."""

from __future__ import annotations

from sqlmodel import Session, select

from models.audit import AuditEntry
from models.teachers import TeacherFace
from tests.fixtures.media import DATA

FACES = DATA / "faces"


def test_create_teacher_in_scope_only(client, world):
    body = {"id": "t_new", "name": "王老师", "school_code": "sc.cd.wh.s017", "subject": "chinese"}
    made = client.post("/v1/teachers", json=body, headers=world.auth("county_admin"))
    assert made.status_code == 201 and made.json()["enrolled_photos"] == 0
    again = client.post("/v1/teachers", json=body, headers=world.auth("county_admin"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "teacher_exists"
    outside = client.post(
        "/v1/teachers",
        json={**body, "id": "t_far", "school_code": "sc.cd.jj.s001"},
        headers=world.auth("county_admin"),
    )
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "out_of_scope"
    not_a_school = client.post(
        "/v1/teachers",
        json={**body, "id": "t_x", "school_code": "sc.cd.wh"},
        headers=world.auth("county_admin"),
    )
    assert not_a_school.status_code == 422


def test_enrol_from_photos_then_forget(client, world):
    auth = world.auth("school_admin")
    files = [
        ("photo", (p.name, p.read_bytes(), "image/jpeg"))
        for p in (FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg")
    ]
    enrolled = client.post("/v1/teachers/t_a/photos", files=files, headers=auth)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json() == {"teacher_id": "t_a", "enrolled_photos": 2}
    assert client.get("/v1/teachers/t_a", headers=world.auth("teacher")).json()["enrolled_photos"] == 2

    bad = client.post(
        "/v1/teachers/t_a/photos",
        files=[("photo", ("notes.txt", b"not a photo", "text/plain"))],
        headers={**auth, "Accept-Language": "zh-CN"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_photo"
    assert bad.json()["error"]["detail"]["photo"] == "notes.txt"
    assert "照片" in bad.json()["error"]["message"]

    forgot = client.delete("/v1/teachers/t_a/face-data", headers=auth)
    assert forgot.status_code == 200 and forgot.json()["deleted_photos"] == 2
    with Session(world.engine) as session:
        assert session.exec(select(TeacherFace).where(TeacherFace.teacher_id == "t_a")).all() == []
        actions = [a.action for a in session.exec(select(AuditEntry).where(AuditEntry.object_id == "t_a"))]
    assert actions == ["teacher.enroll", "teacher.forget"]
