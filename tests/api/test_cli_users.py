"""``evidence users create`` as a user runs it: a real process; the token it prints (last line) works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from core.accounts import authenticate
from core.db import make_engine
from core.settings import Settings
from models.accounts import Role

ROOT = Path(__file__).resolve().parents[2]


def users(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVIDENCE_HOME": str(home)}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE", "EVIDENCE_JWT_SECRET"):
        env.pop(name, None)
    code = "import typer; from cli import users; app = typer.Typer(); users.register(app); app()"
    return subprocess.run(
        [sys.executable, "-c", code, "users", "create", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_prints_a_working_token_last(tmp_path):
    home = tmp_path / "home"
    done = users(home, "--role", "county_admin", "--role", "reviewer", "--region", "SC.CD.WH", "--name", "Li")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    key = users(home, "--role", "service", "--api-key")
    assert key.returncode == 0, key.stderr
    api_key = key.stdout.strip().splitlines()[-1]
    assert api_key.startswith("evk_")
    settings = Settings(home=home)  # the JWT secret was generated into EVIDENCE_HOME
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        admin = authenticate(session, settings, token)
        service = authenticate(session, settings, api_key)
    engine.dispose()
    assert admin.roles == {Role.county_admin, Role.reviewer} and admin.region == "sc.cd.wh"
    assert admin.name == "Li" and admin.admin_scope == "sc.cd.wh"
    assert service.is_service


def test_roles_that_do_not_fit_exit_4(tmp_path):
    home = tmp_path / "home"
    wrong_level = users(home, "--role", "county_admin", "--region", "sc.cd")
    assert wrong_level.returncode == 4 and "county" in wrong_level.stderr
    unknown_teacher = users(home, "--role", "teacher", "--teacher", "nobody")
    assert unknown_teacher.returncode == 4 and "nobody" in unknown_teacher.stderr
    bad_role = users(home, "--role", "janitor")
    assert bad_role.returncode == 2
