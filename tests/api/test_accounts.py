"""Accounts: disable, enable and fresh tokens from the CLI and (for administrators, below their
level) the API; tokens issued before a disable stay refused after enabling, API keys work again;
API keys revoked; tokens live hours by default."""

from __future__ import annotations

import time

import jwt
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cli import context
from cli.main import app as cli_app
from core import settings as settings_module
from core.accounts import create_api_key, issue_token
from core.db import session_scope
from core.secrets import jwt_secret
from models.accounts import User


@pytest.fixture
def cli(world, monkeypatch):
    """``evidence`` in this process, on the world's database, home and JWT secret."""
    monkeypatch.setenv("EVIDENCE_HOME", str(world.settings.home))
    monkeypatch.setenv("DATABASE_URL", world.settings.resolved_database_url)
    monkeypatch.setenv("EVIDENCE_JWT_SECRET", world.settings.jwt_secret.get_secret_value())
    monkeypatch.delenv("EVIDENCE_STORAGE", raising=False)
    for cached in (context.backends, settings_module.get_settings):
        cached.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_app, list(args))
    context.backends().engine.dispose()
    for cached in (context.backends, settings_module.get_settings):
        cached.cache_clear()


def _status(client, world, token: str) -> int:
    sub = world.subs["a"]
    return client.get(f"/v1/submissions/{sub}", headers={"Authorization": f"Bearer {token}"}).status_code


def test_cli_disables_enables_issues_tokens_and_revokes_keys(client, world, cli):
    teacher = world.user_ids["teacher"]
    assert cli("users", "disable", teacher).exit_code == 0
    assert _status(client, world, world.tokens["teacher"]) == 401
    refused = cli("users", "token", teacher)
    assert refused.exit_code == 4 and "disabled" in refused.output
    assert cli("users", "enable", teacher).exit_code == 0
    assert _status(client, world, world.tokens["teacher"]) == 401  # issued before the disable: for good
    fresh = cli("users", "token", teacher, "--hours", "2")
    assert fresh.exit_code == 0
    token = fresh.stdout.strip().splitlines()[-1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 7200 and _status(client, world, token) == 200
    assert cli("users", "token", "usr_nobody").exit_code == 5
    with session_scope(world.engine) as session:
        key = create_api_key(session, world.user_ids["service"])
    assert _status(client, world, key) == 200
    assert cli("keys", "revoke", key).exit_code == 0
    assert _status(client, world, key) == 401
    assert cli("keys", "revoke", "0123456789abcdef").exit_code == 5


def test_tokens_live_hours_by_default(world):
    token = issue_token(world.settings, world.user_ids["teacher"])
    claims = jwt.decode(token, jwt_secret(world.settings), algorithms=["HS256"], audience="evidence-api")
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_administrators_manage_accounts_below_them(client, world):
    teacher, county = world.user_ids["teacher"], world.user_ids["county_admin"]
    school_admin = world.auth("school_admin")
    for who, target in (("other_admin", teacher), ("school_admin", county), ("teacher", teacher)):
        resp = client.post(f"/v1/admin/users/{target}/disable", headers=world.auth(who))
        assert resp.status_code in (403, 404), (who, resp.status_code)  # out of region, above, not an admin
    done = client.post(f"/v1/admin/users/{teacher}/disable", headers=school_admin)
    assert done.status_code == 200 and done.json()["disabled"] is True and done.json()["roles"] == ["teacher"]
    assert _status(client, world, world.tokens["teacher"]) == 401
    assert (
        client.post(f"/v1/admin/users/{teacher}/enable", headers=world.auth("province_admin")).status_code
        == 200
    )
    assert _status(client, world, world.tokens["teacher"]) == 401  # issued before the disable
    assert _status(client, world, issue_token(world.settings, teacher)) == 200
    with session_scope(world.engine) as session:
        key = create_api_key(session, teacher)
    key_id = key.removeprefix("evk_").split("_")[0]
    assert client.delete(f"/v1/admin/keys/{key_id}", headers=world.auth("other_admin")).status_code == 404
    revoked = client.delete(f"/v1/admin/keys/{key_id}", headers=school_admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert _status(client, world, key) == 401
    audit = client.get("/v1/admin/audit?object_type=user", headers=world.auth("province_admin")).json()
    assert {e["action"] for e in audit["data"]} >= {"user.disable", "user.enable"}


def _token_issued_at(world, user_id: str, iat: int) -> str:
    claims = {
        "sub": user_id,
        "iss": world.settings.jwt_issuer,
        "aud": world.settings.jwt_audience,
        "iat": iat,
        "exp": iat + 3600,
    }
    return jwt.encode(claims, jwt_secret(world.settings), algorithm="HS256")


def test_tokens_issued_before_a_disable_stay_refused_after_enabling(client, world):
    teacher = world.user_ids["teacher"]
    with session_scope(world.engine) as session:
        key = create_api_key(session, teacher)
    old = issue_token(world.settings, teacher)
    before = int(time.time())
    disabled = client.post(f"/v1/admin/users/{teacher}/disable", headers=world.auth("school_admin"))
    after = int(time.time())
    assert disabled.status_code == 200
    with Session(world.engine) as session:
        cutoff = int(session.get(User, teacher).tokens_valid_after.timestamp())
    assert before + 1 <= cutoff <= after + 1  # the first whole second after the disable
    same_second = _token_issued_at(world, teacher, cutoff - 1)  # iat cannot tell it from one just after
    assert {_status(client, world, t) for t in (old, same_second, key)} == {401}
    enabled = client.post(f"/v1/admin/users/{teacher}/enable", headers=world.auth("school_admin"))
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert _status(client, world, old) == 401
    assert _status(client, world, world.tokens["teacher"]) == 401
    assert _status(client, world, same_second) == 401
    assert _status(client, world, _token_issued_at(world, teacher, cutoff)) == 200
    fresh = issue_token(world.settings, teacher)  # issued after enabling, possibly in the disable's second
    assert _status(client, world, fresh) == 200
    assert _status(client, world, key) == 200  # API keys only pause: revoking ends them
    assert _status(client, world, world.tokens["school_admin"]) == 200  # nobody else's tokens
