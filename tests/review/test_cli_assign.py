"""``evidence assign`` as an operator runs it: a real process on a generated region."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from core.db import init_db, make_engine
from models.audit import AuditEntry
from models.review import ReviewAssignment
from models.teachers import Teacher
from tests.review.conftest import build_region

ROOT = Path(__file__).resolve().parents[2]


def assign(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVIDENCE_HOME": str(home)}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE"):
        env.pop(name, None)
    code = "import typer; from cli import assign; app = typer.Typer(); assign.register(app); app()"
    return subprocess.run(
        [sys.executable, "-c", code, "assign", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_spot_check_peer_and_school_review_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    engine = make_engine(f"sqlite:///{home / 'evidence.db'}")
    init_db(engine)
    region = build_region(engine)
    done = assign(home, "spot-check", "--level", "county", "--region", "P1.C1.K1", "--seed", "3")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["seed"] == 3 and out["assignments"]
    assert {a["reason"] for a in out["assignments"]} <= {
        "rate",
        "school_coverage",
        "subject_coverage",
        "category_coverage",
    }
    peer = assign(home, "peer", "--region", "p1.c2.k3")
    assert peer.returncode == 0, peer.stderr
    in_county = [s for s, t in region.submissions.items() if region.teacher_school[t].startswith("p1.c2.k3.")]
    assert len(json.loads(peer.stdout)["assignments"]) == 3 * len(in_county)
    with Session(engine) as session:
        assert len(session.exec(select(ReviewAssignment)).all()) == len(out["assignments"]) + 3 * len(
            in_county
        )
        actors = set(
            session.exec(select(AuditEntry.actor_id).where(AuditEntry.action == "assignment.batch")).all()
        )
    assert len(actors) == 1 and actors.pop().startswith("cli:")
    school = assign(home, "school", "--region", "p1.c2.k3")
    assert school.returncode == 0, school.stderr
    drawn = json.loads(school.stdout)["assignments"]
    assert sorted(a["submission_id"] for a in drawn) == sorted(in_county)
    assert assign(home, "school", "--region", "p1.c2.k3").stdout.count("assignment_id") == 0
    small = assign(home, "peer", "--region", "p1.c1.k1.s01")
    assert small.returncode == 4 and "peers of their subject group" in small.stderr
    wrong = assign(home, "spot-check", "--level", "city", "--region", "p1.c1.k1")
    assert wrong.returncode == 4 and "city region code" in wrong.stderr
    engine.dispose()


def test_enrolment_changes_from_the_command_line_are_audited(tmp_path):
    home = tmp_path / "home"
    engine = make_engine(f"sqlite:///{home / 'evidence.db'}")
    init_db(engine)
    with Session(engine) as session:
        session.add(Teacher(id="t1", school_code="sc.cd.wh.s017", subject="math"))
        session.commit()
    env = {**os.environ, "EVIDENCE_HOME": str(home)}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE"):
        env.pop(name, None)
    code = "import typer; from cli import faces; app = typer.Typer(); faces.register(app); app()"
    done = subprocess.run(
        [sys.executable, "-c", code, "forget", "t1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with Session(engine) as session:
        (row,) = session.exec(select(AuditEntry).where(AuditEntry.object_id == "t1")).all()
    assert (
        row.action == "teacher.forget" and row.region == "sc.cd.wh.s017" and row.actor_id.startswith("cli:")
    )
    engine.dispose()
