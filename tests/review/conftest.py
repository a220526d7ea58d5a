"""Fixtures for review: a generated province of schools, subjects, teachers, reviewers and hundreds of
screened submissions (database rows only, no media), and a small API world with real blobs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from core.accounts import create_user, issue_token
from core.db import init_db, make_engine, session_scope
from core.settings import Settings
from models.accounts import Role
from models.submissions import Overall, Submission, SubmissionMeta, SubmissionStatus
from models.teachers import Teacher
from tests.fixtures.world import ScreenedLessons, World, build_world

SUBJECTS = ("math", "chinese", "english", "physics")
CITIES = {"p1.c1": ("k1", "k2"), "p1.c2": ("k1", "k2", "k3")}
SCHOOLS_PER_COUNTY = 3
TEACHERS_PER_SUBJECT = 3
FLAGS = (Overall.needs_review, Overall.invalid, Overall.duplicate)


@dataclass
class Region:
    """The generated province ``p1`` (two cities, five counties, fifteen schools) and a second
    province ``p2`` holding only reviewers (for province-level cross review)."""

    engine: sa.Engine
    schools: list[str] = field(default_factory=list)
    teacher_school: dict[str, str] = field(default_factory=dict)
    teacher_subject: dict[str, str] = field(default_factory=dict)
    teacher_user: dict[str, str] = field(default_factory=dict)  # teacher id -> user id
    reviewer_region: dict[str, str] = field(default_factory=dict)  # expert reviewer user id -> region
    user_region: dict[str, str] = field(default_factory=dict)  # every user id -> region
    submissions: dict[str, str] = field(default_factory=dict)  # submission id -> teacher id
    submitted: dict[str, int] = field(default_factory=dict)  # teacher id -> submissions
    overall: dict[str, Overall] = field(default_factory=dict)


def build_region(engine: sa.Engine, *, seed: int = 7, flagged_share: float = 0.15) -> Region:
    """Create the rows; each teacher submits 1-3 screened lessons, ``flagged_share`` of them flagged."""
    rng = random.Random(seed)
    region = Region(engine)
    for city, counties in CITIES.items():
        for county in counties:
            for s in range(1, SCHOOLS_PER_COUNTY + 1):
                region.schools.append(f"{city}.{county}.s{s:02d}")
    with session_scope(engine) as session:
        for school in region.schools:
            for subject in SUBJECTS:
                for n in range(TEACHERS_PER_SUBJECT):
                    tid = f"t-{school.replace('.', '-')}-{subject}-{n}"
                    session.add(Teacher(id=tid, name=f"Name {tid}", school_code=school, subject=subject))
                    region.teacher_school[tid], region.teacher_subject[tid] = school, subject
        session.flush()
        for tid in region.teacher_school:
            roles = {Role.teacher, Role.reviewer} if rng.random() < 0.5 else {Role.teacher}
            user = create_user(session, roles, name=f"user {tid}", teacher_id=tid)
            region.teacher_user[tid], region.user_region[user.id] = user.id, user.region
        expert_regions = [
            *(".".join(s.split(".")[:3]) for s in region.schools[::3]),
            *CITIES,
            "p1",
            "p2",
            "p2",
        ]
        for code in expert_regions:
            for _ in range(2):
                user = create_user(session, {Role.reviewer}, name=f"expert {code}", region=code)
                region.reviewer_region[user.id] = region.user_region[user.id] = code
        for tid in region.teacher_school:
            count = rng.choice((1, 1, 2, 3))
            region.submitted[tid] = count
            for i in range(count):
                flagged = rng.random() < flagged_share
                overall = rng.choice(FLAGS) if flagged else Overall.clear
                sub = Submission(
                    teacher_id=tid,
                    blob_key=f"sha256/{i:064d}",
                    sha256=f"{i:064d}",
                    size_bytes=1,
                    status=SubmissionStatus.screened,
                    report={"status": "screened"},
                )
                session.add(sub)
                session.flush()
                session.add(SubmissionMeta(submission_id=sub.id, micro_capabilities=["A1"], overall=overall))
                region.submissions[sub.id], region.overall[sub.id] = tid, overall
    return region


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    """The generated region on SQLite, shared by a module (tests roll their draws back)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('region') / 'evidence.db'}")
    init_db(engine)
    yield build_region(engine)
    engine.dispose()


@pytest.fixture
def pg_region(db_url: str) -> Iterator[Region]:
    """The generated region on a fresh database of each dialect."""
    engine = make_engine(db_url)
    init_db(engine)
    yield build_region(engine)
    engine.dispose()


# Reviewers added to the API world of tests/api (teachers t_a, t_a2 at sc.cd.wh.s017, t_b at s018,
# t_d at sc.cd.jj.s001, t_c in gd): experts in another county, city and province, and peers.
EXTRA_USERS = {
    "jj_reviewer": ({Role.reviewer}, "sc.cd.jj", None),
    "my_reviewer": ({Role.reviewer}, "sc.my", None),
    "gd_reviewer": ({Role.reviewer}, "gd.gz", None),
}


@pytest.fixture
def api_world(world_db: str, tmp_path: Path, screened_lessons: ScreenedLessons) -> Iterator[World]:
    """The API world of tests/api on SQLite or PostgreSQL, with the extra reviewers."""
    settings = Settings(home=tmp_path / "home", database_url=world_db, jwt_secret="test-secret-" + "x" * 32)
    world = build_world(settings, screened_lessons)
    with session_scope(world.engine) as session:
        for who, (roles, code, teacher) in EXTRA_USERS.items():
            user = create_user(session, roles, name=who, region=code, teacher_id=teacher)
            world.user_ids[who] = user.id
            world.tokens[who] = issue_token(settings, user.id, ttl_s=3600)
    yield world
    world.engine.dispose()


@pytest.fixture
def api(api_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(api_world.settings)) as c:
        yield c
