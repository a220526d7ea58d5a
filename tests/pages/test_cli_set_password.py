"""``evidence users set-password`` as an operator runs it: a real process; the person can then sign in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from core.db import make_engine
from core.errors import DomainError
from core.settings import Settings
from core.sign_in import sign_in
from models.web_auth import UserPassword

ROOT = Path(__file__).resolve().parents[2]


def users(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "EVIDENCE_HOME": str(home)}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE", "EVIDENCE_JWT_SECRET"):
        env.pop(name, None)
    code = "import typer; from cli import users; app = typer.Typer(); users.register(app); app()"
    return subprocess.run(
        [sys.executable, "-c", code, "users", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_set_password_lets_the_person_sign_in(tmp_path):
    home = tmp_path / "home"
    created = users(home, "create", "--role", "county_admin", "--region", "sc.cd.wh", "--name", "Li")
    assert created.returncode == 0, created.stderr
    user_id = created.stderr.split("created user ")[1].split()[0]
    short = users(home, "set-password", user_id, "--password-stdin", stdin="short\n")
    assert short.returncode == 4 and "8" in short.stderr
    done = users(
        home, "set-password", user_id, "--login", "Li.WH", "--password-stdin", stdin="正确的密码 horse\n"
    )
    assert done.returncode == 0, done.stderr
    assert "li.wh" in done.stderr and "正确的密码" not in done.stdout + done.stderr
    settings = Settings(home=home)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        row = session.get(UserPassword, user_id)
    assert row.login == "li.wh" and row.password_hash.startswith("$argon2id$")
    principal, cookie = sign_in(engine, settings, " LI.WH ", "正确的密码 horse", "127.0.0.1")
    assert principal.user_id == user_id and principal.admin_scope == "sc.cd.wh" and len(cookie) > 30
    with pytest.raises(DomainError, match="sign_in_failed"):
        sign_in(engine, settings, "li.wh", "wrong password", "127.0.0.1")
    engine.dispose()
    unknown = users(home, "set-password", "usr_nobody", "--password-stdin", stdin="long enough\n")
    assert unknown.returncode == 4
