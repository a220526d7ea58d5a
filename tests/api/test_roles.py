"""The role matrix: every endpoint for every role, each cell a test (404 outside scope, 403 for an
endpoint a role may never use); then what each role sees inside the answers."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.accounts import create_user, issue_token
from core.db import session_scope
from core.settings import Settings
from models.accounts import Role
from tests.fixtures.db import clone_migrated, drop_pg_database
from tests.fixtures.world import USERS, ScreenedLessons, World, build_world

ROLES = list(USERS)
ADMINS = {"school_admin", "county_admin", "city_admin", "province_admin", "other_admin"}
_ids = count()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    migrated_templates: dict[str, str],
    screened_lessons: ScreenedLessons,
) -> Iterator[tuple[World, TestClient]]:
    home = tmp_path_factory.mktemp("roles") / "home"
    url = clone_migrated(migrated_templates, request.param, home.parent / "db")
    world = build_world(
        Settings(home=home, database_url=url, jwt_secret="roles-secret-" + "y" * 32), screened_lessons
    )
    with TestClient(create_app(world.settings)) as client:
        yield world, client
    world.engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def allowed(*who: str, default: int = 404, ok: int = 200, forbidden: tuple[str, ...] = ()) -> dict[str, int]:
    """Expected status per role: ``ok`` for ``who``, 403 for ``forbidden``, else ``default``."""
    return {r: ok if r in who else 403 if r in forbidden else default for r in ROLES}


NON_ADMIN_USERS = ("teacher", "teacher_reviewer", "reviewer")
SEES_A = ("teacher", "school_admin", "county_admin", "city_admin", "province_admin", "service")
SEES_B = ("teacher_reviewer", "county_admin", "city_admin", "province_admin", "service")
SEES_D = ("city_admin", "province_admin", "service")
SEES_C = ("other_admin", "service")
ADMINS_OF_A = ("school_admin", "county_admin", "city_admin", "province_admin")


def _cells(name: str, method: str, path: str, expected: dict[str, int]) -> list:
    return [
        pytest.param(method, path, role, status, id=f"{name}-{role}") for role, status in expected.items()
    ]


MATRIX = [
    *_cells("get-own-school", "GET", "/v1/submissions/{a}", allowed(*SEES_A)),
    *_cells("get-other-school", "GET", "/v1/submissions/{b}", allowed(*SEES_B)),
    *_cells("get-other-county", "GET", "/v1/submissions/{d}", allowed(*SEES_D)),
    *_cells("get-other-province", "GET", "/v1/submissions/{c}", allowed(*SEES_C)),
    *_cells("keyframes", "GET", "/v1/submissions/{a}/keyframes", allowed(*SEES_A)),
    *_cells("duplicates", "GET", "/v1/submissions/{a}/duplicates", allowed(*SEES_A)),
    *_cells("rendition", "GET", "/v1/submissions/{a}/rendition", allowed(*SEES_A)),
    *_cells("contact-sheet", "GET", "/v1/submissions/{a}/contact-sheet", allowed(*SEES_A)),
    *_cells("media", "GET", "/v1/submissions/{a}/media/{keyframe}", allowed(*SEES_A)),
    *_cells("teacher", "GET", "/v1/teachers/t_a", allowed(*SEES_A)),
    *_cells(
        "reprocess",
        "POST",
        "/v1/submissions/{d}/reprocess",
        allowed("city_admin", "province_admin", ok=202, forbidden=(*NON_ADMIN_USERS, "service")),
    ),
    *_cells(
        "forget-face",
        "DELETE",
        "/v1/teachers/t_a/face-data",
        allowed(*ADMINS_OF_A, forbidden=(*NON_ADMIN_USERS, "service")),
    ),
    *_cells(
        "enrol-photo",
        "POST",
        "/v1/teachers/t_a/photos",
        allowed(*ADMINS_OF_A, ok=422, forbidden=(*NON_ADMIN_USERS, "service")),  # 422: not a face photo
    ),
    *_cells(
        "create-teacher",
        "POST",
        "/v1/teachers",
        allowed(*ADMINS_OF_A, ok=201, default=403),  # other_admin: 403 out_of_scope
    ),
    *_cells(
        "create-submission",
        "POST",
        "/v1/submissions",
        allowed("teacher", *ADMINS_OF_A, ok=201, forbidden=("reviewer", "service")),
    ),
    *_cells(
        "start-upload",
        "POST",
        "/v1/uploads",
        allowed("teacher", *ADMINS_OF_A, ok=201, forbidden=("reviewer", "service")),
    ),
    *_cells("admin-list", "GET", "/v1/admin/submissions", allowed(*ADMINS, default=403)),
    *_cells("admin-stats", "GET", "/v1/admin/stats", allowed(*ADMINS, default=403)),
    *_cells("dead-letters", "GET", "/v1/admin/webhooks/deliveries", allowed(*ADMINS, default=403)),
    *_cells("events", "GET", "/v1/events", allowed(*ADMINS, "service", default=403)),
]


def _request(client: TestClient, world: World, method: str, path: str, who: str | None):
    path = path.format(**world.subs, keyframe=world.blobs["keyframe"].removeprefix("sha256/"))
    headers = world.auth(who) if who else {}
    if method == "POST" and path == "/v1/teachers":
        body = {"id": f"t_new{next(_ids)}", "school_code": "sc.cd.wh.s017", "subject": "art"}
        return client.post(path, json=body, headers=headers)
    if method == "POST" and path == "/v1/submissions":
        files = {"file": ("lesson.mp4", b"not really a video", "video/mp4")}
        data = {"teacher_id": "t_a", "micro_capabilities": "A1,B2"}
        return client.post(path, files=files, data=data, headers=headers)
    if method == "POST" and path == "/v1/uploads":
        body = {"teacher_id": "t_a", "micro_capabilities": ["A3"], "size_bytes": 1000}
        return client.post(path, json=body, headers=headers)
    if method == "POST" and path.endswith("/photos"):
        return client.post(path, files={"photo": ("me.jpg", b"not an image", "image/jpeg")}, headers=headers)
    return client.request(method, path, headers=headers)


@pytest.mark.parametrize(("method", "path", "who", "status"), MATRIX)
def test_role_matrix(shared, method: str, path: str, who: str, status: int) -> None:
    world, client = shared
    resp = _request(client, world, method, path, who)
    assert resp.status_code == status, resp.text
    if status >= 400:
        assert set(resp.json()["error"]) >= {"code", "message"}


@pytest.mark.parametrize(
    ("method", "path"), sorted({(p.values[0], p.values[1]) for p in MATRIX}), ids=lambda v: str(v)
)
def test_anonymous_is_401(shared, method: str, path: str) -> None:
    world, client = shared
    resp = _request(client, world, method, path, None)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"


def test_teacher_sees_no_other_teacher_or_submission_in_duplicates(shared) -> None:
    world, client = shared
    for path in ("/v1/submissions/{a}", "/v1/submissions/{a}/duplicates"):
        body = client.get(path.format(**world.subs), headers=world.auth("teacher")).text
        assert world.subs["c"] not in body and "t_c" not in body
        assert world.blobs["other_keyframe"].removeprefix("sha256/") not in body
    dups = client.get(f"/v1/submissions/{world.subs['a']}/duplicates", headers=world.auth("teacher")).json()
    assert dups["duplicate"] is True and dups["duplicates"][0]["verdict"] == "duplicate"
    assert dups["duplicates"][0]["segments"]  # where it matched is still shown
    other = world.blobs["other_keyframe"].removeprefix("sha256/")
    resp = client.get(f"/v1/submissions/{world.subs['a']}/media/{other}", headers=world.auth("teacher"))
    assert resp.status_code == 404


def test_the_service_sees_the_matched_submission_an_administrator_only_what_they_may_open(shared) -> None:
    world, client = shared
    dups = client.get(f"/v1/submissions/{world.subs['a']}/duplicates", headers=world.auth("service")).json()
    assert dups["duplicates"][0]["submission_id"] == world.subs["c"]
    assert dups["duplicates"][0]["teacher_id"] == "t_c" and dups["duplicates_hidden"] == 0
    # "c" is another province's: the school's administrator gets 404 for it, so it is only counted
    assert (
        client.get(f"/v1/submissions/{world.subs['c']}", headers=world.auth("school_admin")).status_code
        == 404
    )
    for path in ("/duplicates", ""):
        resp = client.get(f"/v1/submissions/{world.subs['a']}{path}", headers=world.auth("school_admin"))
        assert resp.json()["duplicates_hidden"] == 1
        assert world.subs["c"] not in resp.text and "t_c" not in resp.text
    assert resp.json()["overall"] == "duplicate"  # the verdict stands, with its reason counted
    # and the other way round: the copy's province administrator is not shown the lesson it copied
    dups = client.get(
        f"/v1/submissions/{world.subs['c']}/duplicates", headers=world.auth("other_admin")
    ).json()
    assert dups["duplicates"] == [] and dups["duplicates_hidden"] == 1
    other = world.blobs["other_keyframe"].removeprefix("sha256/")  # a keyframe of the copy "c"
    resp = client.get(f"/v1/submissions/{world.subs['c']}/media/{other}", headers=world.auth("service"))
    assert resp.status_code == 200  # through "c", whose report refers to it; never through "a"
    resp = client.get(f"/v1/submissions/{world.subs['a']}/media/{other}", headers=world.auth("service"))
    assert resp.status_code == 404


def test_storage_uris_never_leave_the_api(shared) -> None:
    world, client = shared
    for who in ("teacher", "service", "province_admin"):
        for path in ("", "/keyframes", "/duplicates"):
            body = client.get(f"/v1/submissions/{world.subs['a']}{path}", headers=world.auth(who)).text
            assert "file://" not in body and "s3://" not in body and str(world.settings.home) not in body
    events = client.get("/v1/events", headers=world.auth("service")).text
    assert "file://" not in events and "/v1/submissions/" in events


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("school_admin", {"a"}),
        ("county_admin", {"a", "b"}),
        ("city_admin", {"a", "b", "d"}),
        ("other_admin", {"c"}),
    ],
)
def test_admin_list_is_the_region_and_below(shared, who: str, expected: set[str]) -> None:
    world, client = shared
    listed = {
        s["id"] for s in client.get("/v1/admin/submissions?limit=200", headers=world.auth(who)).json()["data"]
    }
    assert {world.subs[n] for n in expected} <= listed
    assert not {world.subs[n] for n in set(world.subs) - expected} & listed


def test_admin_cannot_look_into_a_region_outside_theirs(shared) -> None:
    world, client = shared
    resp = client.get("/v1/admin/submissions?region=sc.cd.jj", headers=world.auth("county_admin"))
    assert resp.status_code == 404
    resp = client.get("/v1/admin/stats?region=sc.cd.wh.s018", headers=world.auth("county_admin"))
    assert resp.status_code == 200 and resp.json()["region"] == "sc.cd.wh.s018"


@pytest.mark.parametrize(("who", "visible"), [("city_admin", {"a", "d"}), ("service", {"a", "c", "d"})])
def test_event_feed_is_scoped(shared, who: str, visible: set[str]) -> None:
    world, client = shared
    data = client.get("/v1/events?limit=1000", headers=world.auth(who)).json()["data"]
    seen = {e["data"]["submission_id"] for e in data}
    assert {world.subs[n] for n in visible} <= seen
    assert not {world.subs[n] for n in {"a", "c", "d"} - visible} & seen


def test_unknown_fields_are_rejected(shared) -> None:
    world, client = shared
    body = {"id": "t_x1", "school_code": "sc.cd.wh.s017", "subject": "art", "salary": 1}
    resp = client.post("/v1/teachers", json=body, headers=world.auth("school_admin"))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "unknown_field"
    files = {"file": ("x.mp4", b"data", "video/mp4")}
    data = {"teacher_id": "t_a", "micro_capabilities": "A1", "colour": "red"}
    resp = client.post("/v1/submissions", files=files, data=data, headers=world.auth("teacher"))
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "unknown_field"


def _strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(set(map(str, value)), *map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return set()


def test_the_later_copys_teacher_learns_only_that_theirs_came_second(shared) -> None:
    world, client = shared
    with session_scope(world.engine) as session:
        user = create_user(session, {Role.teacher}, name="teacher of c", teacher_id="t_c")
    headers = {"Authorization": f"Bearer {issue_token(world.settings, user.id, ttl_s=600)}"}
    c = world.subs["c"]
    for path in (f"/v1/submissions/{c}", f"/v1/submissions/{c}/duplicates"):
        seen = _strings(client.get(path, headers=headers).json())
        assert not {world.subs["a"], "t_a", "earlier"} & seen
    (match,) = client.get(f"/v1/submissions/{c}/duplicates", headers=headers).json()["duplicates"]
    assert match["this_is_earlier"] is False and match["verdict"] == "duplicate"
